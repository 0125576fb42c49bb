/**
 * Blobs of a repository: reads, upload sessions (monolithic, chunked, single-POST), cross-repository
 * mounts and link deletion.
 *
 * An upload commits in this order, and only in this order:
 *   1. verify: the bytes received hash to the digest the client names (else DIGEST_INVALID and
 *      the session is discarded);
 *   2. move into place: the session's data becomes `blobs/<root>/<alg>/..` (skipped when the
 *      root space already holds the digest);
 *   3. link: the blob row and its link to the repository are written in one transaction;
 *   4. clean up: the session row and its storage are removed.
 * A reader finds a blob only through its link (step 3), so it never sees a partial blob.
 *
 * Hashing is one pass over the bytes as they stream in. The running hash of a chunked upload is
 * kept in this process between chunks; when a chunk arrives at another replica or after a
 * restart, the data received so far is hashed again at the end (one extra read of the upload).
 */
import { Readable, Transform } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { Hasher, parseDigest, type DigestAlgorithm } from '../base/digest.js';
import { isPalletError, PalletError } from '../base/errors.js';
import type { BlobRecord, MetadataStore, UploadRecord } from '../metadata/store.js';
import type { ByteRange, StorageDriver } from '../storage/driver.js';
import { blobKey, uploadDataKey, uploadPrefix } from '../storage/keys.js';

/** How many in-flight chunked uploads keep their running hash in memory. */
const MAX_RUNNING_HASHES = 10_000;

export interface BlobLocation {
  rootSpaceId: string;
  repositoryId: string;
}

export interface ChunkOptions {
  /** Where the client says the chunk starts (Content-Range); must equal the session's size. */
  start?: number;
  /** How many bytes the client says it sends; a different count is rejected. */
  length?: number;
  /** The hash to run when the session is new (known from a digest given up front). */
  algorithm?: DigestAlgorithm;
  signal?: AbortSignal;
}

function hashingTransform(hasher: Hasher): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      hasher.update(chunk);
      done(null, chunk);
    },
  });
}

export class BlobService {
  private readonly running = new Map<string, { offset: number; hasher: Hasher }>();

  constructor(
    private readonly store: MetadataStore,
    private readonly driver: StorageDriver,
  ) {}

  /** The blob if it is linked to the repository; BLOB_UNKNOWN otherwise. */
  async stat(loc: BlobLocation, digest: string): Promise<BlobRecord> {
    parseDigest(digest);
    const blob = await this.store.findLinkedBlob(loc.repositoryId, digest);
    if (!blob) throw new PalletError('BLOB_UNKNOWN', 'blob unknown to registry', { digest });
    return blob;
  }

  /** Opens the blob (or an inclusive byte range of it); RANGE_INVALID when the range is outside it. */
  async open(loc: BlobLocation, digest: string, range?: ByteRange, signal?: AbortSignal): Promise<{ blob: BlobRecord; stream: Readable }> {
    const blob = await this.stat(loc, digest);
    if (range && (range.start > range.end || range.end >= blob.size)) {
      throw new PalletError('RANGE_INVALID', `range ${range.start}-${range.end} is outside the blob of ${blob.size} bytes`, { size: blob.size });
    }
    try {
      const stream = await this.driver.read(blobKey(loc.rootSpaceId, digest), range ? { range, signal } : { signal });
      return { blob, stream };
    } catch (err) {
      if (isPalletError(err, 'NOT_FOUND')) {
        throw new PalletError('BLOB_UNKNOWN', 'blob is recorded but its content is missing from storage', { digest });
      }
      throw err;
    }
  }

  async startUpload(loc: BlobLocation): Promise<UploadRecord> {
    return this.store.createUpload({ id: randomUUID(), repositoryId: loc.repositoryId, rootSpaceId: loc.rootSpaceId });
  }

  /** The session if it belongs to the repository; BLOB_UPLOAD_UNKNOWN otherwise. */
  async getUpload(loc: BlobLocation, uploadId: string): Promise<UploadRecord> {
    const upload = /^[0-9a-f-]{36}$/.test(uploadId) ? await this.store.findUpload(uploadId) : undefined;
    if (!upload || upload.repositoryId !== loc.repositoryId) {
      throw new PalletError('BLOB_UPLOAD_UNKNOWN', 'blob upload unknown to registry', { uploadId });
    }
    return upload;
  }

  /** Appends one chunk to the session, hashing as it streams; resolves to the updated session. */
  async writeChunk(upload: UploadRecord, source: Readable, options: ChunkOptions = {}): Promise<UploadRecord> {
    if (options.start !== undefined && options.start !== upload.size) {
      throw new PalletError('RANGE_INVALID', `chunk starts at ${options.start} but the upload has ${upload.size} bytes`, {
        size: upload.size,
      });
    }
    let state = this.running.get(upload.id);
    if (state?.offset !== upload.size) state = undefined;
    if (!state && upload.size === 0) state = { offset: 0, hasher: new Hasher(options.algorithm ?? 'sha256') };
    this.running.delete(upload.id);

    const input = state ? source.pipe(hashingTransform(state.hasher)) : source;
    if (state) source.once('error', (err) => input.destroy(err));
    const newSize = await this.driver.writeAt(uploadDataKey(upload.id), upload.size, input, { signal: options.signal });
    const received = newSize - upload.size;
    if (options.length !== undefined && received !== options.length) {
      throw new PalletError('BLOB_UPLOAD_INVALID', `chunk length mismatch: expected ${options.length} bytes, received ${received}`);
    }
    if (!(await this.store.advanceUpload(upload.id, upload.size, newSize))) {
      throw new PalletError('BLOB_UPLOAD_INVALID', 'the upload was changed by a concurrent request; resume from its current offset');
    }
    if (state) {
      state.offset = newSize;
      this.remember(upload.id, state);
    }
    return { ...upload, size: newSize, updatedAt: Date.now() };
  }

