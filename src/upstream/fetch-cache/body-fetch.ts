/**
 * One upstream body (an OCI blob, a chart archive, any format's file) fetched into a proxy's
 * cache, once per proxy and content however many pulls miss it at the same time:
 *   1. While a fetch of the same content (`flightKey`) runs on the proxy, wait for it (at most
 *      `flightWaitMs`), then look at the cache again (`findCached`).
 *   2. The cache, then the negative cache (a 404 remembered for `notFoundTtlMs`).
 *   3. Open the flight (before any await, so concurrent misses find it), GET the body, refuse
 *      a Content-Length over the limit, ensure the repository it is cached under.
 *   4. Tee it into the commit path (`cache-fill.ts`, `commit.ts`: digest known or learned) and,
 *      when the request says so (`streams`), to the client whose miss started the fetch; else
 *      that client waits for the commit and reads the verified copy (`committed`).
 * The flight lands with the committed blob or the error; waiters then read the cache or fail.
 */
import type { Readable } from 'node:stream';
import { isPalletError, PalletError } from '../../base/errors.js';
import type { BlobRecord } from '../../metadata/store.js';
import type { BlobService } from '../../registry/blobs.js';
import type { QuotaGate } from '../../registry/quotas.js';
import { fillCache, type FillLimits } from './cache-fill.js';
import { commitBody, type Checksum } from './commit.js';
import { message, tooLarge, upstreamErrorReason } from './errors.js';
import { WaitExpired, type ExpiringSet, type Flight, Flights } from './flights.js';
import type { ContentKind, UpstreamMetrics } from './metrics.js';
import type { Upstream, UpstreamLog } from './upstreams.js';

/** An upstream body as the client gives it. */
export interface UpstreamBody {
  size: number | undefined;
  body: Readable;
  /** The body comes from another origin than the one asked (a redirect): verify before serving. */
  crossOrigin: boolean;
}

/** What a format's adapter says about one body fetch (see the module header). */
export interface BodyFetch<R> {
  upstream: Upstream;
  log: UpstreamLog;
  /** For messages: `blob`, `file`. */
  what: string;
  /** The `kind` label of its metrics. */
  kind: ContentKind;
  /** The content, for messages (a digest, a URL). */
  subject: string;
  /** Fields of its log lines (a name, a URL). */
  fields: Record<string, unknown>;
  /** Concurrent misses with the same key on the same proxy share one fetch. */
  flightKey: string;
  /** An upstream 404 is remembered under this key. */
  notFoundKey: string;
  signal?: AbortSignal | undefined;
  /** `sha256:…` the body must hash to; undefined: learned while streaming. */
  digest: string | undefined;
  /** Another checksum the body must match (from the format's metadata). */
  checksum?: Checksum | undefined;
  /** Which errors of another pull's fetch let this one look again (else they are its own). */
  retryAfter(err: unknown): boolean;
  /** The cached copy (before fetching, after waiting for another fetch); undefined: not there. */
  findCached(): Promise<R | undefined>;
  /** The GET; undefined on 404. */
  get(): Promise<UpstreamBody | undefined>;
  /** The repository the body is cached under (created when missing). */
  repository(): Promise<string>;
  /** Whether the miss that starts the fetch streams from the tee; a throw fails only that request. */
  streams(res: UpstreamBody): boolean;
  /** Runs once the body is committed, before waiters are released. */
  onCommitted?(blob: BlobRecord, repositoryId: string): Promise<void>;
  /** The answer streamed from the tee. */
  streamed(stream: Readable, res: UpstreamBody, startedAt: number): R;
  /** The answer once the body is committed, for a miss that did not stream. */
  committed(repositoryId: string): Promise<R | undefined>;
}

export interface BodyFetchDeps {
  blobs: BlobService;
  metrics: UpstreamMetrics;
  quotas?: QuotaGate | undefined;
  notFound: ExpiringSet;
}

export interface BodyFetchOptions {
  notFoundTtlMs: number;
  /** Longest wait for another pull's fetch; also when a fetch nobody holds stops. */
  flightWaitMs: number;
  limits: FillLimits;
}

/** Lands the flight of a 404, so its waiters look at the negative cache. */
class UpstreamNotFound extends Error {}

export class BodyFetcher {
  private readonly flights: Flights;

  constructor(
    private readonly deps: BodyFetchDeps,
    private readonly options: BodyFetchOptions,
  ) {
    this.flights = new Flights(options.flightWaitMs);
  }

