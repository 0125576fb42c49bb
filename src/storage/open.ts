/**
 * Picks the storage driver named by the `storage` config key. The app builder calls this once;
 * nothing else constructs concrete drivers.
 */
import { join } from 'node:path';
import { PalletError } from '../base/errors.js';
import type { StorageDriver } from './driver.js';
import { FilesystemDriver } from './filesystem.js';
import { MemoryDriver } from './memory.js';

export interface StorageDriverOptions {
  /** `filesystem`, `memory` (tests only) or `s3`. */
  storage: string;
  /** The filesystem driver keeps its objects under `<dataDir>/storage`. */
  dataDir: string;
}

export function openStorageDriver(options: StorageDriverOptions): StorageDriver {
  switch (options.storage) {
    case 'filesystem':
      return new FilesystemDriver(join(options.dataDir, 'storage'));
    case 'memory':
      return new MemoryDriver();
    case 's3':
      throw new PalletError('UNAVAILABLE', 'the s3 storage driver is not built yet');
    default:
      throw new PalletError('INVALID_ARGUMENT', `unknown storage driver ${JSON.stringify(options.storage)}`, {
        storage: options.storage,
      });
  }
}
