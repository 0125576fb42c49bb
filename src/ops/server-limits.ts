/**
 * Limits on connections and request bodies, applied to the HTTP server `buildServer` creates
 * (so `pallet serve` and tests that listen get the same ones):
 * - headers must arrive within `headersTimeoutSeconds` (Node's headersTimeout);
 * - Node's whole-request timeout is off (it would cut a multi-GiB upload that keeps moving);
 *   instead a request body is cut when the client sends nothing for `bodyIdleTimeoutSeconds`,
 *   or averages less than `minBodyBytesPerSecond` over `minBodyRateWindowSeconds` (which is
 *   also the grace period). Only time spent waiting for the client counts: while the server
 *   holds unread bytes (a slow disk, a database wait) the clock stands still;
 * - one remote address may hold at most `maxConnectionsPerAddress` sockets; further ones get a
 *   503 written without reading the request, and are closed.
 * A cut body gets a 408 (when no answer has started) and its socket is destroyed; the handler
 * sees the stream fail, so an upload session keeps the offset of its last complete chunk.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';

export interface ServerLimits {
  headersTimeoutSeconds: number;
  bodyIdleTimeoutSeconds: number;
  minBodyBytesPerSecond: number;
  minBodyRateWindowSeconds: number;
  maxConnectionsPerAddress: number;
}

interface WatchedBody {
  request: FastifyRequest;
  socket: Socket;
  lastBytes: number;
  /** Waiting time (ms) since bytes last arrived. */
  idleMs: number;
  /** Recent ticks spent waiting for the client: their duration and the bytes that came. */
  samples: Array<{ ms: number; bytes: number }>;
  sampledMs: number;
}

const REFUSED = Buffer.from(
  'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 42\r\nRetry-After: 5\r\n\r\ntoo many connections from this address\r\n\r\n',
);

