/**
 * Runs the shared npm store suite on the real PostgreSQL server (PALLET_TEST_DATABASE_URL,
 * default postgres://postgres@127.0.0.1:5432/test), in a schema of its own that is dropped
 * afterwards. PostgreSQL is always available where the tests run; if it is not, these fail.
 */
import { openDatabase } from '../../../metadata/open.js';
import { npmMigration } from './npm-migration.js';
import { SqlNpmStore } from './sql-npm-store.js';
import { npmStoreSuite } from './npm-store.suite.js';
import { dropTestSchema, testSchema, TEST_DATABASE_URL } from '../../../metadata/test-databases.js';

const url = TEST_DATABASE_URL;
const schema = testSchema();

npmStoreSuite(
  'SqlNpmStore on PostgreSQL',
  async () => {
    const first = await openDatabase({ url, dataDir: '', schema, migrations: { npm_0001_packages: npmMigration } });
    return {
      npm: new SqlNpmStore(first.db, first.dialect),
      metadata: first.metadata,
      close: () => first.metadata.close(),
    };
  },
  () => dropTestSchema(schema),
);
