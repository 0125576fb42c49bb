/**
 * `NpmStore` over Kysely, for SQLite and PostgreSQL, built over the same Kysely instance as
 * `SqlMetadataStore` (which owns the connection: this store has no `close`). Each write is one
 * transaction that starts by moving the package's rev (which also locks the package row on
 * PostgreSQL), so concurrent writers to one package serialize; the version's primary key makes
 * a second publish of the same version fail whichever commits first.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import { PalletError } from '../../../base/errors.js';
import type { Database, Dialect } from '../../../metadata/schema.js';
import type { AddVersionInput, NpmPackageRecord, NpmSearchPage, NpmStore, NpmVersionRecord, PackageChange } from './npm-store.js';
import type { NpmPackagesTable, NpmTables, NpmVersionsTable } from './npm-tables.js';

type NpmDatabase = Database & NpmTables;

function errorCode(err: unknown): unknown {
  return err instanceof Error && 'code' in err ? err.code : undefined;
}

function isUniqueViolation(err: unknown): boolean {
  const code = errorCode(err);
  return code === '23505' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}

function isForeignKeyViolation(err: unknown): boolean {
  const code = errorCode(err);
  return code === '23503' || code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}

function toPackage(row: NpmPackagesTable): NpmPackageRecord {
  return {
    registryId: row.registry_id,
    name: row.name,
    repositoryId: row.repository_id,
    distTags: JSON.parse(row.dist_tags) as Record<string, string>,
    metadata: JSON.parse(row.metadata) as Record<string, unknown>,
    rev: Number(row.rev),
    createdAt: Number(row.created_at),
    modifiedAt: Number(row.modified_at),
  };
}

function toVersion(row: NpmVersionsTable): NpmVersionRecord {
  return {
    registryId: row.registry_id,
    name: row.name,
    version: row.version,
    manifest: JSON.parse(row.manifest) as Record<string, unknown>,
    tarballDigest: row.tarball_digest,
    tarballSize: Number(row.tarball_size),
    integrity: row.integrity,
    shasum: row.shasum,
    deprecated: row.deprecated,
    createdAt: Number(row.created_at),
  };
}

function exists(name: string, version: string): PalletError {
  return new PalletError('ALREADY_EXISTS', `cannot publish over the previously published version ${name}@${version}`, { name, version });
}

export class SqlNpmStore implements NpmStore {
  readonly #db: Kysely<NpmDatabase>;

  constructor(db: Kysely<Database>, _dialect: Dialect) {
    this.#db = db.withTables<NpmTables>();
  }

  async findPackage(registryId: string, name: string): Promise<NpmPackageRecord | undefined> {
    const row = await this.#db.selectFrom('npm_packages').selectAll().where('registry_id', '=', registryId).where('name', '=', name).executeTakeFirst();
    return row && toPackage(row);
  }

  async findVersion(registryId: string, name: string, version: string): Promise<NpmVersionRecord | undefined> {
    const row = await this.#db
      .selectFrom('npm_versions')
      .selectAll()
      .where('registry_id', '=', registryId)
      .where('name', '=', name)
      .where('version', '=', version)
      .executeTakeFirst();
    return row && toVersion(row);
  }

  async listVersions(registryId: string, name: string): Promise<NpmVersionRecord[]> {
    const rows = await this.#db
      .selectFrom('npm_versions')
      .selectAll()
      .where('registry_id', '=', registryId)
      .where('name', '=', name)
      .orderBy('created_at')
      .orderBy('version')
      .execute();
    return rows.map(toVersion);
  }

  async addVersion(input: AddVersionInput): Promise<NpmPackageRecord> {
    const v = input.version;
    const now = Date.now();
    try {
      return await this.#db.transaction().execute(async (trx) => {
        await trx
          .insertInto('npm_packages')
          .values({
            registry_id: v.registryId,
            name: v.name,
            repository_id: input.repositoryId,
            dist_tags: '{}',
            metadata: JSON.stringify(input.metadata ?? {}),
            rev: 0,
            created_at: now,
            modified_at: now,
          })
          .onConflict((oc) => oc.columns(['registry_id', 'name']).doNothing())
          .execute();
        const current = await this.#bump(trx, v.registryId, v.name, undefined, now);
        if (!input.reuseRetired && (await this.#retired(trx, v.registryId, v.name, v.version))) throw exists(v.name, v.version);
        await trx
          .insertInto('npm_versions')
          .values({
            registry_id: v.registryId,
            name: v.name,
            version: v.version,
            manifest: JSON.stringify(v.manifest),
            tarball_digest: v.tarballDigest,
            tarball_size: v.tarballSize,
            integrity: v.integrity,
            shasum: v.shasum,
            deprecated: v.deprecated ?? null,
            created_at: now,
          })
          .execute();
        const distTags = { ...current.distTags };
        for (const tag of input.distTags) distTags[tag] = v.version;
        const metadata = input.metadata ?? current.metadata;
        await trx
          .updateTable('npm_packages')
          .set({ dist_tags: JSON.stringify(distTags), metadata: JSON.stringify(metadata) })
          .where('registry_id', '=', v.registryId)
          .where('name', '=', v.name)
          .execute();
        return { ...current, distTags, metadata };
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw exists(v.name, v.version);
      if (isForeignKeyViolation(err)) throw new PalletError('NOT_FOUND', `package ${v.name}: its registry or repository is gone`);
      throw err;
    }
  }

  async updatePackage(registryId: string, name: string, rev: number, change: PackageChange): Promise<NpmPackageRecord | undefined> {
    return this.#db.transaction().execute(async (trx) => {
      const now = Date.now();
      const current = await this.#bump(trx, registryId, name, rev, now);
      let distTags = current.distTags;
      if (change.distTags) {
        distTags = change.distTags;
        await trx.updateTable('npm_packages').set({ dist_tags: JSON.stringify(distTags) }).where('registry_id', '=', registryId).where('name', '=', name).execute();
      }
      for (const [version, message] of Object.entries(change.deprecated ?? {})) {
        const result = await trx
          .updateTable('npm_versions')
          .set({ deprecated: message })
          .where('registry_id', '=', registryId)
          .where('name', '=', name)
          .where('version', '=', version)
          .executeTakeFirst();
        if (Number(result.numUpdatedRows) === 0) throw new PalletError('NOT_FOUND', `no version ${name}@${version}`, { name, version });
      }
      for (const version of change.removeVersions ?? []) {
        const result = await trx.deleteFrom('npm_versions').where('registry_id', '=', registryId).where('name', '=', name).where('version', '=', version).executeTakeFirst();
        if (Number(result.numDeletedRows) === 0) throw new PalletError('NOT_FOUND', `no version ${name}@${version}`, { name, version });
        await this.#retire(trx, registryId, name, version, now);
      }
      if ((change.removeVersions?.length ?? 0) > 0) {
        const left = await trx.selectFrom('npm_versions').select('version').where('registry_id', '=', registryId).where('name', '=', name).executeTakeFirst();
        if (!left) {
          await trx.deleteFrom('npm_packages').where('registry_id', '=', registryId).where('name', '=', name).execute();
          return undefined;
        }
      }
      return { ...current, distTags };
    });
  }

  async removePackage(registryId: string, name: string, rev?: number): Promise<NpmVersionRecord[]> {
    return this.#db.transaction().execute(async (trx) => {
      const now = Date.now();
      await this.#bump(trx, registryId, name, rev, now);
      const rows = await trx.selectFrom('npm_versions').selectAll().where('registry_id', '=', registryId).where('name', '=', name).execute();
      for (const row of rows) await this.#retire(trx, registryId, name, row.version, now);
      await trx.deleteFrom('npm_packages').where('registry_id', '=', registryId).where('name', '=', name).execute();
      return rows.map(toVersion);
    });
  }

  async isRetired(registryId: string, name: string, version: string): Promise<boolean> {
    return this.#retired(this.#db, registryId, name, version);
  }

  async search(registryIds: readonly string[], text: string, limit: number, offset: number): Promise<NpmSearchPage> {
    if (registryIds.length === 0) return { total: 0, packages: [] };
    const pattern = `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const base = this.#db
      .selectFrom('npm_packages')
      .where('registry_id', 'in', registryIds)
      .where((eb) => (text === '' ? eb.lit(true) : eb.or([sql<boolean>`lower(name) like ${pattern} escape '\\'`, sql<boolean>`lower(metadata) like ${pattern} escape '\\'`])));
    const count = await base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const rows = await base.selectAll().orderBy('name').orderBy('registry_id').limit(limit).offset(offset).execute();
    return { total: Number(count.n), packages: rows.map(toPackage) };
  }

  /** Moves the package's rev (checking it equals `expected` when given); the row after the move. */
  async #bump(trx: Transaction<NpmDatabase>, registryId: string, name: string, expected: number | undefined, now: number): Promise<NpmPackageRecord> {
    let update = trx
      .updateTable('npm_packages')
      .set({ rev: sql<number>`rev + 1`, modified_at: now })
      .where('registry_id', '=', registryId)
      .where('name', '=', name);
    if (expected !== undefined) update = update.where('rev', '=', expected);
    const result = await update.executeTakeFirst();
    const row = await trx.selectFrom('npm_packages').selectAll().where('registry_id', '=', registryId).where('name', '=', name).executeTakeFirst();
    if (!row) throw new PalletError('NOT_FOUND', `no package ${name}`, { name });
    if (Number(result.numUpdatedRows) === 0) throw new PalletError('CONFLICT', `package ${name} was changed by another request (revision ${expected} is not current); read it again`, { name });
    return toPackage(row);
  }

  async #retired(db: Kysely<NpmDatabase>, registryId: string, name: string, version: string): Promise<boolean> {
    const row = await db
      .selectFrom('npm_retired_versions')
      .select('version')
      .where('registry_id', '=', registryId)
      .where('name', '=', name)
      .where('version', '=', version)
      .executeTakeFirst();
    return row !== undefined;
  }

  async #retire(trx: Transaction<NpmDatabase>, registryId: string, name: string, version: string, now: number): Promise<void> {
    await trx
      .insertInto('npm_retired_versions')
      .values({ registry_id: registryId, name, version, retired_at: now })
      .onConflict((oc) => oc.columns(['registry_id', 'name', 'version']).doNothing())
      .execute();
  }
}
