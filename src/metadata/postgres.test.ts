/**
 * Runs the shared metadata store suite on the real PostgreSQL server (PALLET_TEST_DATABASE_URL,
 * default postgres://postgres@127.0.0.1:5432/test), in a schema of its own that is dropped
 * afterwards. PostgreSQL is always available where the tests run; if it is not, these fail.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { openMetadataStore } from './open.js';
import { metadataStoreSuite, openFromProcessesAtOnce } from './store.suite.js';
import { dropTestSchema, testSchema, TEST_DATABASE_URL } from './test-databases.js';

const url = TEST_DATABASE_URL;
const schema = testSchema();
const otherSchema = testSchema();
const raceSchema = testSchema();

metadataStoreSuite(
  'SqlMetadataStore on PostgreSQL',
  () => openMetadataStore({ url, dataDir: '', schema }),
  () => dropTestSchema(schema),
);

describe('openMetadataStore with a PostgreSQL url', () => {
  after(async () => {
    await dropTestSchema(otherSchema);
    await dropTestSchema(raceSchema);
  });

  it('creates and migrates one fresh schema from several processes at once', async () => {
    await openFromProcessesAtOnce({ url, dataDir: '', schema: raceSchema });
  });

  it('keeps its tables in the configured schema', async () => {
    const store = await openMetadataStore({ url, dataDir: '', schema: otherSchema });
    await store.close();
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    try {
      const { rows } = await pool.query<{ table_name: string }>(
        'select table_name from information_schema.tables where table_schema = $1',
        [otherSchema],
      );
      const names = rows.map((r) => r.table_name);
      for (const table of ['spaces', 'registries', 'manifests', 'tags', 'blobs', 'uploads', 'kysely_migration']) {
        assert.ok(names.includes(table), `missing table ${table}`);
      }
    } finally {
      await pool.end();
    }
  });

  it("leaves pg's global BIGINT parser alone", async () => {
    const store = await openMetadataStore({ url, dataDir: '', schema: otherSchema });
    await store.close();
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    try {
      const { rows } = await pool.query<{ n: unknown }>('select 5000000000::bigint as n');
      assert.equal(rows[0]?.n, '5000000000');
    } finally {
      await pool.end();
    }
  });

  it('rejects a schema name that is not a plain identifier', async () => {
    await assert.rejects(openMetadataStore({ url, dataDir: '', schema: 'bad"; drop' }), /schema name/);
  });
});
