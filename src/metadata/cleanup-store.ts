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

export interface CleanupStore {
  findPolicy(registryId: string): Promise<StoredCleanupPolicy | undefined>;
  /** Sets (an object) or removes (null) the registry's policy; NOT_FOUND when the registry is missing. */
  setPolicy(registryId: string, policy: Record<string, unknown> | null): Promise<void>;
  /** Every stored policy, by registry id. */
  listPolicies(): Promise<StoredCleanupPolicy[]>;
  markRun(registryId: string, at: number): Promise<void>;
}
