/**
 * Stream helpers (Node built-ins only).
 */
import type { Readable } from 'node:stream';
import { PalletError } from './errors.js';

/**
 * Reads a whole stream into memory, for small bodies only (manifests, JSON): throws TOO_LARGE
 * as soon as more than `limit` bytes arrive, without reading the rest.
 */
export async function readLimited(stream: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const buf of limitedChunks(stream, limit)) {
    total += buf.length;
    chunks.push(buf);
  }
  return Buffer.concat(chunks, total);
}

/**
 * The chunks of a stream, for a reader that keeps at most `limit` bytes: throws TOO_LARGE (and
 * destroys the stream) as soon as more than `limit` bytes arrive, without reading the rest.
 */
export async function* limitedChunks(stream: Readable, limit: number, what = 'body'): AsyncGenerator<Buffer> {
  let total = 0;
  for await (const chunk of stream) {
    const buf = chunk as Buffer;
    total += buf.length;
    if (total > limit) {
      stream.destroy();
      throw new PalletError('TOO_LARGE', `${what} exceeds the limit of ${limit} bytes`, { limit });
    }
    yield buf;
  }
}

/**
 * Reads a whole request body into memory, for small bodies only: TOO_LARGE as soon as more than
 * `limit` bytes arrive. Unlike readLimited it leaves the connection alone on overflow (it stops
 * reading instead of destroying the socket), so the client still gets its 413; the HTTP layer
 * closes the connection after that answer because the body was not read to its end.
 */
export function readRequestBody(stream: Readable, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const cleanup = (): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
    };
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total > limit) {
        cleanup();
        stream.pause();
        reject(new PalletError('TOO_LARGE', `body exceeds the limit of ${limit} bytes`, { limit }));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, total));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
  });
}
