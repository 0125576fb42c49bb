/**
 * Failures of the database itself, on both drivers: they reach callers as domain errors
 * (UNAVAILABLE with a retry hint, INSUFFICIENT_STORAGE), never as raw driver errors, and a
 * connection dropped under a checked-out client does not end the process.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Sqlite from 'better-sqlite3';
import { sql } from 'kysely';
import pg from 'pg';
import { isPalletError } from '../base/errors.js';
import { openDatabase } from './open.js';
import { databaseFaultOf, type DatabaseFault } from './sql-errors.js';
import { dropTestSchema, TEST_DATABASE_URL, testSchema } from './test-databases.js';

const dir = await mkdtemp(join(tmpdir(), 'pallet-faults-'));
after(() => rm(dir, { recursive: true, force: true }));

async function rejection(work: Promise<unknown>): Promise<unknown> {
  try {
    await work;
  } catch (err) {
    return err;
  }
  assert.fail('expected a rejection');
}

describe('database faults on SQLite', () => {
  it('a database that cannot grow answers INSUFFICIENT_STORAGE, and deletes still work', async () => {
    const faults: DatabaseFault[] = [];
    const { db, metadata } = await openDatabase({ url: '', dataDir: join(dir, 'full'), onFault: (fault) => faults.push(fault) });
    try {
      const keep = await metadata.createSpace({ path: 'keep', parentId: null, description: '' });
      const { rows } = await sql<{ page_count: number }>`pragma page_count`.execute(db);
      // The same limit a full disk sets: no page beyond the current ones.
      await sql.raw(`pragma max_page_count = ${rows[0]!.page_count}`).execute(db);
      let err: unknown;
      for (let i = 0; i < 1000 && err === undefined; i++) {
        err = await metadata.createSpace({ path: `s${i}`, parentId: null, description: 'x'.repeat(2000) }).then(
          () => undefined,
          (e: unknown) => e,
        );
      }
      assert.ok(isPalletError(err, 'INSUFFICIENT_STORAGE'), `got ${String(err)}`);
      assert.match(err.message, /no space left/);
      assert.deepEqual(faults, ['full']);
      await metadata.deleteSpace(keep.id);
      assert.equal(await metadata.findSpace('keep'), undefined, 'the delete went through');
    } finally {
      await metadata.close();
    }
  });

  it('a write lock held past busy_timeout answers UNAVAILABLE with a retry hint', async () => {
    const { metadata } = await openDatabase({ url: '', dataDir: join(dir, 'busy') });
    const other = new Sqlite(join(dir, 'busy', 'pallet.db'));
    try {
      other.exec('begin exclusive');
      const err = await rejection(metadata.createSpace({ path: 'acme', parentId: null, description: '' }));
      assert.ok(isPalletError(err, 'UNAVAILABLE'), `got ${String(err)}`);
      assert.equal(err.detail?.retryAfterSeconds, 5);
      other.exec('rollback');
      await metadata.createSpace({ path: 'acme', parentId: null, description: '' });
    } finally {
      other.close();
      await metadata.close();
    }
  });
});

describe('database faults on PostgreSQL', () => {
  const schema = testSchema();
  after(() => dropTestSchema(schema));

  it('a server that refuses connections answers UNAVAILABLE', async () => {
    for (const schemaOption of [{}, { schema: 'pallet_unreachable' }]) {
      const err = await rejection(openDatabase({ url: 'postgres://postgres@127.0.0.1:1/none', dataDir: dir, ...schemaOption }));
      assert.ok(isPalletError(err, 'UNAVAILABLE'), `got ${String(err)}`);
      assert.match(err.message, /database is unavailable/);
      assert.doesNotMatch(err.message, /127\.0\.0\.1/, 'the message does not name the database host');
    }
  });

  it('survives its connection being terminated while a client is checked out, then reconnects', async () => {
    const faults: Error[] = [];
    const { db, metadata } = await openDatabase({ url: TEST_DATABASE_URL, dataDir: dir, schema, onFault: (_f, err) => faults.push(err) });
    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    try {
      await db.connection().execute(async (conn) => {
        const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(conn);
        await admin.query('select pg_terminate_backend($1)', [rows[0]!.pid]);
        // The server's goodbye arrives as an 'error' event on the checked-out client; unheard,
        // it would end the process here.
        for (let i = 0; i < 100 && faults.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
        const err = await rejection(sql`select 1`.execute(conn));
        assert.ok(isPalletError(err, 'UNAVAILABLE'), `a query on the dead connection: ${String(err)}`);
      });
      assert.ok(faults.length >= 1, 'the dropped connection was reported');
      assert.equal(databaseFaultOf(faults[0]), 'unavailable');
      await metadata.ping();
      await metadata.createSpace({ path: 'after', parentId: null, description: '' });
    } finally {
      await admin.end();
      await metadata.close();
    }
  });
});

describe('databaseFaultOf', () => {
  const withCode = (code: string, message = 'x'): Error => Object.assign(new Error(message), { code });
  it('tells outages and full disks from statement errors', () => {
    assert.equal(databaseFaultOf(withCode('57P01')), 'unavailable');
    assert.equal(databaseFaultOf(withCode('57P03')), 'unavailable');
    assert.equal(databaseFaultOf(withCode('08006')), 'unavailable');
    assert.equal(databaseFaultOf(withCode('ECONNREFUSED')), 'unavailable');
    assert.equal(databaseFaultOf(withCode('SQLITE_BUSY_SNAPSHOT')), 'unavailable');
    assert.equal(databaseFaultOf(withCode('SQLITE_IOERR_WRITE')), 'unavailable');
    assert.equal(databaseFaultOf(new Error('Connection terminated unexpectedly')), 'unavailable');
    assert.equal(databaseFaultOf(withCode('SQLITE_FULL')), 'full');
    assert.equal(databaseFaultOf(withCode('53100')), 'full');
    assert.equal(databaseFaultOf(withCode('23505')), undefined);
    assert.equal(databaseFaultOf(withCode('42P01')), undefined);
    assert.equal(databaseFaultOf(withCode('SQLITE_CONSTRAINT_UNIQUE')), undefined);
  });
});
