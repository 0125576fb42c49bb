/**
 * The storage driver interface: a small byte store keyed by slash-separated paths. Drivers know
 * nothing of digests, repositories or HTTP; `storage/keys.ts` owns every key the domain uses.
 *
 * Contracts every driver keeps (proved by `driver.suite.ts`):
 * - `write` is atomic: a reader sees the old object or the whole new one, never a part. If the
 *   source fails or the signal aborts, the key is left as it was.
 * - `writeAt` is for partial objects (upload sessions): it truncates the object to `offset`
 *   (which must not exceed its current size) and appends the source there. A failed `writeAt`
 *   may leave bytes past `offset`; the caller's recorded offset stays authoritative and the
 *   next `writeAt` at that offset discards them.
 * - `move` atomically replaces `to` with `from`, and `from` is gone afterwards.
 * - `delete` of a missing key succeeds; `read` of a missing key throws NOT_FOUND.
 * - A full disk fails a write with INSUFFICIENT_STORAGE (a driver may refuse writes earlier, to
 *   keep a headroom); a store that cannot be reached fails with UNAVAILABLE.
 */
import type { Readable } from 'node:stream';

export interface ObjectInfo {
  size: number;
  modifiedAt: Date;
}

/** Inclusive byte range, as in HTTP `Range: bytes=start-end`. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface IoOptions {
  signal?: AbortSignal;
}

export interface StorageDriver {
  readonly name: string;
  /** Size and time of the object, or undefined when there is none. */
  stat(key: string): Promise<ObjectInfo | undefined>;
  /** A stream of the object's bytes (or of `range`); throws PalletError NOT_FOUND when missing. */
  read(key: string, options?: IoOptions & { range?: ByteRange }): Promise<Readable>;
  /** Atomically writes the whole object from `source`; resolves to the number of bytes written. */
  write(key: string, source: Readable | Buffer, options?: IoOptions): Promise<number>;
  /** Truncates the partial object at `key` to `offset` and appends `source`; resolves to its new size. */
  writeAt(key: string, offset: number, source: Readable | Buffer, options?: IoOptions): Promise<number>;
  /** Atomically moves `from` onto `to` (replacing it). Throws NOT_FOUND when `from` is missing. */
  move(from: string, to: string): Promise<void>;
  /** Deletes one object; a missing key is not an error. */
  delete(key: string): Promise<void>;
  /** Deletes every object whose key starts with `prefix` + '/'. */
  deletePrefix(prefix: string): Promise<void>;
  /** Every key under `prefix` + '/', in no particular order. */
  list(prefix: string): AsyncIterable<string>;
  /**
   * Optional: a URL that lets a client GET the whole object directly for `expiresInSeconds`
   * without credentials (S3 presigned URLs). Drivers that cannot hand one out leave it out.
   */
  presignedUrl?(key: string, expiresInSeconds: number): Promise<string | undefined>;
  /**
   * Optional: free and total bytes where the driver stores objects, and the headroom below which
   * it refuses new writes (INSUFFICIENT_STORAGE) so that deletes and GC keep working. Drivers
   * without a disk of their own (S3, memory) leave it out.
   */
  capacity?(): Promise<StorageCapacity>;
  /** Releases handles and connections. */
  close(): Promise<void>;
}

export interface StorageCapacity {
  freeBytes: number;
  totalBytes: number;
  headroomBytes: number;
}
