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
    this.requests = new Counter({
      name: 'pallet_upstream_requests_total',
      help: 'HTTP requests sent to upstream registries, by kind (manifest, blob, token, ping, file) and method',
      labelNames: ['upstream', 'kind', 'method'] as const,
      registers,
    });
    this.hits = new Counter({
      name: 'pallet_upstream_cache_hits_total',
      help: 'Pulls answered from an upstream proxy cache without fetching content',
      labelNames: ['upstream', 'kind'] as const,
      registers,
    });
    this.misses = new Counter({
      name: 'pallet_upstream_cache_misses_total',
      help: 'Pulls that had to fetch content from the upstream',
      labelNames: ['upstream', 'kind'] as const,
      registers,
    });
    this.bytes = new Counter({
      name: 'pallet_upstream_bytes_fetched_total',
      help: 'Blob and manifest bytes received from the upstream',
      labelNames: ['upstream'] as const,
      registers,
    });
    this.errors = new Counter({
      name: 'pallet_upstream_errors_total',
      help: 'Failed upstream fetches, by reason (unavailable, rate-limited, denied, digest-mismatch, invalid)',
      labelNames: ['upstream', 'reason'] as const,
      registers,
    });
    this.stale = new Counter({
      name: 'pallet_upstream_stale_serves_total',
      help: 'Cached tags served without revalidation because the upstream was down, slow or rate-limiting',
      labelNames: ['upstream'] as const,
      registers,
    });
    this.rateLimit = new Gauge({
      name: 'pallet_upstream_ratelimit_remaining',
      help: 'The last ratelimit-remaining header the upstream sent (Docker Hub pull limit)',
      labelNames: ['upstream'] as const,
      registers,
    });
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
