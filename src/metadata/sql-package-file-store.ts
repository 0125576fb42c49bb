/**
 * `PackageFileStore` over Kysely, for SQLite and PostgreSQL, built over the same Kysely instance
 * as `SqlMetadataStore` (which owns the connection: this store has no `close`).
 *
 * `putVersionFiles` serializes with GC's claims the way a blob commit does (see
 * `sql-gc-store.ts`). SQLite: its first statement touches the repository's links (a write, so
 * the transaction holds the one write lock from then on). PostgreSQL: it first reads the blob
 * rows `FOR SHARE`, which waits for a claim in progress and then sees it, and makes
 * `claimBlobs` (`FOR UPDATE`) wait until the package files are committed and visible to its
 * re-check; then it touches the links, which locks them against the dead-link sweep (blob row
 * before link, as in `commitBlob`, so the two cannot deadlock).
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import { PalletError } from '../base/errors.js';
import type { AddedVersionFile, PackageArtifactRecord, PackageFile, PackageFileRecord, PackageFileStore, PackageVersionFile, PackageVersionFiles, PackageVersionKey, PackageVersionRecord } from './package-file-store.js';
import type { Database, Dialect, PackageFilesTable } from './schema.js';
import { guard, violationOf } from './sql-errors.js';
import { dbNow } from './sql-gc-store.js';

/** A unique violation on a version's rows: another request wrote the same version meanwhile. */
class ConcurrentVersionWrite extends Error {
  constructor(readonly error: PalletError) {
    super(error.message);
  }
}

/** A Kysely query over `package_files` that takes `where` (select, update, delete). */
interface FileQuery<Q> {
  where(column: 'registry_id' | 'artifact' | 'version' | 'path', op: '=', value: string): Q;
}

function toRecord(row: PackageFilesTable): PackageFileRecord {
  return {
    registryId: row.registry_id,
    artifact: row.artifact,
    version: row.version,
    path: row.path,
    rootSpaceId: row.root_space_id,
    repositoryId: row.repository_id,
    manifestId: row.manifest_id,
    digest: row.digest,
    size: Number(row.size),
    createdAt: Number(row.created_at),
  };
}

