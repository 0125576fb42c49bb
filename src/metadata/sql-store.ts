/**
 * `MetadataStore` over Kysely, one implementation for SQLite and PostgreSQL. The few places
 * where SQL differs (JSON array functions, explicit byte-order collation) branch on `dialect`;
 * everything else is the same statement on both.
 *
 * Contracts beyond the interface:
 * - Multi-statement methods run in one transaction. Single statements are atomic by themselves.
 * - Unique violations become PalletError ALREADY_EXISTS. A foreign-key violation on insert means
 *   a referenced row is missing (NOT_FOUND); on delete it means the row is still in use
 *   (CONFLICT).
 * - Methods that change or describe one row by id throw NOT_FOUND when it is missing; list
 *   methods answer an empty list instead.
 * - The manifest GET path (`findRepository`, `findManifest`, `findManifestByTag`) is one
 *   indexed query each.
 */
import { guard, notFound } from './sql-errors.js';
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Kysely, Selectable, SqlBool, Transaction } from 'kysely';
import { PalletError } from '../base/errors.js';
import { migrateToLatest, type ExtraMigrations } from './migrations.js';
import type {
  Database,
  Dialect,
  ManifestsTable,
  RegistriesTable,
  RepositoriesTable,
  SpacesTable,
} from './schema.js';
import { SqlUploadSessions } from './sql-upload-sessions.js';
import type {
  ArtifactRecord,
  BlobRecord,
  ManifestRecord,
  ManifestReference,
  MetadataStore,
  NewManifest,
  NewRegistry,
  NewSpace,
  PackageType,
  ReferenceKind,
  RegistryFilter,
  RegistryKind,
  RegistryPatch,
  RegistryRecord,
  RegistryStats,
  RepositoryRecord,
  SpaceRecord,
  StoredManifest,
  TagPage,
  NewUpload,
  UploadLease,
  UploadRecord,
  VersionRecord,
} from './store.js';

/** Upper bound of ids per statement, well under both dialects' parameter limits. */
const CHUNK = 500;

/** Manifest columns without the payload, for everything but the GET path. */
const MANIFEST_COLUMNS = [
  'id',
  'repository_id',
  'digest',
  'media_type',
  'artifact_type',
  'size',
  'subject_digest',
  'annotations',
  'created_at',
  'download_count',
] as const;

type ManifestRow = Omit<Selectable<ManifestsTable>, 'payload'>;

export interface SqlMetadataStoreOptions {
  log?: (msg: string) => void;
  /** The package formats' own migrations, applied with the core's by `migrate()`. */
  migrations?: ExtraMigrations;
}

export class SqlMetadataStore implements MetadataStore {
  readonly #db: Kysely<Database>;
  readonly #dialect: Dialect;
  readonly #uploads: SqlUploadSessions;
  readonly #log: ((msg: string) => void) | undefined;
  readonly #migrations: ExtraMigrations;

  constructor(db: Kysely<Database>, dialect: Dialect, options: SqlMetadataStoreOptions = {}) {
    this.#db = db;
    this.#dialect = dialect;
    this.#log = options.log;
    this.#migrations = options.migrations ?? {};
    this.#uploads = new SqlUploadSessions(db, dialect);
  }

  async migrate(): Promise<void> {
    await migrateToLatest(this.#db, this.#dialect, { extra: this.#migrations, ...(this.#log === undefined ? {} : { log: this.#log }) });
  }

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.#db);
  }

  async close(): Promise<void> {
    await this.#db.destroy();
  }

  // Spaces ---------------------------------------------------------------------------------