  /**
   * Completes the session as blob `digest`, optionally appending a last chunk first. On a digest
   * mismatch the session is discarded and DIGEST_INVALID thrown.
   */
  async finishUpload(loc: BlobLocation, upload: UploadRecord, digest: string, last?: Readable, options: ChunkOptions = {}): Promise<BlobRecord> {
    const { algorithm } = parseDigest(digest);
    let current = upload;
    // An empty session still needs its (empty) data object to move into place.
    if (!last && upload.size === 0) last = Readable.from([]);
    if (last) current = await this.writeChunk(upload, last, { ...options, algorithm });
    const state = this.running.get(current.id);
    this.running.delete(current.id);
    const actual =
      state && state.offset === current.size && state.hasher.algorithm === algorithm
        ? state.hasher.digest()
        : await this.rehash(current.id, algorithm);
    if (actual !== digest) {
      await this.discard(current.id);
      throw new PalletError('DIGEST_INVALID', `provided digest did not match uploaded content (computed ${actual})`, { digest, computed: actual });
    }
    const key = blobKey(loc.rootSpaceId, digest);
    const existing = await this.store.findBlob(loc.rootSpaceId, digest);
    if (existing && (await this.driver.stat(key))?.size === existing.size) {
      await this.driver.delete(uploadDataKey(current.id));
    } else {
      await this.driver.move(uploadDataKey(current.id), key);
    }
    const blob = await this.store.commitBlob(loc.rootSpaceId, loc.repositoryId, digest, current.size);
    await this.discard(current.id);
    return blob;
  }

  /** Single-request upload of a whole blob whose digest is known up front. */
  async putBlob(loc: BlobLocation, digest: string, source: Readable, options: Omit<ChunkOptions, 'algorithm' | 'start'> = {}): Promise<BlobRecord> {
    const { algorithm } = parseDigest(digest);
    const upload = await this.startUpload(loc);
    try {
      return await this.finishUpload(loc, upload, digest, source, { ...options, algorithm });
    } catch (err) {
      await this.discard(upload.id);
      throw err;
    }
  }

  async cancelUpload(upload: UploadRecord): Promise<void> {
    this.running.delete(upload.id);
    await this.discard(upload.id);
  }

  /**
   * Links a blob that `fromRepositoryId` (same root space) holds into this repository; resolves
   * to undefined when the source does not hold it (the caller then starts an upload instead).
   */
  async mount(loc: BlobLocation, fromRepositoryId: string, digest: string): Promise<BlobRecord | undefined> {
    parseDigest(digest);
    const blob = await this.store.findLinkedBlob(fromRepositoryId, digest);
    if (!blob) return undefined;
    return this.store.commitBlob(loc.rootSpaceId, loc.repositoryId, digest, blob.size);
  }

  /** Removes the blob's link to the repository; its bytes are reclaimed when nothing links it. */
  async deleteLink(loc: BlobLocation, digest: string): Promise<void> {
    parseDigest(digest);
    if (!(await this.store.unlinkBlob(loc.repositoryId, digest))) {
      throw new PalletError('BLOB_UNKNOWN', 'blob unknown to registry', { digest });
    }
  }

  /** Deletes the bytes of blobs in the root space that no repository links any more. */
  async reclaimOrphans(rootSpaceId: string): Promise<{ count: number; bytes: number }> {
    const orphans = await this.store.deleteOrphanBlobs(rootSpaceId);
    for (const blob of orphans) await this.driver.delete(blobKey(rootSpaceId, blob.digest));
    return { count: orphans.length, bytes: orphans.reduce((sum, b) => sum + b.size, 0) };
  }

  /** Removes a session's storage and row (idempotent). */
  async discard(uploadId: string): Promise<void> {
    this.running.delete(uploadId);
    await this.driver.deletePrefix(uploadPrefix(uploadId));
    try {
      await this.store.deleteUpload(uploadId);
    } catch (err) {
      if (!isPalletError(err, 'NOT_FOUND')) throw err;
    }
  }

  private async rehash(uploadId: string, algorithm: DigestAlgorithm): Promise<string> {
    const hasher = new Hasher(algorithm);
    let stream: Readable;
    try {
      stream = await this.driver.read(uploadDataKey(uploadId));
    } catch (err) {
      if (!isPalletError(err, 'NOT_FOUND')) throw err;
      return hasher.digest(); // nothing received: the empty blob
    }
    for await (const chunk of stream) hasher.update(chunk as Buffer);
    return hasher.digest();
  }

  private remember(uploadId: string, state: { offset: number; hasher: Hasher }): void {
    if (this.running.size >= MAX_RUNNING_HASHES) {
      const oldest = this.running.keys().next().value;
      if (oldest !== undefined) this.running.delete(oldest);
    }
    this.running.set(uploadId, state);
  }
}
