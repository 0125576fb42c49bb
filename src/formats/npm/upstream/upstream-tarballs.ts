/**
 * Tarballs of npm upstream proxies, cached through the fetch-and-cache core's `fetchBody`: one
 * upstream GET however many installs miss the same version at once (single flight per proxy
 * and version), a negative cache of upstream 404s, and the tee into the blob commit path.
 *
 * A tarball is verified BEFORE it is kept and before any client reads it: the commit path
 * hashes it with SHA-256 (its blob digest) and with the checksum the packument states
 * (`dist.integrity`, sha512; `shasum` sha1 only when there is no integrity); a mismatch cancels
 * the upload (nothing stored, nothing recorded) and the request fails with UNAVAILABLE naming
 * the upstream, never with the bad bytes: the miss that starts the fetch does not stream from
 * the tee, it reads the committed copy. Committed tarballs are recorded as a version of the
 * proxy (`CachedVersions.record`: package files, so GC keeps the blob, then the npm rows the
 * views list as cached) and are answered from the cache afterwards without asking the
 * upstream, so installs keep working while it is down. Tarball URLs must be on the upstream's
 * origin or a host of `upstream.fileHosts` (the egress policy checks their addresses as for
 * every upstream connection).
 */
import type { Readable } from 'node:stream';
import { isPalletError, PalletError } from '../../../base/errors.js';
import type { MetadataStore, RegistryRecord, SpaceRecord } from '../../../metadata/store.js';
import type { BlobService } from '../../../registry/blobs.js';
import type { FetchCache } from '../../../upstream/fetch-cache/fetch-cache.js';
import type { UpstreamLog } from '../../../upstream/fetch-cache/upstreams.js';
import { tarballOf, type JsonObject, type PackumentDoc } from './packument-doc.js';
import { bearerOf } from './upstream-packuments.js';
import { fileHostListed } from '../../../upstream/fetch-cache/file-hosts.js';

/** A tarball as the routes send it. */
export interface TarballFile {
  stream: Readable;
  size: number;
  /** `sha256:…` of the blob. */
  digest: string;
}

/** What the npm model keeps of a version cached from an upstream. */
export interface CachedTarball {
  digest: string;
  size: number;
  repositoryId: string;
}

export interface CachedVersionInput {
  root: SpaceRecord;
  registry: RegistryRecord;
  repositoryId: string;
  name: string;
  version: string;
  /** The version's document from the upstream packument. */
  manifest: JsonObject;
  blob: { digest: string; size: number };
  integrity: string | undefined;
  shasum: string | undefined;
}

/** The npm model's side of a cached tarball (implemented over the npm store). */
export interface CachedVersions {
  find(registryId: string, name: string, version: string): Promise<CachedTarball | undefined>;
  /** Records the cached tarball as a version of the proxy: package files first, then the npm rows. */
  record(input: CachedVersionInput): Promise<void>;
}

export interface TarballRequest {
  signal?: AbortSignal | undefined;
  log?: UpstreamLog | undefined;
}

export class UpstreamTarballs {
  constructor(
    private readonly deps: {
      cache: FetchCache;
      store: MetadataStore;
      blobs: BlobService;
      versions: CachedVersions;
      /** Hosts besides an upstream's own origin its tarball URLs may point at (`upstream.fileHosts`). */
      fileHosts: readonly string[];
    },
  ) {}

  /** The version's tarball from the proxy's cache, without asking the upstream; undefined when not cached. */
  async openCached(root: SpaceRecord, registry: RegistryRecord, name: string, version: string, signal?: AbortSignal): Promise<TarballFile | undefined> {
    const found = await this.deps.versions.find(registry.id, name, version);
    if (!found) return undefined;
    try {
      const { blob, stream } = await this.deps.blobs.open({ rootSpaceId: root.id, repositoryId: found.repositoryId }, found.digest, undefined, signal);
      return { stream, size: blob.size, digest: found.digest };
    } catch (err) {
      if (isPalletError(err, 'BLOB_UNKNOWN')) return undefined;
      throw err;
    }
  }

  /**
   * The tarball of `version` as `doc` (the proxy's upstream packument) states it: cached, or
   * fetched and verified (see the module header). Undefined when the packument has no such
   * version or the upstream answers 404.
   */
  async open(root: SpaceRecord, registry: RegistryRecord, doc: PackumentDoc, version: string, request: TarballRequest = {}): Promise<TarballFile | undefined> {
    const name = doc.name;
    const findCached = () => this.openCached(root, registry, name, version, request.signal);
    const cached = await findCached();
    if (cached) {
      this.deps.cache.metrics.hit({ label: `${root.path}/${registry.identifier}`, format: registry.packageType }, 'file');
      return cached;
    }
    const ref = tarballOf(doc, version);
    const upstream = this.deps.cache.upstream(root, registry, request.log);
    if (!ref || !upstream) return undefined;
    const at = new URL(ref.url);
    if (at.origin !== new URL(upstream.config.url).origin && !fileHostListed(at, this.deps.fileHosts)) {
      throw new PalletError('UNAVAILABLE', `upstream ${upstream.label}: the tarball of ${name}@${version} is at ${at.origin}, neither the upstream's origin nor a host of upstream.fileHosts`, { upstream: upstream.label });
    }
    const manifest = doc.versions.get(version)!;
    return this.deps.cache.fetchBody<TarballFile>({
      upstream,
      log: request.log ?? this.deps.cache.log,
      what: 'tarball',
      kind: 'file',
      subject: `${name}@${version}`,
      fields: { package: name, version, url: ref.url },
      flightKey: `npm-tarball\0${name}\0${version}`,
      notFoundKey: `npm-tarball\0${ref.url}`,
      signal: request.signal,
      digest: undefined,
      checksum: ref.checksum,
      retryAfter: () => true,
      findCached,
      get: async () => {
        const res = await upstream.client.exchangeFile('GET', ref.url, { stream: true, bearer: bearerOf(upstream) });
        if (res.status === 404) {
          res.body.resume();
          return undefined;
        }
        if (res.status !== 200) {
          res.body.resume();
          throw new PalletError('UNAVAILABLE', `upstream ${upstream.label}: GET ${new URL(ref.url).pathname} answered ${res.status}`, { upstream: upstream.label });
        }
        return res;
      },
      repository: async () => (await this.deps.store.ensureRepository(registry.id, name)).id,
      // Never streamed unverified: the client reads the committed copy (see the module header).
      streams: () => false,
      onCommitted: async (blob, repositoryId) => {
        await this.deps.versions.record({ root, registry, repositoryId, name, version, manifest, blob, integrity: ref.integrity, shasum: ref.shasum });
      },
      streamed: () => {
        throw new PalletError('UNAVAILABLE', 'tarballs are not streamed before they are verified');
      },
      committed: findCached,
    });
  }
}
