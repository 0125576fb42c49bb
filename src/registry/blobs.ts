/**
 * Blobs of a repository: reads, upload sessions (monolithic, chunked, single-POST), cross-repository
 * mounts and link deletion.
 *
 * Writing a session. A session admits one writer at a time: every chunk (and the commit) runs
 * under the session's lease (`upload-leases.ts`), taken in the database before any byte is
 * read from the request, so a concurrent request is refused and stores nothing. A chunk's
 * bytes go into a *segment* object that only the writing process ever writes
 * (`uploads/<id>/segments/<start>-<writer>`): it appends to its own segment when the session's
 * last segment is its own, and starts a new one otherwise (the session moved between replicas).
 * The advance that records the new size and segment list checks the lease and the old size in
 * one update. So the recorded range of every segment is immutable once recorded: a writer that
 * lost its lease (stalled past its expiry) can only write past the range recorded for its own
 * segment, never into bytes another writer recorded.
 *
 * An upload commits in this order, and only in this order:
 *   1. verify: hash the bytes that will move into place — the running hash (below) on the fast
 *      path, else the recorded segment ranges streamed into a staged object of the commit's
 *      own — and compare with the digest the client names (else DIGEST_INVALID and the session
 *      is discarded);
 *   2. move into place: the verified object becomes `blobs/<root>/<alg>/..`, unless the root
 *      space already holds the digest *and* its row says those bytes were verified when stored
 *      (then they are kept); unverified bytes (stored before verification was recorded) are
 *      replaced, so a blob stored with the wrong bytes is never deduplicated onto;
 *   3. link: the blob row (marked verified) and its link to the repository are written in one
 *      transaction;
 *   4. clean up: the session row and its storage are removed;
 *   5. touch the link, so that its GC grace period starts when the client is answered.
 * A reader finds a blob only through its link (step 3), so it never sees a partial blob.
 * With a GC store (every deployment; tests may leave it out), step 2 and 3 run under a
 * reservation of the blob's row, so a concurrent sweep (registry deletion, `pallet gc`) cannot
 * delete the bytes between the move and the link: see the protocol in `registry/gc.ts`.
 *
 * The running hash. A chunked upload is hashed as its bytes stream in, and the hash is kept in
 * this process between chunks. It stands for the stored bytes only when this process wrote
 * every chunk from offset 0 under the lease into its one segment: then the commit moves that
 * object without reading it (the happy path of a single replica). In every other case (the
 * session moved between replicas, the process restarted) the commit reads the recorded ranges
 * once, hashing them as it writes the staged object.
 */
import { Readable, Transform } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { Hasher, parseDigest, type DigestAlgorithm } from '../base/digest.js';
import { isPalletError, PalletError } from '../base/errors.js';
import { sweeperLock, type BlobKey, type BlobRow, type GcCandidateQuery, type GcStore } from '../metadata/gc-store.js';
import type { BlobRecord, MetadataStore, UploadRecord, UploadSegment } from '../metadata/store.js';
import type { QuotaGate } from './quotas.js';
import type { ByteRange, StorageDriver } from '../storage/driver.js';
import { blobKey, uploadDataKey, uploadPrefix, uploadSegmentKey, uploadStagedKey } from '../storage/keys.js';
import { UploadLeases, type Lease } from './upload-leases.js';

/** How many in-flight chunked uploads keep their running hash in memory. */
const MAX_RUNNING_HASHES = 10_000;
/** How long an upload waits for a (live) sweep that is deleting the same blob. */
const CLAIM_WAIT_MS = 30_000;
/** How long an upload session's writer lease lasts without renewal (renewed every third). */
const LEASE_MS = 15_000;
/** The writer of segments from sessions opened before segments were recorded. */
const LEGACY_WRITER = 'legacy';
/** Blob rows examined per sweep batch. */
const SWEEP_BATCH = 500;

