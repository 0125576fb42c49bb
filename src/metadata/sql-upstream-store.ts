/**
 * `UpstreamStore` over Kysely, for SQLite and PostgreSQL, built over the same Kysely instance as
 * `SqlMetadataStore` (which owns the connection: this store has no `close`). Writes are single
 * upserts; a foreign-key violation (the repository or registry was deleted meanwhile) is
 * swallowed, as the interface promises.
 */
import type { Kysely } from 'kysely';
import type { Database, Dialect } from './schema.js';
import type { ServedArtifact, UpstreamStore } from './upstream-store.js';

function isForeignKeyViolation(err: unknown): boolean {
  return err instanceof Error && 'code' in err && (err.code === '23503' || err.code === 'SQLITE_CONSTRAINT_FOREIGNKEY');
}

async function ignoringMissingParent(work: Promise<unknown>): Promise<void> {
  try {
    await work;
  } catch (err) {
    if (!isForeignKeyViolation(err)) throw err;
  }
}

export class SqlUpstreamStore implements UpstreamStore {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>, _dialect: Dialect) {
    this.#db = db;
  }

  async findTagCheck(repositoryId: string, tag: string): Promise<number | undefined> {
    const row = await this.#db
      .selectFrom('upstream_tag_checks')
      .select('checked_at')
      .where('repository_id', '=', repositoryId)
      .where('tag', '=', tag)
      .executeTakeFirst();
    return row?.checked_at;
  }

  async markTagChecked(repositoryId: string, tag: string, at: number): Promise<void> {
    await ignoringMissingParent(
      this.#db
        .insertInto('upstream_tag_checks')
        .values({ repository_id: repositoryId, tag, checked_at: at })
        .onConflict((oc) => oc.columns(['repository_id', 'tag']).doUpdateSet({ checked_at: at }))
        .execute(),
    );
  }

  async recordServed(registryId: string, repositoryId: string): Promise<void> {
    await ignoringMissingParent(
      this.#db
        .insertInto('upstream_served')
        .values({ registry_id: registryId, repository_id: repositoryId, created_at: Date.now() })
        .onConflict((oc) => oc.columns(['registry_id', 'repository_id']).doNothing())
        .execute(),
    );
  }

  async listServed(registryId: string): Promise<ServedArtifact[]> {
    const rows = await this.#db
      .selectFrom('upstream_served as s')
      .innerJoin('repositories as r', 'r.id', 's.repository_id')
      .select(['r.registry_id', 'r.id', 'r.name'])
      .where('s.registry_id', '=', registryId)
      .orderBy('s.created_at')
      .orderBy('r.id')
      .execute();
    return rows.map((r) => ({ upstreamId: r.registry_id, repositoryId: r.id, name: r.name }));
  }

  async serverSecret(name: string, create: () => string): Promise<string> {
    const existing = await this.#db.selectFrom('server_secrets').select('value').where('name', '=', name).executeTakeFirst();
    if (existing) return existing.value;
    // ON CONFLICT DO NOTHING waits for a concurrent inserter to commit; the select that follows
    // then sees the winner's value.
    await this.#db
      .insertInto('server_secrets')
      .values({ name, value: create(), created_at: Date.now() })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    const row = await this.#db.selectFrom('server_secrets').select('value').where('name', '=', name).executeTakeFirstOrThrow();
    return row.value;
  }
}
