/**
 * `CleanupStore` over Kysely, for SQLite and PostgreSQL.
 *
 * `deleteVersion` serializes with pushes on the manifest row. PostgreSQL (READ COMMITTED): it
 * locks the row (`FOR UPDATE`) first, then checks tags and holders in fresh statements, which
 * see every tag or index committed before the lock was granted; a tag pushed after that waits
 * for the row (its foreign key) and, once the row is deleted, the push stores the manifest
 * anew. SQLite: the transaction starts with a write, so it holds the database's one write lock
 * throughout.
 */
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import { PalletError } from '../base/errors.js';
import type { CleanupStore, StoredCleanupPolicy, VersionDeletion } from './cleanup-store.js';
import type { Database, Dialect } from './schema.js';

export class SqlCleanupStore implements CleanupStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
  ) {}

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

  async lastTagged(repositoryId: string): Promise<Map<string, number>> {
    const rows = await this.db
      .selectFrom('tags')
      .select((eb) => ['manifest_id', eb.fn.max('updated_at').as('at')])
      .where('repository_id', '=', repositoryId)
      .groupBy('manifest_id')
      .execute();
    return new Map(rows.map((r) => [r.manifest_id, Number(r.at)]));
  }

  async deleteVersion(repositoryId: string, digest: string, tags: readonly string[]): Promise<VersionDeletion> {
    return this.db.transaction().execute(async (trx) => {
      if (this.dialect === 'sqlite') {
        // A write first: the transaction takes SQLite's write lock now, not at its delete.
        await trx.updateTable('repositories').set({ updated_at: Date.now() }).where('id', '=', repositoryId).execute();
      }
      const lock = this.dialect === 'postgres' ? sql` for update` : sql``;
      const { rows } = await sql<{ id: string }>`select id from manifests
        where repository_id = ${repositoryId} and digest = ${digest}${lock}`.execute(trx);
      const id = rows[0]?.id;
      if (id === undefined) return 'gone';
      const now = await trx.selectFrom('tags').select('name').where('manifest_id', '=', id).execute();
      if (now.some((t) => !tags.includes(t.name))) return 'changed';
      const { rows: holders } = await sql<{ one: number }>`select 1 as one from manifests m
        where m.repository_id = ${repositoryId} and m.id <> ${id}
          and (m.subject_digest = ${digest}
            or exists (select 1 from manifest_references r where r.manifest_id = m.id and r.kind = 'manifest' and r.digest = ${digest}))
        limit 1`.execute(trx);
      if (holders.length > 0) return 'changed';
      await trx.deleteFrom('manifests').where('id', '=', id).execute();
      await trx.updateTable('repositories').set({ updated_at: Date.now() }).where('id', '=', repositoryId).execute();
      return 'deleted';
    });
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