function timeoutResponse(message: string): Buffer {
  const body = JSON.stringify({ errors: [{ code: 'TIMEOUT', message, detail: null }] });
  return Buffer.from(`HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

function hasBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** Counts sockets per remote address and refuses those over the cap. */
function capConnections(server: Server, max: number, refused: Counter<'reason'>, log: Logger): void {
  if (max <= 0) return;
  // TODO(trust-proxy): behind a trusted proxy every client shares the proxy's address; the cap
  // is on the socket's peer, which is what holds the sockets (see the authz helper's trustProxy).
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? 'unknown';
    const count = open.get(address) ?? 0;
    if (count >= max) {
      refused.inc({ reason: 'connections' });
      log.warn({ address, open: count, max }, 'http: connection refused: too many from this address');
      socket.write(REFUSED);
      socket.destroy();
      return;
    }
    open.set(address, count + 1);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left <= 0) open.delete(address);
      else open.set(address, left);
    });
  });
}

/** Watches request bodies on one timer; see the module comment for what counts. */
class BodyWatch {
  readonly #bodies = new Set<WatchedBody>();
  #timer: NodeJS.Timeout | undefined;
  readonly #tickMs: number;

  constructor(
    private readonly limits: ServerLimits,
    private readonly cut: Counter<'reason'>,
    private readonly log: Logger,
  ) {
    this.#tickMs = Math.max(100, Math.min(1000, (limits.bodyIdleTimeoutSeconds * 1000) / 4));
  }

  add(request: FastifyRequest): void {
    const socket = request.raw.socket;
    // inject() requests have no real socket to watch.
    if (!socket || typeof socket.bytesRead !== 'number' || request.raw.complete !== false) return;
    const watched: WatchedBody = { request, socket, lastBytes: socket.bytesRead, idleMs: 0, samples: [], sampledMs: 0 };
    this.#bodies.add(watched);
    const done = (): void => {
      this.#bodies.delete(watched);
      if (this.#bodies.size === 0 && this.#timer) {
        clearInterval(this.#timer);
        this.#timer = undefined;
      }
    };
    request.raw.once('end', done);
    request.raw.once('close', done);
    this.#timer ??= setInterval(() => this.#tick(), this.#tickMs).unref();
  }

  #tick(): void {
    for (const body of this.#bodies) {
      if (body.request.raw.complete) {
        this.#bodies.delete(body);
        continue;
      }
      const reason = this.#check(body);
      if (reason) this.#cutBody(body, reason);
    }
  }

  /** Why `body` must be cut, if it must. */
  #check(body: WatchedBody): 'idle' | 'slow' | undefined {
    const { request, socket } = body;
    const limits = this.limits;
    const bytes = socket.bytesRead;
    const arrived = bytes - body.lastBytes;
    body.lastBytes = bytes;
    // A full request buffer means the server is the slow side (Node stops reading the socket
    // until the handler catches up); with room in it, no new bytes are the client's doing.
    const waiting = request.raw.readableLength < request.raw.readableHighWaterMark;
    if (!waiting) {
      body.idleMs = 0;
      return undefined;
    }
    body.idleMs = arrived > 0 ? 0 : body.idleMs + this.#tickMs;
    if (limits.bodyIdleTimeoutSeconds > 0 && body.idleMs >= limits.bodyIdleTimeoutSeconds * 1000) return 'idle';
    if (limits.minBodyBytesPerSecond <= 0 || limits.minBodyRateWindowSeconds <= 0) return undefined;
    const windowMs = limits.minBodyRateWindowSeconds * 1000;
    body.samples.push({ ms: this.#tickMs, bytes: arrived });
    body.sampledMs += this.#tickMs;
    while (body.sampledMs - body.samples[0]!.ms >= windowMs) body.sampledMs -= body.samples.shift()!.ms;
    if (body.sampledMs < windowMs) return undefined;
    const received = body.samples.reduce((sum, s) => sum + s.bytes, 0);
    return (received * 1000) / body.sampledMs < limits.minBodyBytesPerSecond ? 'slow' : undefined;
  }

  #cutBody(body: WatchedBody, reason: 'idle' | 'slow'): void {
    this.#bodies.delete(body);
    const { request, socket } = body;
    const message =
      reason === 'idle'
        ? `the request body sent nothing for ${this.limits.bodyIdleTimeoutSeconds} s`
        : `the request body arrived slower than ${this.limits.minBodyBytesPerSecond} bytes/s over ${this.limits.minBodyRateWindowSeconds} s`;
    this.cut.inc({ reason });
    request.log.warn({ reason, address: socket.remoteAddress, method: request.method, url: request.url, bytesRead: socket.bytesRead }, `http: request body cut: ${message}`);
    if (!request.raw.socket?.destroyed && !(request.raw as { res?: { headersSent: boolean } }).res?.headersSent) socket.write(timeoutResponse(message));
    // Fail the body stream now, not when the socket's close comes round: its handler (an upload
    // holding a session's lease) must see the cut before the client, told by the 408, retries.
    request.raw.destroy(Object.assign(new Error(`request body cut: ${message}`), { code: 'ECONNRESET' }));
    socket.destroy();
  }
}

/** Applies `limits` to `app` (its HTTP server and every request with a body). */
export function applyServerLimits(app: FastifyInstance, limits: ServerLimits, registry: Registry, log: Logger): void {
  const server = app.server;
  server.requestTimeout = 0;
  if (limits.headersTimeoutSeconds > 0) server.headersTimeout = limits.headersTimeoutSeconds * 1000;
  const refused = new Counter({
    name: 'pallet_http_connections_refused_total',
    help: 'Connections refused at accept time, by reason (connections: over maxConnectionsPerAddress)',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const cut = new Counter({
    name: 'pallet_http_request_bodies_cut_total',
    help: 'Request bodies cut off, by reason (idle: nothing for bodyIdleTimeoutSeconds; slow: under minBodyBytesPerSecond)',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  capConnections(server, limits.maxConnectionsPerAddress, refused, log);
  const watch = new BodyWatch(limits, cut, log);
  app.addHook('onRequest', async (request) => {
    if (hasBody(request)) watch.add(request);
  });
}
