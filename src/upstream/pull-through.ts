/**
 * Pull-through caching: a decorator over the local `PullService` that answers what a registry
 * does not hold from its upstream proxies, and caches what it fetched under the proxy.
 *
 * Resolution order (DESIGN.md): a pull from a local registry tries its own content, then each
 * upstream proxy in list order; a pull from a proxy uses that proxy. For one proxy:
 * - a manifest by digest: the cache, else one upstream GET (never asked again once cached);
 * - a manifest by tag: the cache while the tag was confirmed less than `tagTtlSeconds` ago;
 *   after that a HEAD revalidates it (same digest → confirmed; another → GET the new one;
 *   404 → the tag is dropped). When the upstream is down, slow, rate-limiting or failing, the
 *   cached copy is served, logged and counted as a stale serve;
 * - a blob: the cache (checked across every candidate proxy first), else what this same proxy
 *   cached under another name, else one upstream GET (see `blob-fetch.ts`: what may be linked,
 *   who streams and who waits, and `cache-fill.ts`: the limits on an upstream body).
 * Upstream 404s are remembered for `notFoundTtlMs` (per proxy, repository and reference).
 * Upstream answers that deny access (401/403 after authenticating, as Docker Hub answers for
 * missing repositories) count as a miss for falling through, and are named in the final error.
 * Every upstream request has a total deadline to its headers (and to the end of a manifest or
 * token), so a trickling upstream fails in bounded time: a cached tag is then served stale
 * and the next upstream in the list is tried.
 *
 * Sharing one fetch: concurrent misses for one manifest (proxy, name, reference) await one
 * promise; concurrent misses for one blob on one proxy share one upstream GET (`blob-fetch.ts`).
 *
 * The in-memory state here (single-flight maps, negative cache, upstream clients and their
 * tokens, back-off after a failure) is an optimisation local to the process; the cache itself
 * (manifests, blobs, tag check times) is in the metadata store and storage, shared by replicas.
 */
import { digestOf, isDigest, parseDigest } from '../base/digest.js';
import { isPalletError, PalletError, type ErrorCode } from '../base/errors.js';
import { isTag } from '../base/names.js';
import type { BlobRecord, MetadataStore, RegistryRecord, SpaceRecord, StoredManifest } from '../metadata/store.js';
import type { UpstreamStore } from '../metadata/upstream-store.js';
import type { BlobService } from '../registry/blobs.js';
import { parseManifest } from '../registry/manifest-parser.js';
import type { BlobRead, OpenBlobOptions, PullService } from '../registry/pulls.js';
import type { QuotaGate } from '../registry/quotas.js';
import type { SecretCodec } from '../base/secret-box.js';
import { readUpstreamConfig, type UpstreamConfig } from '../registry/upstream-config.js';
import type { RepositoryTarget } from '../registry/repositories.js';
import { BlobFetcher, type FileFetch, type FileRead, type Proxy } from './blob-fetch.js';
import { RegistryClient, registryEndpoint } from './client.js';
import { isEgressRefused, type EgressPolicy } from './egress.js';
import { ExpiringSet } from './flights.js';
import type { UpstreamMetrics } from './metrics.js';

export type { FileFetch, FileRead } from './blob-fetch.js';

export interface UpstreamLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface PullThroughOptions {
  /** Upstream request timeout (connect, headers, body stalls). */
  timeoutMs: number;
  /** How long an upstream 404 is remembered (0: not at all). */
  notFoundTtlMs: number;
  /** Largest manifest accepted from an upstream. */
  manifestMaxBytes: number;
  /** Hosts besides a proxy's own that may receive its credentials as token service. */
  tokenRealmHosts?: readonly string[];
  /** Total deadline of an upstream request to its headers, and to the end of a small body. */
  deadlineMs: number;
  /** Hosts besides a proxy's own origin that redirects may go to (`redirectRefusal`). */
  redirectHosts?: readonly string[];
  /** Slowest an upstream blob body may arrive (0: no minimum). */
  minBytesPerSecond: number;
  /** Longest a pull waits for another's fetch of the same blob on the same proxy. */
  flightWaitMs: number;
  /** Largest blob or file fetched from an upstream (0: no limit). */
  maxBlobBytes: number;
}

