/**
 * What garbage collection and the blob commit protocol need from the database, beside the
 * metadata store and over the same database. The protocol these methods serve is written once,
 * in `registry/gc.ts`; in short:
 *
 * - bytes of blob key K are deleted only by the sweep that *claimed* K's row (`deleting = 1`,
 *   `deleting_by` its token), or by whoever took over the claim of a sweep that is gone;
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
  /**
   * The row is claimed by sweep `by` (null: by a release before claims had tokens). Wait for
   * it to go, or finish it once that sweep is gone (see `sweeperLock`).
   */
  | { state: 'deleting'; by: string | null };

export interface GcCandidateQuery {
  /** Only this root space; every root space when omitted. */
  rootSpaceId?: string;
  /**
   * Links not touched for this long (by the database's clock) and not referenced by a manifest
   * or package file of their repository count as dead (dry runs, which do not delete them
   * first); without it every link is live.
   */
  deadLinksOlderThanMs?: number;
  /** Resume after this key (keyset paging, in (root space id, digest) byte order). */
  after?: BlobKey;
  limit: number;
}

/**
 * Every time these methods store or compare is the database's clock (PostgreSQL
 * `clock_timestamp()`; SQLite is embedded, so its clock is this machine's): no decision
 * compares the clocks of two replicas. Durations are passed in, never instants.
 */
export interface GcStore {
  // The blob commit protocol -------------------------------------------------------------------
  /**
   * Reserves the blob for a writer (`holder`, e.g. an upload id) for `ttlMs`: creates its row
   * (unlinked, `size`) when missing. A sweep cannot claim a reserved row. Resolves to
   * `deleting` without reserving when a sweep already claimed it.
   */
  reserveBlob(key: BlobKey, size: number, holder: string, ttlMs: number): Promise<Reservation>;
  /** Drops the writer's reservation (a missing one is fine). */
  releaseBlob(key: BlobKey, holder: string): Promise<void>;
  /**
   * Marks the repository's links to these digests as just relied on (a manifest push, an
   * upload or mount about to be answered, a pusher's HEAD); resolves to how many links exist
   * to be touched.
   */
  touchLinks(repositoryId: string, digests: string[]): Promise<number>;

  // Sweeping -----------------------------------------------------------------------------------
  /**
   * Blob rows that look like garbage: not claimed, not linked (or only by dead links, see
   * `deadLinksOlderThanMs`), referenced by no manifest and no package file (of any format, see
   * `package-file-store.ts`) of their root space, and not reserved.
   * Ordered by key. Only a hint: `claimBlobs` decides.
   */
  listGarbageBlobs(query: GcCandidateQuery): Promise<BlobRow[]>;
  /**
   * Claims for sweep `sweeper` (its fencing token) those of `keys` that are still garbage (the
   * conditions of `listGarbageBlobs` without dead links, checked again while holding the rows),
   * and resolves to them.
   */
  claimBlobs(keys: BlobKey[], sweeper: string): Promise<BlobRow[]>;
  /** Of these keys, those still claimed by `sweeper` (checked right before deleting bytes). */
  ownedClaims(keys: BlobKey[], sweeper: string): Promise<BlobKey[]>;
  /**
   * Sweeps that hold claims (optionally in one root space), by token; `null` stands for claims
   * made before claims had tokens. Whether a sweep is alive is `withLock(sweeperLock(token))`.
   */
  listClaimants(rootSpaceId?: string): Promise<Array<string | null>>;
  /** The rows sweep `sweeper` has claimed (optionally in one root space), by key. */
  listClaims(sweeper: string, rootSpaceId?: string): Promise<BlobRow[]>;
  /**
   * Gives claims made before claims had tokens to sweep `to`; only for a `pallet gc` run, under
   * the `gc` lock (see `sweeperLock`). Resolves to how many.
   */
  adoptLegacyClaims(to: string): Promise<number>;
  /** Claims keys that have no row (bytes found in storage with no record); resolves to those claimed. */
  claimUnrecorded(keys: BlobKey[], sweeper: string): Promise<BlobKey[]>;
  /** Deletes the rows of these keys that `sweeper` claimed (no other row). */
  deleteClaimed(keys: BlobKey[], sweeper: string): Promise<void>;
  /**
   * Deletes links not touched for `graceMs` that no manifest and no package file of their
   * repository references and whose blob no writer has reserved; resolves to how many (with
   * `dryRun`, only counts).
   */
  sweepDeadLinks(graceMs: number, dryRun: boolean): Promise<number>;
  /** Deletes expired blob and quota reservations; resolves to how many. */
  deleteExpiredReservations(): Promise<number>;
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

/**
 * The liveness lock of sweep `token`: held by the sweep for as long as it runs. Whoever gets it
 * knows the sweep is gone (its process died, so its database session ended) and may finish
 * its claims. (Claims from before tokens are adopted by a `pallet gc` run instead.)
 */
export function sweeperLock(token: string): string {
  return `sweeper:${token}`;
}
