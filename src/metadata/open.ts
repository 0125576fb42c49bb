/**
 * Opens the metadata store a deployment asks for and migrates it: an empty database url means
 * SQLite in `<dataDir>/pallet.db`; a `postgres://` or `postgresql://` url means PostgreSQL.
 * This is the one module that imports the database drivers.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import type pg from 'pg';
import { PalletError } from '../base/errors.js';
import { databaseFaultError, databaseFaultOf } from './sql-errors.js';
import { withFaultMapping, type FaultListener } from './fault-dialect.js';
import type { Database, Dialect } from './schema.js';
import { SqlMetadataStore, type SqlMetadataStoreOptions } from './sql-store.js';
import type { ExtraMigrations } from './migrations.js';
import type { MetadataStore } from './store.js';

export interface OpenMetadataStoreOptions {
  /** Database url; empty for the embedded SQLite file. */
  url: string;
  /** Where the SQLite file lives (created if missing). */
  dataDir: string;
  /** PostgreSQL schema to keep the tables in (created if missing); the server default otherwise. */
  schema?: string;
  log?: (msg: string) => void;
  /**
   * Told of every database fault (unreachable, restarting, locked, full) as it turns into an
   * UNAVAILABLE or INSUFFICIENT_STORAGE error, and of connection errors outside any request.
   */
  onFault?: FaultListener;
  /** The package formats' own migrations (`formatMigrations(FORMATS)`), applied with the core's. */
  migrations?: ExtraMigrations;
}

/** How long a SQLite statement waits for another connection's write lock. */
const SQLITE_BUSY_TIMEOUT_MS = 5_000;
/**
 * How long a request waits for a new PostgreSQL connection before it fails with UNAVAILABLE
 * (pg waits forever by default, so a blackholed database would hang every request).
 */
const PG_CONNECT_TIMEOUT_MS = 5_000;
/** Schema names are interpolated into DDL and the connection options, so keep them plain. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

const PG_INT8 = 20;
const PG_NUMERIC = 1700;

/**
 * An open, migrated database: the Kysely instance that every role-sized SQL store of the
 * process (metadata, and those later issues add beside it) is built over, and the metadata
 * store, which owns the connection (its `close()` closes the database).
 */
export interface OpenedDatabase {
  db: Kysely<Database>;
  dialect: Dialect;
  metadata: SqlMetadataStore;
}

/** Resolves once the database is open and its migrations are applied. */
export async function openDatabase(options: OpenMetadataStoreOptions): Promise<OpenedDatabase> {
  const opened = options.url === '' ? await openSqlite(options) : await openPostgres(options);
  try {
    await opened.metadata.migrate();
  } catch (err) {
    await opened.metadata.close();
    throw err;
  }
  return opened;
}

/** Resolves once the store is open and its migrations are applied. */
export async function openMetadataStore(options: OpenMetadataStoreOptions): Promise<MetadataStore> {
  return (await openDatabase(options)).metadata;
}

async function openSqlite(options: OpenMetadataStoreOptions): Promise<OpenedDatabase> {
  await mkdir(options.dataDir, { recursive: true });
  const database = new Sqlite(join(options.dataDir, 'pallet.db'));
  database.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
  // Switching a fresh file to WAL needs an exclusive lock, and SQLite answers SQLITE_BUSY at
  // once (no busy wait) while another process is creating or migrating the same file: retry.
  await untilNotBusy(() => database.pragma('journal_mode = WAL'), SQLITE_BUSY_TIMEOUT_MS);
  // WAL keeps the database consistent after a crash at NORMAL; only the last commits may be lost
  // on power failure, which FULL would protect at the cost of an fsync per commit.
  database.pragma('synchronous = NORMAL');
  database.pragma('foreign_keys = ON');
  const db = new Kysely<Database>({ dialect: withFaultMapping(new SqliteDialect({ database }), options.onFault) });
  return { db, dialect: 'sqlite', metadata: new SqlMetadataStore(db, 'sqlite', storeOptions(options)) };
}

