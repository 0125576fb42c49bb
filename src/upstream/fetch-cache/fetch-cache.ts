/**
 * The fetch-and-cache core every format's upstream adapter is built over. It never imports a
 * format; an adapter says what to fetch, where it is cached and how it is verified, and the core
 * does the rest, the same way for every format:
 *   - upstream clients, one per proxy (`upstream`);
 *   - single flight per key: concurrent misses of a small document share one promise (`once`),
 *     of a body one upstream GET teed into the cache (`fetchBody`, see `body-fetch.ts`);
 *   - a negative cache of upstream 404s for `notFoundTtlMs` (`isNotFound`, `rememberNotFound`);
 *   - per-upstream health: after a failure a proxy is left alone for a few seconds (at most its
 *     TTL) and its cached copies are served stale meanwhile (`revalidated`, `backOff`);
 *   - the resolution order (`resolve.ts`) and metrics labelled by proxy and format.
 * Everything here is an optimisation local to the process; the cache itself (blobs, the
 * formats' metadata, check times) is in the metadata store and storage, shared by replicas.
 */
import type { RegistryRecord, SpaceRecord } from '../../metadata/store.js';
import type { BlobService } from '../../registry/blobs.js';
import type { QuotaGate } from '../../registry/quotas.js';
import { BodyFetcher, type BodyFetch } from './body-fetch.js';
import { message } from './errors.js';
import { BoundedMap, ExpiringSet, SharedFlights } from './flights.js';
import type { ContentKind, UpstreamMetrics } from './metrics.js';
import { UpstreamClients, type ClientDeps, type ClientOptions, type Upstream, type UpstreamLog } from './upstreams.js';

export interface FetchCacheOptions extends ClientOptions {
  /** How long an upstream 404 is remembered (0: not at all). */
  notFoundTtlMs: number;
  /** Longest a pull waits for another's fetch of the same body on the same proxy. */
  flightWaitMs: number;
  /** Largest body fetched from an upstream (0: no limit). */
  maxBlobBytes: number;
  /** Slowest an upstream body may arrive (0: no minimum). */
  minBytesPerSecond: number;
}

export interface FetchCacheDeps extends ClientDeps {
  blobs: BlobService;
  /** Quotas, reserved while an upstream body is written (not only at the commit). */
  quotas?: QuotaGate | undefined;
}

/** A cached copy that may need asking the upstream again (see `FetchCache.revalidated`). */
export interface Revalidation<T> {
  upstream: Upstream;
  /** Its single-flight key: the same as the fetch of the content, so the two never run together. */
  key: string;
  /** When the cached copy was last confirmed; undefined: nothing is cached. */
  checkedAt: number | undefined;
  /** How long a confirmation holds. */
  ttlMs: number;
  /** The cached copy (only called when `checkedAt` is defined). */
  cached(): Promise<T> | T;
  /** Asks the upstream; resolves to the confirmed or new copy. */
  revalidate(): Promise<T>;
  /** Which errors of `revalidate` serve the cached copy stale (the others are thrown). */
  servesStale(err: unknown): boolean;
  /** The `kind` label of a hit, and what the log line calls the copy (`tag`, `index`). */
  kind: ContentKind;
  what: string;
  log: UpstreamLog;
  fields: Record<string, unknown>;
}

/** Bounds of the in-memory maps. */
const MAX_NOT_FOUND = 10_000;
const MAX_HEALTH = 10_000;
/** After an upstream failure, cached copies are served without asking it again for this long. */
const FAILURE_BACKOFF_MS = 5_000;

export class FetchCache {
  readonly metrics: UpstreamMetrics;
  readonly log: UpstreamLog;
  private readonly clients: UpstreamClients;
  private readonly notFound = new ExpiringSet(MAX_NOT_FOUND);
  private readonly shared = new SharedFlights();
  private readonly downUntil = new BoundedMap<number>(MAX_HEALTH);
  private readonly bodies: BodyFetcher;
  private readonly notFoundTtlMs: number;

