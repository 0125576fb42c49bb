/**
 * A small HTTP reverse proxy to put in front of an upstream registry in tests: it forwards
 * every request unchanged, records each one (method, path, status, bytes sent), and can corrupt
 * the bodies of chosen blob GETs (one byte flipped mid-body, length unchanged) to play an
 * upstream that serves bytes not matching their digest, or hold chosen requests back for a while
 * to play a slow upstream. Nothing is mocked: the answers are the real upstream's.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface ProxiedRequest {
  method: string;
  /** Path and query as received. */
  path: string;
  status: number;
  /** Response body bytes sent to the client. */
  bytes: number;
  at: number;
}

export interface CountingProxy {
  /** `http://127.0.0.1:<port>` */
  url: string;
  host: string;
  requests: ProxiedRequest[];
  /** Requests so far with this method whose path matches. */
  count(method: string, path: RegExp): number;
  /** Blob GETs (`/v2/…/blobs/sha256:…`) so far, optionally of one digest. */
  blobGets(digest?: string): number;
  reset(): void;
  /** Corrupts the body of blob GETs whose path contains `digest` (undefined: stop corrupting). */
  corrupt(digest: string | undefined): void;
  /** Corrupts the body of any GET whose path matches `path` (an npm tarball; undefined: stop). */
  corruptPath(path: RegExp | undefined): void;
  /** Holds requests whose path matches `path` for `ms` before forwarding them (undefined: stop). */
  delay(path: RegExp | undefined, ms?: number): void;
  close(): Promise<void>;
}

/** Flips one byte at `offset` of the stream, keeping its length. */
class FlipByte extends Transform {
  private seen = 0;
  constructor(private readonly offset: number) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.offset >= this.seen && this.offset < this.seen + chunk.length) {
      const copy = Buffer.from(chunk);
      const i = this.offset - this.seen;
      copy[i] = copy[i]! ^ 0xff;
      chunk = copy;
    }
    this.seen += chunk.length;
    callback(null, chunk);
  }
}

export interface CountingProxyOptions {
  /**
   * Forward the client's Host header (default: the target's), for upstreams that build URLs
   * from it (an npm registry's tarball URLs then point back through the proxy).
   */
  keepHost?: boolean;
}

export async function startCountingProxy(target: string, options: CountingProxyOptions = {}): Promise<CountingProxy> {
  const upstream = new URL(target);
  const requests: ProxiedRequest[] = [];
  let corrupting: string | undefined;
  let corruptingPath: RegExp | undefined;
  let delaying: { path: RegExp; ms: number } | undefined;

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const record: ProxiedRequest = { method: req.method ?? '', path: req.url ?? '', status: 0, bytes: 0, at: Date.now() };
    requests.push(record);
    if (delaying && delaying.path.test(record.path)) {
      const ms = delaying.ms;
      req.pause();
      setTimeout(() => forward(req, res, record), ms);
      return;
    }
    forward(req, res, record);
  };

  const forward = (req: IncomingMessage, res: ServerResponse, record: ProxiedRequest): void => {
    const headers = options.keepHost ? { ...req.headers } : { ...req.headers, host: upstream.host };
    const out = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers },
      (answer) => {
        record.status = answer.statusCode ?? 0;
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        const length = Number(answer.headers['content-length'] ?? 0);
        const corrupt =
          req.method === 'GET' &&
          length > 0 &&
          ((corrupting !== undefined && record.path.includes('/blobs/') && record.path.includes(corrupting)) || (corruptingPath !== undefined && corruptingPath.test(record.path)));
        answer.on('data', (chunk: Buffer) => {
          record.bytes += chunk.length;
        });
        const done = corrupt ? pipeline(answer, new FlipByte(Math.floor(length / 2)), res) : pipeline(answer, res);
        done.catch(() => res.destroy());
      },
    );
    out.on('error', (err) => {
      record.status = 502;
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`counting proxy: ${err.message}`);
    });
    req.pipe(out);
  };

  const server: Server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    requests,
    count: (method, path) => requests.filter((r) => r.method === method && path.test(r.path)).length,
    blobGets: (digest) => requests.filter((r) => r.method === 'GET' && /\/blobs\/sha256:/.test(r.path) && (!digest || r.path.includes(digest))).length,
    reset: () => {
      requests.length = 0;
    },
    corrupt: (digest) => {
      corrupting = digest;
    },
    corruptPath: (path) => {
      corruptingPath = path;
    },
    delay: (path, ms = 0) => {
      delaying = path ? { path, ms } : undefined;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
