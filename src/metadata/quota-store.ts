/**
 * Quotas: byte limits per registry and per space (a space's limit covers its registries and
 * those of its nested spaces), beside the metadata store on the same database.
 *
 * Usage of a registry is what its `sizeBytes` shows: the distinct blobs its repositories link
 * plus its manifests. Usage of a space is the sum over the registries in it and below it.
 * A push reserves the bytes it adds before committing them (`reserve`), so concurrent pushes
 * can never together exceed a quota: reservations of one scope serialize on its quota row, and
 * each sees the committed usage plus every unexpired reservation.
 */

export type QuotaScope = 'registry' | 'space';

export interface QuotaExceeded {
  scope: QuotaScope;
  scopeId: string;
  quotaBytes: number;
  /** Committed bytes plus bytes reserved by pushes in flight. */
  usageBytes: number;
  /** What the refused push would have added. */
  requestedBytes: number;
}

export type QuotaReservation = { ok: true } | { ok: false; exceeded: QuotaExceeded };

export interface QuotaStore {
  /** Sets (bytes) or removes (null) the quota of a registry or space. */
  setQuota(scope: QuotaScope, scopeId: string, quotaBytes: number | null): Promise<void>;
  findQuota(scope: QuotaScope, scopeId: string): Promise<number | undefined>;
  /** Committed usage of a registry or space (see the module header). */
  usage(scope: QuotaScope, scopeId: string): Promise<number>;
  /**
   * Reserves `bytes` for a push into the repository against every quota that covers it (its
   * registry's, its space's and the spaces above), under `holder`, for `ttlMs` by the
   * database's clock. With `digest` (a blob push), the reservation counts only while the
   * registry does not link the digest, and one digest counts once per registry: a push of a
   * digest the registry holds is admitted at no cost, yet stays covered if that copy is
   * unlinked before the push commits. Resolves to the first quota the push would exceed,
   * reserving nothing then.
   */
  reserve(repositoryId: string, bytes: number, holder: string, ttlMs: number, digest?: string): Promise<QuotaReservation>;
  /** Drops the holder's reservations (a missing one is fine). */
  release(holder: string): Promise<void>;
}
