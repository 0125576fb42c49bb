/**
 * Runs the shared storage-driver suite against the S3 driver talking to a real S3-compatible
 * server on loopback (s3rver, started here), a fresh bucket per test, plus checks of what only
 * this driver has: chunked partial objects and their assembly.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { isPalletError } from '../base/errors.js';
import { freePort } from '../../test/helpers/server.js';
import { startS3, S3_ACCESS_KEY, S3_SECRET_KEY, type S3Server } from '../../test/helpers/s3.js';
import { chunked, readAll, storageDriverSuite } from './driver.suite.js';
import { S3Driver } from './s3.js';

let s3: S3Server | undefined;
before(async () => {
  s3 = await startS3();
});
after(async () => {
  await s3?.stop();
});

async function freshDriver(options: { partSize?: number } = {}): Promise<S3Driver> {
  if (!s3) throw new Error('the S3 server is not running');
  return new S3Driver({
    endpoint: s3.endpoint,
    bucket: await s3.bucket('driver'),
    region: 'us-east-1',
    accessKeyId: S3_ACCESS_KEY,
    secretAccessKey: S3_SECRET_KEY,
    forcePathStyle: true,
    ...options,
  });
}

storageDriverSuite('s3', async () => ({ driver: await freshDriver(), cleanup: async () => {} }));

describe('s3 driver specifics', () => {
  const MiB = 1024 * 1024;

  it('keeps each writeAt as its own chunk object under _parts and moves them as one object', async () => {
    const driver = await freshDriver();
    try {
      const a = randomBytes(6 * MiB);
      const b = randomBytes(123);
      await driver.writeAt('uploads/u1/data', 0, chunked(a, 256 * 1024));
      await driver.writeAt('uploads/u1/data', a.length, b);
      const raw = await driver.client.send(new ListObjectsV2Command({ Bucket: driver.bucket }));
      assert.deepEqual(
        (raw.Contents ?? []).map((o) => o.Key).sort(),
        [`_parts/uploads/u1/data/${'0'.repeat(16)}`, `_parts/uploads/u1/data/${String(a.length).padStart(16, '0')}`],
      );
      await driver.move('uploads/u1/data', 'blobs/s/sha256/ab/abcd');
      const back = await readAll(await driver.read('blobs/s/sha256/ab/abcd'));
      assert.ok(back.equals(Buffer.concat([a, b])), 'the assembled object holds both chunks in order');
      const after = await driver.client.send(new ListObjectsV2Command({ Bucket: driver.bucket }));
      assert.deepEqual((after.Contents ?? []).map((o) => o.Key), ['blobs/s/sha256/ab/abcd']);
    } finally {
      await driver.close();
    }
  });

  it('reads a range that spans chunks of a partial object', async () => {
    const driver = await freshDriver();
    try {
      await driver.writeAt('u/data', 0, Buffer.from('0123'));
      await driver.writeAt('u/data', 4, Buffer.from('4567'));
      await driver.writeAt('u/data', 8, Buffer.from('89'));
      const slice = await readAll(await driver.read('u/data', { range: { start: 2, end: 8 } }));
      assert.equal(slice.toString(), '2345678');
      assert.equal((await driver.stat('u/data'))?.size, 10);
    } finally {
      await driver.close();
    }
  });

  it('truncates inside a chunk when a retry starts there', async () => {
    const driver = await freshDriver();
    try {
      await driver.writeAt('u/data', 0, Buffer.from('abcdef'));
      assert.equal(await driver.writeAt('u/data', 3, Buffer.from('XY')), 5);
      assert.equal((await readAll(await driver.read('u/data'))).toString(), 'abcXY');
    } finally {
      await driver.close();
    }
  });

  it('reserves _parts as a first key segment', async () => {
    const driver = await freshDriver();
    try {
      await assert.rejects(driver.write('_parts/x', Buffer.from('x')), (err: unknown) => isPalletError(err, 'INVALID_ARGUMENT'));
    } finally {
      await driver.close();
    }
  });

  it('presigns GET URLs that fetch the object without credentials', async () => {
    const driver = await freshDriver();
    try {
      await driver.write('blobs/x', Buffer.from('presigned bytes'));
      const url = await driver.presignedUrl('blobs/x', 60);
      assert.ok(url);
      const res = await fetch(url);
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'presigned bytes');
    } finally {
      await driver.close();
    }
  });
});

describe('s3 driver faults', () => {
  it('answers UNAVAILABLE when the endpoint cannot be reached, and still NOT_FOUND for a missing key', async () => {
    const port = await freePort();
    const down = new S3Driver({
      endpoint: `http://127.0.0.1:${port}`,
      bucket: 'gone',
      region: 'us-east-1',
      accessKeyId: S3_ACCESS_KEY,
      secretAccessKey: S3_SECRET_KEY,
      forcePathStyle: true,
    });
    try {
      await assert.rejects(down.stat('k/x'), (err: unknown) => isPalletError(err, 'UNAVAILABLE') && /object store is unavailable/.test(err.message));
      await assert.rejects(down.write('k/x', Buffer.from('x')), (err: unknown) => isPalletError(err, 'UNAVAILABLE'));
    } finally {
      await down.close();
    }
    const up = await freshDriver();
    try {
      await assert.rejects(up.read('k/missing'), (err: unknown) => isPalletError(err, 'NOT_FOUND'));
    } finally {
      await up.close();
    }
  });
});