/** Docker Hub's token service, trusted with the credentials of `dockerhub` proxies. */
const DOCKER_HUB_TOKEN_HOST = 'auth.docker.io';
/** Where Docker Hub redirects blob GETs (its CDN and object storage). */
const DOCKER_HUB_REDIRECT_HOSTS = ['production.cloudflare.docker.com', '*.r2.cloudflarestorage.com'];

export interface PullThroughDeps {
  local: PullService;
  store: MetadataStore;
  upstreamStore: UpstreamStore;
  blobs: BlobService;
  secrets: SecretCodec;
  metrics: UpstreamMetrics;
  log: UpstreamLog;
  /** Where upstream connections may go; every upstream client uses its agents. */
  egress: EgressPolicy;
  /** Quotas, reserved while an upstream body is written (not only at the commit). */
  quotas?: QuotaGate;
}

/** Local answers that mean "not here" (try the upstreams). */
const MISSES: readonly ErrorCode[] = ['NAME_UNKNOWN', 'MANIFEST_UNKNOWN', 'BLOB_UNKNOWN'];
/** Upstream answers that mean "could not ask" (serve stale, try the next upstream). */
const FAILURES: readonly ErrorCode[] = ['UNAVAILABLE', 'TOOMANYREQUESTS'];
/** Bounds of the in-memory maps. */
const MAX_NOT_FOUND = 10_000;
const MAX_SERVED_MEMO = 100_000;
/** After an upstream failure, cached tags are served without asking it again for this long. */
const FAILURE_BACKOFF_MS = 5_000;

function isMiss(err: unknown): boolean {
  return err instanceof PalletError && MISSES.includes(err.code);
}

function isFailure(err: unknown): boolean {
  return err instanceof PalletError && FAILURES.includes(err.code);
}

/** `detail.reason` of upstream errors → the `reason` label of their metric. */
const REASONS: Record<string, string> = {
  REDIRECT_REFUSED: 'redirect-refused',
  TOO_LARGE: 'too-large',
  TOO_SLOW: 'too-slow',
  ABANDONED: 'abandoned',
  WAIT_EXPIRED: 'wait-expired',
};

