/**
 * Runs the shared npm store suite on SQLite: a fresh database in a temporary directory,
 * removed afterwards.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../../metadata/open.js';
import { npmMigration } from './npm-migration.js';
import { SqlNpmStore } from './sql-npm-store.js';
import { npmStoreSuite } from './npm-store.suite.js';

const dir = await mkdtemp(join(tmpdir(), 'pallet-npm-sqlite-'));

npmStoreSuite(
  'SqlNpmStore on SQLite',
  async () => {
    const first = await openDatabase({ url: '', dataDir: dir, migrations: { npm_0001_packages: npmMigration } });
    return {
      npm: new SqlNpmStore(first.db, first.dialect),
      metadata: first.metadata,
      close: () => first.metadata.close(),
    };
  },
  () => rm(dir, { recursive: true, force: true }),
);
