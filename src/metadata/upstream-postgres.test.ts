/**
 * Runs the shared upstream store suite on the real PostgreSQL server (PALLET_TEST_DATABASE_URL,
 * default postgres://postgres@127.0.0.1:5432/test), in a schema of its own that is dropped
 * afterwards. PostgreSQL is always available where the tests run; if it is not, these fail.
 */
import { openDatabase } from './open.js';
import { SqlUpstreamStore } from './sql-upstream-store.js';
import { upstreamStoreSuite } from './upstream-store.suite.js';
import { dropTestSchema, testSchema, TEST_DATABASE_URL } from './test-databases.js';

const url = TEST_DATABASE_URL;
const schema = testSchema();

upstreamStoreSuite(
  'SqlUpstreamStore on PostgreSQL',
  async () => {
    const first = await openDatabase({ url, dataDir: '', schema });
    const second = await openDatabase({ url, dataDir: '', schema });
    return {
      upstream: new SqlUpstreamStore(first.db, first.dialect),
      metadata: first.metadata,
      replica: new SqlUpstreamStore(second.db, second.dialect),
      close: async () => {
        await first.metadata.close();
        await second.metadata.close();
      },
    };
  },
  () => dropTestSchema(schema),
);
