/**
 * The files of package versions, for every format: what a format calls to say "this version
 * serves these blobs", so that GC keeps them (see the contract in
 * `metadata/package-file-store.ts` and the liveness rules in `registry/gc.ts`). It checks the
 * input and leaves atomicity and the race with a sweep to the store.
 */
import { parseDigest } from '../base/digest.js';
import { PalletError } from '../base/errors.js';
import type { AddedVersionFile, PackageFile, PackageFileRecord, PackageFileStore, PackageVersionFile, PackageVersionFiles, PackageVersionKey, PackageVersionRecord } from '../metadata/package-file-store.js';

export type { AddedVersionFile, PackageFile, PackageFileRecord, PackageVersionFile, PackageVersionFiles, PackageVersionKey, PackageVersionRecord } from '../metadata/package-file-store.js';

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
      this.#checkFile(version, file);
      if (paths.has(file.path)) throw invalid(version, `two files have the path ${file.path}`);
      paths.add(file.path);
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

  // --- One file at a time (see the store's contract) ---

  /**
   * Adds one file to a version, leaving its other files alone: inserted, the same file again
   * (a retry), replaced (only with `replace`), or a conflict with the file the path holds.
   * The input checks are `record`'s.
   */
  async addFile(input: PackageVersionFile, options: { replace: boolean }): Promise<AddedVersionFile> {
    this.#checkKey(input);
    this.#checkFile(input, input.file);
    return this.store.addVersionFile(input, options);
  }

  /** The version's file at `path`; undefined when it has none. */
  async findFile(key: PackageVersionKey, path: string): Promise<PackageFileRecord | undefined> {
    return this.store.findVersionFile(key, path);
  }

  /** Forgets one file of the version; resolves to whether it had one at `path`. */
  async removeFile(key: PackageVersionKey, path: string): Promise<boolean> {
    return this.store.deleteVersionFile(key, path);
  }

  #checkFile(key: PackageVersionKey, file: PackageFile): void {
    if (file.path === '') throw invalid(key, 'a file has an empty path');
    parseDigest(file.digest);
    if (!Number.isSafeInteger(file.size) || file.size < 0) throw invalid(key, `${file.path} has size ${file.size}`);
  }

  #checkKey(key: PackageVersionKey): void {
    if (key.artifact === '' || key.version === '') throw invalid(key, 'the artifact name and version must not be empty');
  }
}

function invalid(key: PackageVersionKey, message: string): PalletError {
  return new PalletError('INVALID_ARGUMENT', `package files of ${key.artifact} ${key.version}: ${message}`, { artifact: key.artifact, version: key.version });
}
