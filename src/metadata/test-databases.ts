/**
 * For the store tests: the real PostgreSQL server they run on (PALLET_TEST_DATABASE_URL,
 * default postgres://postgres@127.0.0.1:5432/test), fresh schema names on it, and dropping them.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { PG_MIGRATION_LOCK } from './migrations.js';

export const TEST_DATABASE_URL = process.env.PALLET_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A schema name of its own for one test file. */
export function testSchema(): string {
  return `pallet_test_${randomBytes(6).toString('hex')}`;
}

/** Drops a test schema and everything in it (nothing when it does not exist). */
export async function dropTestSchema(name: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 3_000 });
  await client.connect();
  try {
    await dropSchemaLocked(client, name);
  } finally {
    await client.end();
  }
}

/**
 * Drops `name` under the migrations' lock (see `PG_MIGRATION_LOCK`): a migration running in
 * another schema at that moment would otherwise fail its table check.
 */
export async function dropSchemaLocked(client: pg.Client, name: string): Promise<void> {
  await client.query('select pg_advisory_lock($1)', [PG_MIGRATION_LOCK]);
  try {
    await client.query(`drop schema if exists "${name}" cascade`);
  } finally {
    await client.query('select pg_advisory_unlock($1)', [PG_MIGRATION_LOCK]);
  }
}