  async createSpace(input: NewSpace): Promise<SpaceRecord> {
    return this.#db.transaction().execute(async (trx) => {
      const id = randomUUID();
      let rootId: string = id;
      if (input.parentId !== null) {
        const parent = await trx
          .selectFrom('spaces')
          .select('root_id')
          .where('id', '=', input.parentId)
          .executeTakeFirst();
        if (parent === undefined) throw notFound('space', input.parentId);
        rootId = parent.root_id;
      }
      const t = Date.now();
      const row: Selectable<SpacesTable> = {
        id,
        path: input.path,
        parent_id: input.parentId,
        root_id: rootId,
        description: input.description,
        created_at: t,
        updated_at: t,
      };
      await guard(trx.insertInto('spaces').values(row).execute(), {
        unique: () => new PalletError('ALREADY_EXISTS', `space ${input.path} already exists`, { path: input.path }),
        foreignKey: () => notFound('space', input.parentId ?? ''),
      });
      return toSpace(row);
    });
  }

  async findSpace(path: string): Promise<SpaceRecord | undefined> {
    const row = await this.#db.selectFrom('spaces').selectAll().where('path', '=', path).executeTakeFirst();
    return row && toSpace(row);
  }

  async findSpaceById(id: string): Promise<SpaceRecord | undefined> {
    const row = await this.#db.selectFrom('spaces').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toSpace(row);
  }

  async listSpaces(): Promise<SpaceRecord[]> {
    const rows = await this.#db.selectFrom('spaces').selectAll().orderBy('path').execute();
    return rows.map(toSpace);
  }

  async updateSpace(id: string, patch: { description?: string }): Promise<SpaceRecord> {
    const row = await this.#db
      .updateTable('spaces')
      .set({
        ...(patch.description === undefined ? {} : { description: patch.description }),
        updated_at: Date.now(),
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    if (row === undefined) throw notFound('space', id);
    return toSpace(row);
  }

  async spaceUsage(id: string): Promise<{ children: number; registries: number }> {
    const row = await this.#db
      .selectFrom('spaces as s')
      .select((eb) => [
        eb
          .selectFrom('spaces as c')
          .select(eb.fn.countAll<number>().as('n'))
          .whereRef('c.parent_id', '=', 's.id')
          .as('children'),
        eb
          .selectFrom('registries as r')
          .select(eb.fn.countAll<number>().as('n'))
          .whereRef('r.space_id', '=', 's.id')
          .as('registries'),
      ])
      .where('s.id', '=', id)
      .executeTakeFirst();
    if (row === undefined) throw notFound('space', id);
    return { children: row.children ?? 0, registries: row.registries ?? 0 };
  }

  async deleteSpace(id: string): Promise<void> {
    const result = await guard(this.#db.deleteFrom('spaces').where('id', '=', id).executeTakeFirst(), {
      foreignKey: () => new PalletError('CONFLICT', `space ${id} still holds spaces or registries`, { id }),
    });
    if (result.numDeletedRows === 0n) throw notFound('space', id);
  }

  // Registries -----------------------------------------------------------------------------

  async createRegistry(input: NewRegistry): Promise<RegistryRecord> {
    return this.#db.transaction().execute(async (trx) => {
      const space = await trx
        .selectFrom('spaces')
        .select('root_id')
        .where('id', '=', input.spaceId)
        .executeTakeFirst();
      if (space === undefined) throw notFound('space', input.spaceId);
      const t = Date.now();
      const row: Selectable<RegistriesTable> = {
        id: randomUUID(),
        space_id: input.spaceId,
        root_space_id: space.root_id,
        identifier: input.identifier,
        package_type: input.packageType,
        kind: input.kind,
        description: input.description,
        labels: JSON.stringify(input.labels),
        public: input.public ? 1 : 0,
        upstream: input.upstream === null ? null : JSON.stringify(input.upstream),
        settings: JSON.stringify(input.settings ?? {}),
        created_at: t,
        updated_at: t,
      };
      await guard(trx.insertInto('registries').values(row).execute(), {
        unique: () =>
          new PalletError('ALREADY_EXISTS', `registry ${input.identifier} already exists`, {
            identifier: input.identifier,
            rootSpaceId: space.root_id,
          }),
        foreignKey: () => notFound('space', input.spaceId),
      });
      return toRegistry(row);
    });
  }

  async findRegistry(rootSpaceId: string, identifier: string): Promise<RegistryRecord | undefined> {
    const row = await this.#db
      .selectFrom('registries')
      .selectAll()
      .where('root_space_id', '=', rootSpaceId)
      .where('identifier', '=', identifier)
      .executeTakeFirst();
    return row && toRegistry(row);
  }

  async findRegistryById(id: string): Promise<RegistryRecord | undefined> {
    const row = await this.#db.selectFrom('registries').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toRegistry(row);
  }

  async listRegistries(filter: RegistryFilter = {}): Promise<RegistryRecord[]> {
    if (filter.spaceIds !== undefined && filter.spaceIds.length === 0) return [];
    let query = this.#db.selectFrom('registries').selectAll();
    if (filter.spaceIds !== undefined) query = query.where('space_id', 'in', filter.spaceIds);
    if (filter.packageType !== undefined) query = query.where('package_type', '=', filter.packageType);
    if (filter.kind !== undefined) query = query.where('kind', '=', filter.kind);
    if (filter.q !== undefined && filter.q !== '') {
      const pattern = `%${escapeLike(filter.q.toLowerCase())}%`;
      const labelMatch =
        this.#dialect === 'postgres'
          ? sql<SqlBool>`exists (select 1 from json_array_elements_text(registries.labels::json) as l(value)
              where lower(l.value) like ${pattern} escape '\\')`
          : sql<SqlBool>`exists (select 1 from json_each(registries.labels) as l
              where lower(l.value) like ${pattern} escape '\\')`;
      query = query.where((eb) =>
        eb.or([
          sql<SqlBool>`lower(registries.identifier) like ${pattern} escape '\\'`,
          sql<SqlBool>`lower(registries.description) like ${pattern} escape '\\'`,
          labelMatch,
        ]),
      );
    }
    const rows = await query.orderBy('identifier').orderBy('root_space_id').orderBy('id').execute();
    return rows.map(toRegistry);
  }

  async updateRegistry(id: string, patch: RegistryPatch): Promise<RegistryRecord> {
    const row = await this.#db
      .updateTable('registries')
      .set({
        ...(patch.description === undefined ? {} : { description: patch.description }),
        ...(patch.labels === undefined ? {} : { labels: JSON.stringify(patch.labels) }),
        ...(patch.public === undefined ? {} : { public: patch.public ? 1 : 0 }),
        ...(patch.upstream === undefined
          ? {}
          : { upstream: patch.upstream === null ? null : JSON.stringify(patch.upstream) }),
        ...(patch.settings === undefined ? {} : { settings: JSON.stringify(patch.settings) }),
        updated_at: Date.now(),
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    if (row === undefined) throw notFound('registry', id);
    return toRegistry(row);
  }

  async deleteRegistry(id: string): Promise<{ uploadIds: string[] }> {
    return this.#db.transaction().execute(async (trx) => {
      const uploads = await trx
        .selectFrom('uploads as u')
        .innerJoin('repositories as r', 'r.id', 'u.repository_id')
        .select('u.id')
        .where('r.registry_id', '=', id)
        .orderBy('u.id')
        .execute();
      // Repositories, manifests, tags, references, links, uploads and upstream list entries
      // (both directions) go by ON DELETE CASCADE.
      const result = await trx.deleteFrom('registries').where('id', '=', id).executeTakeFirst();
      if (result.numDeletedRows === 0n) throw notFound('registry', id);
      return { uploadIds: uploads.map((u) => u.id) };
    });
  }

  async setUpstreams(registryId: string, upstreamIds: string[]): Promise<void> {
    if (new Set(upstreamIds).size !== upstreamIds.length) {
      throw new PalletError('INVALID_ARGUMENT', 'an upstream appears twice in the list', { upstreamIds });
    }
    await this.#db.transaction().execute(async (trx) => {
      const touched = await trx
        .updateTable('registries')
        .set({ updated_at: Date.now() })
        .where('id', '=', registryId)
        .executeTakeFirst();
      if (touched.numUpdatedRows === 0n) throw notFound('registry', registryId);
      await trx.deleteFrom('registry_upstreams').where('registry_id', '=', registryId).execute();
      if (upstreamIds.length === 0) return;
      await guard(
        trx
          .insertInto('registry_upstreams')
          .values(upstreamIds.map((upstreamId, position) => ({ registry_id: registryId, upstream_id: upstreamId, position })))
          .execute(),
        { foreignKey: () => new PalletError('NOT_FOUND', 'an upstream in the list does not exist', { upstreamIds }) },
      );
    });
  }

  async listUpstreams(registryId: string): Promise<RegistryRecord[]> {
    const rows = await this.#db
      .selectFrom('registry_upstreams as u')
      .innerJoin('registries as r', 'r.id', 'u.upstream_id')
      .selectAll('r')
      .where('u.registry_id', '=', registryId)
      .orderBy('u.position')
      .execute();
    return rows.map(toRegistry);
  }

  async listDownstreams(upstreamId: string): Promise<RegistryRecord[]> {
    const rows = await this.#db
      .selectFrom('registry_upstreams as u')
      .innerJoin('registries as r', 'r.id', 'u.registry_id')
      .selectAll('r')
      .where('u.upstream_id', '=', upstreamId)
      .orderBy('r.identifier')
      .orderBy('r.root_space_id')
      .orderBy('r.id')
      .execute();
    return rows.map(toRegistry);
  }

  async registryStats(registryIds: string[]): Promise<Map<string, RegistryStats>> {
    const stats = new Map<string, RegistryStats>();
    for (const id of registryIds) {
      stats.set(id, { sizeBytes: 0, artifactCount: 0, downloadCount: 0, lastModified: 0 });
    }
    for (const ids of chunks([...stats.keys()])) {
      const list = sql.join(ids);
      // Blobs count once per registry however many of its repositories link them; manifests
      // are per repository, so they simply add up.
      const { rows } = await sql<{
        id: string;
        updated_at: number;
        artifact_count: number;
        repositories_updated_at: number;
        blob_bytes: number;
        manifest_bytes: number;
        download_count: number;
      }>`
        select r.id, r.updated_at,
          coalesce(rp.repository_count, 0) as artifact_count,
          coalesce(rp.updated_at, 0) as repositories_updated_at,
          coalesce(b.size, 0) as blob_bytes,
          coalesce(m.size, 0) as manifest_bytes,
          coalesce(m.downloads, 0) as download_count
        from registries r
        left join (
          select registry_id, count(*) as repository_count, max(updated_at) as updated_at
          from repositories where registry_id in (${list}) group by registry_id
        ) rp on rp.registry_id = r.id
        left join (
          select d.registry_id, sum(bl.size) as size
          from (
            select distinct rep.registry_id, rb.root_space_id, rb.digest
            from repository_blobs rb join repositories rep on rep.id = rb.repository_id
            where rep.registry_id in (${list})
          ) d
          join blobs bl on bl.root_space_id = d.root_space_id and bl.digest = d.digest
          group by d.registry_id
        ) b on b.registry_id = r.id
        left join (
          select rep.registry_id, sum(ma.size) as size, sum(ma.download_count) as downloads
          from manifests ma join repositories rep on rep.id = ma.repository_id
          where rep.registry_id in (${list}) group by rep.registry_id
        ) m on m.registry_id = r.id
        where r.id in (${list})`.execute(this.#db);
      for (const row of rows) {
        stats.set(row.id, {
          sizeBytes: row.blob_bytes + row.manifest_bytes,
          artifactCount: row.artifact_count,
          downloadCount: row.download_count,
          lastModified: Math.max(row.updated_at, row.repositories_updated_at),
        });
      }
    }
    return stats;
  }

  // Repositories ---------------------------------------------------------------------------

  async ensureRepository(registryId: string, name: string): Promise<RepositoryRecord> {
    const existing = await this.findRepository(registryId, name);
    if (existing !== undefined) return existing;
    const t = Date.now();
    // ON CONFLICT DO NOTHING waits for a concurrent inserter to commit; the select that
    // follows then sees its row.
    const inserted = await guard(
      this.#db
        .insertInto('repositories')
        .values({ id: randomUUID(), registry_id: registryId, name, created_at: t, updated_at: t })
        .onConflict((oc) => oc.columns(['registry_id', 'name']).doNothing())
        .returningAll()
        .executeTakeFirst(),
      { foreignKey: () => notFound('registry', registryId) },
    );
    if (inserted !== undefined) return toRepository(inserted);
    const row = await this.findRepository(registryId, name);
    if (row === undefined) throw new PalletError('CONFLICT', `repository ${name} was deleted while being created`);
    return row;
  }

  async findRepository(registryId: string, name: string): Promise<RepositoryRecord | undefined> {
    const row = await this.#db
      .selectFrom('repositories')
      .selectAll()
      .where('registry_id', '=', registryId)
      .where('name', '=', name)
      .executeTakeFirst();
    return row && toRepository(row);
  }

  async listRepositories(registryIds: string[]): Promise<RepositoryRecord[]> {
    const out: RepositoryRecord[] = [];
    for (const ids of chunks(registryIds)) {
      const rows = await this.#db
        .selectFrom('repositories')
        .selectAll()
        .where('registry_id', 'in', ids)
        .orderBy('registry_id')
        .orderBy('name')
        .execute();
      out.push(...rows.map(toRepository));
    }
    if (registryIds.length > CHUNK) {
      out.sort((a, b) => byteCompare(a.registryId, b.registryId) || byteCompare(a.name, b.name));
    }
    return out;
  }

  async deleteRepository(id: string): Promise<{ uploadIds: string[] }> {
    return this.#db.transaction().execute(async (trx) => {
      const uploads = await trx
        .selectFrom('uploads')
        .select('id')
        .where('repository_id', '=', id)
        .orderBy('id')
        .execute();
      const deleted = await trx
        .deleteFrom('repositories')
        .where('id', '=', id)
        .returning('registry_id')
        .executeTakeFirst();
      if (deleted === undefined) throw notFound('repository', id);
      await trx
        .updateTable('registries')
        .set({ updated_at: Date.now() })
        .where('id', '=', deleted.registry_id)
        .execute();
      return { uploadIds: uploads.map((u) => u.id) };
    });
  }

  async listArtifacts(registryIds: string[]): Promise<ArtifactRecord[]> {
    const out: ArtifactRecord[] = [];
    for (const ids of chunks([...new Set(registryIds)])) {
      const list = sql.join(ids);
      const { rows } = await sql<{
        id: string;
        registry_id: string;
        name: string;
        updated_at: number;
        version_count: number;
        manifest_bytes: number;
        download_count: number;
        blob_bytes: number;
        latest_tag: string | null;
      }>`
        select rep.id, rep.registry_id, rep.name, rep.updated_at,
          coalesce(m.version_count, 0) as version_count,
          coalesce(m.size, 0) as manifest_bytes,
          coalesce(m.downloads, 0) as download_count,
          coalesce(b.size, 0) as blob_bytes,
          (select t.name from tags t where t.repository_id = rep.id
            order by t.updated_at desc, t.name desc limit 1) as latest_tag
        from repositories rep
        left join (
          select ma.repository_id, count(*) as version_count, sum(ma.size) as size,
            sum(ma.download_count) as downloads
          from manifests ma join repositories r2 on r2.id = ma.repository_id
          where r2.registry_id in (${list}) group by ma.repository_id
        ) m on m.repository_id = rep.id
        left join (
          select rb.repository_id, sum(bl.size) as size
          from repository_blobs rb
          join blobs bl on bl.root_space_id = rb.root_space_id and bl.digest = rb.digest
          join repositories r3 on r3.id = rb.repository_id
          where r3.registry_id in (${list}) group by rb.repository_id
        ) b on b.repository_id = rep.id
        where rep.registry_id in (${list})
        order by rep.name, rep.registry_id`.execute(this.#db);
      for (const row of rows) {
        out.push({
          registryId: row.registry_id,
          repositoryId: row.id,
          name: row.name,
          versionCount: row.version_count,
          latestTag: row.latest_tag,
          sizeBytes: row.blob_bytes + row.manifest_bytes,
          downloadCount: row.download_count,
          updatedAt: row.updated_at,
        });
      }
    }
    if (registryIds.length > CHUNK) {
      out.sort((a, b) => byteCompare(a.name, b.name) || byteCompare(a.registryId, b.registryId));
    }
    return out;
  }

  // Blobs ----------------------------------------------------------------------------------

  async findBlob(rootSpaceId: string, digest: string): Promise<BlobRecord | undefined> {
    const row = await this.#db
      .selectFrom('blobs')
      .select(['digest', 'size', 'created_at', 'verified'])
      .where('root_space_id', '=', rootSpaceId)
      .where('digest', '=', digest)
      .executeTakeFirst();
    return row && toBlob(row);
  }

  async findLinkedBlob(repositoryId: string, digest: string): Promise<BlobRecord | undefined> {
    const row = await this.#db
      .selectFrom('repository_blobs as rb')
      .innerJoin('blobs as b', (join) =>
        join.onRef('b.root_space_id', '=', 'rb.root_space_id').onRef('b.digest', '=', 'rb.digest'),
      )
      .select(['b.digest', 'b.size', 'b.created_at', 'b.verified'])
      .where('rb.repository_id', '=', repositoryId)
      .where('rb.digest', '=', digest)
      .executeTakeFirst();
    return row && toBlob(row);
  }

  async commitBlob(
    rootSpaceId: string,
    repositoryId: string,
    digest: string,
    size: number,
    options: { verified?: boolean } = {},
  ): Promise<BlobRecord> {
    const verified = options.verified === true;
    return this.#db.transaction().execute(async (trx) => {
      const t = Date.now();
      // A no-op update rather than DO NOTHING: it returns the existing row and, on
      // PostgreSQL, locks it so a concurrent orphan sweep cannot delete it before the link.
      // A row that a sweep has claimed (`deleting`, see registry/gc.ts) is not linked.
      // Verified bytes were just stored under the key: the row now describes them.
      const blob = await trx
        .insertInto('blobs')
        .values({ root_space_id: rootSpaceId, digest, size, created_at: t, verified: verified ? 1 : 0 })
        .onConflict((oc) =>
          oc
            .columns(['root_space_id', 'digest'])
            .doUpdateSet(
              verified
                ? { size: (eb) => eb.ref('excluded.size'), verified: 1 }
                : { size: (eb) => eb.ref('blobs.size') },
            )
            .where('blobs.deleting', '=', 0),
        )
        .returning(['digest', 'size', 'created_at', 'verified'])
        .executeTakeFirst();
      if (blob === undefined) {
        throw new PalletError('UNAVAILABLE', `blob ${digest} is being garbage-collected; push it again`, { digest });
      }
      await guard(
        trx
          .insertInto('repository_blobs')
          .values({ repository_id: repositoryId, root_space_id: rootSpaceId, digest, created_at: t })
          // An existing link (maybe unreferenced and older than the GC grace) is relied on
          // again by this upload or mount: its grace restarts now (see registry/gc.ts).
          .onConflict((oc) => oc.columns(['repository_id', 'digest']).doUpdateSet({ touched_at: t }))
          .execute(),
        { foreignKey: () => notFound('repository', repositoryId) },
      );
      return toBlob(blob);
    });
  }

  async unlinkBlob(repositoryId: string, digest: string): Promise<boolean> {
    const result = await this.#db
      .deleteFrom('repository_blobs')
      .where('repository_id', '=', repositoryId)
      .where('digest', '=', digest)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  // Manifests and tags ---------------------------------------------------------------------

  async putManifest(input: NewManifest): Promise<ManifestRecord> {
    return this.#db.transaction().execute(async (trx) => {
      const t = Date.now();
      const inserted = await guard(
        trx
          .insertInto('manifests')
          .values({
            id: randomUUID(),
            repository_id: input.repositoryId,
            digest: input.digest,
            media_type: input.mediaType,
            artifact_type: input.artifactType,
            size: input.payload.length,
            subject_digest: input.subjectDigest,
            annotations: input.annotations === null ? null : JSON.stringify(input.annotations),
            payload: input.payload,
            created_at: t,
          })
          .onConflict((oc) => oc.columns(['repository_id', 'digest']).doNothing())
          .returning(MANIFEST_COLUMNS)
          .executeTakeFirst(),
        { foreignKey: () => notFound('repository', input.repositoryId) },
      );
      let row: ManifestRow;
      if (inserted !== undefined) {
        row = inserted;
        for (const [start, refs] of chunksWithOffset(input.references)) {
          await trx
            .insertInto('manifest_references')
            .values(
              refs.map((ref, i) => ({
                manifest_id: inserted.id,
                position: start + i,
                digest: ref.digest,
                kind: ref.kind,
                media_type: ref.mediaType,
                size: ref.size,
              })),
            )
            .execute();
        }
      } else {
        row = await trx
          .selectFrom('manifests')
          .select(MANIFEST_COLUMNS)
          .where('repository_id', '=', input.repositoryId)
          .where('digest', '=', input.digest)
          .executeTakeFirstOrThrow();
      }
      let changed = inserted !== undefined;
      if (input.tag !== undefined && (await upsertTag(trx, input.repositoryId, input.tag, row.id, t))) {
        changed = true;
      }
      if (changed) {
        await trx.updateTable('repositories').set({ updated_at: t }).where('id', '=', input.repositoryId).execute();
      }
      return toManifest(row);
    });
  }

  async findManifest(repositoryId: string, digest: string): Promise<StoredManifest | undefined> {
    const row = await this.#db
      .selectFrom('manifests')
      .selectAll()
      .where('repository_id', '=', repositoryId)
      .where('digest', '=', digest)
      .executeTakeFirst();
    return row && { ...toManifest(row), payload: row.payload };
  }

  async findManifestByTag(repositoryId: string, tag: string): Promise<StoredManifest | undefined> {
    const row = await this.#db
      .selectFrom('tags as t')
      .innerJoin('manifests as m', 'm.id', 't.manifest_id')
      .selectAll('m')
      .where('t.repository_id', '=', repositoryId)
      .where('t.name', '=', tag)
      .executeTakeFirst();
    return row && { ...toManifest(row), payload: row.payload };
  }

  async listReferences(manifestId: string): Promise<ManifestReference[]> {
    const rows = await this.#db
      .selectFrom('manifest_references')
      .select(['digest', 'kind', 'media_type', 'size'])
      .where('manifest_id', '=', manifestId)
      .orderBy('position')
      .execute();
    return rows.map((r) => ({ digest: r.digest, kind: r.kind as ReferenceKind, mediaType: r.media_type, size: r.size }));
  }

  async deleteManifest(repositoryId: string, digest: string): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      // Tags and references go by ON DELETE CASCADE.
      const result = await trx
        .deleteFrom('manifests')
        .where('repository_id', '=', repositoryId)
        .where('digest', '=', digest)
        .executeTakeFirst();
      if (result.numDeletedRows === 0n) return false;
      await trx.updateTable('repositories').set({ updated_at: Date.now() }).where('id', '=', repositoryId).execute();
      return true;
    });
  }

  async listTags(repositoryId: string, page: TagPage = {}): Promise<string[]> {
    // The column is declared COLLATE "C" on PostgreSQL; saying it again keeps the order
    // byte-wise even if a future migration forgets, and still matches the index.
    const byName = this.#dialect === 'postgres' ? sql`name collate "C"` : sql`name`;
    let query = this.#db.selectFrom('tags').select('name').where('repository_id', '=', repositoryId);
    if (page.last !== undefined) {
      const last = page.last;
      query = query.where((eb) => eb(byName, '>', last));
    }
    query = query.orderBy(byName);
    if (page.limit !== undefined) query = query.limit(page.limit);
    const rows = await query.execute();
    return rows.map((r) => r.name);
  }

  async deleteTag(repositoryId: string, tag: string): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      const result = await trx
        .deleteFrom('tags')
        .where('repository_id', '=', repositoryId)
        .where('name', '=', tag)
        .executeTakeFirst();
      if (result.numDeletedRows === 0n) return false;
      await trx.updateTable('repositories').set({ updated_at: Date.now() }).where('id', '=', repositoryId).execute();
      return true;
    });
  }

  async listReferrers(repositoryId: string, subjectDigest: string, artifactType?: string): Promise<ManifestRecord[]> {
    let query = this.#db
      .selectFrom('manifests')
      .select(MANIFEST_COLUMNS)
      .where('repository_id', '=', repositoryId)
      .where('subject_digest', '=', subjectDigest);
    if (artifactType !== undefined) query = query.where('artifact_type', '=', artifactType);
    const rows = await query.orderBy('digest').execute();
    return rows.map(toManifest);
  }

  async listVersions(repositoryId: string): Promise<VersionRecord[]> {
    const manifests = await this.#db
      .selectFrom('manifests as m')
      .select(MANIFEST_COLUMNS.map((c) => `m.${c}` as const))
      .select((eb) =>
        eb
          .selectFrom('manifest_references as r')
          .select((eb2) => eb2.fn.coalesce(eb2.fn.sum<number>('r.size'), sql.lit(0)).as('s'))
          .whereRef('r.manifest_id', '=', 'm.id')
          .as('references_size'),
      )
      .where('m.repository_id', '=', repositoryId)
      .orderBy('m.created_at', 'desc')
      .orderBy('m.digest')
      .execute();
    const tags = await this.#db
      .selectFrom('tags')
      .select(['name', 'manifest_id'])
      .where('repository_id', '=', repositoryId)
      .orderBy(this.#dialect === 'postgres' ? sql`name collate "C"` : sql`name`)
      .execute();
    const tagsOf = new Map<string, string[]>();
    for (const tag of tags) {
      const list = tagsOf.get(tag.manifest_id);
      if (list === undefined) tagsOf.set(tag.manifest_id, [tag.name]);
      else list.push(tag.name);
    }
    return manifests.map((m) => ({
      ...toManifest(m),
      tags: tagsOf.get(m.id) ?? [],
      totalSize: m.size + (m.references_size ?? 0),
    }));
  }

  async addDownloads(counts: ReadonlyArray<readonly [manifestId: string, count: number]>): Promise<void> {
    const totals = new Map<string, number>();
    for (const [id, n] of counts) totals.set(id, (totals.get(id) ?? 0) + n);
    for (const [id, n] of totals) if (n === 0) totals.delete(id);
    if (totals.size === 0) return;
    // Sorted ids make concurrent batches lock rows in the same order.
    const entries = [...totals].sort((a, b) => byteCompare(a[0], b[0]));
    await this.#db.transaction().execute(async (trx) => {
      for (const batch of chunks(entries)) {
        const values = sql.join(batch.map(([id, n]) => sql`(${id}, cast(${n} as bigint))`));
        await sql`
          with v(id, n) as (values ${values})
          update manifests
          set download_count = download_count + (select v.n from v where v.id = manifests.id)
          where id in (select v.id from v)`.execute(trx);
      }
    });
  }

  // Upload sessions (see sql-upload-sessions.ts) ---------------------------------------------

  createUpload(input: NewUpload): Promise<UploadRecord> {
    return this.#uploads.create(input);
  }

  findUpload(id: string): Promise<UploadRecord | undefined> {
    return this.#uploads.find(id);
  }

  acquireUploadLease(id: string, holder: string, expiresAt: number, now: number): Promise<UploadRecord | undefined> {
    return this.#uploads.acquireLease(id, holder, expiresAt, now);
  }

  renewUploadLease(id: string, holder: string, expiresAt: number): Promise<boolean> {
    return this.#uploads.renewLease(id, holder, expiresAt);
  }

  releaseUploadLease(id: string, holder: string): Promise<void> {
    return this.#uploads.releaseLease(id, holder);
  }

  advanceUpload(id: string, fromSize: number, toSize: number, lease?: UploadLease): Promise<boolean> {
    return this.#uploads.advance(id, fromSize, toSize, lease);
  }

  deleteUpload(id: string): Promise<void> {
    return this.#uploads.delete(id);
  }

  listStaleUploads(before: number): Promise<UploadRecord[]> {
    return this.#uploads.listStale(before);
  }
}

