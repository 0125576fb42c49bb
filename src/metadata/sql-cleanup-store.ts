/**
 * `CleanupStore` over Kysely, for SQLite and PostgreSQL.
 */
import type { Kysely } from 'kysely';
import { PalletError } from '../base/errors.js';
import type { CleanupStore, StoredCleanupPolicy } from './cleanup-store.js';
import type { Database } from './schema.js';

export class SqlCleanupStore implements CleanupStore {
  constructor(private readonly db: Kysely<Database>) {}

  async findPolicy(registryId: string): Promise<StoredCleanupPolicy | undefined> {
    const row = await this.db.selectFrom('cleanup_policies').selectAll().where('registry_id', '=', registryId).executeTakeFirst();
    return row && toPolicy(row);
  }

  async setPolicy(registryId: string, policy: Record<string, unknown> | null): Promise<void> {
    if (policy === null) {
      await this.db.deleteFrom('cleanup_policies').where('registry_id', '=', registryId).execute();
      return;
    }
    const t = Date.now();
    const json = JSON.stringify(policy);
    try {
      await this.db
        .insertInto('cleanup_policies')
        .values({ registry_id: registryId, policy: json, updated_at: t, last_run_at: null })
        .onConflict((oc) => oc.column('registry_id').doUpdateSet({ policy: json, updated_at: t }))
        .execute();
    } catch (err) {
      if (err instanceof Error && 'code' in err && (err.code === '23503' || err.code === 'SQLITE_CONSTRAINT_FOREIGNKEY')) {
        throw new PalletError('NOT_FOUND', `registry ${registryId} not found`, { registry: registryId });
      }
      throw err;
    }
  }

  async listPolicies(): Promise<StoredCleanupPolicy[]> {
    const rows = await this.db.selectFrom('cleanup_policies').selectAll().orderBy('registry_id').execute();
    return rows.map(toPolicy);
  }

  async markRun(registryId: string, at: number): Promise<void> {
    await this.db.updateTable('cleanup_policies').set({ last_run_at: at }).where('registry_id', '=', registryId).execute();
  }
}

function toPolicy(r: { registry_id: string; policy: string; updated_at: number; last_run_at: number | null }): StoredCleanupPolicy {
  return {
    registryId: r.registry_id,
    policy: JSON.parse(r.policy) as Record<string, unknown>,
    updatedAt: Number(r.updated_at),
    lastRunAt: r.last_run_at === null ? null : Number(r.last_run_at),
  };
}
