/**
 * Runs the shared metadata store suite on SQLite: a fresh database file in a temporary
 * directory, removed afterwards. Plus what only the SQLite opening promises (file location,
 * WAL mode, foreign keys).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Sqlite from 'better-sqlite3';
import { openMetadataStore } from './open.js';
import { metadataStoreSuite, openFromProcessesAtOnce } from './store.suite.js';

const dir = await mkdtemp(join(tmpdir(), 'pallet-sqlite-'));

metadataStoreSuite(
  'SqlMetadataStore on SQLite',
  () => openMetadataStore({ url: '', dataDir: join(dir, 'suite') }),
  () => rm(join(dir, 'suite'), { recursive: true, force: true }),
);

describe('openMetadataStore with an empty url', () => {
  after(() => rm(dir, { recursive: true, force: true }));

  it('creates the data dir and a migrated pallet.db in WAL mode there', async () => {
    const dataDir = join(dir, 'nested', 'data');
    const store = await openMetadataStore({ url: '', dataDir });
    try {
      await store.createSpace({ path: 'acme', parentId: null, description: '' });
    } finally {
      await store.close();
    }
    assert.ok((await stat(join(dataDir, 'pallet.db'))).isFile());
    const db = new Sqlite(join(dataDir, 'pallet.db'), { readonly: true });
    try {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      const names = db
        .prepare<[], { name: string }>("select name from sqlite_master where type = 'table' order by name")
        .all()
        .map((r) => r.name);
      for (const table of ['spaces', 'registries', 'manifests', 'tags', 'blobs', 'uploads']) {
        assert.ok(names.includes(table), `missing table ${table}`);
      }
    } finally {
      db.close();
    }
  });

  it('migrates one fresh database file from several processes at once', async () => {
    const dataDir = join(dir, 'race');
    await openFromProcessesAtOnce({ url: '', dataDir });
    const store = await openMetadataStore({ url: '', dataDir });
    await store.close();
  });

  it('rejects a url that is neither empty nor PostgreSQL', async () => {
    await assert.rejects(openMetadataStore({ url: 'mysql://x', dataDir: join(dir, 'never') }), /postgres/);
  });
});
