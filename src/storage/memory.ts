/**
 * The in-memory storage driver, for tests: a map of key → immutable Buffer chunks. It keeps the
 * same contracts as the other drivers (the shared suite proves it): `write` collects a new entry
 * and swaps it in only when the source ended, and a reader streams a snapshot of the chunks it
 * saw when it started.
 */
import { Readable, Writable, addAbortSignal } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { checkKey, checkOffset, notFound, offsetBeyondSize, resolveRange } from './checks.js';
import type { ByteRange, IoOptions, ObjectInfo, StorageDriver } from './driver.js';

interface Entry {
  /** Never mutated once pushed; truncation makes new arrays of subarrays. */
  chunks: Buffer[];
  size: number;
  modifiedAt: Date;
}

export class MemoryDriver implements StorageDriver {
  readonly name = 'memory';
  readonly #objects = new Map<string, Entry>();

  async stat(key: string): Promise<ObjectInfo | undefined> {
    checkKey(key);
    const entry = this.#objects.get(key);
    return entry && { size: entry.size, modifiedAt: entry.modifiedAt };
  }

  async read(key: string, options: IoOptions & { range?: ByteRange } = {}): Promise<Readable> {
    checkKey(key);
    options.signal?.throwIfAborted();
    const entry = this.#objects.get(key);
    if (!entry) throw notFound(key);
    const { start, end } =
      options.range === undefined ? { start: 0, end: entry.size - 1 } : resolveRange(options.range, entry.size, key);
    const stream = Readable.from(slice(entry.chunks, start, end + 1), { objectMode: false });
    return options.signal ? addAbortSignal(options.signal, stream) : stream;
  }

  async write(key: string, source: Readable | Buffer, options: IoOptions = {}): Promise<number> {
    checkKey(key);
    const entry: Entry = { chunks: [], size: 0, modifiedAt: new Date() };
    await drain(source, options.signal, (chunk) => {
      entry.chunks.push(chunk);
      entry.size += chunk.length;
    });
    options.signal?.throwIfAborted();
    entry.modifiedAt = new Date();
    this.#objects.set(key, entry);
    return entry.size;
  }

  /**
   * Like a file, the object is truncated first and grows as bytes arrive, so a failed call leaves
   * bytes past `offset`, as the contract allows (and the suite's retry test then means something).
   */
  async writeAt(key: string, offset: number, source: Readable | Buffer, options: IoOptions = {}): Promise<number> {
    checkKey(key);
    checkOffset(offset);
    options.signal?.throwIfAborted();
    const current = this.#objects.get(key);
    const size = current?.size ?? 0;
    if (offset > size) throw offsetBeyondSize(key, offset, size);
    const entry: Entry = { chunks: slice(current?.chunks ?? [], 0, offset), size: offset, modifiedAt: new Date() };
    this.#objects.set(key, entry);
    await drain(source, options.signal, (chunk) => {
      entry.chunks.push(chunk);
      entry.size += chunk.length;
      entry.modifiedAt = new Date();
    });
    return entry.size;
  }

  async move(from: string, to: string): Promise<void> {
    checkKey(from);
    checkKey(to);
    const entry = this.#objects.get(from);
    if (!entry) throw notFound(from);
    this.#objects.delete(from);
    this.#objects.set(to, entry);
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    this.#objects.delete(key);
  }

  async deletePrefix(prefix: string): Promise<void> {
    checkKey(prefix);
    for (const key of this.#objects.keys()) {
      if (key.startsWith(`${prefix}/`)) this.#objects.delete(key);
    }
  }

  async *list(prefix: string): AsyncIterable<string> {
    checkKey(prefix);
    // A snapshot, so callers may delete while iterating.
    const keys = [...this.#objects.keys()].filter((key) => key.startsWith(`${prefix}/`));
    yield* keys;
  }

  async close(): Promise<void> {}
}

/**
 * Feeds the source to `onChunk`, copying each chunk so that a producer reusing its buffers cannot
 * change a stored object. Rejects when the source errors or the signal aborts.
 */
async function drain(source: Readable | Buffer, signal: AbortSignal | undefined, onChunk: (chunk: Buffer) => void): Promise<void> {
  signal?.throwIfAborted();
  if (Buffer.isBuffer(source)) {
    if (source.length > 0) onChunk(Buffer.from(source));
    return;
  }
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (chunk.length > 0) onChunk(Buffer.from(chunk));
      callback();
    },
  });
  await pipeline(source, sink, { signal });
}

/** The bytes [start, end) of a chunk list, as subarrays (no copy). */
function slice(chunks: Buffer[], start: number, end: number): Buffer[] {
  const out: Buffer[] = [];
  let position = 0;
  for (const chunk of chunks) {
    const chunkEnd = position + chunk.length;
    if (chunkEnd > start && position < end) {
      out.push(chunk.subarray(Math.max(start - position, 0), Math.min(end - position, chunk.length)));
    }
    position = chunkEnd;
    if (position >= end) break;
  }
  return out;
}