export class SqlPackageFileStore implements PackageFileStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
  ) {}

  /**
   * Concurrent puts of one version: the last writer wins. On PostgreSQL they queue on an
   * advisory lock of the version; a unique violation on the insert can then only come from a
   * concurrent `addVersionFile` of the same path (paths are checked distinct first), and the
   * put runs again: its delete now sees that row.
   */
  async putVersionFiles(input: PackageVersionFiles): Promise<PackageFileRecord[]> {
    if (new Set(input.files.map((f) => f.path)).size !== input.files.length) {
      throw new PalletError('INVALID_ARGUMENT', `${input.artifact} ${input.version}: two files with the same path`);
    }
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#putVersionFilesOnce(input);
      } catch (err) {
        if (!(err instanceof ConcurrentVersionWrite) || attempt >= 3) throw err instanceof ConcurrentVersionWrite ? err.error : err;
      }
    }
  }

  async #putVersionFilesOnce(input: PackageVersionFiles): Promise<PackageFileRecord[]> {
    return this.db.transaction().execute(async (trx) => {
      // PostgreSQL: puts of one version queue on a lock of their own, taken before any other
      // (so it joins no lock cycle); SQLite's write lock already serializes them.
      if (this.dialect === 'postgres') {
        await sql`select pg_advisory_xact_lock(hashtextextended(${`package_files ${input.registryId} ${input.artifact} ${input.version}`}, 0))`.execute(trx);
      }
      const rootSpaceId = await this.#hold(trx, input, input.files);
      await this.#deleteRows(trx, input);
      if (input.files.length === 0) return [];
      const createdAt = Date.now();
      const rows: PackageFilesTable[] = input.files.map((f) => ({
        registry_id: input.registryId,
        artifact: input.artifact,
        version: input.version,
        path: f.path,
        root_space_id: rootSpaceId,
        repository_id: input.repositoryId,
        manifest_id: input.manifestId,
        digest: f.digest,
        size: f.size,
        created_at: createdAt,
      }));
      const insert = trx
        .insertInto('package_files')
        .values(rows)
        .execute()
        .catch((err: unknown) => {
          if (violationOf(err) === 'unique') throw new ConcurrentVersionWrite(new PalletError('CONFLICT', `${input.artifact} ${input.version}: written concurrently by another request; try again`));
          throw err;
        });
      await guard(insert, {
        foreignKey: () => new PalletError('NOT_FOUND', `${input.artifact} ${input.version}: its registry, repository or manifest is gone`),
      });
      return rows.map(toRecord);
    });
  }

  /**
   * The first steps of every write of package files (see the module header for the order):
   * touches the repository's links to the files' blobs, checks the repository belongs to the
   * registry and each blob is stored with the file's size and not claimed. Resolves to the
   * registry's root space.
   */
  async #hold(trx: Transaction<Database>, input: { registryId: string; repositoryId: string }, files: readonly PackageFile[]): Promise<string> {
    const digests = [...new Set(files.map((f) => f.digest))].sort();
    const postgres = this.dialect === 'postgres';
    // SQLite: a write first, so the transaction holds the write lock from its first statement
    // (a read first could not upgrade once another connection wrote). PostgreSQL: blob rows
    // before links, the order of a blob commit, so the two never deadlock.
    if (!postgres && digests.length > 0) await this.#touchLinks(trx, input.repositoryId, digests);
    const owner = await trx
      .selectFrom('repositories as rep')
      .innerJoin('registries as reg', 'reg.id', 'rep.registry_id')
      .select('reg.root_space_id')
      .where('rep.id', '=', input.repositoryId)
      .where('reg.id', '=', input.registryId)
      .executeTakeFirst();
    if (!owner) throw new PalletError('NOT_FOUND', `repository ${input.repositoryId} of registry ${input.registryId} not found`, { repository: input.repositoryId });
    if (digests.length > 0) await this.#checkBlobs(trx, owner.root_space_id, files);
    if (postgres && digests.length > 0) await this.#touchLinks(trx, input.repositoryId, digests);
    return owner.root_space_id;
  }

  /** Restarts the grace of the repository's links to `digests`; BLOB_UNKNOWN when one has none. */
  async #touchLinks(trx: Transaction<Database>, repositoryId: string, digests: string[]): Promise<void> {
    const touched = await trx
      .updateTable('repository_blobs')
      .set({ touched_at: dbNow(this.dialect) })
      .where('repository_id', '=', repositoryId)
      .where('digest', 'in', digests)
      .returning('digest')
      .execute();
    if (touched.length === digests.length) return;
    const linked = new Set(touched.map((r) => r.digest));
    const missing = digests.find((d) => !linked.has(d));
    throw new PalletError('BLOB_UNKNOWN', `blob ${missing} is not stored in repository ${repositoryId}`, { digest: missing });
  }

  /** Every file's blob is stored, with the file's size, and not claimed by a sweep. */
  async #checkBlobs(trx: Transaction<Database>, rootSpaceId: string, files: readonly PackageFile[]): Promise<void> {
    const digests = [...new Set(files.map((f) => f.digest))].sort();
    const lock = this.dialect === 'postgres' ? sql` for share` : sql``;
    const { rows } = await sql<{ digest: string; size: number; deleting: number }>`select digest, size, deleting from blobs
      where root_space_id = ${rootSpaceId} and digest in (${sql.join(digests)}) order by digest${lock}`.execute(trx);
    const found = new Map(rows.map((r) => [r.digest, r]));
    for (const file of files) {
      const blob = found.get(file.digest);
      if (!blob) throw new PalletError('BLOB_UNKNOWN', `blob ${file.digest} is not stored`, { digest: file.digest });
      if (Number(blob.deleting) !== 0) throw new PalletError('UNAVAILABLE', `blob ${file.digest} is being garbage-collected; store it again`, { digest: file.digest });
      if (Number(blob.size) !== file.size) {
        throw new PalletError('INVALID_ARGUMENT', `${file.path}: the file is ${file.size} bytes but blob ${file.digest} is ${Number(blob.size)}`, { digest: file.digest });
      }
    }
  }

  async #deleteRows(db: Kysely<Database> | Transaction<Database>, key: PackageVersionKey): Promise<number> {
    const result = await db
      .deleteFrom('package_files')
      .where('registry_id', '=', key.registryId)
      .where('artifact', '=', key.artifact)
      .where('version', '=', key.version)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async listVersionFiles(key: PackageVersionKey): Promise<PackageFileRecord[]> {
    const rows = await this.db
      .selectFrom('package_files')
      .selectAll()
      .where('registry_id', '=', key.registryId)
      .where('artifact', '=', key.artifact)
      .where('version', '=', key.version)
      .orderBy('path')
      .execute();
    return rows.map(toRecord);
  }

  async deleteVersionFiles(key: PackageVersionKey): Promise<number> {
    return this.#deleteRows(this.db, key);
  }

  // --- One file at a time (`addVersionFile`, `findVersionFile`, `deleteVersionFile`) ---

  /**
   * After `#hold` (the race with a sweep, as for a whole version), the row's primary key decides
   * between concurrent adds of one path, on any number of replicas: INSERT … ON CONFLICT DO
   * NOTHING waits for a concurrent inserter of the same key to commit and then inserts nothing,
   * and the row it finds then (locked on PostgreSQL until this transaction ends) is compared.
   */
  async addVersionFile(input: PackageVersionFile, options: { replace: boolean }): Promise<AddedVersionFile> {
    return this.db.transaction().execute(async (trx) => {
      const rootSpaceId = await this.#hold(trx, input, [input.file]);
      const row: PackageFilesTable = {
        registry_id: input.registryId,
        artifact: input.artifact,
        version: input.version,
        path: input.file.path,
        root_space_id: rootSpaceId,
        repository_id: input.repositoryId,
        manifest_id: null,
        digest: input.file.digest,
        size: input.file.size,
        created_at: Date.now(),
      };
      // A row deleted between the insert and the read (a concurrent delete of the version)
      // frees the path again: try again, a bounded number of times.
      for (let attempt = 0; attempt < 3; attempt++) {
        const inserted = await guard(
          trx
            .insertInto('package_files')
            .values(row)
            .onConflict((oc) => oc.columns(['registry_id', 'artifact', 'version', 'path']).doNothing())
            .returningAll()
            .executeTakeFirst(),
          { foreignKey: () => new PalletError('NOT_FOUND', `${input.artifact} ${input.version}: its registry or repository is gone`) },
        );
        if (inserted) return { outcome: 'inserted', record: toRecord(inserted) };
        const existing = await this.#findFile(trx, input, input.file.path, true);
        if (!existing) continue;
        if (existing.digest === row.digest && Number(existing.size) === row.size) return { outcome: 'same', record: toRecord(existing) };
        if (!options.replace) return { outcome: 'conflict', record: toRecord(existing) };
        const { registry_id: _r, artifact: _a, version: _v, path: _p, ...values } = row;
        await this.#fileRows(trx.updateTable('package_files').set(values), input, input.file.path).execute();
        return { outcome: 'replaced', record: toRecord(row) };
      }
      throw new PalletError('UNAVAILABLE', `${input.artifact} ${input.version}: ${input.file.path} kept changing while it was added; try again`);
    });
  }

  async findVersionFile(key: PackageVersionKey, path: string): Promise<PackageFileRecord | undefined> {
    const row = await this.#findFile(this.db, key, path, false);
    return row && toRecord(row);
  }

  async deleteVersionFile(key: PackageVersionKey, path: string): Promise<boolean> {
    const result = await this.#fileRows(this.db.deleteFrom('package_files'), key, path).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async #findFile(db: Kysely<Database> | Transaction<Database>, key: PackageVersionKey, path: string, lock: boolean): Promise<PackageFilesTable | undefined> {
    const query = this.#fileRows(db.selectFrom('package_files').selectAll(), key, path);
    return (lock && this.dialect === 'postgres' ? query.forUpdate() : query).executeTakeFirst();
  }

  /** Narrows a query of `package_files` to one file of a version. */
  #fileRows<Q extends FileQuery<Q>>(query: Q, key: PackageVersionKey, path: string): Q {
    return query.where('registry_id', '=', key.registryId).where('artifact', '=', key.artifact).where('version', '=', key.version).where('path', '=', path);
  }

  // --- Listing for the management views ---------------------------------------------------

  async listArtifacts(registryIds: readonly string[], artifact?: string): Promise<PackageArtifactRecord[]> {
    const ids = [...new Set(registryIds)];
    const out: PackageArtifactRecord[] = [];
    for (let i = 0; i < ids.length; i += LIST_CHUNK) {
      const rows = await this.db
        .selectFrom('package_files')
        .select((eb) => [
          'registry_id',
          'artifact',
          eb.fn.count<number>(sql`distinct version`).as('version_count'),
          eb.fn.sum<number>('size').as('size_bytes'),
          eb.fn.max<number>('created_at').as('updated_at'),
          // The newest version in the same pass: the greatest "<created_at, 20 digits> <version>"
          // (a correlated subquery per artifact cost 3-5x the whole aggregate on 20k artifacts).
          sql<string>`max(${this.dialect === 'postgres' ? sql`(lpad(created_at::text, ${NEWEST_PAD}, '0') || ' ' || version) collate "C"` : sql`printf('%0${sql.raw(String(NEWEST_PAD))}d', created_at) || ' ' || version`})`.as('newest_version'),
        ])
        .where('registry_id', 'in', ids.slice(i, i + LIST_CHUNK))
        .$if(artifact !== undefined, (qb) => qb.where('artifact', '=', artifact!))
        .groupBy(['registry_id', 'artifact'])
        .orderBy('artifact')
        .orderBy('registry_id')
        .execute();
      for (const r of rows) {
        out.push({ registryId: r.registry_id, artifact: r.artifact, versionCount: Number(r.version_count), sizeBytes: Number(r.size_bytes), updatedAt: Number(r.updated_at), newestVersion: (r.newest_version ?? '').slice(NEWEST_PAD + 1) });
      }
    }
    return ids.length > LIST_CHUNK ? out.sort((a, b) => (a.artifact === b.artifact ? cmp(a.registryId, b.registryId) : cmp(a.artifact, b.artifact))) : out;
  }

  async countArtifacts(registryIds: readonly string[]): Promise<Map<string, number>> {
    const ids = [...new Set(registryIds)];
    const out = new Map<string, number>();
    for (let i = 0; i < ids.length; i += LIST_CHUNK) {
      const rows = await this.db
        .selectFrom('package_files')
        .select((eb) => ['registry_id', eb.fn.count<number>(sql`distinct artifact`).as('artifacts')])
        .where('registry_id', 'in', ids.slice(i, i + LIST_CHUNK))
        .groupBy('registry_id')
        .execute();
      for (const r of rows) out.set(r.registry_id, Number(r.artifacts));
    }
    return out;
  }

  async listVersions(registryId: string, artifact: string): Promise<PackageVersionRecord[]> {
    const rows = await this.db
      .selectFrom('package_files')
      .select((eb) => [
        'version',
        eb.fn.countAll<number>().as('file_count'),
        eb.fn.sum<number>('size').as('size_bytes'),
        eb.fn.max<number>('created_at').as('created_at'),
      ])
      .where('registry_id', '=', registryId)
      .where('artifact', '=', artifact)
      .groupBy('version')
      .orderBy('created_at', 'desc')
      .orderBy('version', 'desc')
      .execute();
    return rows.map((r) => ({ registryId, artifact, version: r.version, fileCount: Number(r.file_count), sizeBytes: Number(r.size_bytes), createdAt: Number(r.created_at) }));
  }

  async listFilesOf(registryId: string, artifact: string, versions: readonly string[]): Promise<PackageFileRecord[]> {
    const wanted = [...new Set(versions)];
    const out: PackageFileRecord[] = [];
    for (let i = 0; i < wanted.length; i += LIST_CHUNK) {
      const rows = await this.db
        .selectFrom('package_files')
        .selectAll()
        .where('registry_id', '=', registryId)
        .where('artifact', '=', artifact)
        .where('version', 'in', wanted.slice(i, i + LIST_CHUNK))
        .orderBy('version')
        .orderBy('path')
        .execute();
      out.push(...rows.map(toRecord));
    }
    return out;
  }
}

/** Digits of `created_at` (ms) in the newest-version key: more than any time has. */
const NEWEST_PAD = 20;

/** Registry ids, or versions, per listing query (a registry and its upstream list: a handful in practice). */
const LIST_CHUNK = 500;

/** Byte order, as both databases sort the keys (`collate "C"` / BINARY). */
function cmp(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
