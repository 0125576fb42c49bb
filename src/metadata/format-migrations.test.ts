/**
 * Format migrations beside the core's (`openDatabase({ migrations })`), on both dialects: a
 * format's tables come and stay with its migration, a process serving fewer formats still opens
 * the database, and a format added later applies its migration after newer core ones.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { sql, type Migration } from 'kysely';
import { openDatabase, type OpenMetadataStoreOptions } from './open.js';
import { dropTestSchema, testSchema, TEST_DATABASE_URL } from './test-databases.js';

function table(name: string): () => Migration {
  return () => ({
    async up(db) {
      await db.schema.createTable(name).addColumn('id', 'text', (c) => c.primaryKey()).execute();
    },
  });
}

async function rows(options: OpenMetadataStoreOptions, name: string): Promise<string[]> {
  const opened = await openDatabase(options);
  try {
    const { rows: found } = await sql<{ id: string }>`select id from ${sql.table(name)}`.execute(opened.db);
    return found.map((r) => r.id);
  } finally {
    await opened.metadata.close();
  }
}

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`format migrations (${dialect})`, () => {
    const schema = testSchema();
    let dir = '';
    const base = async (): Promise<OpenMetadataStoreOptions> => {
      dir ||= await mkdtemp(join(tmpdir(), 'pallet-format-migrations-'));
      return dialect === 'sqlite' ? { url: '', dataDir: dir } : { url: TEST_DATABASE_URL, dataDir: '', schema };
    };
    after(async () => {
      if (dir) await rm(dir, { recursive: true, force: true });
      if (dialect === 'postgres') await dropTestSchema(schema);
    });

    it("creates a format's table, keeps it for a process without the format, and adds a later format's table", async () => {
      const options = await base();
      const first = await openDatabase({ ...options, migrations: { 'demoa_0001_files': table('demo_a') } });
      await sql`insert into demo_a (id) values ('kept')`.execute(first.db);
      await first.metadata.close();

      // A process that serves no formats (an operator command, another build) opens it as it is.
      const bare = await openDatabase(options);
      await bare.metadata.close();
      assert.deepEqual(await rows({ ...options, migrations: { 'demoa_0001_files': table('demo_a') } }, 'demo_a'), ['kept']);

      // A format added later applies, once.
      const later = { 'demoa_0001_files': table('demo_a'), 'demob_0001_files': table('demo_b') };
      assert.deepEqual(await rows({ ...options, migrations: later }, 'demo_b'), []);
      assert.deepEqual(await rows({ ...options, migrations: later }, 'demo_b'), []);
    });

    it('refuses a format migration named like a core one, or not after its format', async () => {
      const options = await base();
      await assert.rejects(openDatabase({ ...options, migrations: { '0001_init': table('never') } }), /declared twice/);
      await assert.rejects(openDatabase({ ...options, migrations: { '0010_npm': table('never') } }), /must be named <format>_NNNN_<what>/);
    });

    it('refuses a database a newer build migrated (a core migration this build does not know)', async () => {
      const options = await base();
      const opened = await openDatabase(options);
      const table = dialect === 'postgres' ? sql.table(`${schema}.kysely_migration`) : sql.table('kysely_migration');
      await sql`insert into ${table} (name, timestamp) values ('0099_future', '2030-01-01T00:00:00.000Z')`.execute(opened.db);
      await opened.metadata.close();
      await assert.rejects(openDatabase(options), /migrated by a newer Pallet \(it ran 0099_future/);
    });
  });
}
