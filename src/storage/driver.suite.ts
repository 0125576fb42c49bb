/**
 * The shared storage-driver suite: every `StorageDriver` runs it (see `*.test.ts` beside each
 * driver), and a driver is not done until it passes. Each test gets a fresh driver from `make`.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { isPalletError, type ErrorCode } from '../base/errors.js';
import type { StorageDriver } from './driver.js';

export interface DriverFixture {
  driver: StorageDriver;
  cleanup: () => Promise<void>;
}

const MiB = 1024 * 1024;

export function storageDriverSuite(name: string, make: () => Promise<DriverFixture>): void {
  describe(`storage driver: ${name}`, () => {
    let fixture: DriverFixture | undefined;
    let driver: StorageDriver;

    beforeEach(async () => {
      fixture = await make();
      driver = fixture.driver;
    });
    afterEach(async () => {
      await fixture?.driver.close();
      await fixture?.cleanup();
      fixture = undefined;
    });

    async function content(key: string): Promise<string> {
      return (await readAll(await driver.read(key))).toString();
    }

    async function keys(prefix: string): Promise<string[]> {
      const out: string[] = [];
      for await (const key of driver.list(prefix)) out.push(key);
      return out.sort();
    }

    describe('write and read', () => {
      it('round-trips a Buffer and resolves to its size', async () => {
        assert.equal(await driver.write('a/one', Buffer.from('hello')), 5);
        assert.equal(await content('a/one'), 'hello');
      });

      it('round-trips an empty object', async () => {
        assert.equal(await driver.write('a/empty', Buffer.alloc(0)), 0);
        assert.equal((await driver.stat('a/empty'))?.size, 0);
        assert.equal((await readAll(await driver.read('a/empty'))).length, 0);
      });

      it('round-trips a multi-MiB stream written in chunks', async () => {
        const bytes = randomBytes(5 * MiB + 3);
        assert.equal(await driver.write('blobs/big', chunked(bytes, 64 * 1024)), bytes.length);
        const back = await readAll(await driver.read('blobs/big'));
        assert.equal(back.length, bytes.length);
        assert.ok(back.equals(bytes), 'bytes read back differ from bytes written');
      });

      it('stat reports the size and modification time, and undefined when missing', async () => {
        await driver.write('a/s', Buffer.from('12345678'));
        const info = await driver.stat('a/s');
        assert.ok(info);
        assert.equal(info.size, 8);
        assert.ok(info.modifiedAt instanceof Date);
        assert.equal(await driver.stat('a/missing'), undefined);
        assert.equal(await driver.stat('nothing/here/at/all'), undefined);
      });

      it('read of a missing key rejects with NOT_FOUND', async () => {
        await rejectsWith(driver.read('a/missing'), 'NOT_FOUND');
        await rejectsWith(driver.read('a/missing', { range: { start: 0, end: 0 } }), 'NOT_FOUND');
      });

      it('read of a prefix that only holds other objects rejects with NOT_FOUND', async () => {
        await driver.write('dir/child', Buffer.from('x'));
        await rejectsWith(driver.read('dir'), 'NOT_FOUND');
        assert.equal(await driver.stat('dir'), undefined);
      });

      it('write replaces an existing object', async () => {
        await driver.write('a/k', Buffer.from('old contents'));
        await driver.write('a/k', chunked(Buffer.from('new'), 1));
        assert.equal(await content('a/k'), 'new');
        assert.equal((await driver.stat('a/k'))?.size, 3);
      });

      it('accepts string chunks from a source stream', async () => {
        assert.equal(await driver.write('a/str', Readable.from(['ab', 'cd'], { objectMode: false })), 4);
        assert.equal(await content('a/str'), 'abcd');
      });
    });

    describe('range reads', () => {
      beforeEach(async () => {
        await driver.write('r/digits', Buffer.from('0123456789'));
      });

      it('reads the first byte', async () => {
        assert.equal(await rangeOf('r/digits', 0, 0), '0');
      });
      it('reads the last byte', async () => {
        assert.equal(await rangeOf('r/digits', 9, 9), '9');
      });
      it('reads a middle slice, end inclusive', async () => {
        assert.equal(await rangeOf('r/digits', 3, 6), '3456');
      });
      it('reads the whole object', async () => {
        assert.equal(await rangeOf('r/digits', 0, 9), '0123456789');
      });
      it('treats an end past the last byte as the end of the object', async () => {
        assert.equal(await rangeOf('r/digits', 5, 1000), '56789');
      });
      it('rejects a range starting at or past the size, or ending before it starts', async () => {
        await rejectsWith(driver.read('r/digits', { range: { start: 10, end: 12 } }), 'INVALID_ARGUMENT');
        await rejectsWith(driver.read('r/digits', { range: { start: 4, end: 3 } }), 'INVALID_ARGUMENT');
        await rejectsWith(driver.read('r/digits', { range: { start: -1, end: 3 } }), 'INVALID_ARGUMENT');
      });
      it('reads ranges that span chunk boundaries of a large object', async () => {
        const bytes = randomBytes(3 * MiB);
        await driver.write('r/big', chunked(bytes, 100_000));
        for (const [start, end] of [[0, 0], [99_999, 100_000], [MiB - 1, 2 * MiB + 1], [3 * MiB - 1, 3 * MiB - 1]] as const) {
          const got = await readAll(await driver.read('r/big', { range: { start, end } }));
          assert.ok(got.equals(bytes.subarray(start, end + 1)), `range ${start}-${end}`);
        }
      });

      async function rangeOf(key: string, start: number, end: number): Promise<string> {
        return (await readAll(await driver.read(key, { range: { start, end } }))).toString();
      }
    });

    describe('atomic write', () => {
      it('a failing source leaves the old object intact and no leftovers in list', async () => {
        await driver.write('w/k', Buffer.from('old'));
        await assert.rejects(driver.write('w/k', failingSource(Buffer.alloc(128 * 1024, 7))), /source failed/);
        assert.equal(await content('w/k'), 'old');
        assert.deepEqual(await keys('w'), ['w/k']);
      });

      it('a failing source does not create a new key', async () => {
        await assert.rejects(driver.write('w/new', failingSource(Buffer.from('partial'))), /source failed/);
        assert.equal(await driver.stat('w/new'), undefined);
        assert.deepEqual(await keys('w'), []);
      });

      it('an abort mid-write leaves the old object intact and no leftovers in list', async () => {
        await driver.write('w/k', Buffer.from('old'));
        const controller = new AbortController();
        const source = stallingSource(Buffer.alloc(64 * 1024, 1), () => controller.abort());
        await assert.rejects(driver.write('w/k', source, { signal: controller.signal }), { name: 'AbortError' });
        assert.equal(await content('w/k'), 'old');
        assert.deepEqual(await keys('w'), ['w/k']);
      });

      it('an already-aborted signal writes nothing', async () => {
        const controller = new AbortController();
        controller.abort();
        await assert.rejects(driver.write('w/k', Buffer.from('x'), { signal: controller.signal }), { name: 'AbortError' });
        await assert.rejects(driver.write('w/k', chunked(Buffer.from('xyz'), 1), { signal: controller.signal }), {
          name: 'AbortError',
        });
        assert.equal(await driver.stat('w/k'), undefined);
      });

      it('a reader during a write sees the old object, and the whole new one after', async () => {
        await driver.write('w/k', Buffer.from('old'));
        let release = (): void => {};
        const gate = new Promise<void>((resolve) => (release = resolve));
        let firstTaken = (): void => {};
        const started = new Promise<void>((resolve) => (firstTaken = resolve));
        const source = Readable.from(
          (async function* () {
            yield Buffer.from('new-');
            firstTaken();
            await gate;
            yield Buffer.from('contents');
          })(),
        );
        const writing = driver.write('w/k', source);
        await started;
        assert.equal(await content('w/k'), 'old');
        assert.equal((await driver.stat('w/k'))?.size, 3);
        release();
        assert.equal(await writing, 12);
        assert.equal(await content('w/k'), 'new-contents');
      });

      it('concurrent writes to one key end with one complete version, never a mix', async () => {
        const versions = [0x61, 0x62, 0x63, 0x64].map((byte, i) => Buffer.alloc(MiB + i * 4099, byte));
        await Promise.all(versions.map((bytes) => driver.write('w/race', chunked(bytes, 32 * 1024, true))));
        const got = await readAll(await driver.read('w/race'));
        assert.ok(
          versions.some((bytes) => got.equals(bytes)),
          `got ${got.length} bytes that match no single version`,
        );
        assert.deepEqual(await keys('w'), ['w/race']);
      });
    });

    describe('writeAt', () => {
      it('appends in chunks and resolves to the new size', async () => {
        assert.equal(await driver.writeAt('u/1/data', 0, Buffer.from('abc')), 3);
        assert.equal(await driver.writeAt('u/1/data', 3, chunked(Buffer.from('def'), 1)), 6);
        assert.equal(await driver.writeAt('u/1/data', 6, Buffer.from('ghi')), 9);
        assert.equal(await content('u/1/data'), 'abcdefghi');
        assert.equal((await driver.stat('u/1/data'))?.size, 9);
      });

      it('appends multi-MiB streams', async () => {
        const first = randomBytes(2 * MiB + 1);
        const second = randomBytes(3 * MiB - 1);
        assert.equal(await driver.writeAt('u/1/data', 0, chunked(first, 64 * 1024)), first.length);
        assert.equal(await driver.writeAt('u/1/data', first.length, chunked(second, 64 * 1024)), 5 * MiB);
        const back = await readAll(await driver.read('u/1/data'));
        assert.ok(back.equals(Buffer.concat([first, second])));
      });

      it('at an earlier offset truncates the tail', async () => {
        await driver.writeAt('u/1/data', 0, Buffer.from('abcdef'));
        assert.equal(await driver.writeAt('u/1/data', 2, Buffer.from('XY')), 4);
        assert.equal(await content('u/1/data'), 'abXY');
      });

      it('at offset 0 replaces an existing object', async () => {
        await driver.writeAt('u/1/data', 0, Buffer.from('abcdef'));
        assert.equal(await driver.writeAt('u/1/data', 0, Buffer.alloc(0)), 0);
        assert.equal((await driver.stat('u/1/data'))?.size, 0);
      });

      it('beyond the current size rejects with INVALID_ARGUMENT and changes nothing', async () => {
        await driver.writeAt('u/1/data', 0, Buffer.from('abc'));
        await rejectsWith(driver.writeAt('u/1/data', 4, Buffer.from('x')), 'INVALID_ARGUMENT');
        assert.equal(await content('u/1/data'), 'abc');
        await rejectsWith(driver.writeAt('u/2/data', 1, Buffer.from('x')), 'INVALID_ARGUMENT');
        assert.equal(await driver.stat('u/2/data'), undefined);
        await rejectsWith(driver.writeAt('u/1/data', -1, Buffer.from('x')), 'INVALID_ARGUMENT');
        await rejectsWith(driver.writeAt('u/1/data', 1.5, Buffer.from('x')), 'INVALID_ARGUMENT');
      });

      it('after a failed writeAt, a retry at the recorded offset gives the right bytes', async () => {
        await driver.writeAt('u/1/data', 0, Buffer.from('abc'));
        await assert.rejects(driver.writeAt('u/1/data', 3, failingSource(Buffer.from('junk-junk'))), /source failed/);
        assert.equal(await driver.writeAt('u/1/data', 3, Buffer.from('def')), 6);
        assert.equal(await content('u/1/data'), 'abcdef');
      });

      it('after an aborted writeAt, a retry at the recorded offset gives the right bytes', async () => {
        await driver.writeAt('u/1/data', 0, Buffer.from('abc'));
        const controller = new AbortController();
        const source = stallingSource(Buffer.from('junk'), () => controller.abort());
        await assert.rejects(driver.writeAt('u/1/data', 3, source, { signal: controller.signal }), { name: 'AbortError' });
        assert.equal(await driver.writeAt('u/1/data', 3, chunked(Buffer.from('def'), 2)), 6);
        assert.equal(await content('u/1/data'), 'abcdef');
      });
    });

    describe('move', () => {
      it('replaces the destination and removes the source', async () => {
        await driver.write('m/from', Buffer.from('A'));
        await driver.write('m/to', Buffer.from('BBB'));
        await driver.move('m/from', 'm/to');
        assert.equal(await content('m/to'), 'A');
        assert.equal(await driver.stat('m/from'), undefined);
        assert.deepEqual(await keys('m'), ['m/to']);
      });

      it('creates the destination under a prefix that does not exist yet', async () => {
        await driver.writeAt('uploads/u1/data', 0, Buffer.from('blob'));
        await driver.move('uploads/u1/data', 'blobs/s1/sha256/ab/abcdef');
        assert.equal(await content('blobs/s1/sha256/ab/abcdef'), 'blob');
        assert.equal(await driver.stat('uploads/u1/data'), undefined);
      });

      it('of a missing source rejects with NOT_FOUND and leaves the destination', async () => {
        await driver.write('m/to', Buffer.from('keep'));
        await rejectsWith(driver.move('m/missing', 'm/to'), 'NOT_FOUND');
        assert.equal(await content('m/to'), 'keep');
      });
    });

    describe('delete', () => {
      it('removes the object and is idempotent', async () => {
        await driver.write('d/k', Buffer.from('x'));
        await driver.delete('d/k');
        assert.equal(await driver.stat('d/k'), undefined);
        await rejectsWith(driver.read('d/k'), 'NOT_FOUND');
        await driver.delete('d/k');
        await driver.delete('never/written/key');
      });

      it('leaves sibling objects', async () => {
        await driver.write('d/a', Buffer.from('a'));
        await driver.write('d/b', Buffer.from('b'));
        await driver.delete('d/a');
        assert.deepEqual(await keys('d'), ['d/b']);
      });

      it('a key can be written again after delete', async () => {
        await driver.write('d/k', Buffer.from('x'));
        await driver.delete('d/k');
        await driver.write('d/k', Buffer.from('y'));
        assert.equal(await content('d/k'), 'y');
      });
    });

    describe('deletePrefix', () => {
      it('removes every object under the prefix and nothing that merely shares its characters', async () => {
        await driver.write('blobs/a/x', Buffer.from('1'));
        await driver.write('blobs/a/y/z', Buffer.from('2'));
        await driver.write('blobs/ab/x', Buffer.from('3'));
        await driver.write('blobs/b', Buffer.from('4'));
        await driver.deletePrefix('blobs/a');
        assert.deepEqual(await keys('blobs'), ['blobs/ab/x', 'blobs/b']);
        assert.equal(await driver.stat('blobs/a/x'), undefined);
      });

      it('leaves an object whose key equals the prefix', async () => {
        await driver.write('p/a', Buffer.from('keep'));
        await driver.deletePrefix('p/a');
        assert.equal(await content('p/a'), 'keep');
      });

      it('of a missing prefix succeeds', async () => {
        await driver.deletePrefix('no/such/prefix');
      });

      it('lets keys under the prefix be written again', async () => {
        await driver.writeAt('uploads/u1/data', 0, Buffer.from('x'));
        await driver.deletePrefix('uploads/u1');
        await driver.writeAt('uploads/u1/data', 0, Buffer.from('y'));
        assert.equal(await content('uploads/u1/data'), 'y');
      });
    });

    describe('list', () => {
      it('yields exactly the keys under the prefix, at any depth', async () => {
        const written = ['l/a', 'l/b/c', 'l/b/d/e', 'l/f/g'];
        for (const key of written) await driver.write(key, Buffer.from(key));
        await driver.write('lx/h', Buffer.from('other'));
        assert.deepEqual(await keys('l'), written);
        assert.deepEqual(await keys('l/b'), ['l/b/c', 'l/b/d/e']);
      });

      it('yields nothing for a missing prefix, or for a prefix that is itself an object', async () => {
        assert.deepEqual(await keys('no/such'), []);
        await driver.write('l/a', Buffer.from('a'));
        assert.deepEqual(await keys('l/a'), []);
      });

      it('does not list deleted or moved-away objects', async () => {
        await driver.write('l/a', Buffer.from('a'));
        await driver.write('l/b', Buffer.from('b'));
        await driver.delete('l/a');
        await driver.move('l/b', 'other/b');
        assert.deepEqual(await keys('l'), []);
        assert.deepEqual(await keys('other'), ['other/b']);
      });
    });

    describe('keys', () => {
      const invalid = ['', '/abs', 'a//b', 'a/', '..', '../x', 'a/../b', 'a/..', './a', 'a/./b', 'a\\b', 'a\0b'];

      it('rejects keys with "..", absolute paths or empty segments in every method', async () => {
        for (const key of invalid) {
          const label = JSON.stringify(key);
          await rejectsWith(driver.write(key, Buffer.from('x')), 'INVALID_ARGUMENT', `write ${label}`);
          await rejectsWith(driver.writeAt(key, 0, Buffer.from('x')), 'INVALID_ARGUMENT', `writeAt ${label}`);
          await rejectsWith(driver.read(key), 'INVALID_ARGUMENT', `read ${label}`);
          await rejectsWith(driver.stat(key), 'INVALID_ARGUMENT', `stat ${label}`);
          await rejectsWith(driver.delete(key), 'INVALID_ARGUMENT', `delete ${label}`);
          await rejectsWith(driver.deletePrefix(key), 'INVALID_ARGUMENT', `deletePrefix ${label}`);
          await rejectsWith(driver.move(key, 'ok/key'), 'INVALID_ARGUMENT', `move from ${label}`);
          await rejectsWith(driver.move('ok/key', key), 'INVALID_ARGUMENT', `move to ${label}`);
          await rejectsWith(keys(key), 'INVALID_ARGUMENT', `list ${label}`);
        }
      });

      it('accepts the key shapes the domain uses', async () => {
        const blob = `blobs/0b3e/sha256/ab/ab${'0'.repeat(62)}`;
        await driver.write(blob, Buffer.from('x'));
        await driver.writeAt('uploads/9f1c-44d2/data', 0, Buffer.from('y'));
        assert.equal(await content(blob), 'x');
        assert.equal(await content('uploads/9f1c-44d2/data'), 'y');
      });
    });

    describe('read streams', () => {
      it('stop with an AbortError when the signal aborts', async () => {
        await driver.write('s/big', Buffer.alloc(4 * MiB, 5));
        const controller = new AbortController();
        const stream = await driver.read('s/big', { signal: controller.signal });
        controller.abort();
        await assert.rejects(readAll(stream), { name: 'AbortError' });
      });
    });
  });
}

/** Collects a stream; fine for tests, never for the server. */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks);
}

/** `bytes` as a byte stream of `size`-byte chunks; `yieldBetween` gives other writers a turn. */
export function chunked(bytes: Buffer, size: number, yieldBetween = false): Readable {
  return Readable.from(
    (async function* () {
      for (let offset = 0; offset < bytes.length; offset += size) {
        if (yieldBetween) await new Promise<void>((resolve) => setImmediate(resolve));
        yield bytes.subarray(offset, offset + size);
      }
    })(),
    { objectMode: false },
  );
}

/** A source that emits `first`, then errors with "source failed". */
export function failingSource(first: Buffer): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (sent) {
        this.destroy(new Error('source failed'));
      } else {
        sent = true;
        this.push(first);
      }
    },
  });
}

/** A source that emits `first`, then calls `onStall` and never emits again. */
export function stallingSource(first: Buffer, onStall: () => void): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (sent) {
        setImmediate(onStall);
      } else {
        sent = true;
        this.push(first);
      }
    },
  });
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, message?: string): Promise<void> {
  await assert.rejects(
    promise,
    (err: unknown) => isPalletError(err, code) || assert.fail(`${message ?? 'expected'} ${code}, got ${String(err)}`),
  );
}
