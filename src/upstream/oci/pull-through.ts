/**
 * Pull-through caching for OCI pulls (`/v2`, docker and helm registries): a decorator over the
 * local `PullService` that answers what a registry does not hold from its upstream proxies, and
 * caches what it fetched under the proxy. A thin adapter over the fetch-and-cache core:
 * - the resolution order (`fetch-cache/resolve.ts`): a local registry's own content, then each
 *   upstream proxy in list order; a pull from a proxy uses that proxy. Blobs are first looked
 *   for in every candidate proxy's cache, before any upstream is asked;
 * - manifests: `manifest-fetch.ts` (tags revalidated after their TTL, served stale while the
 *   upstream fails); blobs: `blob-fetch.ts` (what may be linked, who streams and who waits).
 * Every upstream request has a total deadline to its headers (and to the end of a manifest or
 * token), so a trickling upstream fails in bounded time: a cached tag is then served stale and
 * the next upstream in the list is tried.
 */
import { parseDigest } from '../../base/digest.js';
import { PalletError, type ErrorCode } from '../../base/errors.js';
import type { BlobRecord, MetadataStore, RegistryRecord, StoredManifest } from '../../metadata/store.js';
import type { UpstreamStore } from '../../metadata/upstream-store.js';
import type { BlobService } from '../../registry/blobs.js';
import type { BlobRead, OpenBlobOptions, PullOptions, PullService } from '../../registry/pulls.js';
import type { RepositoryTarget } from '../../registry/repositories.js';
import type { FetchCache } from '../fetch-cache/fetch-cache.js';
import { resolveInOrder } from '../fetch-cache/resolve.js';
import { upstreamLabel, type Upstream, type UpstreamLog } from '../fetch-cache/upstreams.js';
import { OciBlobs } from './blob-fetch.js';
import { OciManifests } from './manifest-fetch.js';

/** Docker Hub's token service and the hosts it redirects blob GETs to (its CDN and storage). */
export const DOCKER_HUB_HOSTS = {
  dockerHub: true,
  tokenRealmHosts: ['auth.docker.io'],
  redirectHosts: ['production.cloudflare.docker.com', '*.r2.cloudflarestorage.com'],
} as const;

export interface PullThroughDeps {
  local: PullService;
  store: MetadataStore;
  upstreamStore: UpstreamStore;
  blobs: BlobService;
  cache: FetchCache;
}

export interface PullThroughOptions {
  /** Largest manifest accepted from an upstream. */
  manifestMaxBytes: number;
}

/** Bound of the memo of (local registry, proxy repository) pairs already recorded as served. */
const MAX_SERVED_MEMO = 100_000;

export class PullThrough implements PullService {
  private readonly manifests: OciManifests;
  private readonly blobs: OciBlobs;
  private readonly served = new Set<string>();

  constructor(
    private readonly deps: PullThroughDeps,
    options: PullThroughOptions,
  ) {
    const { store, upstreamStore, blobs, cache } = deps;
    this.manifests = new OciManifests({ store, upstreamStore, cache }, options.manifestMaxBytes);
    this.blobs = new OciBlobs({ store, blobs, cache });
  }

  async manifest(target: RepositoryTarget, reference: string, options: PullOptions = {}): Promise<StoredManifest> {
    const log = options.log ?? this.deps.cache.log;
    let fromUpstream = false;
    const found = await this.resolve(target, 'manifest', reference, log, {
      own: () => this.deps.local.manifest(target, reference, options),
      attempt: (proxy) => {
        fromUpstream = true;
        return this.manifests.get(proxy, target.name, reference, log);
      },
    });
    if (fromUpstream && target.registry.kind !== 'upstream') await this.noteServed(target.registry.id, found.repositoryId);
    return found;
  }

  async statBlob(target: RepositoryTarget, digest: string, options: PullOptions = {}): Promise<BlobRecord> {
    parseDigest(digest);
    const log = options.log ?? this.deps.cache.log;
    return this.resolve(target, 'blob', digest, log, {
      own: () => this.deps.local.statBlob(target, digest, options),
      cached: async (upstreams) => (await this.findCached(target, upstreams, digest))?.blob,
      attempt: (proxy) => this.blobs.stat(proxy, target.name, digest),
    });
  }

