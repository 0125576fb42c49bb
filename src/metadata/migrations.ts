/**
 * Numbered schema migrations of the metadata database (`0001_init`, …) and the one function
 * that applies them. Migrations are append-only: never edit one that has shipped, add the next
 * number. Where the dialects differ (BLOB vs BYTEA, byte-order collation) the dialect is passed
 * in; everything else is the same DDL on both.
 *
 * Concurrency: several replicas (or two store instances in one process) may call `migrate` at
 * once. Whoever gets the database-wide lock first applies the pending migrations; the others
 * wait, then find nothing pending.
 * - PostgreSQL: a session advisory lock on one pooled connection, held around Kysely's
 *   Migrator (which also takes its own lock and runs each migration in a transaction).
 * - SQLite: `BEGIN IMMEDIATE` on the store's connection, retried without blocking the event
 *   loop (better-sqlite3's busy wait is synchronous, so a busy timeout would stall a second
 *   instance in the same process instead of letting the first finish). DDL is transactional
 *   in SQLite, so the whole run commits or rolls back as one.
 */
import { Migrator, sql } from 'kysely';
import type { Kysely, Migration, MigrationProvider } from 'kysely';
import { auditMigration } from './audit-migration.js';
import { identityMigration } from './identity-migration.js';
import { scaleOutMigration } from './scale-out-migration.js';
import { integrityMigration } from './integrity-migration.js';
import { gcFencingMigration } from './gc-fencing-migration.js';
import { packageFilesMigration } from './package-files-migration.js';
import { registrySettingsMigration } from './registry-settings-migration.js';
import type { Database, Dialect } from './schema.js';

/**
 * PostgreSQL advisory lock key of metadata migrations ("PALLET" in ASCII). Database-wide, not
 * per schema: Kysely's migration-table check introspects the tables of every schema, and fails
 * when another schema is dropped meanwhile, so migrations in any schema and schema drops (test
 * clean-ups: `dropSchemaLocked`) take this one lock.
 */
export const PG_MIGRATION_LOCK = 0x50414c4c4554;
/** How long a second SQLite instance waits for the first one's migration. */
const SQLITE_LOCK_WAIT_MS = 60_000;

