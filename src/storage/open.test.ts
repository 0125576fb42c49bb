/**
 * `openStorageDriver` picks the driver named by the config.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isPalletError } from '../base/errors.js';
import { FilesystemDriver } from './filesystem.js';
import { MemoryDriver } from './memory.js';
import { openStorageDriver } from './open.js';

describe('openStorageDriver', () => {
  it('opens the filesystem driver under <dataDir>/storage', () => {
    const driver = openStorageDriver({ storage: 'filesystem', dataDir: '/srv/pallet' });
    assert.ok(driver instanceof FilesystemDriver);
    assert.equal(driver.root, '/srv/pallet/storage');
  });

  it('opens the memory driver', () => {
    assert.ok(openStorageDriver({ storage: 'memory', dataDir: '.' }) instanceof MemoryDriver);
  });

  it('reports s3 as unavailable until it is built', () => {
    assert.throws(
      () => openStorageDriver({ storage: 's3', dataDir: '.' }),
      (err: unknown) => isPalletError(err, 'UNAVAILABLE'),
    );
  });

  it('rejects an unknown driver name', () => {
    assert.throws(
      () => openStorageDriver({ storage: 'floppy', dataDir: '.' }),
      (err: unknown) => isPalletError(err, 'INVALID_ARGUMENT'),
    );
  });
});
