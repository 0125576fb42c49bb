/**
 * The filesystem storage driver (the default): the object at key `a/b/c` is the file
 * `<root>/a/b/c`. Whole-object writes are staged in `<root>/_tmp/` — the same filesystem, so the
 * final rename is atomic — which makes `_tmp` a reserved first key segment.
 *
 * `write` algorithm, in this order:
 *   1. create `<root>/_tmp/<uuid>` exclusively and stream the source into it;
 *   2. close it; if the source failed or the signal aborted, unlink it and rethrow (the key is
 *      untouched);
 *   3. rename it onto the key, creating parent directories only when rename reports them missing.
 * No fsync: like peer registries we trade durability on power loss for throughput, and blobs are
 * verified by digest on the read paths that matter anyway.
 *
 * Temp files orphaned by a crash stay in `_tmp/` until an operator (or a later cleanup job)
 * removes them; they are never visible as keys.
 *
 * Disk space: `write` and `writeAt` refuse to start (INSUFFICIENT_STORAGE) while the free space
 * of the filesystem is below `headroomBytes`, and stop a stream that takes it below half of that,
 * so that the space left is kept for what frees space — deletes and GC, and the SQLite file that
 * usually shares the disk. A disk that fills anyway (ENOSPC, EDQUOT) fails the write with
 * INSUFFICIENT_STORAGE too. A refused or failed `write` removes its temp file and a `writeAt`
 * truncates back to its offset, so the space comes back at once. EROFS and EIO: UNAVAILABLE.
 */
