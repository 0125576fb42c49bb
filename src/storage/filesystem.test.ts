/**
 * Runs the shared storage-driver suite against the filesystem driver, each test in a fresh
 * temporary directory, plus checks of what only this driver has: its on-disk layout and `_tmp/`.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { isPalletError } from '../base/errors.js';
import { chunked, failingSource, stallingSource, storageDriverSuite } from './driver.suite.js';
import { FilesystemDriver } from './filesystem.js';
import { run } from '../../test/helpers/run.js';

async function freshRoot(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'pallet-storage-'));
}

storageDriverSuite('filesystem', async () => {
  const root = await freshRoot();
  return { driver: new FilesystemDriver(root), cleanup: () => rm(root, { recursive: true, force: true }) };
});

describe('filesystem driver specifics', () => {
  let root: string;
  let driver: FilesystemDriver;

  beforeEach(async () => {
    root = await freshRoot();
    driver = new FilesystemDriver(root);
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  async function tmpEntries(): Promise<string[]> {
    return readdir(join(root, '_tmp')).catch(() => []);
  }

  it('stores the object at key a/b/c in the file <root>/a/b/c', async () => {
    await driver.write('blobs/s1/sha256/ab/abcd', chunked(Buffer.from('layer bytes'), 4));
    assert.equal(await readFile(join(root, 'blobs/s1/sha256/ab/abcd'), 'utf8'), 'layer bytes');
  });

  it('leaves nothing in _tmp after successful, failed and aborted writes', async () => {
    await driver.write('k/ok', Buffer.from('ok'));
    await assert.rejects(driver.write('k/fail', failingSource(Buffer.alloc(70_000, 1))), /source failed/);
    const controller = new AbortController();
    await assert.rejects(
      driver.write('k/abort', stallingSource(Buffer.alloc(70_000, 2), () => controller.abort()), {
        signal: controller.signal,
      }),
      { name: 'AbortError' },
    );
    assert.deepEqual(await tmpEntries(), []);
  });

  it('reserves _tmp as a first key segment', async () => {
    for (const key of ['_tmp', '_tmp/x']) {
      await assert.rejects(driver.write(key, Buffer.from('x')), (err: unknown) => isPalletError(err, 'INVALID_ARGUMENT'));
    }
    await driver.write('a/_tmp', Buffer.from('fine deeper down'));
  });
});

describe('filesystem driver on a full disk', () => {
  it('refuses writes while free space is below the headroom; reads and deletes still work', async () => {
    const root = await freshRoot();
    const refused: string[] = [];
    const open = new FilesystemDriver(root);
    const tight = new FilesystemDriver(root, { headroomBytes: Number.MAX_SAFE_INTEGER, onFault: (fault) => refused.push(fault) });
    try {
      await open.write('k/kept', Buffer.from('kept'));
      const capacity = await tight.capacity();
      assert.ok(capacity.freeBytes > 0 && capacity.totalBytes >= capacity.freeBytes);
      assert.equal(capacity.headroomBytes, Number.MAX_SAFE_INTEGER);
      for (const attempt of [() => tight.write('k/new', Buffer.from('x')), () => tight.writeAt('k/part', 0, Buffer.from('x'))]) {
        await assert.rejects(attempt(), (err: unknown) => isPalletError(err, 'INSUFFICIENT_STORAGE') && /kept for deletes/.test(err.message));
      }
      assert.deepEqual(refused, ['full', 'full']);
      assert.equal(await tight.stat('k/new'), undefined);
      assert.equal(await tight.stat('k/part'), undefined);
      assert.equal((await tight.stat('k/kept'))?.size, 4);
      await tight.delete('k/kept');
      assert.equal(await tight.stat('k/kept'), undefined);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('answers INSUFFICIENT_STORAGE when the disk fills during a write, and removes the partial file', { skip: process.getuid?.() !== 0 ? 'mounting a tmpfs needs root' : false }, async () => {
    const root = await freshRoot();
    await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', root]);
    try {
      const driver = new FilesystemDriver(root);
      await assert.rejects(driver.write('k/big', chunked(Buffer.alloc(2 * 1024 * 1024, 7), 64 * 1024)), (err: unknown) =>
        isPalletError(err, 'INSUFFICIENT_STORAGE'),
      );
      assert.deepEqual(await readdir(join(root, '_tmp')), [], 'the staged temp file is gone');
      await assert.rejects(driver.writeAt('k/part', 0, Buffer.alloc(2 * 1024 * 1024, 8)), (err: unknown) => isPalletError(err, 'INSUFFICIENT_STORAGE'));
    } finally {
      await run('umount', [root]);
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('filesystem driver headroom under one large write', { skip: process.getuid?.() !== 0 ? 'mounting a tmpfs needs root' : false }, () => {
  it('stops a stream that would eat more than half the headroom, and gives the space back', async () => {
    const root = await freshRoot();
    await run('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', root]);
    try {
      const MiB = 1024 * 1024;
      const driver = new FilesystemDriver(root, { headroomBytes: 4 * MiB });
      const before = (await driver.capacity()).freeBytes;
      assert.ok(before >= 4 * MiB, 'the write may start');
      const big = (): Readable => chunked(Buffer.alloc(7 * MiB, 5), 64 * 1024);
      await assert.rejects(driver.writeAt('uploads/u/data', 0, big()), (err: unknown) => isPalletError(err, 'INSUFFICIENT_STORAGE'));
      await assert.rejects(driver.write('k/big', big()), (err: unknown) => isPalletError(err, 'INSUFFICIENT_STORAGE'));
      assert.equal((await driver.stat('uploads/u/data'))?.size, 0, 'the partial object is truncated back to its offset');
      assert.deepEqual(await readdir(join(root, '_tmp')), []);
      assert.ok((await driver.capacity()).freeBytes >= before - 64 * 1024, 'the space came back');
      await driver.write('k/small', chunked(Buffer.alloc(MiB, 1), 64 * 1024));
    } finally {
      await run('umount', [root]);
      await rm(root, { recursive: true, force: true });
    }
  });
});
