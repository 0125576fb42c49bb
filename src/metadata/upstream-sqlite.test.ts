/**
 * Runs the shared upstream store suite on SQLite: a fresh database in a temporary directory,
 * removed afterwards.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from './open.js';
import { SqlUpstreamStore } from './sql-upstream-store.js';
import { upstreamStoreSuite } from './upstream-store.suite.js';

const dir = await mkdtemp(join(tmpdir(), 'pallet-upstream-sqlite-'));

upstreamStoreSuite(
  'SqlUpstreamStore on SQLite',
  async () => {
    const first = await openDatabase({ url: '', dataDir: dir });
    const second = await openDatabase({ url: '', dataDir: dir });
    return {
      upstream: new SqlUpstreamStore(first.db, first.dialect),
      metadata: first.metadata,
      replica: new SqlUpstreamStore(second.db, second.dialect),
      close: async () => {
        await first.metadata.close();
        await second.metadata.close();
      },
    };
  },
  () => rm(dir, { recursive: true, force: true }),
);