/**
 * Creates the tag or moves it to `manifestId`; resolves to whether anything changed (a tag
 * that already points there keeps its `updated_at`).
 */
async function upsertTag(
  trx: Transaction<Database>,
  repositoryId: string,
  name: string,
  manifestId: string,
  t: number,
): Promise<boolean> {
  const row = await trx
    .insertInto('tags')
    .values({ repository_id: repositoryId, name, manifest_id: manifestId, created_at: t, updated_at: t })
    .onConflict((oc) =>
      oc
        .columns(['repository_id', 'name'])
        .doUpdateSet({
          manifest_id: (eb) => eb.ref('excluded.manifest_id'),
          updated_at: (eb) => eb.ref('excluded.updated_at'),
        })
        .where('tags.manifest_id', '<>', manifestId),
    )
    .returning('name')
    .executeTakeFirst();
  return row !== undefined;
}


// Rows → records -------------------------------------------------------------------------------

function toSpace(r: Selectable<SpacesTable>): SpaceRecord {
  return {
    id: r.id,
    path: r.path,
    parentId: r.parent_id,
    rootId: r.root_id,
    description: r.description,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function toRegistry(r: Selectable<RegistriesTable>): RegistryRecord {
  return {
    id: r.id,
    spaceId: r.space_id,
    rootSpaceId: r.root_space_id,
    identifier: r.identifier,
    packageType: r.package_type as PackageType,
    kind: r.kind as RegistryKind,
    description: r.description,
    labels: JSON.parse(r.labels) as string[],
    public: r.public === 1,
    upstream: r.upstream === null ? null : (JSON.parse(r.upstream) as Record<string, unknown>),
    settings: parseSettings(r.settings),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** A stored settings column; `{}` for anything but a JSON object (never written by this build). */
function parseSettings(text: string | null | undefined): Record<string, unknown> {
  if (!text) return {};
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function toRepository(r: Selectable<RepositoriesTable>): RepositoryRecord {
  return { id: r.id, registryId: r.registry_id, name: r.name, createdAt: r.created_at, updatedAt: r.updated_at };
}

function toBlob(r: { digest: string; size: number; created_at: number; verified: number }): BlobRecord {
  return { digest: r.digest, size: r.size, createdAt: r.created_at, verified: r.verified === 1 };
}

function toManifest(r: ManifestRow): ManifestRecord {
  return {
    id: r.id,
    repositoryId: r.repository_id,
    digest: r.digest,
    mediaType: r.media_type,
    artifactType: r.artifact_type,
    size: r.size,
    subjectDigest: r.subject_digest,
    annotations: r.annotations === null ? null : (JSON.parse(r.annotations) as Record<string, string>),
    createdAt: r.created_at,
    downloadCount: r.download_count,
  };
}

// Helpers --------------------------------------------------------------------------------------

function* chunks<T>(items: readonly T[]): Generator<T[]> {
  for (let i = 0; i < items.length; i += CHUNK) yield items.slice(i, i + CHUNK);
}

function* chunksWithOffset<T>(items: readonly T[]): Generator<[number, T[]]> {
  for (let i = 0; i < items.length; i += CHUNK) yield [i, items.slice(i, i + CHUNK)];
}

/** Byte order of the UTF-8 encodings, the order both databases sort keys in. */
function byteCompare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}
