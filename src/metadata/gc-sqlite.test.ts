/**
 * Runs the shared GC/quota/cleanup store suite on SQLite: a fresh database in a temporary
 * directory (two connections to it: two replicas on one machine), removed afterwards.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gcStoreSuite } from './gc-store.suite.js';
import { openDatabase } from './open.js';
import { SqlCleanupStore } from './sql-cleanup-store.js';
import { SqlGcStore } from './sql-gc-store.js';
import { SqlQuotaStore } from './sql-quota-store.js';

const dir = await mkdtemp(join(tmpdir(), 'pallet-gc-sqlite-'));

gcStoreSuite(
  'GC, quota and cleanup stores on SQLite',
  async () => {
    const first = await openDatabase({ url: '', dataDir: dir });
    const second = await openDatabase({ url: '', dataDir: dir });
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
  () => rm(dir, { recursive: true, force: true }),
);
