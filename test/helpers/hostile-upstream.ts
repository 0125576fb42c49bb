/**
 * Upstream registries that misbehave on purpose, for tests: plain `node:http` (or raw `node:net`
 * for header trickling) servers on a 127.0.0.x address, each counting what it was asked and what
 * it sent. Tests allow-list them explicitly with `upstream.allowedNetworks`.
 *
 * Every server stops what it is doing when the test closes it (`close()` destroys sockets and
 * clears timers), so a flood or a trickle never outlives its test.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';

export interface Hostile {
  /** `http://127.0.0.x:port`. */
  url: string;
  host: string;
  /** Requests received: `METHOD path`. */
  seen: string[];
  /** Body bytes handed to sockets (floods and trickles count here). */
  sent: number;
  /** Responses whose connection closed before the server finished them. */
  cutOff: number;
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, h: Hostile) => void;

const timers = new Set<NodeJS.Timeout>();

/** `setInterval` that `close()` of any hostile server clears. */
export function every(ms: number, tick: () => void): NodeJS.Timeout {
  const t = setInterval(tick, ms);
  timers.add(t);
  return t;
}

export function stop(t: NodeJS.Timeout): void {
  clearInterval(t);
  timers.delete(t);
}

export async function hostile(handler: Handler, host = '127.0.0.1'): Promise<Hostile> {
  const state = { sent: 0, cutOff: 0 };
  const seen: string[] = [];
  const h: Hostile = {
    url: '',
    host,
    seen,
    get sent() {
      return state.sent;
    },
    set sent(n: number) {
      state.sent = n;
    },
    get cutOff() {
      return state.cutOff;
    },
    set cutOff(n: number) {
      state.cutOff = n;
    },
    close: async () => undefined,
  };
  const server: Server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.on('close', () => {
      if (!res.writableFinished) state.cutOff++;
    });
    handler(req, res, h);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  h.url = `http://${host}:${(server.address() as AddressInfo).port}`;
  h.close = () => {
    for (const t of timers) clearInterval(t);
    timers.clear();
    server.closeAllConnections();
    return new Promise((resolve) => server.close(() => resolve()));
  };
  return h;
}

/**
 * A server that answers every request with a status line and then one header line every
 * `everyMs`, never finishing the headers: the socket is never idle, the response never starts.
 */
export async function headerTrickler(everyMs: number, host = '127.0.0.1'): Promise<Hostile & { connections: number }> {
  const sockets = new Set<Socket>();
  const state = { connections: 0 };
  const seen: string[] = [];
  const server: NetServer = createNetServer((socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('data', (data) => {
      seen.push(data.toString('latin1').split('\r\n')[0] ?? '');
      socket.write('HTTP/1.1 200 OK\r\n');
      let n = 0;
      const t = every(everyMs, () => {
        if (socket.destroyed) return stop(t);
        socket.write(`x-slow-${n++}: ${'.'.repeat(8)}\r\n`);
      });
    });
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const url = `http://${host}:${(server.address() as AddressInfo).port}`;
  return {
    url,
    host,
    seen,
    sent: 0,
    cutOff: 0,
    get connections() {
      return state.connections;
    },
    close: () => {
      for (const t of timers) clearInterval(t);
      timers.clear();
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Writes `chunk` every `everyMs` (or as fast as the socket drains when 0) until `limit` bytes
 * were sent or the connection closes; then ends the response. Counts into `h.sent`.
 */
export function flood(res: ServerResponse, h: Hostile, chunk: Buffer, limit: number, everyMs = 0): void {
  let sent = 0;
  const finish = (): void => {
    if (!res.destroyed) res.end();
  };
  if (everyMs > 0) {
    const t = every(everyMs, () => {
      if (res.destroyed || sent >= limit) {
        stop(t);
        return finish();
      }
      res.write(chunk);
      sent += chunk.length;
      h.sent += chunk.length;
    });
    return;
  }
  const pump = (): void => {
    while (!res.destroyed && sent < limit) {
      sent += chunk.length;
      h.sent += chunk.length;
      if (!res.write(chunk)) return void res.once('drain', pump);
    }
    finish();
  };
  pump();
}

/** The digest in a `/v2/<name>/blobs/<digest>` or `/manifests/<ref>` path. */
export function refOf(req: IncomingMessage): string {
  return /\/(?:blobs|manifests)\/([^/?]+)/.exec(req.url ?? '')?.[1] ?? '';
}
