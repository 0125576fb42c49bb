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
 * - a blob: the cache (checked across every candidate proxy first: a digest names the same
 *   bytes everywhere); else, when the root space already holds the bytes, a HEAD confirms the
 *   upstream has them in this repository and they are linked; else one upstream GET, teed to
 *   the client and the cache (see `tee.ts`).
 * Upstream 404s are remembered for `notFoundTtlMs` (per proxy, repository and reference).
 * Upstream answers that deny access (401/403 after authenticating, as Docker Hub answers for
 * missing repositories) count as a miss for falling through, and are named in the final error.
 *
 * Sharing one fetch: concurrent misses for one manifest (proxy, name, reference) await one
 * promise. Concurrent misses for one blob (root space, digest) share one upstream GET: the
 * request that started it streams from the tee; the others wait for the commit and then read
 * the verified blob from storage. Waiting rather than joining the stream mid-way keeps the tee
 * simple (late joiners would need the bytes already sent, i.e. a buffer or a read of a partial
 * upload) and means waiters only ever get verified bytes.
 *
 * The in-memory state here (single-flight maps, negative cache, upstream clients and their
 * tokens, back-off after a failure) is an optimisation local to the process; the cache itself
 * (manifests, blobs, tag check times) is in the metadata store and storage, shared by replicas.
 */
import { Transform, type Readable } from 'node:stream';
import { digestOf, Hasher, isDigest, parseDigest } from '../base/digest.js';
import { isPalletError, PalletError, type ErrorCode } from '../base/errors.js';
import { isTag } from '../base/names.js';
import type { BlobRecord, MetadataStore, RegistryRecord, SpaceRecord, StoredManifest } from '../metadata/store.js';
import type { UpstreamStore } from '../metadata/upstream-store.js';
import type { BlobService } from '../registry/blobs.js';
import { parseManifest } from '../registry/manifest-parser.js';
import type { BlobRead, OpenBlobOptions, PullService } from '../registry/pulls.js';
import { readUpstreamConfig, type SecretCodec, type UpstreamConfig } from '../registry/registries.js';
import type { RepositoryTarget } from '../registry/repositories.js';
import { RegistryClient, registryEndpoint } from './client.js';
import { isEgressRefused, type EgressPolicy } from './egress.js';
import type { UpstreamMetrics } from './metrics.js';
import { BlobTee } from './tee.js';

/**
 * A file that is not an OCI blob, fetched by URL into a proxy's cache with the blob rules
 * (a classic Helm repository's chart archive): one tee, one fetch per digest (per URL when the
 * digest is not known up front), verified before it is committed.
 */
export interface FileFetch {
  root: SpaceRecord;
  /** The upstream proxy the file is cached under. */
  registry: RegistryRecord;
  /** The proxy repository that links the cached file. */
  name: string;
  url: string;
  /** `sha256:…` the file must hash to; undefined: computed while streaming and stored. */
  digest: string | undefined;
  /** Runs once the file is committed, before concurrent waiters are released. */
  onCached(blob: BlobRecord, repositoryId: string): Promise<void>;
  /** The cached copy, asked again after waiting for a concurrent fetch. */
  findCached(): Promise<FileRead | undefined>;
}

export interface FileRead {
  stream: Readable;
  size: number | undefined;
  digest: string | undefined;
}

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
}

/** Docker Hub's token service, trusted with the credentials of `dockerhub` proxies. */
const DOCKER_HUB_TOKEN_HOST = 'auth.docker.io';

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

