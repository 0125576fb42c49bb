/**
 * Online garbage collection: reclaims storage while every replica keeps serving pushes and
 * pulls (no read-only mode).
 *
 * What is live (kept):
 * - a manifest, always (manifests go only by explicit deletion or a cleanup policy);
 * - a link (repository → blob) that a manifest or a package file of its repository references,
 *   or that was created, re-uploaded, mounted or relied on by a manifest push or a package-file
 *   record within the grace period (an image being pushed uploads its blobs before its
 *   manifest; an upload touches its link as its very last step, so the grace runs from the
 *   client's 201, not from the commit);
 * - a blob (row and bytes) that any link holds, that any manifest or any package file (a file
 *   of a package version of any format, `metadata/package-file-store.ts`) of its root space
 *   references, or that an upload holds an unexpired reservation on (an upload between
 *   "verified" and "linked");
 * - an upload session updated within the grace period, and its bytes.
 * Everything else is garbage: dead links, then the blobs nothing holds any more, stale upload
 * sessions, and bytes in storage that no row records (left by crashes) once older than the grace.
 *
 * The blob protocol (shared with uploads and mounts, see `blobs.ts`, and with registry
 * deletion) keeps bytes and links consistent without a global lock:
 *   - bytes under a blob key are deleted only by the sweep that *claimed* its row (`deleting =
 *     1`, `deleting_by` = the sweep's fencing token), and the row is deleted only after its
 *     bytes, by the same token (`deleteClaimed` matches it, so a sweep never deletes a row it
 *     does not hold);
 *   - a sweep holds its token's *liveness lock* (`sweeperLock`: a PostgreSQL session advisory
 *     lock, or a renewed SQLite lease) for as long as it runs. A claim is taken over, by the
 *     next sweep or by a writer that wants the blob, only by whoever gets that lock: the
 *     claiming process is gone (its database session ended). A stalled sweep keeps its lock,
 *     and its claims wait for it. No clock decides: neither age nor a comparison of machines;
 *   - right before deleting bytes, a sweep checks it still holds their claims (`ownedClaims`);
 *   - bytes are moved under a blob key, and linked, only while the writer (upload or mount)
 *     holds a *reservation* on a row that is not claimed; a claimed row can be neither
 *     reserved nor linked (`commitBlob` refuses it), and the writer waits until it is gone;
 *     a mount also checks the bytes are in place once it holds the reservation;
 *   - claiming re-checks "no link, no manifest reference, no package file, no reservation"
 *     while holding the row, and reserving, linking and recording a package file take the same
 *     row, so exactly one side wins;
 *   - a manifest push first touches the links it relies on (`touchLinks`), so the dead-link
 *     sweep, which deletes only links untouched for the grace period (and none whose blob is
 *     reserved), cannot drop one between the push's check and its commit; a package-file
 *     record touches the links of its files and checks their rows are unclaimed in the
 *     transaction that writes it (`PackageFileStore.putVersionFiles`); likewise an upload
 *     or mount touches its link before answering 201, and a pusher's HEAD that finds the blob
 *     touches it too, so a client that pushes its manifest within the grace of that answer
 *     finds every blob it was told is stored;
 *   - link, reservation and claim times are the database's clock (see `metadata/gc-store.ts`).
 *
 * A run, in this order (each step safe to interrupt; the next run resumes):
 *   1. take the `gc` job lock (one run at a time across replicas and `pallet gc` processes);
 *   2. delete expired reservations (blob and quota) — those of writers that died;
 *   3. remove upload sessions not updated within the grace period, with their bytes;
 *   4. delete dead links (older than the grace, referenced by no manifest and no package file of
 *      their repository);
 *   5. sweep blobs: finish the claims of sweeps that are gone (whose liveness lock is free) and
 *      adopt claims from before tokens, then in key order, batch by batch: list garbage rows,
 *      claim them, delete their bytes, delete the rows;
 *   6. sweep storage: blob keys with no row and upload directories with no session, both
 *      older than the grace (claimed like rows, so a concurrent re-upload waits).
 * A dry run does steps 1, then counts what 3–6 would remove without changing anything.
 */
