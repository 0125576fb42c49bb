/**
 * Runs the shared Helm store suite on the real PostgreSQL server (PALLET_TEST_DATABASE_URL,
 * default postgres://postgres@127.0.0.1:5432/test), in a schema of its own that is dropped
 * afterwards. PostgreSQL is always available where the tests run; if it is not, these fail.
 */
import { openDatabase } from '../../../metadata/open.js';
import { helmMigration } from './helm-migration.js';
import { SqlHelmStore } from './sql-helm-store.js';
import { helmStoreSuite } from './helm-store.suite.js';
import { dropTestSchema, testSchema, TEST_DATABASE_URL } from '../../../metadata/test-databases.js';

const url = TEST_DATABASE_URL;
const schema = testSchema();

helmStoreSuite(
  'SqlHelmStore on PostgreSQL',
  async () => {
    const first = await openDatabase({ url, dataDir: '', schema, migrations: { '0005_helm': helmMigration } });
    return {
      helm: new SqlHelmStore(first.db, first.dialect),
      metadata: first.metadata,
      close: () => first.metadata.close(),
    };
  },
  () => dropTestSchema(schema),
);
