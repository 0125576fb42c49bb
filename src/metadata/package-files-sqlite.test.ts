/**
 * Runs the shared package-file store suite on SQLite: a fresh database in a temporary directory,
 * removed afterwards. The "replica" shares the one connection (see `OpenedPackageFiles`): SQLite
 * serializes writers anyway, so the race test checks the outcome, not the interleaving.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from './open.js';
import { packageFileStoreSuite } from './package-file-store.suite.js';
import { SqlGcStore } from './sql-gc-store.js';
import { SqlPackageFileStore } from './sql-package-file-store.js';
import { SqlScrubStore } from './sql-scrub-store.js';

const dir = await mkdtemp(join(tmpdir(), 'pallet-package-files-sqlite-'));

packageFileStoreSuite(
  'SqlPackageFileStore on SQLite',
  async () => {
    const first = await openDatabase({ url: '', dataDir: dir });
    return {
      files: new SqlPackageFileStore(first.db, first.dialect),
      metadata: first.metadata,
      gc: new SqlGcStore(first.db, first.dialect),
      scrub: new SqlScrubStore(first.db, first.dialect),
      replica: { files: new SqlPackageFileStore(first.db, first.dialect), gc: new SqlGcStore(first.db, first.dialect) },
      close: () => first.metadata.close(),
    };
  },
  () => rm(dir, { recursive: true, force: true }),
);