import { randomUUID } from 'node:crypto';
import { isPalletError } from '../base/errors.js';
import type { Log } from '../base/log.js';
import { sweeperLock, type BlobKey, type GcStore } from '../metadata/gc-store.js';
import type { MetadataStore } from '../metadata/store.js';
import type { StorageDriver } from '../storage/driver.js';
import { BLOBS_PREFIX, UPLOADS_PREFIX, blobKey, parseBlobKey, uploadIdOfKey, uploadPrefix } from '../storage/keys.js';
import type { BlobService } from './blobs.js';

/** How long GC holds a stale upload session's lease while it deletes it. */
const STALE_UPLOAD_LEASE_MS = 10 * 60_000;
/** Storage keys checked per database round trip in step 6. */
const STORAGE_BATCH = 500;

export interface GcOptions {
  /** Count only; change nothing. */
  dryRun?: boolean;
  /** The grace period; garbage younger than this stays. */
  graceMs: number;
  /** Progress of each step, for the CLI and logs. */
  onProgress?: (progress: GcProgress) => void;
}

export type GcStep = 'reservations' | 'uploads' | 'links' | 'blobs' | 'storage';

export interface GcProgress {
  step: GcStep;
  /** Items removed (or that would be) in this step so far. */
  count: number;
  bytes: number;
  /** True on the step's last report. */
  done: boolean;
}

export interface GcReport {
  dryRun: boolean;
  graceMs: number;
  expiredReservations: number;
  staleUploads: number;
  deadLinks: number;
  /** Blob rows and their bytes. */
  blobs: { count: number; bytes: number };
  /** Bytes in storage with no row: blob objects and upload directories. */
  leftovers: { blobs: number; uploads: number; bytes: number };
  durationMs: number;
}

export class GarbageCollector {
  constructor(
    private readonly store: MetadataStore,
    private readonly gc: GcStore,
    private readonly blobs: BlobService,
    private readonly driver: StorageDriver,
    private readonly log?: Log,
  ) {}

