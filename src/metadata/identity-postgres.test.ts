/**
 * Runs the shared identity store suite on the real PostgreSQL server (PALLET_TEST_DATABASE_URL,
 * default postgres://postgres@127.0.0.1:5432/test), in a schema of its own that is dropped
 * afterwards. PostgreSQL is always available where the tests run; if it is not, these fail.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { identityStoreSuite } from './identity-store.suite.js';
import { openDatabase } from './open.js';
import { SqlIdentityStore } from './sql-identity-store.js';

const url = process.env.PALLET_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `pallet_test_${randomBytes(6).toString('hex')}`;

identityStoreSuite(
  'SqlIdentityStore on PostgreSQL',
  async () => {
    const { db, dialect, metadata } = await openDatabase({ url, dataDir: '', schema });
    return { identity: new SqlIdentityStore(db, dialect), metadata, close: () => metadata.close() };
  },
  async () => {
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    try {
      await pool.query(`drop schema if exists "${schema}" cascade`);
    } finally {
      await pool.end();
    }
  },
);
