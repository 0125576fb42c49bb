/**
 * Tarballs cached from an upstream, as versions of the proxy in the npm model: written through
 * `NpmVersions.add` (the one place that writes a version row: package files first, so GC keeps
 * the blob, then the row the views list as cached), with the version's document from the
 * upstream packument (without `dist`) and no dist-tags (the proxy's packument is the
 * upstream's). A version another request recorded first is left as it is.
 */
import { isPalletError } from '../../../base/errors.js';
import type { NpmVersions } from '../npm-versions.js';
import type { NpmStore } from '../store/npm-store.js';
import type { CachedTarball, CachedVersionInput, CachedVersions } from './upstream-tarballs.js';

export class NpmCachedVersions implements CachedVersions {
  constructor(
    private readonly npm: NpmStore,
    private readonly versions: NpmVersions,
  ) {}

  async find(registryId: string, name: string, version: string): Promise<CachedTarball | undefined> {
    const [row, pkg] = await Promise.all([this.npm.findVersion(registryId, name, version), this.npm.findPackage(registryId, name)]);
    return row && pkg ? { digest: row.tarballDigest, size: row.tarballSize, repositoryId: pkg.repositoryId } : undefined;
  }

  async record(input: CachedVersionInput): Promise<void> {
    const { dist: _dist, _id, _rev, ...manifest } = input.manifest;
    try {
      await this.versions.add({
        version: {
          registryId: input.registry.id,
          name: input.name,
          version: input.version,
          manifest,
          tarballDigest: input.blob.digest,
          tarballSize: input.blob.size,
          integrity: input.integrity ?? '',
          shasum: input.shasum ?? '',
        },
        repositoryId: input.repositoryId,
        distTags: [],
        // A cached copy may come back after an admin deleted it (which retires the number).
        reuseRetired: true,
      });
    } catch (err) {
      if (!isPalletError(err, 'ALREADY_EXISTS')) throw err;
    }
  }
}