/** Runs `work` until it stops failing with SQLITE_BUSY, polling without blocking, for up to `timeoutMs`. */
async function untilNotBusy<T>(work: () => T, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return work();
    } catch (err) {
      const busy = err instanceof Error && 'code' in err && typeof err.code === 'string' && err.code.startsWith('SQLITE_BUSY');
      if (!busy || Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

async function openPostgres(options: OpenMetadataStoreOptions): Promise<OpenedDatabase> {
  const { url, schema } = options;
  if (!/^postgres(ql)?:\/\//.test(url)) {
    throw new PalletError('INVALID_ARGUMENT', 'the database url must be empty (SQLite) or start with postgres://', {
      url: redact(url),
    });
  }
  if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
    throw new PalletError('INVALID_ARGUMENT', `schema name ${schema} must match ${SCHEMA_NAME.source}`, { schema });
  }
  // Loaded only for PostgreSQL deployments: the embedded default never pays for the driver.
  const { default: pgModule } = await import('pg');
  const numericTypeParser = (oid: number, format?: 'text' | 'binary'): unknown => {
    if ((oid === PG_INT8 || oid === PG_NUMERIC) && format !== 'binary') return parseNumber;
    return format === undefined ? pgModule.types.getTypeParser(oid) : pgModule.types.getTypeParser(oid, format);
  };
  const pool = new pgModule.Pool({
    connectionString: url,
    ...(schema === undefined ? {} : { options: `-c search_path=${schema}` }),
    // BIGINT (times, sizes, counts) and NUMERIC (sums) as numbers for this pool only; other
    // users of `pg` in the process keep the library's defaults.
    types: { getTypeParser: numericTypeParser },
    connectionTimeoutMillis: PG_CONNECT_TIMEOUT_MS,
  });
  // A connection that fails outside a query (the server restarts, crashes or drops it) emits
  // 'error' on its client, idle or checked out; pg-pool listens only while a client is idle, and an
  // unheard 'error' event ends the process. Every client gets a listener for its whole life; the
  // pool discards a client that failed (idle at once, checked out when it is released).
  const connectionFailed = (err: Error): void => {
    options.log?.(`metadata: a PostgreSQL connection failed: ${err.message}`);
    options.onFault?.(databaseFaultOf(err) ?? 'unavailable', err);
  };
  pool.on('error', connectionFailed);
  pool.on('connect', (client) => client.on('error', connectionFailed));
  if (schema !== undefined) {
    try {
      await createSchema(pool, schema);
    } catch (err) {
      await pool.end();
      const fault = databaseFaultOf(err);
      throw fault === undefined ? err : databaseFaultError(fault, err as Error);
    }
  }
  const db = new Kysely<Database>({ dialect: withFaultMapping(new PostgresDialect({ pool }), options.onFault) });
  return { db, dialect: 'postgres', metadata: new SqlMetadataStore(db, 'postgres', storeOptions(options)) };
}

function parseNumber(value: string): number {
  return Number(value);
}

async function createSchema(pool: pg.Pool, schema: string): Promise<void> {
  try {
    await pool.query(`create schema if not exists "${schema}"`);
  } catch (err) {
    // Two processes creating the same schema at once can both pass IF NOT EXISTS; the loser
    // gets a unique violation on the catalog, which is success for us.
    const { rows } = await pool.query<{ n: number }>(
      'select count(*) as n from pg_catalog.pg_namespace where nspname = $1',
      [schema],
    );
    if (rows[0]?.n !== 1) throw err;
  }
}

function storeOptions(options: OpenMetadataStoreOptions): SqlMetadataStoreOptions {
  return { ...(options.log === undefined ? {} : { log: options.log }), ...(options.migrations ? { migrations: options.migrations } : {}) };
}

function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
