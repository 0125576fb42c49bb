/**
 * Picks the storage driver named by the `storage` config key. The app builder calls this once;
 * nothing else constructs concrete drivers. The S3 driver (and the AWS SDK behind it, tens of
 * MiB of heap) is loaded only when a deployment asks for it.
 */
import { join } from 'node:path';
import { PalletError } from '../base/errors.js';
import type { StorageDriver } from './driver.js';
import { FilesystemDriver, type FilesystemDriverOptions } from './filesystem.js';
import { MemoryDriver } from './memory.js';
import type { S3DriverOptions } from './s3.js';

export interface StorageDriverOptions {
  /** `filesystem`, `memory` (tests only) or `s3`. */
  storage: string;
  /** The filesystem driver keeps its objects under `<dataDir>/storage`. */
  dataDir: string;
  /** Endpoint, bucket and credentials of the s3 driver. */
  s3?: S3DriverOptions;
  /** Disk headroom and fault listener of the filesystem driver. */
  filesystem?: FilesystemDriverOptions;
}

export async function openStorageDriver(options: StorageDriverOptions): Promise<StorageDriver> {
  switch (options.storage) {
    case 'filesystem':
      return new FilesystemDriver(join(options.dataDir, 'storage'), options.filesystem);
    case 'memory':
      return new MemoryDriver();
    case 's3': {
      if (!options.s3?.bucket) {
        throw new PalletError('INVALID_ARGUMENT', 'storage s3 needs s3.bucket (PALLET_S3_BUCKET) and usually s3.endpoint', {
          storage: options.storage,
        });
      }
      const { S3Driver } = await import('./s3.js');
      return new S3Driver(options.s3);
    }
    default:
      throw new PalletError('INVALID_ARGUMENT', `unknown storage driver ${JSON.stringify(options.storage)}`, {
        storage: options.storage,
      });
  }
}
