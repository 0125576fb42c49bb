/**
 * Records and removes npm versions, whichever way they arrive (publish, or an upstream's cache):
 * the one place that writes a version row, so every version also records its tarball as the
 * core's package files (`registry/package-files.ts`: artifact = package name, version, path =
 * tarball file name), which GC keeps.
 *
 * Order on a write: package files first, then the row, so a crash between the two leaves files
 * without a row (harmless: they stay live until the version is written or its registry goes),
 * never a row whose tarball GC may take. Two publishes of one version (in two processes) race
 * past the early check only rarely; both record their files, one row wins (the primary key),
 * and the loser re-records the winner's files before it answers 409. A crash of the loser between its record
 * and that repair leaves the winner's tarball held only by its blob link's grace (documented in
 * NOTES-npm.md). On a removal: the rows, then the files.
 */
import { isPalletError, PalletError } from '../../base/errors.js';
import type { PackageFileService } from '../../registry/package-files.js';
import { tarballFileName } from './names.js';
import type { AddVersionInput, NpmPackageRecord, NpmStore, NpmVersionRecord, PackageChange } from './store/npm-store.js';

export class NpmVersions {
  constructor(
    private readonly npm: NpmStore,
    private readonly packageFiles: PackageFileService,
  ) {}

  /** Writes in flight in this process, by version: one at a time per version. */
  readonly #inFlight = new Map<string, Promise<unknown>>();

  /**
   * Records a version's tarball, then its row (ALREADY_EXISTS when taken; see the header).
   * Within one process, writes of the same version run one after the other, so a second one
   * sees the first's row and touches nothing. Across processes the header's race applies; the
   * core's record of one version's files may then fail while another process's record of it
   * commits, so a failed record is tried once more (or answered 409 if the other won).
   */
  async add(input: AddVersionInput): Promise<NpmPackageRecord> {
    const v = input.version;
    const key = `${v.registryId}\0${v.name}\0${v.version}`;
    const run = (this.#inFlight.get(key) ?? Promise.resolve()).catch(() => undefined).then(() => this.#add(input));
    this.#inFlight.set(key, run);
    try {
      return await run;
    } finally {
      if (this.#inFlight.get(key) === run) this.#inFlight.delete(key);
    }
  }

  async #add(input: AddVersionInput): Promise<NpmPackageRecord> {
    const v = input.version;
    const taken = () => new PalletError('ALREADY_EXISTS', `cannot publish over the previously published version ${v.name}@${v.version}`, { name: v.name, version: v.version });
    if ((await this.npm.findVersion(v.registryId, v.name, v.version)) || (!input.reuseRetired && (await this.npm.isRetired(v.registryId, v.name, v.version)))) throw taken();
    const record = () => this.#record(v.registryId, v.name, v.version, input.repositoryId, v.tarballDigest, v.tarballSize);
    try {
      await record();
    } catch (err) {
      if (!isPalletError(err, 'INVALID_ARGUMENT')) throw err;
      if (await this.npm.findVersion(v.registryId, v.name, v.version)) throw taken();
      await record();
    }
    try {
      return await this.npm.addVersion(input);
    } catch (err) {
      if (isPalletError(err, 'ALREADY_EXISTS')) await this.#repair(v.registryId, v.name, v.version);
      throw err;
    }
  }

  /** Applies a package change; the files of removed versions go to GC afterwards. */
  async update(registryId: string, name: string, rev: number, change: PackageChange): Promise<NpmPackageRecord | undefined> {
    const after = await this.npm.updatePackage(registryId, name, rev, change);
    for (const version of change.removeVersions ?? []) await this.packageFiles.remove({ registryId, artifact: name, version });
    return after;
  }

  /** Removes a package's rows, then every version's files. */
  async removePackage(registryId: string, name: string, rev?: number): Promise<NpmVersionRecord[]> {
    const removed = await this.npm.removePackage(registryId, name, rev);
    for (const row of removed) await this.packageFiles.remove({ registryId, artifact: name, version: row.version });
    return removed;
  }

  async #record(registryId: string, name: string, version: string, repositoryId: string, digest: string, size: number): Promise<void> {
    await this.packageFiles.record({ registryId, artifact: name, version, repositoryId, manifestId: null, files: [{ path: tarballFileName(name, version), digest, size }] });
  }

  /** After a lost race: the files are the winner's again (or none, for a retired number). */
  async #repair(registryId: string, name: string, version: string): Promise<void> {
    const [winner, pkg] = await Promise.all([this.npm.findVersion(registryId, name, version), this.npm.findPackage(registryId, name)]);
    if (winner && pkg) await this.#record(registryId, name, version, pkg.repositoryId, winner.tarballDigest, winner.tarballSize);
    else await this.packageFiles.remove({ registryId, artifact: name, version });
  }
}
