/**
 * Cleanup policies of registries (the rules themselves live in `registry/cleanup.ts`), beside
 * the metadata store on the same database. A policy is stored as the JSON the domain validated;
 * it goes with its registry.
 */

export interface StoredCleanupPolicy {
  registryId: string;
  /** The policy as the domain wrote it. */
  policy: Record<string, unknown>;
  updatedAt: number;
  lastRunAt: number | null;
}

/** What `deleteVersion` did. */
export type VersionDeletion = 'deleted' | 'gone' | 'changed';

export interface CleanupStore {
  findPolicy(registryId: string): Promise<StoredCleanupPolicy | undefined>;
  /** Sets (an object) or removes (null) the registry's policy; NOT_FOUND when the registry is missing. */
  setPolicy(registryId: string, policy: Record<string, unknown> | null): Promise<void>;
  /** Every stored policy, by registry id. */
  listPolicies(): Promise<StoredCleanupPolicy[]>;
  markRun(registryId: string, at: number): Promise<void>;
  /**
   * When each manifest of the repository was last tagged (the newest `updated_at` of the tags
   * on it), by manifest id; manifests without tags are absent.
   */
  lastTagged(repositoryId: string): Promise<Map<string, number>>;
  /**
   * Deletes the version (manifest, its tags and references) in one transaction that first
   * re-checks, while holding the manifest row, what a policy decided on an earlier snapshot:
   * no tag is on it but `tags` (none pushed or moved onto it since), and no manifest of the
   * repository holds it (an index listing it, a referrer naming it as subject). Resolves to
   * `changed` without deleting when a check fails, `gone` when it is already deleted.
   */
  deleteVersion(repositoryId: string, digest: string, tags: readonly string[]): Promise<VersionDeletion>;
}
