/**
 * Manifest misses of one OCI upstream proxy, over the fetch-and-cache core:
 * - by digest: the cache, else one upstream GET (never asked again once cached);
 * - by tag: the cache while the tag was confirmed less than `tagTtlSeconds` ago; after that a
 *   HEAD revalidates it (same digest → confirmed; another → GET the new one; 404 → the tag is
 *   dropped). When the upstream is down, slow, rate-limiting or denying, the cached copy is
 *   served stale (`FetchCache.revalidated`: back-off, counted and logged).
 * Upstream 404s are remembered (per proxy, repository and reference); concurrent misses of one
 * (proxy, name, reference) share one fetch or revalidation.
 */
import { digestOf, isDigest, parseDigest } from '../../base/digest.js';
import { isPalletError, PalletError } from '../../base/errors.js';
import type { MetadataStore, StoredManifest } from '../../metadata/store.js';
import type { UpstreamStore } from '../../metadata/upstream-store.js';
import { parseManifest } from '../../registry/manifest-parser.js';
import { checkReference, manifestRow } from '../../registry/manifests.js';
import { isFailure, message, upstreamErrorReason } from '../fetch-cache/errors.js';
import type { FetchCache } from '../fetch-cache/fetch-cache.js';
import type { Upstream, UpstreamLog } from '../fetch-cache/upstreams.js';

export interface OciManifestDeps {
  store: MetadataStore;
  upstreamStore: UpstreamStore;
  cache: FetchCache;
}

/** Which revalidation errors serve a cached tag stale: could not ask, or denied. */
function servesStale(err: unknown): boolean {
  return isFailure(err) || isPalletError(err, 'DENIED');
}

export class OciManifests {
  constructor(
    private readonly deps: OciManifestDeps,
    /** Largest manifest accepted from an upstream. */
    private readonly manifestMaxBytes: number,
  ) {}

  /** The manifest `reference` names on the proxy (see the module header). */
  async get(proxy: Upstream, name: string, reference: string, log: UpstreamLog): Promise<StoredManifest> {
    const kind = checkReference(reference);
    const { store, upstreamStore, cache } = this.deps;
    const key = `${name}\0${reference}`;
    const repo = await store.findRepository(proxy.registry.id, name);
    if (kind === 'digest') {
      const cached = repo && (await store.findManifest(repo.id, reference));
      if (cached) {
        cache.metrics.hit(proxy, 'manifest');
        return cached;
      }
    } else if (repo) {
      const cached = await store.findManifestByTag(repo.id, reference);
      if (cached) {
        return cache.revalidated({
          upstream: proxy,
          key,
          checkedAt: (await upstreamStore.findTagCheck(repo.id, reference)) ?? 0,
          ttlMs: proxy.config.tagTtlSeconds * 1000,
          cached: () => cached,
          revalidate: () => this.revalidate(proxy, name, reference, repo.id, cached, log),
          servesStale,
          kind: 'manifest',
          what: 'tag',
          log,
          fields: { name, tag: reference, digest: cached.digest },
        });
      }
    }
    if (cache.isNotFound(proxy, key)) throw this.manifestUnknown(proxy, name, reference);
    return cache.once(proxy, key, () => this.fetch(proxy, name, reference, log));
  }

  /** A cached tag past its TTL: HEAD the upstream and act on its answer (see the header). */
  private async revalidate(proxy: Upstream, name: string, tag: string, repositoryId: string, cached: StoredManifest, log: UpstreamLog): Promise<StoredManifest> {
    const { store, upstreamStore, cache } = this.deps;
    let head;
    try {
      head = await proxy.client.headManifest(name, tag);
    } catch (err) {
      cache.metrics.error(proxy, upstreamErrorReason(err));
      throw err;
    }
    if (!head) {
      await store.deleteTag(repositoryId, tag);
      cache.rememberNotFound(proxy, `${name}\0${tag}`);
      log.info({ upstream: proxy.label, name, tag }, 'upstream: the tag is gone upstream; dropped from the cache');
      throw this.manifestUnknown(proxy, name, tag);
    }
    if (head.digest === cached.digest) {
      await upstreamStore.markTagChecked(repositoryId, tag, Date.now());
      cache.metrics.hit(proxy, 'manifest');
      return cached;
    }
    return this.fetch(proxy, name, tag, log);
  }

  /** GET from the upstream, verify, cache (moving the tag), and return the stored manifest. */
  private async fetch(proxy: Upstream, name: string, reference: string, log: UpstreamLog): Promise<StoredManifest> {
    const { store, upstreamStore, cache } = this.deps;
    const { metrics } = cache;
    const kind = checkReference(reference);
    metrics.miss(proxy, 'manifest');
    let res;
    try {
      res = await proxy.client.getManifest(name, reference, this.manifestMaxBytes);
    } catch (err) {
      metrics.error(proxy, upstreamErrorReason(err));
      throw err;
    }
    if (!res) {
      cache.rememberNotFound(proxy, `${name}\0${reference}`);
      throw this.manifestUnknown(proxy, name, reference);
    }
    metrics.fetched(proxy, res.body.length);
    const claimed = kind === 'digest' ? reference : res.digest && isDigest(res.digest) ? res.digest : undefined;
    const digest = digestOf(res.body, claimed ? parseDigest(claimed).algorithm : 'sha256');
    if (claimed && claimed !== digest) {
      metrics.error(proxy, 'digest-mismatch');
      throw new PalletError(
        'UNAVAILABLE',
        `upstream ${proxy.label} served a manifest for ${name}:${reference} that hashes to ${digest}, not ${claimed}; it was not cached`,
        { upstream: proxy.label },
      );
    }
    let parsed;
    try {
      parsed = await parseManifest(res.body, res.mediaType);
    } catch (err) {
      metrics.error(proxy, 'invalid');
      throw new PalletError('UNAVAILABLE', `upstream ${proxy.label} served an unusable manifest for ${name}:${reference}: ${message(err)}`, {
        upstream: proxy.label,
      });
    }
    const repo = await store.ensureRepository(proxy.registry.id, name);
    const record = await store.putManifest(manifestRow(repo.id, digest, parsed, res.body, kind === 'tag' ? reference : undefined));
    if (kind === 'tag') await upstreamStore.markTagChecked(repo.id, reference, Date.now());
    log.info({ upstream: proxy.label, name, reference, digest }, 'upstream: cached a manifest');
    return { ...record, payload: res.body };
  }

  manifestUnknown(proxy: Upstream, name: string, reference: string): PalletError {
    return new PalletError('MANIFEST_UNKNOWN', `manifest unknown to registry: ${name}:${reference} is not in upstream proxy ${proxy.label}`, {
      reference,
    });
  }
}
