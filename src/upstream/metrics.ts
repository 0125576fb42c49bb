/**
 * Prometheus metrics of upstream proxies, per proxy (`upstream="<root>/<identifier>"`), in the
 * app's own prom-client registry: requests sent to the upstream, cache hits and misses, bytes
 * fetched, errors, stale serves, and the last `ratelimit-remaining` the upstream reported.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ClientObserver } from './client.js';

export type ContentKind = 'manifest' | 'blob' | 'index' | 'chart';

export class UpstreamMetrics {
  private readonly requests: Counter<'upstream' | 'kind' | 'method'>;
  private readonly hits: Counter<'upstream' | 'kind'>;
  private readonly misses: Counter<'upstream' | 'kind'>;
  private readonly bytes: Counter<'upstream'>;
  private readonly errors: Counter<'upstream' | 'reason'>;
  private readonly stale: Counter<'upstream'>;
  private readonly rateLimit: Gauge<'upstream'>;

  constructor(registry: Registry) {
    const registers = [registry];
    const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> =>
      new Counter({ name, help, labelNames, registers });
    this.requests = counter('pallet_upstream_requests_total', 'HTTP requests sent to upstream registries, by kind (manifest, blob, token, ping, file) and method', ['upstream', 'kind', 'method'] as const);
    this.hits = counter('pallet_upstream_cache_hits_total', 'Pulls answered from an upstream proxy cache without fetching content', ['upstream', 'kind'] as const);
    this.misses = counter('pallet_upstream_cache_misses_total', 'Pulls that had to fetch content from the upstream', ['upstream', 'kind'] as const);
    this.bytes = counter('pallet_upstream_bytes_fetched_total', 'Blob and manifest bytes received from the upstream', ['upstream'] as const);
    this.errors = counter('pallet_upstream_errors_total', 'Failed upstream fetches, by reason (unavailable, rate-limited, denied, digest-mismatch, invalid, address-refused: the egress policy refused the address, redirect-refused: a redirect to another origin not in upstream.redirectHosts or to a non-http(s) URL, too-large: over upstream.maxBlobBytes, too-slow: under upstream.minBytesPerSecond, abandoned: nobody waited any more, wait-expired: a pull stopped waiting for a fetch of the same blob, quota: a quota was reached while writing)', ['upstream', 'reason'] as const);
    this.stale = counter('pallet_upstream_stale_serves_total', 'Cached tags served without revalidation because the upstream was down, slow or rate-limiting', ['upstream'] as const);
    this.rateLimit = new Gauge({ name: 'pallet_upstream_ratelimit_remaining', help: 'The last ratelimit-remaining header the upstream sent (Docker Hub pull limit)', labelNames: ['upstream'] as const, registers });
  }

  observer(upstream: string): ClientObserver {
    return {
      request: (kind, method) => this.requests.inc({ upstream, kind, method }),
      rateLimit: (remaining) => this.rateLimit.set({ upstream }, remaining),
    };
  }

  hit(upstream: string, kind: ContentKind): void {
    this.hits.inc({ upstream, kind });
  }

  miss(upstream: string, kind: ContentKind): void {
    this.misses.inc({ upstream, kind });
  }

  fetched(upstream: string, bytes: number): void {
    this.bytes.inc({ upstream }, bytes);
  }

  error(upstream: string, reason: string): void {
    this.errors.inc({ upstream, reason });
  }

  staleServe(upstream: string): void {
    this.stale.inc({ upstream });
  }
}
