/**
 * The files of package versions, for every format: what a format calls to say "this version
 * serves these blobs", so that GC keeps them (see the contract in
 * `metadata/package-file-store.ts` and the liveness rules in `registry/gc.ts`). It checks the
 * input and leaves atomicity and the race with a sweep to the store.
 */
import { parseDigest } from '../base/digest.js';
import { PalletError } from '../base/errors.js';
import type { PackageFileRecord, PackageFileStore, PackageVersionFiles, PackageVersionKey, PackageVersionRecord } from '../metadata/package-file-store.js';

export type { PackageFile, PackageFileRecord, PackageVersionFiles, PackageVersionKey, PackageVersionRecord } from '../metadata/package-file-store.js';

export class PackageFileService {
  constructor(private readonly store: PackageFileStore) {}

  /**
   * Records the version's complete set of files (replacing what it had). Each file's bytes must
   * already be committed and linked to `repositoryId` (see the store's contract for the errors).
   * INVALID_ARGUMENT for an empty name, a repeated path or a negative size, DIGEST_INVALID for
   * a malformed digest; nothing is recorded then.
   */
  async record(version: PackageVersionFiles): Promise<PackageFileRecord[]> {
    this.#checkKey(version);
    const paths = new Set<string>();
    for (const file of version.files) {
      if (file.path === '') throw invalid(version, 'a file has an empty path');
      if (paths.has(file.path)) throw invalid(version, `two files have the path ${file.path}`);
      paths.add(file.path);
      parseDigest(file.digest);
      if (!Number.isSafeInteger(file.size) || file.size < 0) throw invalid(version, `${file.path} has size ${file.size}`);
    }
    return this.store.putVersionFiles(version);
  }

  /** The version's files, by path. */
  async list(key: PackageVersionKey): Promise<PackageFileRecord[]> {
    return this.store.listVersionFiles(key);
  }

  /** The versions of an artifact that have files, newest first (for a format's artifact deletion). */
  async versions(registryId: string, artifact: string): Promise<PackageVersionRecord[]> {
    return this.store.listVersions(registryId, artifact);
  }

  /** Forgets the version's files (its blobs become garbage once nothing else holds them). */
  async remove(key: PackageVersionKey): Promise<number> {
    return this.store.deleteVersionFiles(key);
  }

  #checkKey(key: PackageVersionKey): void {
    if (key.artifact === '' || key.version === '') throw invalid(key, 'the artifact name and version must not be empty');
  }
}

function invalid(key: PackageVersionKey, message: string): PalletError {
  return new PalletError('INVALID_ARGUMENT', `package files of ${key.artifact} ${key.version}: ${message}`, { artifact: key.artifact, version: key.version });
}
