/**
 * Runs the shared GC/quota/cleanup store suite on the real PostgreSQL server
 * (PALLET_TEST_DATABASE_URL), in a schema of its own that is dropped afterwards; the second
 * connection pool stands for another replica.
 */
import { gcStoreSuite } from './gc-store.suite.js';
import { openDatabase } from './open.js';
import { SqlCleanupStore } from './sql-cleanup-store.js';
import { SqlGcStore } from './sql-gc-store.js';
import { SqlQuotaStore } from './sql-quota-store.js';
import { dropTestSchema, testSchema, TEST_DATABASE_URL } from './test-databases.js';

const url = TEST_DATABASE_URL;
const schema = testSchema();

gcStoreSuite(
  'GC, quota and cleanup stores on PostgreSQL',
  async () => {
    const first = await openDatabase({ url, dataDir: '', schema });
    const second = await openDatabase({ url, dataDir: '', schema });
    return {
      metadata: first.metadata,
      gc: new SqlGcStore(first.db, first.dialect),
      quotas: new SqlQuotaStore(first.db, first.dialect),
      cleanup: new SqlCleanupStore(first.db, first.dialect),
      replica: new SqlGcStore(second.db, second.dialect),
      close: async () => {
        await first.metadata.close();
        await second.metadata.close();
      },
    };
  },
  () => dropTestSchema(schema),
);
