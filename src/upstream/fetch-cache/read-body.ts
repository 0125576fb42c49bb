/**
 * Reading a whole upstream document (an index, a metadata file) that is too large to hold as
 * one buffer on the event loop: into growing segments of our own (movable to a worker without
 * copying), hashing it with SHA-256 as it arrives, so two fetches of the same bytes are known to
 * be the same without comparing them. No step touches more than one chunk or segment, so tens of
 * MB never stall the event loop (one 50 MB copy took ~200 ms on a loaded machine).
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { limitedChunks } from '../../base/streams.js';

/** A body as it arrived: its segments, its length and its SHA-256 (hex). */
export interface ReadBody {
  parts: Uint8Array<ArrayBuffer>[];
  length: number;
  hash: string;
}

const FIRST_SEGMENT = 64 * 1024;
const MAX_SEGMENT = 8 * 1024 * 1024;

/** Reads `stream` (at most `limit` bytes, else TOO_LARGE) into segments; see the module header. */
export async function readBody(stream: Readable, limit: number, what = 'the upstream document'): Promise<ReadBody> {
  const hasher = createHash('sha256');
  const parts: Uint8Array<ArrayBuffer>[] = [];
  let segment = new Uint8Array(0);
  let used = 0;
  let total = 0;
  for await (const buf of limitedChunks(stream, limit, what)) {
    total += buf.length;
    hasher.update(buf);
    for (let offset = 0; offset < buf.length; ) {
      if (used === segment.length) {
        if (used > 0) parts.push(segment);
        segment = new Uint8Array(Math.min(MAX_SEGMENT, Math.max(FIRST_SEGMENT, segment.length * 2)));
        used = 0;
      }
      const n = Math.min(buf.length - offset, segment.length - used);
      segment.set(buf.subarray(offset, offset + n), used);
      used += n;
      offset += n;
    }
  }
  if (used > 0) parts.push(segment.subarray(0, used));
  return { parts, length: total, hash: hasher.digest('hex') };
}
