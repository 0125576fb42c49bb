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
  for await (const chunk of stream) {
    const buf = chunk as Buffer;
    total += buf.length;
    if (total > limit) {
      stream.destroy();
      throw new PalletError('TOO_LARGE', `body exceeds the limit of ${limit} bytes`, { limit });
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks, total);
}
