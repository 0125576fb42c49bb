/**
 * The packuments npm upstream proxies fetched, kept so a restart (or another replica) still
 * serves them while the upstream is down: migration `npm_0002_upstream_packuments` (its own
 * table, beside the npm store's), one row per proxy, package and form (`full` or the
 * abbreviated `install` form npm install asks for).
 *
 *   npm_upstream_packuments  registry_id, name, form → body (the upstream's bytes, gzipped),
 *                            etag (the upstream's, for If-None-Match), fetched_at (when the
 *                            body last changed), checked_at (when the upstream last confirmed it)
 *
 * Contracts: `put` replaces the row atomically (and is a no-op once the proxy is deleted);
 * `markChecked` moves only `checked_at`; rows go with their registry (ON DELETE CASCADE).
 */
import { sql, type Kysely, type Migration } from 'kysely';
import type { Database, Dialect } from '../../../metadata/schema.js';

export type PackumentForm = 'full' | 'install';

export interface UpstreamPackumentsTable {
  registry_id: string;
  name: string;
  form: string;
  body: Uint8Array;
  etag: string | null;
  fetched_at: number;
  checked_at: number;
}

type Tables = { npm_upstream_packuments: UpstreamPackumentsTable };

export interface StoredPackumentState {
  etag: string | null;
  fetchedAt: number;
  checkedAt: number;
}

export interface StoredPackument extends StoredPackumentState {
  /** Gzipped. */
  body: Buffer;
}

export function upstreamPackumentsMigration(dialect: Dialect): Migration {
  const key = dialect === 'postgres' ? sql`text collate "C"` : sql`text`;
  const bytes = dialect === 'postgres' ? 'bytea' : 'blob';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('npm_upstream_packuments')
        .addColumn('registry_id', 'text', (c) => c.notNull().references('registries.id').onDelete('cascade'))
        .addColumn('name', key, (c) => c.notNull())
        .addColumn('form', 'text', (c) => c.notNull())
        .addColumn('body', bytes, (c) => c.notNull())
        .addColumn('etag', 'text')
        .addColumn('fetched_at', 'bigint', (c) => c.notNull())
        .addColumn('checked_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('npm_upstream_packuments_pkey', ['registry_id', 'name', 'form'])
        .execute();
    },
  };
}

function isForeignKeyViolation(err: unknown): boolean {
  return err instanceof Error && 'code' in err && (err.code === '23503' || err.code === 'SQLITE_CONSTRAINT_FOREIGNKEY');
}

export class UpstreamPackumentStore {
  readonly #db: Kysely<Database & Tables>;

  constructor(db: Kysely<Database>) {
    this.#db = db.withTables<Tables>();
  }

  async find(registryId: string, name: string, form: PackumentForm): Promise<StoredPackument | undefined> {
    const row = await this.#db
      .selectFrom('npm_upstream_packuments')
      .selectAll()
      .where('registry_id', '=', registryId)
      .where('name', '=', name)
      .where('form', '=', form)
      .executeTakeFirst();
    return row && { body: Buffer.from(row.body), etag: row.etag, fetchedAt: Number(row.fetched_at), checkedAt: Number(row.checked_at) };
  }

  async findState(registryId: string, name: string, form: PackumentForm): Promise<StoredPackumentState | undefined> {
    const row = await this.#db
      .selectFrom('npm_upstream_packuments')
      .select(['etag', 'fetched_at', 'checked_at'])
      .where('registry_id', '=', registryId)
      .where('name', '=', name)
      .where('form', '=', form)
      .executeTakeFirst();
    return row && { etag: row.etag, fetchedAt: Number(row.fetched_at), checkedAt: Number(row.checked_at) };
  }

  async put(registryId: string, name: string, form: PackumentForm, body: Buffer, etag: string | null, at: number): Promise<void> {
    try {
      await this.#db
        .insertInto('npm_upstream_packuments')
        .values({ registry_id: registryId, name, form, body, etag, fetched_at: at, checked_at: at })
        .onConflict((oc) => oc.columns(['registry_id', 'name', 'form']).doUpdateSet({ body, etag, fetched_at: at, checked_at: at }))
        .execute();
    } catch (err) {
      if (!isForeignKeyViolation(err)) throw err;
    }
  }

  async markChecked(registryId: string, name: string, form: PackumentForm, at: number): Promise<void> {
    await this.#db
      .updateTable('npm_upstream_packuments')
      .set({ checked_at: at })
      .where('registry_id', '=', registryId)
      .where('name', '=', name)
      .where('form', '=', form)
      .execute();
  }
}
