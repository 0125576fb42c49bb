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
 *   4. clean up: the session row and its storage are removed;
 *   5. touch the link, so that its GC grace period starts when the client is answered.
 * A reader finds a blob only through its link (step 3), so it never sees a partial blob.
 * With a GC store (every deployment; tests may leave it out), step 2 and 3 run under a
 * reservation of the blob's row, so a concurrent sweep (registry deletion, `pallet gc`) cannot
 * delete the bytes between the move and the link: see the protocol in `registry/gc.ts`.
 *
 * Hashing is one pass over the bytes as they stream in. The running hash of a chunked upload is
 * kept in this process between chunks; when a chunk arrives at another replica or after a
 * restart, the data received so far is hashed again at the end (one extra read of the upload).
 */
import { Readable, Transform } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { Hasher, parseDigest, type DigestAlgorithm } from '../base/digest.js';
import { isPalletError, PalletError } from '../base/errors.js';
import { sweeperLock, type BlobKey, type BlobRow, type GcCandidateQuery, type GcStore } from '../metadata/gc-store.js';
import type { BlobRecord, MetadataStore, UploadRecord } from '../metadata/store.js';
import type { QuotaGate } from './quotas.js';
import type { ByteRange, StorageDriver } from '../storage/driver.js';
import { blobKey, uploadDataKey, uploadPrefix } from '../storage/keys.js';

/** How many in-flight chunked uploads keep their running hash in memory. */
const MAX_RUNNING_HASHES = 10_000;
/** How long an upload waits for a (live) sweep that is deleting the same blob. */
const CLAIM_WAIT_MS = 30_000;
/** Blob rows examined per sweep batch. */
const SWEEP_BATCH = 500;

export interface BlobServiceOptions {
  /** The blob protocol's rows (reservations, claims); without it uploads are not reserved. */
  gc?: GcStore;
  /** How long a reservation protects an upload between verify and link; 1 hour by default. */
  reservationMs?: number;
  /** Quotas per registry and space; a commit over quota is DENIED. */
  quotas?: QuotaGate;
}

export interface SweepResult {
  count: number;
  bytes: number;
}