export interface BlobServiceOptions {
  /** The blob protocol's rows (reservations, claims, link grace). */
  gc: GcStore;
  /** How long a reservation protects an upload between verify and link; 1 hour by default. */
  reservationMs?: number;
  /** Quotas per registry and space; a commit over quota is DENIED. */
  quotas: QuotaGate;
  /** Open upload sessions per owner (see `startUpload`); 0 or unset: unbounded. */
  maxOpenSessionsPerOwner?: number;
  /** How long an upload session's writer lease lasts without renewal; 15 s by default. */
  leaseMs?: number;
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

  private readonly gc: GcStore;
  private readonly reservationMs: number;
  private readonly quotas: QuotaGate;
  private readonly maxOpenPerOwner: number;
  private readonly leases: UploadLeases;
  /** This process's writer id: the segments it writes are named after it. */
  private readonly writerId = randomUUID();

  constructor(
    private readonly store: MetadataStore,
    private readonly driver: StorageDriver,
    options: BlobServiceOptions,
  ) {
    this.gc = options.gc;
    this.reservationMs = options.reservationMs ?? 3600_000;
    this.quotas = options.quotas;
    this.maxOpenPerOwner = options.maxOpenSessionsPerOwner ?? 0;
    this.leases = new UploadLeases(store, options.leaseMs ?? LEASE_MS);
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

  /**
   * Opens an upload session. With `owner` (who asks: `user:<name>`, `address:<ip>`) the open
   * sessions per owner are bounded (TOOMANYREQUESTS naming the limit).
   */
  async startUpload(loc: BlobLocation, owner?: string): Promise<UploadRecord> {
    const max = this.maxOpenPerOwner;
    try {
      return await this.store.createUpload({
        id: randomUUID(),
        repositoryId: loc.repositoryId,
        rootSpaceId: loc.rootSpaceId,
        ...(owner !== undefined ? { owner } : {}),
        ...(owner !== undefined && max > 0 ? { maxOpenPerOwner: max } : {}),
      });
    } catch (err) {
      if (!isPalletError(err, 'TOOMANYREQUESTS')) throw err;
      throw new PalletError(
        'TOOMANYREQUESTS',
        `too many open upload sessions: the limit is ${max} per user (uploads.maxOpenSessionsPerUser); finish or cancel some first`,
        { limit: max },
      );
    }
  }

  /** The session if it belongs to the repository; BLOB_UPLOAD_UNKNOWN otherwise. */
  async getUpload(loc: BlobLocation, uploadId: string): Promise<UploadRecord> {
    const upload = /^[0-9a-f-]{36}$/.test(uploadId) ? await this.store.findUpload(uploadId) : undefined;
    if (!upload || upload.repositoryId !== loc.repositoryId) {
      throw new PalletError('BLOB_UPLOAD_UNKNOWN', 'blob upload unknown to registry', { uploadId });
    }
    return upload;
  }

  /**
   * Appends one chunk to the session, hashing as it streams; resolves to the updated session.
   * BLOB_UPLOAD_INVALID, without reading the chunk, when another request is writing to it.
   */
  async writeChunk(upload: UploadRecord, source: Readable, options: ChunkOptions = {}): Promise<UploadRecord> {
    return this.leases.run(upload.id, (lease) => this.append(lease, source, options, false), options.signal, source);
  }

  /**
   * Completes the session as blob `digest`, optionally appending a last chunk first. On a digest
   * mismatch the session is discarded and DIGEST_INVALID thrown. The session's lease is held
   * from before the last chunk until the session is gone, so no chunk lands during the commit.
   */
  async finishUpload(loc: BlobLocation, upload: UploadRecord, digest: string, last?: Readable, options: ChunkOptions = {}): Promise<BlobRecord> {
    const { algorithm } = parseDigest(digest);
    return this.leases.run(
      upload.id,
      async (lease) => {
        const current = last ? await this.append(lease, last, { ...options, algorithm }, true) : checkStart(lease.upload, options);
        const staged = await this.stage(current, algorithm, lease);
        if (staged.digest !== digest) {
          await this.discard(current.id);
          throw new PalletError('DIGEST_INVALID', `provided digest did not match uploaded content (computed ${staged.digest})`, {
            digest,
            computed: staged.digest,
          });
        }
        return this.commit(loc, current, digest, staged.key);
      },
      options.signal,
      last,
    );
  }

  /**
   * Appends `source` to the session under `lease`: into this process's own segment object when
   * the session's last segment is one, else into a new segment starting at the session's size;
   * then advances the session (size and segments) under the lease.
   */
  private async append(lease: Lease, source: Readable, options: ChunkOptions, keep: boolean): Promise<UploadRecord> {
    const upload = checkStart(lease.upload, options);
    let state = this.running.get(upload.id);
    if (state?.offset !== upload.size) state = undefined;
    if (!state && upload.size === 0) state = { offset: 0, hasher: new Hasher(options.algorithm ?? 'sha256') };
    this.running.delete(upload.id);

    const segments = segmentsOf(upload);
    const lastSegment = segments[segments.length - 1];
    const own = lastSegment?.writer === this.writerId ? lastSegment : undefined;
    const segment = own ?? { start: upload.size, writer: this.writerId };
    const input = state ? source.pipe(hashingTransform(state.hasher)) : source;
    if (state) source.once('error', (err) => input.destroy(err));
    // The driver starts reading only once it has opened the object (a file, S3 requests): an
    // error of the source before that (a client or an upstream hanging up) must not go
    // unhandled and crash the process. The driver still gets it: the stream is left errored.
    input.on('error', () => undefined);
    const objectSize = await this.driver.writeAt(segmentKey(upload.id, segment), upload.size - segment.start, input, { signal: lease.signal });
    const newSize = segment.start + objectSize;
    const received = newSize - upload.size;
    if (options.length !== undefined && received !== options.length) {
      throw new PalletError('BLOB_UPLOAD_INVALID', `chunk length mismatch: expected ${options.length} bytes, received ${received}`);
    }
    lease.signal.throwIfAborted();
    const next = own || received === 0 ? segments : [...segments, segment];
    const advanced = await this.store.advanceUpload(upload.id, upload.size, newSize, { holder: lease.holder, segments: next, keep }).catch((err: unknown) => {
      if (isPalletError(err, 'NOT_FOUND')) throw new PalletError('BLOB_UPLOAD_UNKNOWN', 'blob upload unknown to registry', { uploadId: upload.id });
      throw err;
    });
    if (!advanced) {
      throw new PalletError('BLOB_UPLOAD_INVALID', 'the upload was changed by a concurrent request; resume from its current offset');
    }
    lease.released = !keep;
    if (state) {
      state.offset = newSize;
      this.remember(upload.id, state);
    }
    return { ...upload, size: newSize, segments: next, updatedAt: Date.now() };
  }

  /**
   * Where the session's bytes are, ready to move into place, and their digest. Fast path (no
   * read): one segment, written by this process, whose every chunk this process hashed as it
   * wrote it under the lease (the running hash) — the object is cut to the session's size and
   * used as is. Otherwise the segments' recorded ranges are streamed, hashed, into a staged
   * object of this commit's own; either way the digest is that of the bytes that will move.
   */
  private async stage(upload: UploadRecord, algorithm: DigestAlgorithm, lease: Lease): Promise<{ key: string; digest: string }> {
    const state = this.running.get(upload.id);
    this.running.delete(upload.id);
    const segments = segmentsOf(upload);
    const only = segments.length === 1 ? segments[0] : undefined;
    if (only && only.writer === this.writerId && state?.offset === upload.size && state.hasher.algorithm === algorithm) {
      const key = segmentKey(upload.id, only);
      // Bytes past the size were left by a failed chunk of this process: cut them off.
      if ((await this.driver.stat(key))?.size !== upload.size) await this.driver.writeAt(key, upload.size, Buffer.alloc(0), { signal: lease.signal });
      return { key, digest: state.hasher.digest() };
    }
    const hasher = new Hasher(algorithm);
    const key = uploadStagedKey(upload.id, lease.holder);
    const bytes = Readable.from(this.segmentBytes(upload, segments, lease.signal), { objectMode: false });
    await this.driver.write(key, bytes.pipe(hashingTransform(hasher)), { signal: lease.signal });
    return { key, digest: hasher.digest() };
  }

  /** The session's bytes: each segment's recorded range, in order. */
  private async *segmentBytes(upload: UploadRecord, segments: UploadSegment[], signal: AbortSignal): AsyncGenerator<Buffer> {
    for (const [i, segment] of segments.entries()) {
      const end = segments[i + 1]?.start ?? upload.size;
      if (end <= segment.start) continue;
      const stream = await this.driver.read(segmentKey(upload.id, segment), { range: { start: 0, end: end - segment.start - 1 }, signal });
      let got = 0;
      for await (const chunk of stream) {
        got += (chunk as Buffer).length;
        yield chunk as Buffer;
      }
      if (got !== end - segment.start) {
        throw new PalletError('BLOB_UPLOAD_INVALID', 'the upload session is missing bytes it recorded; start the upload again', { uploadId: upload.id });
      }
    }
  }

  /** Steps 2–5 of the commit (see the header) for verified bytes staged at `staged`. */
  private async commit(loc: BlobLocation, current: UploadRecord, digest: string, staged: string): Promise<BlobRecord> {
    const key = blobKey(loc.rootSpaceId, digest);
    const ref: BlobKey = { rootSpaceId: loc.rootSpaceId, digest };
    // Quota first: a push over quota is refused before any byte moves.
    const quota = await this.quotas.reserve(loc.repositoryId, current.size, digest);
    const reservedAt = Date.now();
    try {
      await this.reserve(this.gc, ref, current.size, current.id);
    } catch (err) {
      await quota.release();
      throw err;
    }
    let blob: BlobRecord;
    try {
      // Dedup only onto bytes that were verified when stored: anything else (bytes stored
      // before verification was recorded, a missing or short object) is replaced by these.
      const existing = await this.store.findBlob(loc.rootSpaceId, digest);
      if (existing?.verified && existing.size === current.size && (await this.driver.stat(key))?.size === current.size) {
        await this.driver.delete(staged);
      } else {
        await this.driver.move(staged, key);
      }
      blob = await this.store.commitBlob(loc.rootSpaceId, loc.repositoryId, digest, current.size, { verified: true });
      // Past half its life the reservation may have lapsed and a sweep may have taken the
      // bytes before the link: make sure they are there (cheap insurance for slow commits).
      if (Date.now() - reservedAt > this.reservationMs / 2 && (await this.driver.stat(key))?.size !== current.size) {
        await this.store.unlinkBlob(loc.repositoryId, digest);
        throw new PalletError('UNAVAILABLE', `blob ${digest} was garbage-collected while it was committed; push it again`, { digest });
      }
      await this.discard(current.id);
    } finally {
      await this.gc.releaseBlob(ref, current.id);
      await quota.release();
    }
    // The link's grace must run from the answer, not from the commit: the client may push the
    // manifest up to a grace period after it is told the blob is stored, and the clean-up
    // above can take a while under load. So touch the link last; if a GC dropped it meanwhile
    // (the clean-up outlasted the grace), say so rather than answer 201 for a lost link.
    if ((await this.gc.touchLinks(loc.repositoryId, [digest])) === 0) {
      throw new PalletError('UNAVAILABLE', `blob ${digest} was garbage-collected while it was committed; push it again`, { digest });
    }
    return blob;
  }

  /** Single-request upload of a whole blob whose digest is known up front. */
  async putBlob(loc: BlobLocation, digest: string, source: Readable, options: Omit<ChunkOptions, 'algorithm' | 'start'> = {}): Promise<BlobRecord> {
    const { algorithm } = parseDigest(digest);
    return this.whole(loc, (upload) => this.finishUpload(loc, upload, digest, source, { ...options, algorithm }));
  }

  /**
   * Single-request upload of a whole blob committed under the SHA-256 learned while it streams
   * (the session's running hash: one pass), i.e. `finishUpload` with nothing to compare.
   */
  async putBlobLearned(loc: BlobLocation, source: Readable, options: Omit<ChunkOptions, 'algorithm' | 'start'> = {}): Promise<BlobRecord> {
    const commit = async (lease: Lease) => {
      const current = await this.append(lease, source, { ...options, algorithm: 'sha256' }, true);
      const staged = await this.stage(current, 'sha256', lease);
      return this.commit(loc, current, staged.digest, staged.key);
    };
    return this.whole(loc, (upload) => this.leases.run(upload.id, commit, options.signal, source));
  }

  /** Runs `work` on a new session; a failure discards the session (nothing is linked). */
  private async whole(loc: BlobLocation, work: (upload: UploadRecord) => Promise<BlobRecord>): Promise<BlobRecord> {
    const upload = await this.startUpload(loc);
    try {
      return await work(upload);
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
    // Bytes never verified against the digest are not linked anew: the client uploads them.
    if (!blob?.verified) return undefined;
    const ref: BlobKey = { rootSpaceId: loc.rootSpaceId, digest };
    const holder = `mount:${randomUUID()}`;
    const quota = await this.quotas.reserve(loc.repositoryId, blob.size, digest);
    try {
      // Like an upload, a mount links only under a reservation: from here on no sweep can
      // claim the row. The source link read above may have gone since, and a sweep with it
      // (then the reservation made a fresh row): link only bytes that are still in place.
      if ((await this.gc.reserveBlob(ref, blob.size, holder, this.reservationMs)).state !== 'reserved') return undefined;
      if ((await this.driver.stat(blobKey(loc.rootSpaceId, digest)))?.size !== blob.size) return undefined;
      const record = await this.store.commitBlob(loc.rootSpaceId, loc.repositoryId, digest, blob.size, { verified: true });
      // Still under the reservation (dead-link sweeps skip reserved blobs): the grace of the
      // new link runs from this answer.
      if ((await this.gc.touchLinks(loc.repositoryId, [digest])) === 0) return undefined;
      return record;
    } catch (err) {
      // Being swept: the client uploads it instead.
      if (isPalletError(err, 'UNAVAILABLE')) return undefined;
      throw err;
    } finally {
      await this.gc.releaseBlob(ref, holder);
      await quota.release();
    }
  }

  /**
   * A pusher was told the repository holds the blob (HEAD): restart its link's grace, as an
   * upload's 201 does, so a manifest pushed within the grace finds it. False when the link is
   * gone (the caller answers BLOB_UNKNOWN).
   */
  async refreshLink(loc: BlobLocation, digest: string): Promise<boolean> {
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
   * Deletes the bytes of blobs in the root space that nothing holds any more: a sweep of that
   * root space under the blob protocol (see `sweep`), so blobs reserved by an upload in flight
   * or referenced by a manifest or package file stay (the next `pallet gc` takes them if they
   * end up unheld).
   */
  async reclaimOrphans(rootSpaceId: string): Promise<SweepResult> {
    return this.sweep({ rootSpaceId }, false);
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

  private remember(uploadId: string, state: { offset: number; hasher: Hasher }): void {
    if (this.running.size >= MAX_RUNNING_HASHES) {
      const oldest = this.running.keys().next().value;
      if (oldest !== undefined) this.running.delete(oldest);
    }
    this.running.set(uploadId, state);
  }
}

/** RANGE_INVALID when the client says the chunk starts elsewhere than the session's size. */
function checkStart(upload: UploadRecord, options: ChunkOptions): UploadRecord {
  if (options.start !== undefined && options.start !== upload.size) {
    throw new PalletError('RANGE_INVALID', `chunk starts at ${options.start} but the upload has ${upload.size} bytes`, {
      size: upload.size,
    });
  }
  return upload;
}

/** The session's segments; a session from before segments were recorded has its one object. */
function segmentsOf(upload: UploadRecord): UploadSegment[] {
  if (upload.segments.length === 0 && upload.size > 0) return [{ start: 0, writer: LEGACY_WRITER }];
  return upload.segments;
}

function segmentKey(uploadId: string, segment: UploadSegment): string {
  return segment.writer === LEGACY_WRITER ? uploadDataKey(uploadId) : uploadSegmentKey(uploadId, segment.start, segment.writer);
}
