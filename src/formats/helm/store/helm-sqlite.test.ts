/**
 * Runs the shared Helm store suite on SQLite: a fresh database in a temporary directory,
 * removed afterwards.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../../metadata/open.js';
import { helmMigration } from './helm-migration.js';
import { SqlHelmStore } from './sql-helm-store.js';
import { helmStoreSuite } from './helm-store.suite.js';

const dir = await mkdtemp(join(tmpdir(), 'pallet-helm-sqlite-'));

helmStoreSuite(
  'SqlHelmStore on SQLite',
  async () => {
    const first = await openDatabase({ url: '', dataDir: dir, migrations: { '0005_helm': helmMigration } });
    return {
      helm: new SqlHelmStore(first.db, first.dialect),
      metadata: first.metadata,
      close: () => first.metadata.close(),
    };
  },
  () => rm(dir, { recursive: true, force: true }),
);