/** The `reason` label of `pallet_upstream_errors_total` for a failed upstream request. */
export function upstreamErrorReason(err: unknown): string {
  if (isPalletError(err, 'TOOMANYREQUESTS')) return 'rate-limited';
  if (isPalletError(err, 'DENIED') && typeof err.detail?.quotaBytes === 'number') return 'quota';
  if (isPalletError(err, 'DENIED')) return 'denied';
  if (err instanceof PalletError && isEgressRefused({ code: err.detail?.reason })) return 'address-refused';
  const reason = err instanceof PalletError ? REASONS[String(err.detail?.reason)] : undefined;
  if (reason) return reason;
  return 'unavailable';
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Checks a manifest reference the way the local path does; throws MANIFEST_INVALID / DIGEST_INVALID. */
function referenceKind(reference: string): 'digest' | 'tag' {
  if (reference.includes(':')) {
    parseDigest(reference);
    return 'digest';
  }
  if (!isTag(reference)) throw new PalletError('MANIFEST_INVALID', `invalid tag ${JSON.stringify(reference)}`, { reference });
  return 'tag';
}

export class PullThrough implements PullService {
  private readonly clients = new Map<string, { fingerprint: string; client: RegistryClient }>();
  private readonly manifestFlights = new Map<string, Promise<StoredManifest>>();
  private readonly notFound = new ExpiringSet(MAX_NOT_FOUND);
  private readonly fetcher: BlobFetcher;
  private readonly downUntil = new Map<string, number>();
  private readonly served = new Set<string>();

  constructor(
    private readonly deps: PullThroughDeps,
    private readonly options: PullThroughOptions,
  ) {
    const { store, blobs, metrics, log, quotas } = deps;
    this.fetcher = new BlobFetcher(
      { store, blobs, metrics, log, ...(quotas ? { quotas } : {}), notFound: this.notFound, reason: upstreamErrorReason },
      {
        notFoundTtlMs: options.notFoundTtlMs,
        flightWaitMs: options.flightWaitMs,
        limits: { maxBytes: options.maxBlobBytes, minBytesPerSecond: options.minBytesPerSecond, windowMs: options.timeoutMs },
      },
    );
  }

  // Manifests ------------------------------------------------------------------------------

  async manifest(target: RepositoryTarget, reference: string): Promise<StoredManifest> {
    if (target.registry.kind === 'upstream') {
      return this.firstHit(target, [target.registry], 'manifest', reference, (proxy) => this.proxyManifest(proxy, target.name, reference));
    }
    let miss: unknown;
    try {
      return await this.deps.local.manifest(target, reference);
    } catch (err) {
      if (!isMiss(err)) throw err;
      miss = err;
    }
    const upstreams = await this.deps.store.listUpstreams(target.registry.id);
    if (upstreams.length === 0) throw miss;
    const found = await this.firstHit(target, upstreams, 'manifest', reference, (proxy) => this.proxyManifest(proxy, target.name, reference));
    await this.noteServed(target.registry.id, found.repositoryId);
    return found;
  }

  private async proxyManifest(proxy: Proxy, name: string, reference: string): Promise<StoredManifest> {
    const kind = referenceKind(reference);
    const { store, upstreamStore, metrics } = this.deps;
    const key = `${proxy.registry.id}\0${name}\0${reference}`;
    const repo = await store.findRepository(proxy.registry.id, name);
    if (kind === 'digest') {
      const cached = repo && (await store.findManifest(repo.id, reference));
      if (cached) {
        metrics.hit(proxy.label, 'manifest');
        return cached;
      }
    } else if (repo) {
      const cached = await store.findManifestByTag(repo.id, reference);
      if (cached) {
        const checked = (await upstreamStore.findTagCheck(repo.id, reference)) ?? 0;
        if (Date.now() - checked < proxy.config.tagTtlSeconds * 1000) {
          metrics.hit(proxy.label, 'manifest');
          return cached;
        }
        if ((this.downUntil.get(proxy.registry.id) ?? 0) > Date.now()) {
          return this.serveStale(proxy, name, reference, cached, 'the upstream failed moments ago');
        }
        return this.once(key, () => this.revalidate(proxy, name, reference, repo.id, cached));
      }
    }
    if (this.notFound.has(key)) throw this.manifestUnknown(proxy, name, reference);
    return this.once(key, () => this.fetchManifest(proxy, name, reference));
  }

  private once(key: string, work: () => Promise<StoredManifest>): Promise<StoredManifest> {
    let flight = this.manifestFlights.get(key);
    if (!flight) {
      flight = work().finally(() => this.manifestFlights.delete(key));
      this.manifestFlights.set(key, flight);
    }
    return flight;
  }

  /** A cached tag past its TTL: HEAD the upstream and act on its answer (see the header). */
  private async revalidate(proxy: Proxy, name: string, tag: string, repositoryId: string, cached: StoredManifest): Promise<StoredManifest> {
    const { store, upstreamStore, metrics } = this.deps;
    let head;
    try {
      head = await proxy.client.headManifest(name, tag);
    } catch (err) {
      if (isFailure(err) || isPalletError(err, 'DENIED')) return this.upstreamFailed(proxy, name, tag, cached, err);
      throw err;
    }
    if (!head) {
      await store.deleteTag(repositoryId, tag);
      this.notFound.add(`${proxy.registry.id}\0${name}\0${tag}`, this.options.notFoundTtlMs);
      this.deps.log.info({ upstream: proxy.label, name, tag }, 'upstream: the tag is gone upstream; dropped from the cache');
      throw this.manifestUnknown(proxy, name, tag);
    }
    if (head.digest === cached.digest) {
      await upstreamStore.markTagChecked(repositoryId, tag, Date.now());
      metrics.hit(proxy.label, 'manifest');
      return cached;
    }
    try {
      return await this.fetchManifest(proxy, name, tag);
    } catch (err) {
      if (isFailure(err) || isPalletError(err, 'DENIED')) return this.upstreamFailed(proxy, name, tag, cached, err);
      throw err;
    }
  }

  private upstreamFailed(proxy: Proxy, name: string, tag: string, cached: StoredManifest, err: unknown): StoredManifest {
    this.downUntil.set(proxy.registry.id, Date.now() + Math.min(FAILURE_BACKOFF_MS, proxy.config.tagTtlSeconds * 1000));
    this.deps.metrics.error(proxy.label, this.reason(err));
    return this.serveStale(proxy, name, tag, cached, message(err));
  }

  private serveStale(proxy: Proxy, name: string, tag: string, cached: StoredManifest, why: string): StoredManifest {
    this.deps.metrics.staleServe(proxy.label);
    this.deps.log.warn({ upstream: proxy.label, name, tag, digest: cached.digest, reason: why }, 'upstream: serving the cached tag without revalidation');
    return cached;
  }

  /** GET from the upstream, verify, cache (moving the tag), and return the stored manifest. */
  private async fetchManifest(proxy: Proxy, name: string, reference: string): Promise<StoredManifest> {
    const { store, upstreamStore, metrics } = this.deps;
    const kind = referenceKind(reference);
    metrics.miss(proxy.label, 'manifest');
    let res;
    try {
      res = await proxy.client.getManifest(name, reference, this.options.manifestMaxBytes);
    } catch (err) {
      metrics.error(proxy.label, this.reason(err));
      throw err;
    }
    if (!res) {
      this.notFound.add(`${proxy.registry.id}\0${name}\0${reference}`, this.options.notFoundTtlMs);
      throw this.manifestUnknown(proxy, name, reference);
    }
    metrics.fetched(proxy.label, res.body.length);
    const claimed = kind === 'digest' ? reference : res.digest && isDigest(res.digest) ? res.digest : undefined;
    const digest = digestOf(res.body, claimed ? parseDigest(claimed).algorithm : 'sha256');
    if (claimed && claimed !== digest) {
      metrics.error(proxy.label, 'digest-mismatch');
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
      metrics.error(proxy.label, 'invalid');
      throw new PalletError('UNAVAILABLE', `upstream ${proxy.label} served an unusable manifest for ${name}:${reference}: ${message(err)}`, {
        upstream: proxy.label,
      });
    }
    const repo = await store.ensureRepository(proxy.registry.id, name);
    const record = await store.putManifest({
      repositoryId: repo.id,
      digest,
      mediaType: parsed.mediaType,
      artifactType: parsed.artifactType,
      subjectDigest: parsed.subject?.digest ?? null,
      annotations: parsed.annotations,
      payload: res.body,
      references: parsed.references,
      ...(kind === 'tag' ? { tag: reference } : {}),
    });
    if (kind === 'tag') await upstreamStore.markTagChecked(repo.id, reference, Date.now());
    this.deps.log.info({ upstream: proxy.label, name, reference, digest }, 'upstream: cached a manifest');
    return { ...record, payload: res.body };
  }

  private manifestUnknown(proxy: Proxy, name: string, reference: string): PalletError {
    return new PalletError('MANIFEST_UNKNOWN', `manifest unknown to registry: ${name}:${reference} is not in upstream proxy ${proxy.label}`, {
      reference,
    });
  }

  // Blobs ----------------------------------------------------------------------------------

  async statBlob(target: RepositoryTarget, digest: string): Promise<BlobRecord> {
    parseDigest(digest);
    const local = await this.tryLocal(target, () => this.deps.local.statBlob(target, digest));
    if (local) return local.value;
    const upstreams = await this.candidates(target);
    const cached = await this.findCached(target, upstreams, digest);
    if (cached) return cached.blob;
    return this.firstHit(target, upstreams, 'blob', digest, async (proxy) => {
      // The upstream's HEAD answers the size; it never links anything (see blob-fetch.ts).
      const existing = await this.fetcher.linkVerified(proxy, target.name, digest);
      if (existing) return existing.blob;
      const key = `${proxy.registry.id}\0${target.name}\0${digest}`;
      if (this.notFound.has(key)) throw this.fetcher.blobUnknown(proxy, target.name, digest);
      const head = await proxy.client.headBlob(target.name, digest);
      if (!head) {
        this.notFound.add(key, this.options.notFoundTtlMs);
        throw this.fetcher.blobUnknown(proxy, target.name, digest);
      }
      if (head.size === undefined) {
        throw new PalletError('UNAVAILABLE', `upstream ${proxy.label} did not give the size of ${digest}`, { upstream: proxy.label });
      }
      return { digest, size: head.size, createdAt: Date.now(), verified: false };
    });
  }

  async openBlob(target: RepositoryTarget, digest: string, options: OpenBlobOptions = {}): Promise<BlobRead> {
    parseDigest(digest);
    const local = await this.tryLocal(target, () => this.deps.local.openBlob(target, digest, options));
    if (local) return local.value;
    const upstreams = await this.candidates(target);
    const cached = await this.findCached(target, upstreams, digest);
    if (cached) return this.fetcher.readCached(target.root, cached.repositoryId, digest, options);
    return this.firstHit(target, upstreams, 'blob', digest, (proxy) => this.fetcher.fetchBlob(proxy, target.name, digest, options));
  }

  private async tryLocal<T>(target: RepositoryTarget, work: () => Promise<T>): Promise<{ value: T } | undefined> {
    if (target.registry.kind === 'upstream') return undefined;
    try {
      return { value: await work() };
    } catch (err) {
      if (!isMiss(err)) throw err;
      const upstreams = await this.deps.store.listUpstreams(target.registry.id);
      if (upstreams.length === 0) throw err;
      return undefined;
    }
  }

  private async candidates(target: RepositoryTarget): Promise<RegistryRecord[]> {
    return target.registry.kind === 'upstream' ? [target.registry] : this.deps.store.listUpstreams(target.registry.id);
  }

  /** The blob when a candidate proxy's cache already links it for this name. */
  private async findCached(target: RepositoryTarget, upstreams: RegistryRecord[], digest: string): Promise<{ blob: BlobRecord; repositoryId: string } | undefined> {
    for (const registry of upstreams) {
      const repo = await this.deps.store.findRepository(registry.id, target.name);
      const blob = repo && (await this.deps.store.findLinkedBlob(repo.id, digest));
      if (repo && blob) {
        this.deps.metrics.hit(`${target.root.path}/${registry.identifier}`, 'blob');
        return { blob, repositoryId: repo.id };
      }
    }
    return undefined;
  }

  /** Fetches a file by URL into a proxy's cache; see `BlobFetcher.fetchFile`. */
  async fetchFile(f: FileFetch): Promise<FileRead | undefined> {
    const proxy = this.proxy(f.root, f.registry);
    if (!proxy) throw new PalletError('UNAVAILABLE', `upstream proxy ${f.root.path}/${f.registry.identifier} has no URL`);
    return this.fetcher.fetchFile(proxy, f);
  }

  /** The upstream client of a proxy (for plain-file requests such as an index); undefined without a URL. */
  clientOf(root: SpaceRecord, registry: RegistryRecord): RegistryClient | undefined {
    return this.proxy(root, registry)?.client;
  }

  // Shared ---------------------------------------------------------------------------------

  /**
   * Tries `attempt` on each proxy in order; the first answer wins. Misses and denials fall
   * through; failures (unreachable, 5xx, 429) fall through too but make the final error a
   * failure rather than "unknown", naming every upstream and what it said.
   */
  private async firstHit<T>(
    target: RepositoryTarget,
    upstreams: RegistryRecord[],
    what: 'manifest' | 'blob',
    reference: string,
    attempt: (proxy: Proxy) => Promise<T>,
  ): Promise<T> {
    const notes: string[] = [];
    let failure: PalletError | undefined;
    for (const registry of upstreams) {
      try {
        const proxy = this.proxy(target.root, registry);
        if (!proxy) continue;
        return await attempt(proxy);
      } catch (err) {
        const label = `${target.root.path}/${registry.identifier}`;
        if (isMiss(err)) continue;
        if (isPalletError(err, 'DENIED')) {
          notes.push(`${label}: ${err.message}`);
          continue;
        }
        if (!isFailure(err)) throw err;
        failure ??= err as PalletError;
        notes.push(`${label}: ${message(err)}`);
        this.deps.log.warn({ upstream: label, name: target.name, reference, reason: message(err) }, 'upstream: could not fetch');
      }
    }
    const names = upstreams.map((u) => `${target.root.path}/${u.identifier}`).join(', ');
    const subject = `${target.name}${reference.includes(':') ? '@' : ':'}${reference}`;
    if (failure) {
      // OCI clients show the message of a 4xx answer but only the status of a 5xx one, so an
      // upstream that could not be asked is reported as "unknown" with the reason in the
      // message (429 stays 429: clients know to back off).
      const code: ErrorCode = failure.code === 'TOOMANYREQUESTS' ? 'TOOMANYREQUESTS' : what === 'manifest' ? 'MANIFEST_UNKNOWN' : 'BLOB_UNKNOWN';
      throw new PalletError(code, `${subject} is not cached and could not be fetched from the upstream (${notes.join('; ')})`, {
        ...(failure.detail ?? {}),
        reference,
        upstreamFailure: true,
      });
    }
    const where = target.registry.kind === 'upstream' ? `upstream proxy ${names}` : `${target.fullName} nor its upstream proxies (${names})`;
    const why = notes.length > 0 ? `; ${notes.join('; ')}` : '';
    if (what === 'manifest') throw new PalletError('MANIFEST_UNKNOWN', `manifest unknown to registry: ${subject} is not in ${where}${why}`, { reference });
    throw new PalletError('BLOB_UNKNOWN', `blob unknown to registry: ${subject} is not in ${where}${why}`, { digest: reference });
  }

  /** The proxy's config and client (rebuilt when its config changed); undefined when unusable. */
  private proxy(root: SpaceRecord, registry: RegistryRecord): Proxy | undefined {
    const label = `${root.path}/${registry.identifier}`;
    let config: UpstreamConfig | undefined;
    try {
      config = readUpstreamConfig(registry, this.deps.secrets);
    } catch (err) {
      this.deps.log.warn({ upstream: label, reason: message(err) }, 'upstream: unusable proxy config');
      throw new PalletError('UNAVAILABLE', `upstream proxy ${label} cannot be used: ${message(err)}`, { upstream: label });
    }
    if (!config || !config.url) return undefined;
    const fingerprint = JSON.stringify(registry.upstream);
    let entry = this.clients.get(registry.id);
    if (!entry || entry.fingerprint !== fingerprint) {
      entry?.client.close();
      entry = {
        fingerprint,
        client: new RegistryClient({
          ...registryEndpoint(config.url),
          dockerHub: config.source === 'dockerhub',
          ...(config.credentials ? { credentials: config.credentials } : {}),
          timeoutMs: this.options.timeoutMs,
          deadlineMs: this.options.deadlineMs,
          redirectHosts: [...(this.options.redirectHosts ?? []), ...(config.source === 'dockerhub' ? DOCKER_HUB_REDIRECT_HOSTS : [])],
          egress: this.deps.egress,
          tokenRealmHosts: [...(this.options.tokenRealmHosts ?? []), ...(config.source === 'dockerhub' ? [DOCKER_HUB_TOKEN_HOST] : [])],
          userAgent: 'pallet-upstream-proxy',
          observer: this.deps.metrics.observer(label),
        }),
      };
      this.clients.set(registry.id, entry);
    }
    return { root, registry, config, client: entry.client, label };
  }

  /** Records once per process that a local registry served a proxy repository. */
  private async noteServed(registryId: string, repositoryId: string): Promise<void> {
    const key = `${registryId}\0${repositoryId}`;
    if (this.served.has(key)) return;
    await this.deps.upstreamStore.recordServed(registryId, repositoryId);
    if (this.served.size >= MAX_SERVED_MEMO) this.served.clear();
    this.served.add(key);
  }

  private reason(err: unknown): string {
    return upstreamErrorReason(err);
  }

  close(): void {
    for (const { client } of this.clients.values()) client.close();
    this.clients.clear();
  }
}
