/**
 * Runs the shared identity store suite on the real PostgreSQL server (PALLET_TEST_DATABASE_URL,
 * default postgres://postgres@127.0.0.1:5432/test), in a schema of its own that is dropped
 * afterwards. PostgreSQL is always available where the tests run; if it is not, these fail.
 */
import { identityStoreSuite } from './identity-store.suite.js';
import { openDatabase } from './open.js';
import { SqlIdentityStore } from './sql-identity-store.js';
import { dropTestSchema, testSchema, TEST_DATABASE_URL } from './test-databases.js';

const url = TEST_DATABASE_URL;
const schema = testSchema();

identityStoreSuite(
  'SqlIdentityStore on PostgreSQL',
  async () => {
    const { db, dialect, metadata } = await openDatabase({ url, dataDir: '', schema });
    return { identity: new SqlIdentityStore(db, dialect), metadata, close: () => metadata.close() };
  },
  () => dropTestSchema(schema),
);
