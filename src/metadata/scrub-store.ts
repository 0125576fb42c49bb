/**
 * What `pallet scrub` needs from the database, beside the metadata store and the GC store over
 * the same database: paging through blob rows, recording that stored bytes were verified, and
 * removing a blob whose bytes do not match its digest under the blob protocol of
 * `registry/gc.ts` (its row is *claimed* first, so no upload can move bytes into its key or
 * link it while the bytes go to quarantine).
 *
 * Every method is atomic. Blob keys are (root space id, digest).
 */
import type { BlobKey, BlobRow } from './gc-store.js';

export interface ScrubRow extends BlobRow {
  verified: boolean;
}

export interface ScrubStore {
  /** Blob rows not claimed by a sweep, after `after` in key order (keyset paging). */
  listBlobs(query: { rootSpaceId?: string; after?: BlobKey; limit: number }): Promise<ScrubRow[]>;
  /** Marks the row verified, if it still has `size` and is not claimed; resolves to whether it did. */
  markVerified(key: BlobKey, size: number): Promise<boolean>;
  /**
   * Marks a verified row unverified (its bytes were found bad), so an upload of the digest
   * replaces them instead of deduplicating onto them; resolves to whether it changed.
   */
  markUnverified(key: BlobKey): Promise<boolean>;
  /**
   * Claims the row for removal if it is unverified, not claimed, and no upload holds an
   * unexpired reservation on it (an upload replacing the bytes wins); resolves to whether it
   * did. Checked while holding the row, like `GcStore.claimBlobs`. The claim carries `by`, the
   * token whose liveness lock (`sweeperLock`) the scrub holds, so writers wait for it and GC
   * leaves it alone, as for a sweep's claim.
   */
  claimCorrupt(key: BlobKey, now: number, by: string): Promise<boolean>;
  /** Gives back claim `by` of a row whose bytes turned out good after all, marking it verified. */
  unclaimVerified(key: BlobKey, by: string): Promise<boolean>;
  /** Deletes a claimed row and every link to it; resolves to the number of links removed. */
  deleteClaimedWithLinks(key: BlobKey): Promise<number>;
}
