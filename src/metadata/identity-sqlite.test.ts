/**
 * Runs the shared identity store suite on SQLite: a fresh database in a temporary directory,
 * removed afterwards.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { identityStoreSuite } from './identity-store.suite.js';
import { openDatabase } from './open.js';
import { SqlIdentityStore } from './sql-identity-store.js';

const dir = await mkdtemp(join(tmpdir(), 'pallet-identity-sqlite-'));

identityStoreSuite(
  'SqlIdentityStore on SQLite',
  async () => {
    const { db, dialect, metadata } = await openDatabase({ url: '', dataDir: dir });
    return { identity: new SqlIdentityStore(db, dialect), metadata, close: () => metadata.close() };
  },
  () => rm(dir, { recursive: true, force: true }),
);
