/**
 * Runs the shared package-file store suite on the real PostgreSQL server
 * (PALLET_TEST_DATABASE_URL), in a schema of its own that is dropped afterwards; the second
 * connection pool stands for another replica.
 */
import { openDatabase } from './open.js';
import { packageFileStoreSuite } from './package-file-store.suite.js';
import { SqlGcStore } from './sql-gc-store.js';
import { SqlPackageFileStore } from './sql-package-file-store.js';
import { SqlScrubStore } from './sql-scrub-store.js';
import { dropTestSchema, testSchema, TEST_DATABASE_URL } from './test-databases.js';

const url = TEST_DATABASE_URL;
const schema = testSchema();

packageFileStoreSuite(
  'SqlPackageFileStore on PostgreSQL',
  async () => {
    const first = await openDatabase({ url, dataDir: '', schema });
    const second = await openDatabase({ url, dataDir: '', schema });
    return {
      files: new SqlPackageFileStore(first.db, first.dialect),
      metadata: first.metadata,
      gc: new SqlGcStore(first.db, first.dialect),
      scrub: new SqlScrubStore(first.db, first.dialect),
      replica: { files: new SqlPackageFileStore(second.db, second.dialect), gc: new SqlGcStore(second.db, second.dialect) },
      close: async () => {
        await first.metadata.close();
        await second.metadata.close();
      },
    };
  },
  () => dropTestSchema(schema),
);
