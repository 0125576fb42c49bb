/**
 * The domain of generic files: a registry holds packages, a package versions, a version files
 * at paths. The core's package files are the only record (artifact = package, version, path →
 * digest and size): the management API lists them without this format, GC keeps their blobs,
 * and the store's per-file add decides between concurrent uploads of one path on any number of
 * replicas. Each package is a repository of the registry, whose links hold the files' blobs.
 *
 * An upload, in order:
 *   1. a file the path already holds with another digest than the one the client states is a
 *      conflict before any byte is read (unless the upload may replace it);
 *   2. the body streams into the blob commit path, hashed once: verified against the stated
 *      SHA-256 (`putBlob`), or the digest learned while streaming (`putBlobLearned`); a short,
 *      long, aborted or mismatching body cancels the upload session, so nothing is linked;
 *   3. the file is added to the version (`PackageFileService.addFile`): inserted, the same
 *      bytes again (a retry: nothing changes), replaced (only when allowed), or a conflict —
 *      then the blob just linked is left to GC (its link is not referenced by any file).
 * A crash between 2 and 3 leaves only a link no file references, which GC reclaims.
 */
import { Transform, type Readable } from 'node:stream';
import { PalletError } from '../../base/errors.js';
import type { Log } from '../../base/log.js';
import type { MetadataStore, RegistryRecord, SpaceRecord } from '../../metadata/store.js';
import type { BlobService } from '../../registry/blobs.js';
import type { PackageFileRecord, PackageFileService, PackageVersionKey } from '../../registry/package-files.js';
import type { RegistryRef } from '../../registry/registries.js';
import type { ByteRange } from '../../storage/driver.js';
import type { FileCoordinates } from './coordinates.js';

export interface UploadOptions {
  /** Content-Length, when the client sent one (a body of another length is refused). */
  length: number | undefined;
  /** `sha256:…` the client states (X-Checksum-Sha256); undefined: learned while streaming. */
  digest: string | undefined;
  /** Whether a file of other bytes at the path may be replaced. */
  replace: boolean;
  signal?: AbortSignal;
}

export interface Uploaded {
  outcome: 'inserted' | 'same' | 'replaced';
  record: PackageFileRecord;
}

/** A file found in a registry (its own, or cached by a proxy). */
export interface StoredFile {
  record: PackageFileRecord;
  /** Opens its bytes, or one range of them. */
  open(range?: ByteRange, signal?: AbortSignal): Promise<Readable>;
}

export const versionKey = (registry: RegistryRecord, c: { package: string; version: string }): PackageVersionKey => ({
  registryId: registry.id,
  artifact: c.package,
  version: c.version,
});

export class GenericFiles {
  constructor(
    private readonly store: MetadataStore,
    private readonly blobs: BlobService,
    private readonly packageFiles: PackageFileService,
    /** Largest file accepted (0: no limit). */
    private readonly maxFileBytes: number,
  ) {}

  /** Stores one uploaded file (see the module header); CONFLICT when the path holds other bytes. */
  async upload({ root, registry }: RegistryRef, file: FileCoordinates, body: Readable, options: UploadOptions): Promise<Uploaded> {
    if (registry.kind !== 'local') throw new PalletError('UNSUPPORTED', `${root.path}/${registry.identifier} is an upstream proxy: it takes no uploads`);
    const max = this.maxFileBytes;
    if (max > 0 && options.length !== undefined && options.length > max) throw new PalletError('TOO_LARGE', `a file is at most ${max} bytes (generic.maxFileBytes); this one is ${options.length}`);
    const key = versionKey(registry, file);
    if (!options.replace && options.digest !== undefined) {
      const existing = await this.packageFiles.findFile(key, file.path);
      if (existing && existing.digest !== options.digest) throw conflict(file, existing);
    }

    const repo = await this.store.ensureRepository(registry.id, file.package);
    const loc = { rootSpaceId: root.id, repositoryId: repo.id };
    const source = max > 0 && options.length === undefined ? limited(body, max) : body;
    const put = { ...(options.length !== undefined ? { length: options.length } : {}), ...(options.signal ? { signal: options.signal } : {}) };
    const blob = options.digest ? await this.blobs.putBlob(loc, options.digest, source, put) : await this.blobs.putBlobLearned(loc, source, put);
    const added = await this.packageFiles.addFile({ ...key, repositoryId: repo.id, file: { path: file.path, digest: blob.digest, size: blob.size } }, { replace: options.replace });
    if (added.outcome === 'conflict') throw conflict(file, added.record);
    return { outcome: added.outcome, record: added.record };
  }

  /** The registry's own file at the coordinates; undefined when it has none. */
  async find(root: SpaceRecord, registry: RegistryRecord, file: FileCoordinates): Promise<StoredFile | undefined> {
    const record = await this.packageFiles.findFile(versionKey(registry, file), file.path);
    return record && this.stored(root, record);
  }

  stored(root: SpaceRecord, record: PackageFileRecord): StoredFile {
    return {
      record,
      open: async (range, signal) => (await this.blobs.open({ rootSpaceId: root.id, repositoryId: record.repositoryId }, record.digest, range, signal)).stream,
    };
  }

  /** Deletes one file; NOT_FOUND when the version has none at the path. */
  async deleteFile(registry: RegistryRecord, file: FileCoordinates): Promise<void> {
    if (!(await this.packageFiles.removeFile(versionKey(registry, file), file.path))) {
      throw new PalletError('NOT_FOUND', `${file.package} ${file.version} has no file ${file.path}`);
    }
  }

  /** Deletes every file of a version; NOT_FOUND when it has none. */
  async deleteVersion(registry: RegistryRecord, pkg: string, version: string): Promise<void> {
    if ((await this.packageFiles.remove(versionKey(registry, { package: pkg, version }))) === 0) {
      throw new PalletError('NOT_FOUND', `package ${pkg} has no version ${version}`);
    }
  }

  /** Deletes a package with all its versions (its repository, whose rows cascade); NOT_FOUND when absent. */
  async deleteArtifact(registry: RegistryRecord, pkg: string, log: Log): Promise<void> {
    const repo = await this.store.findRepository(registry.id, pkg);
    if (!repo) throw new PalletError('NOT_FOUND', `no package ${pkg}`);
    const { uploadIds } = await this.store.deleteRepository(repo.id);
    for (const id of uploadIds) await this.blobs.discard(id);
    log.info({ registry: registry.id, package: pkg }, 'generic: package deleted');
  }
}

function conflict(file: FileCoordinates, existing: PackageFileRecord): PalletError {
  return new PalletError('CONFLICT', `${file.package} ${file.version} already holds ${file.path} with other content (${existing.digest}); files of a version are immutable`, {
    digest: existing.digest,
  });
}

/** Passes `source` through, failing with TOO_LARGE past `max` bytes (a body without Content-Length). */
function limited(source: Readable, max: number): Readable {
  let seen = 0;
  const limiter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > max) return done(new PalletError('TOO_LARGE', `a file is at most ${max} bytes (generic.maxFileBytes)`));
      done(null, chunk);
    },
  });
  source.once('error', (err) => limiter.destroy(err));
  return source.pipe(limiter);
}
