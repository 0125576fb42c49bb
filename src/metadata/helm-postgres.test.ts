/**
 * Runs the shared Helm store suite on the real PostgreSQL server (PALLET_TEST_DATABASE_URL,
 * default postgres://postgres@127.0.0.1:5432/test), in a schema of its own that is dropped
 * afterwards. PostgreSQL is always available where the tests run; if it is not, these fail.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openDatabase } from './open.js';
import { SqlHelmStore } from './sql-helm-store.js';
import { helmStoreSuite } from './helm-store.suite.js';

const url = process.env.PALLET_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `pallet_test_${randomBytes(6).toString('hex')}`;

helmStoreSuite(
  'SqlHelmStore on PostgreSQL',
  async () => {
    const first = await openDatabase({ url, dataDir: '', schema });
    return {
      helm: new SqlHelmStore(first.db, first.dialect),
      metadata: first.metadata,
      close: () => first.metadata.close(),
    };
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