  /** Runs once; resolves to undefined when another run holds the lock. */
  async run(options: GcOptions): Promise<GcReport | undefined> {
    // The run is one sweep: its claims carry this token, and it holds the token's liveness lock
    // throughout, so nobody finishes its claims while it lives (see the protocol above).
    const sweeper = randomUUID();
    const locked = await this.gc.withLock('gc', async () => {
      const swept = await this.gc.withLock(sweeperLock(sweeper), () => this.#run(options, sweeper));
      if (!swept) throw new Error('gc: could not take the lock of a fresh sweep token');
      return swept.result;
    });
    if (!locked) this.log?.info('gc: another replica or process is collecting; skipped');
    return locked?.result;
  }

  async #run(options: GcOptions, sweeper: string): Promise<GcReport> {
    const started = Date.now();
    const dryRun = options.dryRun ?? false;
    // Only for upload sessions and leftover bytes, whose times are this machine's view of the
    // metadata store's and the storage's clocks; links, reservations and claims use the
    // database's clock (see metadata/gc-store.ts).
    const cutoff = started - options.graceMs;
    const report = (step: GcStep, count: number, bytes: number, done: boolean): void => {
      options.onProgress?.({ step, count, bytes, done });
      if (done) this.log?.info({ gc: { step, count, bytes, dryRun } }, `gc: ${step} done`);
    };
    const out: GcReport = {
      dryRun,
      graceMs: options.graceMs,
      expiredReservations: 0,
      staleUploads: 0,
      deadLinks: 0,
      blobs: { count: 0, bytes: 0 },
      leftovers: { blobs: 0, uploads: 0, bytes: 0 },
      durationMs: 0,
    };

    // 2. Reservations of writers that died.
    if (!dryRun) out.expiredReservations = await this.gc.deleteExpiredReservations();
    report('reservations', out.expiredReservations, 0, true);

    // 3. Stale upload sessions.
    const stale = await this.store.listStaleUploads(cutoff);
    let uploadBytes = 0;
    for (const upload of stale) {
      if (!dryRun && !(await this.#takeStaleUpload(upload.id, cutoff))) continue;
      uploadBytes += upload.size;
      if (!dryRun) await this.blobs.discard(upload.id);
      out.staleUploads++;
      if (out.staleUploads % 100 === 0) report('uploads', out.staleUploads, uploadBytes, false);
    }
    report('uploads', out.staleUploads, uploadBytes, true);

    // 4. Dead links.
    out.deadLinks = await this.gc.sweepDeadLinks(options.graceMs, dryRun);
    report('links', out.deadLinks, 0, true);

    // 5. Blobs nothing holds.
    out.blobs = await this.blobs.sweep(
      dryRun ? { deadLinksOlderThanMs: options.graceMs } : {},
      dryRun,
      (done) => report('blobs', done.count, done.bytes, false),
      { sweeper, legacyClaims: true },
    );
    report('blobs', out.blobs.count, out.blobs.bytes, true);

    // 6. Bytes no row records.
    await this.#sweepBlobStorage(cutoff, dryRun, sweeper, out, report);
    await this.#sweepUploadStorage(cutoff, dryRun, out);
    report('storage', out.leftovers.blobs + out.leftovers.uploads, out.leftovers.bytes, true);

    out.durationMs = Date.now() - started;
    this.log?.info({ gc: out }, dryRun ? 'gc: dry run finished' : 'gc: finished');
    return out;
  }

  /**
   * Takes the lease of a stale upload session before it goes, so that a client that resumes it
   * just now (its PATCH or PUT holds the lease) keeps it, and no writer can take it while its
   * bytes are deleted. False when a writer holds it, or it was used since the listing.
   */
  async #takeStaleUpload(id: string, cutoff: number): Promise<boolean> {
    const now = Date.now();
    try {
      const held = await this.store.acquireUploadLease(id, `gc:${randomUUID()}`, now + STALE_UPLOAD_LEASE_MS, now);
      return held !== undefined && held.updatedAt < cutoff;
    } catch (err) {
      if (isPalletError(err, 'NOT_FOUND')) return false; // gone already
      throw err;
    }
  }

  async #sweepBlobStorage(
    cutoff: number,
    dryRun: boolean,
    sweeper: string,
    out: GcReport,
    report: (step: GcStep, count: number, bytes: number, done: boolean) => void,
  ): Promise<void> {
    let batch: BlobKey[] = [];
    const flush = async (): Promise<void> => {
      const known = await this.gc.existingBlobs(batch);
      const unknown: BlobKey[] = [];
      const sizes = new Map<string, number>();
      for (const key of batch) {
        if (known.has(`${key.rootSpaceId}/${key.digest}`)) continue;
        const info = await this.driver.stat(blobKey(key.rootSpaceId, key.digest));
        if (!info || info.modifiedAt.getTime() >= cutoff) continue;
        unknown.push(key);
        sizes.set(`${key.rootSpaceId}/${key.digest}`, info.size);
      }
      batch = [];
      if (unknown.length === 0) return;
      const claimed = dryRun ? unknown : await this.gc.claimUnrecorded(unknown, sweeper);
      for (const key of claimed) {
        if (!dryRun) await this.driver.delete(blobKey(key.rootSpaceId, key.digest));
        out.leftovers.blobs++;
        out.leftovers.bytes += sizes.get(`${key.rootSpaceId}/${key.digest}`) ?? 0;
      }
      if (!dryRun) await this.gc.deleteClaimed(claimed, sweeper);
      report('storage', out.leftovers.blobs, out.leftovers.bytes, false);
    };
    for await (const key of this.driver.list(BLOBS_PREFIX)) {
      const parsed = parseBlobKey(key);
      if (!parsed) continue;
      batch.push(parsed);
      if (batch.length >= STORAGE_BATCH) await flush();
    }
    if (batch.length > 0) await flush();
  }

  async #sweepUploadStorage(cutoff: number, dryRun: boolean, out: GcReport): Promise<void> {
    const seen = new Set<string>();
    for await (const key of this.driver.list(UPLOADS_PREFIX)) {
      const id = uploadIdOfKey(key);
      if (id !== undefined) seen.add(id);
    }
    const ids = [...seen];
    const live = await this.gc.existingUploads(ids);
    for (const id of ids) {
      if (live.has(id)) continue;
      let newest = 0;
      let bytes = 0;
      for await (const key of this.driver.list(uploadPrefix(id))) {
        const info = await this.driver.stat(key);
        if (info) {
          newest = Math.max(newest, info.modifiedAt.getTime());
          bytes += info.size;
        }
      }
      // A session row is created before its first byte, so bytes with no row and older than
      // the grace belong to a session that is gone.
      if (newest >= cutoff) continue;
      if (!dryRun) await this.driver.deletePrefix(uploadPrefix(id));
      out.leftovers.uploads++;
      out.leftovers.bytes += bytes;
    }
  }
}
