/**
 * The read side of OCI repositories as the pull endpoints see it: a manifest by tag or digest,
 * a blob's size, a blob's bytes. `LocalPulls` answers from the registry's own content; the
 * upstream layer (`upstream/oci/pull-through.ts`) decorates it with upstream proxies and their
 * cache, behind the same interface, so the routes stay the same whatever answers.
 */
import type { Readable } from 'node:stream';
import type { BlobRecord, StoredManifest } from '../metadata/store.js';
import type { ByteRange } from '../storage/driver.js';
import type { BlobService } from './blobs.js';
import type { ManifestService } from './manifests.js';
import type { RepositoryResolver, RepositoryTarget } from './repositories.js';

/** Where a pull's log lines go (a request's child logger, so they carry its request id). */
export interface PullLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface PullOptions {
  /** The caller's logger for what the pull logs (upstream fetches); the service's own when absent. */
  log?: PullLog;
}

export interface OpenBlobOptions extends PullOptions {
  /**
   * The byte range to read, decided once the blob's size is known (undefined: the whole blob).
   * It may throw RANGE_INVALID; the error then carries `detail.size`.
   */
  range?: (size: number) => ByteRange | undefined;
  signal?: AbortSignal;
}

export interface BlobRead {
  blob: BlobRecord;
  range: ByteRange | undefined;
  /**
   * The bytes. A stream that fails before its end (a digest mismatch found at the end of an
   * upstream fetch, an upstream that stalls) is destroyed with the error, never ended cleanly.
   */
  stream: Readable;
}

export interface PullService {
  /** The manifest a tag or digest names; NAME_UNKNOWN or MANIFEST_UNKNOWN when there is none. */
  manifest(target: RepositoryTarget, reference: string, options?: PullOptions): Promise<StoredManifest>;
  /** The blob's record (digest and size); NAME_UNKNOWN or BLOB_UNKNOWN when it is not there. */
  statBlob(target: RepositoryTarget, digest: string, options?: PullOptions): Promise<BlobRecord>;
  /** The blob's bytes (or a range of them). */
  openBlob(target: RepositoryTarget, digest: string, options?: OpenBlobOptions): Promise<BlobRead>;
}

/** Pulls from the registry's own repositories only. */
export class LocalPulls implements PullService {
  constructor(
    private readonly repositories: RepositoryResolver,
    private readonly manifests: ManifestService,
    private readonly blobs: BlobService,
  ) {}

  async manifest(target: RepositoryTarget, reference: string, _options?: PullOptions): Promise<StoredManifest> {
    const repo = await this.repositories.forPull(target);
    return this.manifests.get(repo, reference);
  }

  async statBlob(target: RepositoryTarget, digest: string, _options?: PullOptions): Promise<BlobRecord> {
    const repo = await this.repositories.forPull(target);
    return this.blobs.stat({ rootSpaceId: target.root.id, repositoryId: repo.id }, digest);
  }

  async openBlob(target: RepositoryTarget, digest: string, options: OpenBlobOptions = {}): Promise<BlobRead> {
    const repo = await this.repositories.forPull(target);
    const loc = { rootSpaceId: target.root.id, repositoryId: repo.id };
    const blob = await this.blobs.stat(loc, digest);
    const range = options.range?.(blob.size);
    const { stream } = await this.blobs.open(loc, digest, range, options.signal);
    return { blob, range, stream };
  }
}
