/**
 * `openStorageDriver` picks the driver named by the config.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isPalletError } from '../base/errors.js';
import { FilesystemDriver } from './filesystem.js';
import { MemoryDriver } from './memory.js';
import { openStorageDriver } from './open.js';
import { S3Driver } from './s3.js';

describe('openStorageDriver', () => {
  it('opens the filesystem driver under <dataDir>/storage', async () => {
    const driver = await openStorageDriver({ storage: 'filesystem', dataDir: '/srv/pallet' });
    assert.ok(driver instanceof FilesystemDriver);
    assert.equal(driver.root, '/srv/pallet/storage');
  });

  it('opens the memory driver', async () => {
    assert.ok((await openStorageDriver({ storage: 'memory', dataDir: '.' })) instanceof MemoryDriver);
  });

  it('opens the s3 driver with the bucket and endpoint of the config', async () => {
    const s3 = { endpoint: 'http://127.0.0.1:9', bucket: 'b', region: 'us-east-1', accessKeyId: 'k', secretAccessKey: 's', forcePathStyle: true };
    const driver = await openStorageDriver({ storage: 's3', dataDir: '.', s3 });
    assert.ok(driver instanceof S3Driver);
    assert.equal(driver.bucket, 'b');
    await driver.close();
  });

  it('rejects s3 without a bucket', async () => {
    await assert.rejects(
      () => openStorageDriver({ storage: 's3', dataDir: '.' }),
      (err: unknown) => isPalletError(err, 'INVALID_ARGUMENT'),
    );
  });

  it('rejects an unknown driver name', async () => {
    await assert.rejects(
      () => openStorageDriver({ storage: 'floppy', dataDir: '.' }),
      (err: unknown) => isPalletError(err, 'INVALID_ARGUMENT'),
    );
  });
});