export interface SweepOptions {
  /**
   * The sweep's fencing token, when the caller already holds its liveness lock
   * (`sweeperLock`); otherwise the sweep makes one and holds the lock itself.
   */
  sweeper?: string;
  /** Also adopt and finish claims from before claims had tokens (`pallet gc` runs only). */
  legacyClaims?: boolean;
}

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

  private readonly gc: GcStore | undefined;
  private readonly reservationMs: number;
  private readonly quotas: QuotaGate | undefined;

  constructor(
    private readonly store: MetadataStore,
    private readonly driver: StorageDriver,
    options: BlobServiceOptions = {},
  ) {
    this.gc = options.gc;
    this.reservationMs = options.reservationMs ?? 3600_000;
    this.quotas = options.quotas;
  }

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
    const ref: BlobKey = { rootSpaceId: loc.rootSpaceId, digest };
    // Quota first: a push over quota is refused before any byte moves.
    const quota = await this.quotas?.reserve(loc.repositoryId, current.size, digest);
    const reservedAt = Date.now();
    try {
      if (this.gc) await this.reserve(this.gc, ref, current.size, current.id);
    } catch (err) {
      await quota?.release();
      throw err;
    }
    let blob: BlobRecord;
    try {
      const existing = await this.store.findBlob(loc.rootSpaceId, digest);
      if (existing && (await this.driver.stat(key))?.size === existing.size) {
        await this.driver.delete(uploadDataKey(current.id));
      } else {
        await this.driver.move(uploadDataKey(current.id), key);
      }
      blob = await this.store.commitBlob(loc.rootSpaceId, loc.repositoryId, digest, current.size);
      // Past half its life the reservation may have lapsed and a sweep may have taken the
      // bytes before the link: make sure they are there (cheap insurance for slow commits).
      if (this.gc && Date.now() - reservedAt > this.reservationMs / 2 && (await this.driver.stat(key))?.size !== current.size) {
        await this.store.unlinkBlob(loc.repositoryId, digest);
        throw new PalletError('UNAVAILABLE', `blob ${digest} was garbage-collected while it was committed; push it again`, { digest });
      }
      await this.discard(current.id);
    } finally {
      if (this.gc) await this.gc.releaseBlob(ref, current.id);
      await quota?.release();
    }
    // The link's grace must run from the answer, not from the commit: the client may push the
    // manifest up to a grace period after it is told the blob is stored, and the clean-up
    // above can take a while under load. So touch the link last; if a GC dropped it meanwhile
    // (the clean-up outlasted the grace), say so rather than answer 201 for a lost link.
    if (this.gc && (await this.gc.touchLinks(loc.repositoryId, [digest])) === 0) {
      throw new PalletError('UNAVAILABLE', `blob ${digest} was garbage-collected while it was committed; push it again`, { digest });
    }
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
    const ref: BlobKey = { rootSpaceId: loc.rootSpaceId, digest };
    const holder = `mount:${randomUUID()}`;
    const quota = await this.quotas?.reserve(loc.repositoryId, blob.size, digest);
    try {
      // Like an upload, a mount links only under a reservation: from here on no sweep can
      // claim the row. The source link read above may have gone since, and a sweep with it
      // (then the reservation made a fresh row): link only bytes that are still in place.
      if (this.gc) {
        if ((await this.gc.reserveBlob(ref, blob.size, holder, this.reservationMs)).state !== 'reserved') return undefined;
        if ((await this.driver.stat(blobKey(loc.rootSpaceId, digest)))?.size !== blob.size) return undefined;
      }
      const record = await this.store.commitBlob(loc.rootSpaceId, loc.repositoryId, digest, blob.size);
      // Still under the reservation (dead-link sweeps skip reserved blobs): the grace of the
      // new link runs from this answer.
      if (this.gc && (await this.gc.touchLinks(loc.repositoryId, [digest])) === 0) return undefined;
      return record;
    } catch (err) {
      // Being swept: the client uploads it instead.
      if (isPalletError(err, 'UNAVAILABLE')) return undefined;
      throw err;
    } finally {
      if (this.gc) await this.gc.releaseBlob(ref, holder);
      await quota?.release();
    }
  }

  /**
   * A pusher was told the repository holds the blob (HEAD): restart its link's grace, as an
   * upload's 201 does, so a manifest pushed within the grace finds it. False when the link is
   * gone (the caller answers BLOB_UNKNOWN). Without a GC store links never expire: true.
   */
  async refreshLink(loc: BlobLocation, digest: string): Promise<boolean> {
    if (!this.gc) return true;
    return (await this.gc.touchLinks(loc.repositoryId, [digest])) > 0;
  }

  /** Removes the blob's link to the repository; its bytes are reclaimed when nothing links it. */
  async deleteLink(loc: BlobLocation, digest: string): Promise<void> {
    parseDigest(digest);
    if (!(await this.store.unlinkBlob(loc.repositoryId, digest))) {
      throw new PalletError('BLOB_UNKNOWN', 'blob unknown to registry', { digest });
    }
  }

  /**
   * Deletes the bytes of blobs in the root space that no repository links any more. With a GC
   * store this is a sweep of that root space under the blob protocol: blobs reserved by an
   * upload in flight stay (the next `pallet gc` takes them if they end up unlinked).
   */
  async reclaimOrphans(rootSpaceId: string): Promise<{ count: number; bytes: number }> {
    if (this.gc) return this.sweep({ rootSpaceId }, false);
    const orphans = await this.store.deleteOrphanBlobs(rootSpaceId);
    for (const blob of orphans) await this.driver.delete(blobKey(rootSpaceId, blob.digest));
    return { count: orphans.length, bytes: orphans.reduce((sum, b) => sum + b.size, 0) };
  }

  /**
   * Sweeps garbage blob rows (see `GcStore.listGarbageBlobs`) in batches: claim, delete the
   * bytes, delete the rows, all under this sweep's fencing token and while holding its
   * liveness lock. Claims of sweeps that are gone (their lock is free) are finished first. A
   * dry run only counts, treating links untouched for `query.deadLinksOlderThanMs` as gone.
   */
  async sweep(
    query: Omit<GcCandidateQuery, 'limit' | 'after'>,
    dryRun: boolean,
    onBatch?: (done: SweepResult) => void,
    options: SweepOptions = {},
  ): Promise<SweepResult> {
    const gc = this.gc;
    if (!gc) throw new PalletError('UNAVAILABLE', 'this blob service has no GC store');
    const done: SweepResult = { count: 0, bytes: 0 };
    if (dryRun) {
      await this.forEachGarbagePage(gc, query, async (page) => {
        done.count += page.length;
        done.bytes += page.reduce((sum, b) => sum + b.size, 0);
        onBatch?.(done);
      });
      return done;
    }
    if (options.sweeper !== undefined) return this.sweepAs(gc, options.sweeper, query, options, done, onBatch);
    const sweeper = randomUUID();
    const locked = await gc.withLock(sweeperLock(sweeper), () => this.sweepAs(gc, sweeper, query, options, done, onBatch));
    if (!locked) throw new PalletError('UNAVAILABLE', 'could not take the sweep lock');
    return locked.result;
  }

  private async sweepAs(
    gc: GcStore,
    sweeper: string,
    query: Omit<GcCandidateQuery, 'limit' | 'after'>,
    options: SweepOptions,
    done: SweepResult,
    onBatch?: (done: SweepResult) => void,
  ): Promise<SweepResult> {
    if (options.legacyClaims) await gc.adoptLegacyClaims(sweeper);
    for (const claimant of await gc.listClaimants(query.rootSpaceId)) {
      if (claimant === sweeper) {
        await this.deleteClaimed(gc, sweeper, await gc.listClaims(sweeper, query.rootSpaceId), done);
      } else if (claimant !== null) {
        // Free lock: that sweep's process is gone; holding its lock, finish its claims.
        await gc.withLock(sweeperLock(claimant), async () =>
          this.deleteClaimed(gc, claimant, await gc.listClaims(claimant, query.rootSpaceId), done),
        );
      }
    }
    await this.forEachGarbagePage(gc, query, async (page) => {
      await this.deleteClaimed(gc, sweeper, await gc.claimBlobs(page, sweeper), done);
      onBatch?.(done);
    });
    return done;
  }

  private async forEachGarbagePage(
    gc: GcStore,
    query: Omit<GcCandidateQuery, 'limit' | 'after'>,
    each: (page: BlobRow[]) => Promise<void>,
  ): Promise<void> {
    let after: BlobKey | undefined;
    for (;;) {
      const page = await gc.listGarbageBlobs({ ...query, limit: SWEEP_BATCH, ...(after ? { after } : {}) });
      if (page.length === 0) return;
      const last = page[page.length - 1]!;
      after = { rootSpaceId: last.rootSpaceId, digest: last.digest };
      await each(page);
      if (page.length < SWEEP_BATCH) return;
    }
  }

  /**
   * Deletes the bytes, then the rows, of blobs that `sweeper` claimed. The claims are checked
   * again right before the bytes go (the fence: a row this sweep no longer holds is left alone).
   */
  private async deleteClaimed(gc: GcStore, sweeper: string, rows: BlobRow[], done?: SweepResult): Promise<void> {
    if (rows.length === 0) return;
    const sizes = new Map(rows.map((r) => [`${r.rootSpaceId}/${r.digest}`, r.size]));
    const owned = await gc.ownedClaims(rows, sweeper);
    for (const row of owned) await this.driver.delete(blobKey(row.rootSpaceId, row.digest));
    await gc.deleteClaimed(owned, sweeper);
    if (!done) return;
    done.count += owned.length;
    done.bytes += owned.reduce((sum, k) => sum + (sizes.get(`${k.rootSpaceId}/${k.digest}`) ?? 0), 0);
  }

  /**
   * Reserves the blob row for upload `holder`. A row claimed by a live sweep is waited for (it
   * is about to go); one claimed by a sweep that is gone (its liveness lock is free: its
   * process died) is finished by this writer, holding that lock. No clock decides either.
   */
  private async reserve(gc: GcStore, ref: BlobKey, size: number, holder: string): Promise<void> {
    const deadline = performance.now() + CLAIM_WAIT_MS;
    for (;;) {
      const result = await gc.reserveBlob(ref, size, holder, this.reservationMs);
      if (result.state === 'reserved') return;
      const by = result.by;
      if (by !== null) {
        const finished = await gc.withLock(sweeperLock(by), async () => {
          const owned = await gc.ownedClaims([ref], by);
          await this.deleteClaimed(gc, by, owned.map((k) => ({ ...k, size: 0 })));
        });
        if (finished) continue;
      }
      if (performance.now() > deadline) {
        throw new PalletError('UNAVAILABLE', `blob ${ref.digest} is being garbage-collected; push it again`, { digest: ref.digest });
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /**
   * Where a client may fetch the whole blob directly (a presigned storage URL valid for
   * `expiresInSeconds`), when the driver offers one and the bytes are in place; undefined
   * otherwise. The caller has already checked that the repository may serve the blob.
   */
  async redirectUrl(rootSpaceId: string, digest: string, expiresInSeconds: number): Promise<string | undefined> {
    if (!this.driver.presignedUrl) return undefined;
    const key = blobKey(rootSpaceId, digest);
    if ((await this.driver.stat(key)) === undefined) return undefined;
    return this.driver.presignedUrl(key, expiresInSeconds);
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