function init(dialect: Dialect): Migration {
  // Sort keys compare by byte order on both dialects (SQLite's default BINARY collation), so
  // listings agree and `ORDER BY`/`>` on them can use the index.
  const key = dialect === 'postgres' ? sql`text collate "C"` : sql`text`;
  const bytes = dialect === 'postgres' ? 'bytea' : 'blob';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('spaces')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('path', key, (c) => c.notNull())
        .addColumn('parent_id', 'text', (c) => c.references('spaces.id'))
        .addColumn('root_id', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('spaces_path_key', ['path'])
        .execute();
      await db.schema.createIndex('spaces_parent_idx').on('spaces').column('parent_id').execute();

      await db.schema
        .createTable('registries')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('space_id', 'text', (c) => c.notNull().references('spaces.id'))
        .addColumn('root_space_id', 'text', (c) => c.notNull().references('spaces.id'))
        .addColumn('identifier', key, (c) => c.notNull())
        .addColumn('package_type', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('labels', 'text', (c) => c.notNull().defaultTo('[]'))
        .addColumn('public', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('upstream', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('registries_root_identifier_key', ['root_space_id', 'identifier'])
        .execute();
      await db.schema.createIndex('registries_space_idx').on('registries').column('space_id').execute();

      await db.schema
        .createTable('registry_upstreams')
        .addColumn('registry_id', 'text', (c) => c.notNull().references('registries.id').onDelete('cascade'))
        .addColumn('upstream_id', 'text', (c) => c.notNull().references('registries.id').onDelete('cascade'))
        .addColumn('position', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('registry_upstreams_pkey', ['registry_id', 'position'])
        .addUniqueConstraint('registry_upstreams_pair_key', ['registry_id', 'upstream_id'])
        .execute();
      await db.schema
        .createIndex('registry_upstreams_upstream_idx')
        .on('registry_upstreams')
        .column('upstream_id')
        .execute();

      await db.schema
        .createTable('repositories')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('registry_id', 'text', (c) => c.notNull().references('registries.id').onDelete('cascade'))
        .addColumn('name', key, (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('repositories_registry_name_key', ['registry_id', 'name'])
        .execute();

      // Blob rows deliberately have no foreign key to spaces: after a space's registries are
      // gone, its orphan rows still tell GC which bytes to delete.
      await db.schema
        .createTable('blobs')
        .addColumn('root_space_id', 'text', (c) => c.notNull())
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('blobs_pkey', ['root_space_id', 'digest'])
        .execute();

      // No cascade towards blobs: deleting a linked blob row fails, which is what keeps an
      // orphan sweep racing a new link from dropping a blob that just became referenced.
      await db.schema
        .createTable('repository_blobs')
        .addColumn('repository_id', 'text', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
        .addColumn('root_space_id', 'text', (c) => c.notNull())
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('repository_blobs_pkey', ['repository_id', 'digest'])
        .addForeignKeyConstraint('repository_blobs_blob_fkey', ['root_space_id', 'digest'], 'blobs', [
          'root_space_id',
          'digest',
        ])
        .execute();
      await db.schema
        .createIndex('repository_blobs_blob_idx')
        .on('repository_blobs')
        .columns(['root_space_id', 'digest'])
        .execute();

      await db.schema
        .createTable('manifests')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('repository_id', 'text', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
        .addColumn('digest', key, (c) => c.notNull())
        .addColumn('media_type', 'text', (c) => c.notNull())
        .addColumn('artifact_type', 'text')
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('subject_digest', 'text')
        .addColumn('annotations', 'text')
        .addColumn('payload', bytes, (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('download_count', 'bigint', (c) => c.notNull().defaultTo(0))
        .addUniqueConstraint('manifests_repository_digest_key', ['repository_id', 'digest'])
        .execute();
      await db.schema
        .createIndex('manifests_subject_idx')
        .on('manifests')
        .columns(['repository_id', 'subject_digest'])
        .execute();
      await db.schema
        .createIndex('manifests_created_idx')
        .on('manifests')
        .columns(['repository_id', 'created_at'])
        .execute();

      await db.schema
        .createTable('manifest_references')
        .addColumn('manifest_id', 'text', (c) => c.notNull().references('manifests.id').onDelete('cascade'))
        .addColumn('position', 'integer', (c) => c.notNull())
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('media_type', 'text', (c) => c.notNull())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('manifest_references_pkey', ['manifest_id', 'position'])
        .execute();

      await db.schema
        .createTable('tags')
        .addColumn('repository_id', 'text', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
        .addColumn('name', key, (c) => c.notNull())
        .addColumn('manifest_id', 'text', (c) => c.notNull().references('manifests.id').onDelete('cascade'))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('tags_pkey', ['repository_id', 'name'])
        .execute();
      await db.schema.createIndex('tags_manifest_idx').on('tags').column('manifest_id').execute();

      await db.schema
        .createTable('uploads')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('repository_id', 'text', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
        .addColumn('root_space_id', 'text', (c) => c.notNull())
        .addColumn('size', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('uploads_repository_idx').on('uploads').column('repository_id').execute();
      await db.schema.createIndex('uploads_updated_idx').on('uploads').column('updated_at').execute();
    },
  };
}

/**
 * Upstream proxies: when each cached tag was last revalidated, which proxy repositories a local
 * registry served (its artifact view), and server-wide secrets (the upstream secret key).
 */
function upstream(dialect: Dialect): Migration {
  const key = dialect === 'postgres' ? sql`text collate "C"` : sql`text`;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('upstream_tag_checks')
        .addColumn('repository_id', 'text', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
        .addColumn('tag', key, (c) => c.notNull())
        .addColumn('checked_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('upstream_tag_checks_pkey', ['repository_id', 'tag'])
        .execute();

      await db.schema
        .createTable('upstream_served')
        .addColumn('registry_id', 'text', (c) => c.notNull().references('registries.id').onDelete('cascade'))
        .addColumn('repository_id', 'text', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('upstream_served_pkey', ['registry_id', 'repository_id'])
        .execute();
      await db.schema.createIndex('upstream_served_repository_idx').on('upstream_served').column('repository_id').execute();

      await db.schema
        .createTable('server_secrets')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  };
}

/** Migrations a package format brings for its own tables: name → migration of a dialect. */
export type ExtraMigrations = Readonly<Record<string, (dialect: Dialect) => Migration>>;

/**
 * A format's migration name: `<format type>_NNNN_<what>` (`npm_0001_init`), so that it never
 * sorts among the core's (`NNNN_<what>`) and its owner is in the name. Helm's shipped as
 * `0005_helm` before that rule and keeps its name.
 */
const FORMAT_MIGRATION = /^[a-z][a-z0-9]*_\d{4}_[a-z0-9_]+$/;
const LEGACY_FORMAT_MIGRATIONS = new Set(['0005_helm']);
/** A core migration's name. */
const CORE_MIGRATION = /^\d{4}_/;

/**
 * The migrations of a dialect, by name: the core's, then the formats' (`extra`). Names sort in
 * the order they apply; a format's migration touches only its own tables, so a format added to
 * a database that already ran later core migrations applies "out of order" (the Migrator is
 * told to allow that), and a name never changes once shipped.
 *
 * `executed` are the names the database ran. One of a format this process does not serve (a
 * build without it, an operator command, a test's store) counts as applied: its tables stay as
 * they are. One that looks like a core migration this build does not know means the database
 * was migrated by a newer build: refused, so an older replica never runs against a schema (and
 * a GC) it does not understand.
 */
export function migrationProvider(dialect: Dialect, extra: ExtraMigrations = {}, executed: readonly string[] = []): MigrationProvider {
  return {
    async getMigrations(): Promise<Record<string, Migration>> {
      const core: Record<string, Migration> = { '0001_init': init(dialect), '0002_identity': identityMigration(dialect), '0003_scale_out': scaleOutMigration(dialect), '0004_upstream': upstream(dialect), '0006_audit': auditMigration(), '0007_upload_integrity': integrityMigration(), '0008_gc_fencing': gcFencingMigration(), '0009_package_files': packageFilesMigration(dialect), '0010_registry_settings': registrySettingsMigration() };
      const all = { ...core };
      for (const [name, migration] of Object.entries(extra)) {
        if (name in all) throw new Error(`metadata migration ${name} is declared twice`);
        if (!FORMAT_MIGRATION.test(name) && !LEGACY_FORMAT_MIGRATIONS.has(name)) {
          throw new Error(`format migration ${name} must be named <format>_NNNN_<what> (e.g. npm_0001_init)`);
        }
        all[name] = migration(dialect);
      }
      for (const name of executed) {
        if (name in all) continue;
        if (CORE_MIGRATION.test(name) && !LEGACY_FORMAT_MIGRATIONS.has(name)) {
          throw new Error(`the database was migrated by a newer Pallet (it ran ${name}, which this build does not know): run that version or newer`);
        }
        all[name] = { async up() {} };
      }
      return all;
    },
  };
}

export interface MigrateOptions {
  log?: (msg: string) => void;
  /** The package formats' own migrations (`PackageFormat.migrations`). */
  extra?: ExtraMigrations;
}

/** Applies pending migrations under the database-wide lock described above. */
export async function migrateToLatest(
  db: Kysely<Database>,
  dialect: Dialect,
  options: MigrateOptions = {},
): Promise<void> {
  await db.connection().execute(async (conn) => {
    if (dialect === 'postgres') {
      await sql`select pg_advisory_lock(${PG_MIGRATION_LOCK})`.execute(conn);
      try {
        // Kysely's table-existence check looks at every schema unless told which one; with
        // a per-deployment `search_path` the migration tables must live in the current one.
        const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(conn);
        const schema = rows[0]?.schema;
        await runMigrator(conn, dialect, schema, options);
      } finally {
        await sql`select pg_advisory_unlock(${PG_MIGRATION_LOCK})`.execute(conn);
      }
      return;
    }
    await beginImmediate(conn);
    try {
      await runMigrator(conn, dialect, undefined, options);
      await sql`commit`.execute(conn);
    } catch (err) {
      await sql`rollback`.execute(conn);
      throw err;
    }
  });
}

async function runMigrator(
  db: Kysely<Database>,
  dialect: Dialect,
  schema: string | undefined,
  options: MigrateOptions,
): Promise<void> {
  const executed = await executedMigrations(db, dialect, schema);
  const migrator = new Migrator({
    db,
    provider: migrationProvider(dialect, options.extra, executed),
    allowUnorderedMigrations: true,
    ...(schema === undefined ? {} : { migrationTableSchema: schema }),
  });
  const { error, results } = await migrator.migrateToLatest();
  for (const result of results ?? []) {
    options.log?.(`metadata migration ${result.migrationName}: ${result.status}`);
  }
  if (error !== undefined) {
    throw error instanceof Error ? error : new Error(`metadata migration failed: ${String(error)}`);
  }
}

/** Names of the migrations the database ran (none before the first migration). */
async function executedMigrations(db: Kysely<Database>, dialect: Dialect, schema: string | undefined): Promise<string[]> {
  const table = schema === undefined ? sql.table('kysely_migration') : sql.table(`${schema}.kysely_migration`);
  const exists =
    dialect === 'sqlite'
      ? sql<{ n: number }>`select count(*) as n from sqlite_master where type = 'table' and name = 'kysely_migration'`
      : sql<{ n: number }>`select count(*) as n from information_schema.tables where table_schema = ${schema} and table_name = 'kysely_migration'`;
  const { rows: found } = await exists.execute(db);
  if (Number(found[0]?.n ?? 0) === 0) return [];
  const { rows } = await sql<{ name: string }>`select name from ${table}`.execute(db);
  return rows.map((r) => r.name);
}

/** Takes SQLite's write lock, polling so that another instance in this process can finish. */
async function beginImmediate(conn: Kysely<Database>): Promise<void> {
  const { rows } = await sql<{ timeout: number }>`pragma busy_timeout`.execute(conn);
  const busyTimeout = rows[0]?.timeout ?? 0;
  await sql`pragma busy_timeout = 0`.execute(conn);
  try {
    const deadline = Date.now() + SQLITE_LOCK_WAIT_MS;
    for (;;) {
      try {
        await sql`begin immediate`.execute(conn);
        return;
      } catch (err) {
        if (!isSqliteBusy(err) || Date.now() > deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  } finally {
    await sql`pragma busy_timeout = ${sql.lit(busyTimeout)}`.execute(conn);
  }
}

/** SQLITE_BUSY, also as the cause of the UNAVAILABLE that the fault-mapping dialect makes of it. */
function isSqliteBusy(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if ('code' in err && typeof err.code === 'string' && err.code.startsWith('SQLITE_BUSY')) return true;
  return err.cause !== undefined && err.cause !== err && isSqliteBusy(err.cause);
}
