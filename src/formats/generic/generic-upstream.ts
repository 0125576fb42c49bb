/**
 * Generic upstream proxies: a file `<package>/<version>/<path>` of a proxy is
 * `<upstream url>/<package>/<version>/<path>` (each segment percent-encoded), fetched on its
 * first download through the fetch-and-cache core (`FetchCache.fetchBody`: one upstream GET per
 * file however many misses race, the tee into the blob commit path with the SHA-256 learned
 * while streaming, the negative cache of 404s, the proxy's credentials and egress policy) and
 * recorded as a package file of the proxy, so GC keeps it and the management API lists it.
 * A cached file is served without asking the upstream again (a published file is immutable),
 * so it keeps being served when the upstream is down.
 *
 * A miss with a `Range` (or a HEAD) does not stream from the tee: it waits for the commit and
 * reads the cached copy, so its answer has the digest, the size and the range of the verified
 * bytes; a plain GET streams while the cache fills.
 */
import type { Readable } from 'node:stream';
import { PalletError } from '../../base/errors.js';
import type { MetadataStore, RegistryRecord, SpaceRecord } from '../../metadata/store.js';
import type { PackageFileService } from '../../registry/package-files.js';
import type { FetchCache } from '../../upstream/fetch-cache/fetch-cache.js';
import type { UpstreamLog } from '../../upstream/fetch-cache/upstreams.js';
import { encodePath, type FileCoordinates } from './coordinates.js';
import { versionKey, type GenericFiles, type StoredFile } from './generic-files.js';

/** What a download from a proxy gives: a cached file, or the body streaming from the tee. */
export type ProxiedFile = { cached: StoredFile } | { streaming: { stream: Readable; size: number | undefined } };

export interface FetchOptions {
  /** Whether the caller may read the body while it is cached (a GET without a Range). */
  streams: boolean;
  signal?: AbortSignal | undefined;
  log: UpstreamLog;
}

export class GenericUpstreams {
  constructor(
    private readonly store: MetadataStore,
    private readonly files: GenericFiles,
    private readonly packageFiles: PackageFileService,
    private readonly cache: FetchCache,
  ) {}

  /** The file as `proxy` cached it; undefined when it has not. */
  async cached(root: SpaceRecord, proxy: RegistryRecord, file: FileCoordinates): Promise<StoredFile | undefined> {
    const found = await this.files.find(root, proxy, file);
    if (found) this.cache.metrics.hit({ label: `${root.path}/${proxy.identifier}`, format: proxy.packageType }, 'file');
    return found;
  }

  /** The file from `proxy`: its cache, another download's fetch, or its upstream; undefined on a 404. */
  async fetch(root: SpaceRecord, proxy: RegistryRecord, file: FileCoordinates, options: FetchOptions): Promise<ProxiedFile | undefined> {
    const findCached = async (): Promise<ProxiedFile | undefined> => {
      const cached = await this.cached(root, proxy, file);
      return cached && { cached };
    };
    const upstream = this.cache.upstream(root, proxy, options.log);
    if (!upstream) return findCached();
    const url = `${upstream.config.url.replace(/\/+$/, '')}/${encodePath(file)}`;
    return this.cache.fetchBody<ProxiedFile>({
      upstream,
      log: options.log,
      what: 'file',
      kind: 'file',
      subject: url,
      fields: { url },
      flightKey: url,
      notFoundKey: url,
      signal: options.signal,
      digest: undefined,
      retryAfter: () => true,
      findCached,
      get: () => upstream.client.getFile(url, { stream: true }),
      repository: async () => (await this.store.ensureRepository(proxy.id, file.package)).id,
      streams: (res) => options.streams && !res.crossOrigin,
      onCommitted: async (blob, repositoryId) => {
        const key = { ...versionKey(proxy, file), repositoryId };
        await this.packageFiles.addFile({ ...key, file: { path: file.path, digest: blob.digest, size: blob.size } }, { replace: true });
      },
      streamed: (stream, res) => ({ streaming: { stream, size: res.size } }),
      committed: async () => {
        const found = await findCached();
        if (!found) throw new PalletError('UNAVAILABLE', `${upstream.label}: ${url} was fetched but its cached copy is gone; try again`);
        return found;
      },
    });
  }
}