  async openBlob(target: RepositoryTarget, digest: string, options: OpenBlobOptions = {}): Promise<BlobRead> {
    parseDigest(digest);
    const log = options.log ?? this.deps.cache.log;
    return this.resolve(target, 'blob', digest, log, {
      own: () => this.deps.local.openBlob(target, digest, options),
      cached: async (upstreams) => {
        const cached = await this.findCached(target, upstreams, digest);
        return cached && this.blobs.readCached(target.root, cached.repositoryId, digest, options);
      },
      attempt: (proxy) => this.blobs.fetch(proxy, target.name, digest, options, log),
    });
  }

  /** The core's resolution order with OCI's errors (see `notFound` and `failed`). */
  private resolve<T>(
    target: RepositoryTarget,
    what: 'manifest' | 'blob',
    reference: string,
    log: UpstreamLog,
    steps: {
      own: () => Promise<T>;
      cached?: (upstreams: readonly RegistryRecord[]) => Promise<T | undefined>;
      attempt: (proxy: Upstream) => Promise<T>;
    },
  ): Promise<T> {
    const proxyTarget = target.registry.kind === 'upstream';
    const subject = `${target.name}${reference.includes(':') ? '@' : ':'}${reference}`;
    const label = (u: RegistryRecord): string => upstreamLabel(target.root, u);
    return resolveInOrder({
      own: proxyTarget ? undefined : steps.own,
      upstreams: async () => (proxyTarget ? [target.registry] : this.deps.store.listUpstreams(target.registry.id)),
      cached: steps.cached,
      attempt: async (registry) => {
        const proxy = this.deps.cache.upstream(target.root, registry, log);
        return proxy && steps.attempt(proxy);
      },
      labelOf: label,
      notFound: (upstreams, notes) => {
        const names = upstreams.map(label).join(', ');
        const where = proxyTarget ? `upstream proxy ${names}` : `${target.fullName} nor its upstream proxies (${names})`;
        const why = notes.length > 0 ? `; ${notes.join('; ')}` : '';
        if (what === 'manifest') return new PalletError('MANIFEST_UNKNOWN', `manifest unknown to registry: ${subject} is not in ${where}${why}`, { reference });
        return new PalletError('BLOB_UNKNOWN', `blob unknown to registry: ${subject} is not in ${where}${why}`, { digest: reference });
      },
      failed: (failure, _upstreams, notes) => {
        // OCI clients show the message of a 4xx answer but only the status of a 5xx one, so an
        // upstream that could not be asked is reported as "unknown" with the reason in the
        // message (429 stays 429: clients know to back off).
        const code: ErrorCode = failure.code === 'TOOMANYREQUESTS' ? 'TOOMANYREQUESTS' : what === 'manifest' ? 'MANIFEST_UNKNOWN' : 'BLOB_UNKNOWN';
        return new PalletError(code, `${subject} is not cached and could not be fetched from the upstream (${notes.join('; ')})`, {
          ...(failure.detail ?? {}),
          reference,
          upstreamFailure: true,
        });
      },
      log,
      fields: { name: target.name, reference },
    });
  }

  /** The blob when a candidate proxy's cache already links it for this name. */
  private async findCached(target: RepositoryTarget, upstreams: readonly RegistryRecord[], digest: string): Promise<{ blob: BlobRecord; repositoryId: string } | undefined> {
    for (const registry of upstreams) {
      const repo = await this.deps.store.findRepository(registry.id, target.name);
      const blob = repo && (await this.deps.store.findLinkedBlob(repo.id, digest));
      if (repo && blob) {
        this.deps.cache.metrics.hit({ label: upstreamLabel(target.root, registry), format: registry.packageType }, 'blob');
        return { blob, repositoryId: repo.id };
      }
    }
    return undefined;
  }

  /** Records once per process that a local registry served a proxy repository. */
  private async noteServed(registryId: string, repositoryId: string): Promise<void> {
    const key = `${registryId}\0${repositoryId}`;
    if (this.served.has(key)) return;
    await this.deps.upstreamStore.recordServed(registryId, repositoryId);
    if (this.served.size >= MAX_SERVED_MEMO) this.served.clear();
    this.served.add(key);
  }
}
