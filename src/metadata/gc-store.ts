/**
 * What garbage collection and the blob commit protocol need from the database, beside the
 * metadata store and over the same database. The protocol these methods serve is written once,
 * in `registry/gc.ts`; in short:
 *
 * - bytes of blob key K are deleted only by whoever *claimed* K's row (`deleting = 1`);
 * - bytes are moved into K and K is linked only under an unexpired *reservation* of K's row
 *   (`reserveBlob`), and a claimed row can be neither reserved nor linked;
 * - claiming and reserving serialize on K's row, so exactly one of them wins.
 *
 * Every method is atomic. Blob keys are (root space id, digest).
 */

export interface BlobKey {
  rootSpaceId: string;
  digest: string;
}

export interface BlobRow extends BlobKey {
  size: number;
}

/** What `reserveBlob` found. */
export type Reservation =
  | { state: 'reserved' }
  /** The row is claimed by a sweep (since `since`); wait for it to go, or finish it when stale. */
  | { state: 'deleting'; since: number };

export interface GcCandidateQuery {
  /** Only this root space; every root space when omitted. */
  rootSpaceId?: string;
  /**
   * Links not touched since this time and not referenced by a manifest of their repository
   * count as dead (dry runs, which do not delete them first); without it every link is live.
   */
  deadLinksBefore?: number;
  /** Resume after this key (keyset paging, in (root space id, digest) byte order). */
  after?: BlobKey;
  limit: number;
}

export interface GcStore {
  // The blob commit protocol -------------------------------------------------------------------
  /**
   * Reserves the blob for a writer (`holder`, e.g. an upload id) until `expiresAt`: creates its
   * row (unlinked, `size`) when missing. A sweep cannot claim a reserved row. Resolves to
   * `deleting` without reserving when a sweep already claimed it.
   */
  reserveBlob(key: BlobKey, size: number, holder: string, expiresAt: number): Promise<Reservation>;
  /** Drops the writer's reservation (a missing one is fine). */
  releaseBlob(key: BlobKey, holder: string): Promise<void>;
  /**
   * Marks the repository's links to these digests as just relied on (a manifest push, or an
   * upload about to be answered); resolves to how many links exist to be touched.
   */
  touchLinks(repositoryId: string, digests: string[]): Promise<number>;

  // Sweeping -----------------------------------------------------------------------------------
  /**
   * Blob rows that look like garbage: not claimed, not linked (or only by dead links, see
   * `deadLinksBefore`), referenced by no manifest of their root space, and not reserved past
   * `now`. Ordered by key. Only a hint: `claimBlobs` decides.
   */
  listGarbageBlobs(query: GcCandidateQuery, now: number): Promise<BlobRow[]>;
  /**
   * Claims those of `keys` that are still garbage (the conditions of `listGarbageBlobs`
   * without dead links, checked again while holding the rows), and resolves to them.
   */
  claimBlobs(keys: BlobKey[], now: number): Promise<BlobRow[]>;
  /** Rows left claimed (by a sweep that died), optionally of one root space, claimed before `before`. */
  listClaimedBlobs(before: number, rootSpaceId?: string): Promise<BlobRow[]>;
  /** Claims keys that have no row (bytes found in storage with no record); resolves to those claimed. */
  claimUnrecorded(keys: BlobKey[], now: number): Promise<BlobKey[]>;
  /** Deletes claimed rows (only claimed ones). */
  deleteClaimed(keys: BlobKey[]): Promise<void>;
  /**
   * Deletes links not touched since `before` that no manifest of their repository references;
   * resolves to how many (with `dryRun`, only counts).
   */
  sweepDeadLinks(before: number, dryRun: boolean): Promise<number>;
  /** Deletes expired blob and quota reservations; resolves to how many. */
  deleteExpiredReservations(now: number): Promise<number>;
  /** Of these keys, those that have a row (claimed or not), as `root/digest` strings. */
  existingBlobs(keys: BlobKey[]): Promise<Set<string>>;
  /** Of these upload ids, those that have a session row. */
  existingUploads(ids: string[]): Promise<Set<string>>;

  // Job leases ---------------------------------------------------------------------------------
  /**
   * Runs `job` while holding the database-wide lock `name` (PostgreSQL: a session advisory
   * lock, released if the process dies; SQLite: a lease row renewed while the job runs and
   * expiring a minute after a crash). Resolves to undefined without running it when another
   * process or replica holds the lock.
   */
  withLock<T>(name: string, job: () => Promise<T>): Promise<{ result: T } | undefined>;
}