  constructor(deps: FetchCacheDeps, options: FetchCacheOptions) {
    this.metrics = deps.metrics;
    this.log = deps.log;
    this.clients = new UpstreamClients(deps, options);
    this.bodies = new BodyFetcher(
      { blobs: deps.blobs, metrics: deps.metrics, quotas: deps.quotas, notFound: this.notFound },
      {
        notFoundTtlMs: options.notFoundTtlMs,
        flightWaitMs: options.flightWaitMs,
        limits: { maxBytes: options.maxBlobBytes, minBytesPerSecond: options.minBytesPerSecond, windowMs: options.timeoutMs },
      },
    );
    this.notFoundTtlMs = options.notFoundTtlMs;
  }

  /** The proxy ready to be asked; undefined without a URL; UNAVAILABLE when its config is unusable. */
  upstream(root: SpaceRecord, registry: RegistryRecord, log?: UpstreamLog): Upstream | undefined {
    return this.clients.find(root, registry, log);
  }

  /** Concurrent calls with the same key on the same proxy share one run of `work`. */
  once<T>(upstream: Upstream, key: string, work: () => Promise<T>): Promise<T> {
    return this.shared.run(`${upstream.registry.id}\0${key}`, work);
  }

  /** Whether the upstream answered 404 for `key` less than `notFoundTtlMs` ago. */
  isNotFound(upstream: Upstream, key: string): boolean {
    return this.notFound.has(`${upstream.registry.id}\0${key}`);
  }

  rememberNotFound(upstream: Upstream, key: string): void {
    this.notFound.add(`${upstream.registry.id}\0${key}`, this.notFoundTtlMs);
  }

  /** Whether the upstream failed moments ago (its cached copies are served without asking it). */
  isBackingOff(upstream: Upstream): boolean {
    return (this.downUntil.get(upstream.registry.id) ?? 0) > Date.now();
  }

  /** Leaves the upstream alone for a few seconds, at most `ttlMs`. */
  backOff(upstream: Upstream, ttlMs: number): void {
    this.downUntil.set(upstream.registry.id, Date.now() + Math.min(FAILURE_BACKOFF_MS, ttlMs));
  }

  /**
   * A cached copy, revalidated when due. In order: a copy confirmed less than `ttlMs` ago is a
   * hit; while the upstream backs off it is served stale; otherwise one revalidation per key
   * runs, and when it fails in a way `servesStale` accepts, the upstream backs off and the
   * cached copy is served stale (counted and logged). Without a cached copy, errors are thrown.
   */
  async revalidated<T>(r: Revalidation<T>): Promise<T> {
    if (r.checkedAt !== undefined) {
      if (Date.now() - r.checkedAt < r.ttlMs) {
        this.metrics.hit(r.upstream, r.kind);
        return r.cached();
      }
      if (this.isBackingOff(r.upstream)) return this.stale(r, 'the upstream failed moments ago');
    }
    return this.once(r.upstream, r.key, async () => {
      try {
        return await r.revalidate();
      } catch (err) {
        if (r.checkedAt === undefined || !r.servesStale(err)) throw err;
        this.backOff(r.upstream, r.ttlMs);
        return this.stale(r, message(err));
      }
    });
  }

  private async stale<T>(r: Revalidation<T>, why: string): Promise<T> {
    const copy = await r.cached();
    this.metrics.staleServe(r.upstream);
    r.log.warn({ upstream: r.upstream.label, ...r.fields, reason: why }, `upstream: serving the cached ${r.what} without revalidation`);
    return copy;
  }

  /** A body from the cache, another pull's fetch, or the upstream; undefined on an upstream 404. */
  fetchBody<R>(f: BodyFetch<R>): Promise<R | undefined> {
    const id = f.upstream.registry.id;
    return this.bodies.fetch({ ...f, flightKey: `${id}\0${f.flightKey}`, notFoundKey: `${id}\0${f.notFoundKey}` });
  }

  close(): void {
    this.clients.close();
  }
}