/** The `reason` label of `pallet_upstream_errors_total` for a failed upstream request. */
export function upstreamErrorReason(err: unknown): string {
  if (isPalletError(err, 'TOOMANYREQUESTS')) return 'rate-limited';
  if (isPalletError(err, 'DENIED')) return 'denied';
  if (err instanceof PalletError && isEgressRefused({ code: err.detail?.reason })) return 'address-refused';
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

/** A promise settled from outside, whose rejection is never unhandled. */
class Deferred<T> {
  readonly promise: Promise<T>;
  resolve!: (value: T) => void;
  reject!: (err: unknown) => void;
  constructor() {
    this.promise = new Promise<T>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.promise.catch(() => undefined);
  }
}

/** Keys that expire; the oldest go first when full. */
class ExpiringSet {
  private readonly until = new Map<string, number>();
  constructor(private readonly max: number) {}
  add(key: string, ttlMs: number): void {
    if (ttlMs <= 0) return;
    this.until.delete(key);
    if (this.until.size >= this.max) {
      const oldest = this.until.keys().next().value;
      if (oldest !== undefined) this.until.delete(oldest);
    }
    this.until.set(key, Date.now() + ttlMs);
  }
  has(key: string): boolean {
    const t = this.until.get(key);
    if (t === undefined) return false;
    if (t > Date.now()) return true;
    this.until.delete(key);
    return false;
  }
  delete(key: string): void {
    this.until.delete(key);
  }
}

/** One proxy as a pull sees it. */
interface Proxy {
  root: SpaceRecord;
  registry: RegistryRecord;
  config: UpstreamConfig;
  client: RegistryClient;
  /** `<root>/<identifier>`, for logs and metric labels. */
  label: string;
}

export class PullThrough implements PullService {
  private readonly clients = new Map<string, { fingerprint: string; client: RegistryClient }>();
  private readonly manifestFlights = new Map<string, Promise<StoredManifest>>();
  private readonly blobFlights = new Map<string, Deferred<BlobRecord>>();
  private readonly notFound = new ExpiringSet(MAX_NOT_FOUND);
  private readonly downUntil = new Map<string, number>();
  private readonly served = new Set<string>();

  constructor(
    private readonly deps: PullThroughDeps,
    private readonly options: PullThroughOptions,
  ) {}

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
      const existing = await this.linkExisting(proxy, target.name, digest);
      if (existing) return existing;
      const key = `${proxy.registry.id}\0${target.name}\0${digest}`;
      if (this.notFound.has(key)) throw this.blobUnknown(proxy, target.name, digest);
      const head = await proxy.client.headBlob(target.name, digest);
      if (!head) {
        this.notFound.add(key, this.options.notFoundTtlMs);
        throw this.blobUnknown(proxy, target.name, digest);
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
    if (cached) return this.readCached(target.root, cached.repositoryId, digest, options);
    return this.firstHit(target, upstreams, 'blob', digest, (proxy) => this.fetchBlob(proxy, target.name, digest, options));
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

  private async readCached(root: SpaceRecord, repositoryId: string, digest: string, options: OpenBlobOptions): Promise<BlobRead> {
    const loc = { rootSpaceId: root.id, repositoryId };
    const blob = await this.deps.blobs.stat(loc, digest);
    const range = options.range?.(blob.size);
    const { stream } = await this.deps.blobs.open(loc, digest, range, options.signal);
    return { blob, range, stream };
  }

  /**
   * When the root space already stores the digest (another repository holds it), asks the
   * upstream whether this repository has it (HEAD) and links it instead of downloading it.
   * Resolves to undefined when the root space does not hold it.
   */
  private async linkExisting(proxy: Proxy, name: string, digest: string): Promise<BlobRecord | undefined> {
    const { store } = this.deps;
    const existing = await store.findBlob(proxy.root.id, digest);
    // Bytes never verified against the digest are not reused: fetching stores verified ones.
    if (!existing?.verified) return undefined;
    const key = `${proxy.registry.id}\0${name}\0${digest}`;
    if (this.notFound.has(key)) throw this.blobUnknown(proxy, name, digest);
    const head = await proxy.client.headBlob(name, digest);
    if (!head) {
      this.notFound.add(key, this.options.notFoundTtlMs);
      throw this.blobUnknown(proxy, name, digest);
    }
    if (head.size !== undefined && head.size !== existing.size) return undefined;
    const repo = await store.ensureRepository(proxy.registry.id, name);
    let blob: BlobRecord;
    try {
      blob = await store.commitBlob(proxy.root.id, repo.id, digest, existing.size);
    } catch (err) {
      // Being swept by GC (its row is claimed): fetch it again instead, as an upload would.
      if (isPalletError(err, 'UNAVAILABLE')) return undefined;
      throw err;
    }
    this.deps.metrics.hit(proxy.label, 'blob');
    return blob;
  }

  /**
   * A blob miss on one proxy: link what the root space holds, wait for a fetch of the same
   * digest already running, or start one (see the header for who streams and who waits).
   */
  private async fetchBlob(proxy: Proxy, name: string, digest: string, options: OpenBlobOptions): Promise<BlobRead> {
    const flightKey = `${proxy.root.id}\0${digest}`;
    for (;;) {
      const running = this.blobFlights.get(flightKey);
      if (!running) break;
      try {
        await running.promise;
      } catch (err) {
        if (!isMiss(err)) throw err;
      }
      const repo = await this.deps.store.findRepository(proxy.registry.id, name);
      if (repo && (await this.deps.store.findLinkedBlob(repo.id, digest))) {
        this.deps.metrics.hit(proxy.label, 'blob');
        return this.readCached(proxy.root, repo.id, digest, options);
      }
    }
    const linked = await this.linkExisting(proxy, name, digest);
    if (linked) {
      const repo = await this.deps.store.ensureRepository(proxy.registry.id, name);
      return this.readCached(proxy.root, repo.id, digest, options);
    }
    const negativeKey = `${proxy.registry.id}\0${name}\0${digest}`;
    if (this.notFound.has(negativeKey)) throw this.blobUnknown(proxy, name, digest);
    if (this.blobFlights.has(flightKey)) return this.fetchBlob(proxy, name, digest, options);

    // Registered before the first await below, so concurrent misses find it.
    const { flight, land } = this.openFlight(flightKey);
    const { metrics } = this.deps;
    let res;
    try {
      res = await proxy.client.getBlob(name, digest);
    } catch (err) {
      metrics.error(proxy.label, this.reason(err));
      return land(err);
    }
    if (!res) {
      this.notFound.add(negativeKey, this.options.notFoundTtlMs);
      return land(this.blobUnknown(proxy, name, digest));
    }
    metrics.miss(proxy.label, 'blob');
    let repositoryId: string;
    try {
      repositoryId = (await this.deps.store.ensureRepository(proxy.registry.id, name)).id;
    } catch (err) {
      res.body.destroy();
      return land(err);
    }
    const size = res.size;
    // A ranged request (or one for a body of unknown length) waits for the cache, then reads
    // from it; a bad range fails this request only, the fetch still fills the cache.
    let ranged = size === undefined;
    let rangeError: unknown;
    try {
      if (size !== undefined && options.range?.(size) !== undefined) ranged = true;
    } catch (err) {
      ranged = true;
      rangeError = err;
    }
    const streamToClient = !ranged;
    const { tee, writing, started } = this.teeIntoCache(proxy, flightKey, flight, res.body, {
      client: streamToClient,
      what: 'blob',
      fields: () => ({ name, digest }),
      write: (cache) => this.deps.blobs.putBlob({ rootSpaceId: proxy.root.id, repositoryId }, digest, cache, size !== undefined ? { length: size } : {}),
      mismatch: (err) =>
        new PalletError('UNAVAILABLE', `upstream ${proxy.label} served content for ${digest} that does not match it (${message(err)}); it was not cached`, {
          upstream: proxy.label,
          digest,
        }),
    });
    if (tee.client && size !== undefined) {
      return { blob: { digest, size, createdAt: started, verified: false }, range: undefined, stream: tee.client };
    }
    if (rangeError !== undefined) throw rangeError;
    await writing;
    return this.readCached(proxy.root, repositoryId, digest, options);
  }

  /**
   * Fetches a file by URL into the proxy's cache (see `FileFetch`); undefined when the upstream
   * answers 404 (remembered for `notFoundTtlMs`). The miss that starts the fetch streams from
   * the tee; concurrent misses wait for the commit and read the cache, as for blobs. Bytes that
   * do not match `digest` fail the client's stream and are not cached.
   */
  async fetchFile(f: FileFetch): Promise<FileRead | undefined> {
    const proxy = this.proxy(f.root, f.registry);
    if (!proxy) throw new PalletError('UNAVAILABLE', `upstream proxy ${f.root.path}/${f.registry.identifier} has no URL`);
    const flightKey = f.digest ? `${f.root.id}\0${f.digest}` : `${f.registry.id}\0${f.url}`;
    for (;;) {
      const running = this.blobFlights.get(flightKey);
      if (!running) break;
      await running.promise.catch(() => undefined);
      const cached = await f.findCached();
      if (cached) {
        this.deps.metrics.hit(proxy.label, 'chart');
        return cached;
      }
    }
    const negativeKey = `${f.registry.id}\0${f.url}`;
    if (this.notFound.has(negativeKey)) return undefined;

    // Registered before the first await below, so concurrent misses find it.
    const { flight, land } = this.openFlight(flightKey);
    const { metrics, blobs } = this.deps;
    let res;
    try {
      res = await proxy.client.getFile(f.url);
    } catch (err) {
      metrics.error(proxy.label, this.reason(err));
      return land(err);
    }
    if (!res) {
      this.notFound.add(negativeKey, this.options.notFoundTtlMs);
      this.blobFlights.delete(flightKey);
      flight.reject(new PalletError('NOT_FOUND', `${f.url} is not on the upstream`));
      return undefined;
    }
    metrics.miss(proxy.label, 'chart');
    let repositoryId: string;
    try {
      repositoryId = (await this.deps.store.ensureRepository(f.registry.id, f.name)).id;
    } catch (err) {
      res.body.destroy();
      return land(err);
    }
    const size = res.size;
    const loc = { rootSpaceId: f.root.id, repositoryId };
    const length = size !== undefined ? { length: size } : {};
    const commit = async (cache: Readable): Promise<BlobRecord> => {
      if (f.digest) return blobs.putBlob(loc, f.digest, cache, length);
      // No digest up front: hash while the bytes go to the upload session, then commit under it.
      const hasher = new Hasher('sha256');
      const hashing = new Transform({
        transform(chunk: Buffer, _enc, done) {
          hasher.update(chunk);
          done(null, chunk);
        },
      });
      cache.once('error', (err) => hashing.destroy(err));
      const upload = await blobs.startUpload(loc);
      try {
        const written = await blobs.writeChunk(upload, cache.pipe(hashing), { ...length, algorithm: 'sha256' });
        return await blobs.finishUpload(loc, written, hasher.digest());
      } catch (err) {
        await blobs.cancelUpload(upload);
        throw err;
      }
    };
    const { tee } = this.teeIntoCache(proxy, flightKey, flight, res.body, {
      client: true,
      what: 'file',
      fields: (blob) => ({ url: f.url, digest: blob ? blob.digest : f.digest }),
      write: async (cache) => {
        const blob = await commit(cache);
        await f.onCached(blob, repositoryId);
        return blob;
      },
      mismatch: (err) =>
        new PalletError('UNAVAILABLE', `upstream ${proxy.label} served ${f.url} with content that does not match ${f.digest ?? 'its size'} (${message(err)}); it was not cached`, {
          upstream: proxy.label,
        }),
    });
    return { stream: tee.client!, size, digest: f.digest };
  }

  /** Registers a fetch under `flightKey`; `land` ends it with an error (and throws that error). */
  private openFlight(flightKey: string): { flight: Deferred<BlobRecord>; land: (err: unknown) => never } {
    const flight = new Deferred<BlobRecord>();
    this.blobFlights.set(flightKey, flight);
    const land = (err: unknown): never => {
      this.blobFlights.delete(flightKey);
      flight.reject(err);
      throw err;
    };
    return { flight, land };
  }

  /**
   * Tees an upstream body into the cache (`write` reads the cache branch) and, when `client`,
   * a client branch; counts fetched bytes and failures, logs the outcome, and ends the flight
   * with the committed blob or the error. Bytes that fail verification become `mismatch(err)`.
   */
  private teeIntoCache(
    proxy: Proxy,
    flightKey: string,
    flight: Deferred<BlobRecord>,
    body: Readable,
    opts: {
      client: boolean;
      what: 'blob' | 'file';
      fields: (blob?: BlobRecord) => Record<string, unknown>;
      write: (cache: Readable) => Promise<BlobRecord>;
      mismatch: (err: unknown) => PalletError;
    },
  ): { tee: BlobTee; writing: Promise<BlobRecord>; started: number } {
    const { metrics, log } = this.deps;
    const tee = new BlobTee(body, {
      client: opts.client,
      stallMs: Math.max(1_000, Math.floor(this.options.timeoutMs / 2)),
      onBytes: (n) => metrics.fetched(proxy.label, n),
    });
    const started = Date.now();
    // An error of the upstream body (connection reset, body cut off) is the upstream's failure:
    // UNAVAILABLE, so the next upstream is tried, never the client's "upload invalid".
    let broken: unknown;
    body.on('error', (err) => (broken ??= err));
    const writing = opts.write(tee.cache).catch((err: unknown) => {
      const wrong = isPalletError(err, 'DIGEST_INVALID') || isPalletError(err, 'BLOB_UPLOAD_INVALID');
      metrics.error(proxy.label, wrong ? 'digest-mismatch' : this.reason(err));
      log.warn({ upstream: proxy.label, ...opts.fields(), reason: message(err) }, `upstream: ${opts.what} fetch failed; nothing was cached`);
      if (broken !== undefined && !(err instanceof PalletError)) {
        throw new PalletError('UNAVAILABLE', `upstream ${proxy.label} broke off the ${opts.what} body (${message(broken)}); nothing was cached`, {
          upstream: proxy.label,
        });
      }
      if (!wrong) throw err;
      throw opts.mismatch(err);
    });
    tee.settle(writing);
    tee.start();
    writing.then(
      (blob) => {
        this.blobFlights.delete(flightKey);
        flight.resolve(blob);
        log.info({ upstream: proxy.label, ...opts.fields(blob), size: blob.size, ms: Date.now() - started }, `upstream: cached a ${opts.what}`);
      },
      (err: unknown) => {
        this.blobFlights.delete(flightKey);
        flight.reject(err);
      },
    );
    return { tee, writing, started };
  }

  /** The upstream client of a proxy (for plain-file requests such as an index); undefined without a URL. */
  clientOf(root: SpaceRecord, registry: RegistryRecord): RegistryClient | undefined {
    return this.proxy(root, registry)?.client;
  }

  private blobUnknown(proxy: Proxy, name: string, digest: string): PalletError {
    return new PalletError('BLOB_UNKNOWN', `blob unknown to registry: ${name}@${digest} is not in upstream proxy ${proxy.label}`, { digest });
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
