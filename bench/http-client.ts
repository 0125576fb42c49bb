/**
 * The benchmark's HTTP client: `node:http` over one keep-alive agent per registry (fetch's
 * overhead would distort the numbers). Request bodies are streamed or small buffers; response
 * bodies are either collected (small: errors, manifests) or counted and discarded (blobs).
 * Every helper that expects a status checks it and throws a `RequestFailed` naming the request
 * and the response, so a failed request is never counted as throughput.
 */
import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body when collected; empty when discarded. */
  body: Buffer;
  /** Bytes of body received. */
  bytes: number;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  /** A buffer, or a stream with its length in `headers['content-length']`. */
  body?: Buffer | Readable;
  /** Count the response body's bytes without keeping them. */
  discard?: boolean;
}

export class RequestFailed extends Error {
  constructor(
    readonly method: string,
    readonly url: string,
    readonly status: number | undefined,
    readonly responseHeaders: IncomingHttpHeaders | undefined,
    readonly responseBody: string,
    why: string,
  ) {
    super(
      `${method} ${url} → ${status ?? 'no response'}: ${why}` +
        (responseBody ? `\n  response body: ${responseBody.slice(0, 2000)}` : '') +
        (responseHeaders ? `\n  response headers: ${JSON.stringify(responseHeaders)}` : ''),
    );
    this.name = 'RequestFailed';
  }
}

/** A client bound to one server's base URL, with its own keep-alive agent. */
export class HttpClient {
  readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });

  constructor(
    readonly baseUrl: string,
    /** Sent with every request (Pallet's basic credentials; Distribution has none). */
    readonly defaultHeaders: Record<string, string> = {},
  ) {}

  url(pathOrUrl: string): URL {
    return new URL(pathOrUrl, this.baseUrl);
  }

  request(method: string, pathOrUrl: string, options: RequestOptions = {}): Promise<Response> {
    const url = this.url(pathOrUrl);
    const headers = { ...this.defaultHeaders, ...options.headers };
    if (Buffer.isBuffer(options.body)) headers['content-length'] = String(options.body.length);
    else if (options.body === undefined && (method === 'PUT' || method === 'POST' || method === 'PATCH')) headers['content-length'] ??= '0';
    return new Promise<Response>((resolve, reject) => {
      const req = httpRequest(url, { method, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (!options.discard) chunks.push(chunk);
        });
        res.once('error', reject);
        res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), bytes }));
      });
      req.once('error', (err) => reject(new RequestFailed(method, url.href, undefined, undefined, '', err.message)));
      const body = options.body;
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      // If the server answers early (an error) and closes, the pipeline fails; the response,
      // if one arrives, is what the caller sees, and a missing one fails through req 'error'.
      else pipeline(body, req).catch(() => undefined);
    });
  }

  /** Sends the request and throws RequestFailed unless the status is `expected`. */
  async expect(expected: number, method: string, pathOrUrl: string, options: RequestOptions = {}): Promise<Response> {
    const res = await this.request(method, pathOrUrl, options);
    if (res.status !== expected) {
      throw new RequestFailed(method, this.url(pathOrUrl).href, res.status, res.headers, res.body.toString('utf8'), `expected ${expected}`);
    }
    return res;
  }

  close(): void {
    this.agent.destroy();
  }
}

/** The single value of a response header; throws when it is missing. */
export function header(res: Response, name: string, context: string): string {
  const value = res.headers[name.toLowerCase()];
  const first = Array.isArray(value) ? value[0] : value;
  if (first === undefined || first === '') {
    throw new Error(`${context}: response ${res.status} has no ${name} header (headers: ${JSON.stringify(res.headers)})`);
  }
  return first;
}