import { randomUUID } from 'node:crypto';
import type { Dir } from 'node:fs';
import { lstat, mkdir, open, opendir, rename, rm, stat, statfs, truncate, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { formatBytes } from '../base/bytes.js';
import { isPalletError, PalletError } from '../base/errors.js';
import { checkKey, checkOffset, notFound, offsetBeyondSize, resolveRange } from './checks.js';
import type { ByteRange, IoOptions, ObjectInfo, StorageCapacity, StorageDriver } from './driver.js';

/** Stream buffer size for blob I/O: large chunks mean fewer syscalls on the hot path. */
const HIGH_WATER_MARK = 1024 * 1024;
const TMP_DIR = '_tmp';

export interface FilesystemDriverOptions {
  /** Refuse new writes while the filesystem has less free space than this; 0: never refuse. */
  headroomBytes?: number;
  /** Told of every write refused or failed for want of space or a working disk (metrics, logs). */
  onFault?: (fault: 'full' | 'unavailable', err: PalletError) => void;
}

export class FilesystemDriver implements StorageDriver {
  readonly name = 'filesystem';
  readonly #tmpDir: string;
  readonly #headroomBytes: number;
  readonly #onFault: NonNullable<FilesystemDriverOptions['onFault']>;

  constructor(
    readonly root: string,
    options: FilesystemDriverOptions = {},
  ) {
    this.#tmpDir = join(root, TMP_DIR);
    this.#headroomBytes = Math.max(0, options.headroomBytes ?? 0);
    this.#onFault = options.onFault ?? (() => undefined);
  }

  async capacity(): Promise<StorageCapacity> {
    // The root may not exist yet (nothing written); its parent is on the same filesystem then.
    const info = await statfs(this.root).catch((err: unknown) => {
      if (isMissing(err)) return statfs(dirname(this.root));
      throw err;
    });
    return { freeBytes: info.bavail * info.bsize, totalBytes: info.blocks * info.bsize, headroomBytes: this.#headroomBytes };
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    const path = this.#path(key);
    try {
      const info = await stat(path);
      return info.isFile() ? { size: info.size, modifiedAt: info.mtime } : undefined;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async read(key: string, options: IoOptions & { range?: ByteRange } = {}): Promise<Readable> {
    const path = this.#path(key);
    options.signal?.throwIfAborted();
    // Open before returning, so a missing key rejects this promise rather than erroring the stream.
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (err) {
      if (isMissing(err)) throw notFound(key);
      throw err;
    }
    try {
      const info = await handle.stat();
      if (!info.isFile()) throw notFound(key);
      const range = options.range === undefined ? undefined : resolveRange(options.range, info.size, key);
      // The stream owns the handle from here (autoClose) and closes it on end, error or destroy.
      return handle.createReadStream({
        start: range?.start ?? 0,
        end: range?.end,
        highWaterMark: HIGH_WATER_MARK,
        signal: options.signal,
      });
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async write(key: string, source: Readable | Buffer, options: IoOptions = {}): Promise<number> {
    const path = this.#path(key);
    const { signal } = options;
    signal?.throwIfAborted();
    const free = await this.#ensureRoom();
    const tmp = join(this.#tmpDir, randomUUID());
    const handle = await this.#createTemp(tmp).catch((err: unknown) => {
      throw this.#fault(err);
    });
    try {
      let size: number;
      try {
        size = await pump(source, handle, 0, signal, this.#guard(free));
      } finally {
        await handle.close();
      }
      signal?.throwIfAborted();
      await renameInto(tmp, path);
      return size;
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw this.#fault(err);
    }
  }

  /**
   * Truncates then writes in place. Not atomic (the contract does not ask it to be): a failed call
   * leaves the object truncated to `offset` plus whatever bytes arrived. Concurrent `writeAt`s on
   * one key are the caller's to prevent (upload sessions are written by one request at a time).
   */
  async writeAt(key: string, offset: number, source: Readable | Buffer, options: IoOptions = {}): Promise<number> {
    const path = this.#path(key);
    checkOffset(offset);
    options.signal?.throwIfAborted();
    const free = await this.#ensureRoom();
    try {
      const handle = await openForWriteAt(path, offset, key);
      try {
        const { size } = await handle.stat();
        if (offset > size) throw offsetBeyondSize(key, offset, size);
        if (size !== offset) await handle.truncate(offset);
        return offset + (await pump(source, handle, offset, options.signal, this.#guard(free)));
      } finally {
        await handle.close();
      }
    } catch (err) {
      const mapped = this.#fault(err);
      // Give back at once what a write that ran out of room took (the session's offset stays).
      if (isPalletError(mapped, 'INSUFFICIENT_STORAGE')) await truncate(path, offset).catch(() => undefined);
      throw mapped;
    }
  }

  async move(from: string, to: string): Promise<void> {
    const fromPath = this.#path(from);
    const toPath = this.#path(to);
    // rename(2) would happily move a directory; only objects (files) may move.
    const info = await lstat(fromPath).catch((err: unknown) => {
      if (isMissing(err)) return undefined;
      throw err;
    });
    if (!info?.isFile()) throw notFound(from);
    try {
      await renameInto(fromPath, toPath);
    } catch (err) {
      if (isMissing(err)) throw notFound(from); // `from` vanished concurrently
      throw this.#fault(err);
    }
  }

  /**
   * Empty parent directories are left in place: removing them would race with a concurrent write
   * into the same directory, and they are bounded (blob shard directories; upload directories go
   * with `deletePrefix`).
   */
  async delete(key: string): Promise<void> {
    const path = this.#path(key);
    try {
      await unlink(path);
    } catch (err) {
      // A directory is not an object, so there is no object to delete.
      if (isMissing(err) || errorCode(err) === 'EISDIR') return;
      throw err;
    }
  }

  async deletePrefix(prefix: string): Promise<void> {
    const path = this.#path(prefix);
    // Only keys under `prefix/` go: an object whose key is `prefix` itself stays.
    const info = await lstat(path).catch((err: unknown) => {
      if (isMissing(err)) return undefined;
      throw err;
    });
    if (info?.isDirectory()) await rm(path, { recursive: true, force: true });
  }

  async *list(prefix: string): AsyncIterable<string> {
    this.#path(prefix);
    // Depth-first walk with an explicit stack; `opendir` streams entries, so a directory of many
    // thousands of blobs is never read into one array.
    const pending = [prefix];
    for (let dirKey = pending.pop(); dirKey !== undefined; dirKey = pending.pop()) {
      let dir: Dir;
      try {
        dir = await opendir(join(this.root, dirKey));
      } catch (err) {
        if (isMissing(err)) continue; // no such prefix, or deleted while walking
        throw err;
      }
      for await (const entry of dir) {
        const key = `${dirKey}/${entry.name}`;
        if (entry.isDirectory()) pending.push(key);
        else if (entry.isFile()) yield key;
      }
    }
  }

  async close(): Promise<void> {
    // Nothing to release: every handle is closed by the call (or stream) that opened it.
  }

  #path(key: string): string {
    checkKey(key);
    if (key === TMP_DIR || key.startsWith(`${TMP_DIR}/`)) {
      throw new PalletError('INVALID_ARGUMENT', `storage key ${JSON.stringify(key)}: "${TMP_DIR}" is reserved`, { key });
    }
    return join(this.root, key);
  }

  /**
   * INSUFFICIENT_STORAGE while free space is below `minFree` (the headroom when a write starts,
   * half of it while a write runs: one large write may use up to half the reserve, not all).
   */
  async #ensureRoom(minFree = this.#headroomBytes): Promise<number> {
    if (this.#headroomBytes === 0) return Infinity;
    const { freeBytes } = await this.capacity();
    if (freeBytes >= minFree) return freeBytes;
    throw this.#refusal(freeBytes);
  }

  #refusal(freeBytes: number): PalletError {
    const err = new PalletError(
      'INSUFFICIENT_STORAGE',
      `storage is nearly full: ${formatBytes(freeBytes)} free, less than the ${formatBytes(this.#headroomBytes)} kept for deletes and ` +
        'garbage collection; new content is refused until space is freed (delete content, then run pallet gc)',
      { freeBytes, headroomBytes: this.#headroomBytes },
    );
    this.#onFault('full', err);
    return err;
  }

  /**
   * Stops a stream before it takes the free space below half the headroom: counted against the
   * free space when the write started (bytes still buffered are not on disk yet), and re-read
   * every eighth of the headroom (at most 64 MiB), for other writers.
   */
  #guard(freeAtStart: number): Transform | undefined {
    if (this.#headroomBytes === 0) return undefined;
    const floor = this.#headroomBytes / 2;
    const every = Math.max(64 * 1024, Math.min(this.#headroomBytes / 8, 64 * 1024 * 1024));
    const check = (): Promise<number> => this.#ensureRoom(floor);
    const refuse = (free: number): PalletError => this.#refusal(free);
    let passed = 0;
    let sinceCheck = 0;
    return new Transform({
      transform(chunk: Buffer, _encoding, done) {
        passed += chunk.length;
        sinceCheck += chunk.length;
        if (freeAtStart - passed < floor) return done(refuse(freeAtStart - passed));
        if (sinceCheck < every) return done(null, chunk);
        sinceCheck = 0;
        check().then(() => done(null, chunk), done);
      },
    });
  }

  /** A full or failing disk as a domain error (INSUFFICIENT_STORAGE, UNAVAILABLE); others as they are. */
  #fault(err: unknown): unknown {
    const code = errorCode(err);
    let mapped: PalletError | undefined;
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      mapped = new PalletError('INSUFFICIENT_STORAGE', 'storage is full: no space left on the disk; delete content, then run pallet gc');
      this.#onFault('full', mapped);
    } else if (code === 'EROFS' || code === 'EIO') {
      mapped = new PalletError('UNAVAILABLE', `storage cannot be written (${code}); retry later`);
      this.#onFault('unavailable', mapped);
    }
    if (!mapped) return err;
    mapped.cause = err;
    return mapped;
  }

  async #createTemp(tmp: string): Promise<FileHandle> {
    try {
      return await open(tmp, 'wx');
    } catch (err) {
      if (errorCode(err) !== 'ENOENT') throw err;
      await mkdir(this.#tmpDir, { recursive: true });
      return open(tmp, 'wx');
    }
  }
}

/**
 * Writes `source` into `handle` at `position`; resolves to the number of bytes written. Streams
 * go through a write stream, which applies backpressure (memory stays flat) and coalesces queued
 * chunks into `writev` calls; a Buffer is written directly.
 */
async function pump(source: Readable | Buffer, handle: FileHandle, position: number, signal?: AbortSignal, guard?: Transform): Promise<number> {
  if (Buffer.isBuffer(source)) {
    let written = 0;
    while (written < source.length) {
      signal?.throwIfAborted();
      const { bytesWritten } = await handle.write(source, written, source.length - written, position + written);
      written += bytesWritten;
    }
    return written;
  }
  // The stream takes a reference on the handle and closes it when it finishes or is destroyed
  // (after any in-flight write); FileHandle.close would wait forever for that reference if the
  // stream did not (autoClose: false), so the caller's own close is only a no-op backstop here.
  const sink = handle.createWriteStream({ start: position, highWaterMark: HIGH_WATER_MARK });
  await (guard ? pipeline(source, guard, sink, { signal }) : pipeline(source, sink, { signal }));
  return sink.bytesWritten;
}

/**
 * Opens the partial object for `writeAt`. At offset 0 it may be created (with its parents); at a
 * later offset it must exist, or the offset exceeds its size of 0.
 */
async function openForWriteAt(path: string, offset: number, key: string): Promise<FileHandle> {
  if (offset > 0) {
    try {
      return await open(path, 'r+');
    } catch (err) {
      if (isMissing(err)) throw offsetBeyondSize(key, offset, 0);
      throw err;
    }
  }
  try {
    return await open(path, 'w');
  } catch (err) {
    if (errorCode(err) !== 'ENOENT') throw err;
    await mkdir(dirname(path), { recursive: true });
    return open(path, 'w');
  }
}

/**
 * Renames `from` onto `to`. The parent usually exists, so it is created only when rename says
 * it is missing; that is retried a few times because a concurrent `deletePrefix` may remove
 * the parent again between mkdir and rename.
 */
async function renameInto(from: string, to: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await rename(from, to);
      return;
    } catch (err) {
      if (errorCode(err) !== 'ENOENT' || attempt >= 4) throw err;
      await mkdir(dirname(to), { recursive: true });
    }
  }
}

function errorCode(err: unknown): string | undefined {
  if (err instanceof Error && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}

/** ENOTDIR: a parent segment of the key is a file, so there is nothing at the key. */
function isMissing(err: unknown): boolean {
  const code = errorCode(err);
  return code === 'ENOENT' || code === 'ENOTDIR';
}