  /** The body (cached, shared or fetched); undefined when the upstream does not have it. */
  async fetch<R>(f: BodyFetch<R>): Promise<R | undefined> {
    for (let running = this.flights.get(f.flightKey); running; running = this.flights.get(f.flightKey)) {
      await this.waitFor(running, f, (err) => err instanceof UpstreamNotFound || f.retryAfter(err));
      const cached = await f.findCached();
      if (cached) return cached;
    }
    const cached = await f.findCached();
    if (cached) return cached;
    if (this.deps.notFound.has(f.notFoundKey)) return undefined;
    if (this.flights.has(f.flightKey)) return this.fetch(f);
    return this.start(f);
  }

  private async start<R>(f: BodyFetch<R>): Promise<R | undefined> {
    // Registered before the first await below, so concurrent misses find it.
    const flight = this.flights.open(f.flightKey);
    const land = (err: unknown): never => {
      this.flights.land(f.flightKey, flight, { error: err });
      throw err;
    };
    const { metrics, notFound } = this.deps;
    const { upstream } = f;
    let res;
    try {
      res = await f.get();
    } catch (err) {
      metrics.error(upstream, upstreamErrorReason(err));
      return land(err);
    }
    if (!res) {
      notFound.add(f.notFoundKey, this.options.notFoundTtlMs);
      this.flights.land(f.flightKey, flight, { error: new UpstreamNotFound(`${f.subject} is not on upstream ${upstream.label}`) });
      return undefined;
    }
    metrics.miss(upstream, f.kind);
    const max = this.options.limits.maxBytes;
    let repositoryId: string;
    try {
      if (max > 0 && res.size !== undefined && res.size > max) throw tooLarge(upstream.label, f.what, max, res.size);
      repositoryId = await f.repository();
    } catch (err) {
      res.body.destroy();
      if (isPalletError(err, 'UNAVAILABLE')) metrics.error(upstream, upstreamErrorReason(err));
      return land(err);
    }
    flight.repositoryId = repositoryId;
    return this.fill(f, flight, res, repositoryId);
  }

  private async fill<R>(f: BodyFetch<R>, flight: Flight, res: UpstreamBody, repositoryId: string): Promise<R | undefined> {
    // A request the fetch cannot answer (a bad range) fails alone; the fetch still fills the cache.
    let streams = false;
    let refused: unknown;
    try {
      streams = f.streams(res);
    } catch (err) {
      refused = err;
    }
    const loc = { rootSpaceId: f.upstream.root.id, repositoryId };
    const { tee, started } = fillCache(
      this.deps,
      {
        upstream: f.upstream,
        log: f.log,
        flight,
        body: res.body,
        client: streams,
        what: f.what,
        repositoryId,
        digest: f.digest,
        fields: (blob) => ({ ...f.fields, digest: blob ? blob.digest : f.digest }),
        write: async (cache) => {
          const blob = await commitBody(this.deps.blobs, loc, cache, { digest: f.digest, size: res.size, checksum: f.checksum });
          await f.onCommitted?.(blob, repositoryId);
          return blob;
        },
        mismatch: (err) =>
          new PalletError('UNAVAILABLE', `upstream ${f.upstream.label} served content for ${f.subject} that does not match ${f.digest ?? 'its checksum or size'} (${message(err)}); it was not cached`, {
            upstream: f.upstream.label,
            // A format may answer this one as a bad gateway (npm: 502) rather than "try later".
            reason: 'DIGEST_MISMATCH',
            ...(f.digest ? { digest: f.digest } : {}),
          }),
        land: (outcome) => this.flights.land(f.flightKey, flight, outcome),
      },
      this.options.limits,
    );
    if (tee.client) return f.streamed(tee.client, res, started);
    if (refused !== undefined) throw refused;
    await this.waitFor(flight, f, () => false);
    return f.committed(repositoryId);
  }

  /**
   * Waits for a flight at most `flightWaitMs`. Its failure is rethrown unless `goOn` says the
   * caller may look again; waiting too long is UNAVAILABLE naming the setting.
   */
  private async waitFor(flight: Flight, f: BodyFetch<unknown>, goOn: (err: unknown) => boolean): Promise<void> {
    try {
      await flight.wait(f.signal);
    } catch (err) {
      if (err instanceof WaitExpired) {
        this.deps.metrics.error(f.upstream, 'wait-expired');
        throw new PalletError(
          'UNAVAILABLE',
          `a fetch of ${f.subject} from upstream ${f.upstream.label} has not finished within ${err.waitedMs} ms (upstream.flightWaitMs); not waiting longer`,
          { upstream: f.upstream.label, reason: 'WAIT_EXPIRED' },
        );
      }
      if (!goOn(err)) throw err;
    }
  }
}
