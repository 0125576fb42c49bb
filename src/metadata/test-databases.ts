/**
 * For the store tests: the real PostgreSQL server they run on (PALLET_TEST_DATABASE_URL,
 * default postgres://postgres@127.0.0.1:5432/test), fresh schema names on it, and dropping them.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const TEST_DATABASE_URL = process.env.PALLET_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A schema name of its own for one test file. */
export function testSchema(): string {
  return `pallet_test_${randomBytes(6).toString('hex')}`;
}

/** Drops a test schema and everything in it (nothing when it does not exist). */
export async function dropTestSchema(name: string): Promise<void> {
  const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1 });
  try {
    await pool.query(`drop schema if exists "${name}" cascade`);
  } finally {
    await pool.end();
  }
}
