/**
 * Prometheus metrics of upstream proxies, per proxy (`upstream="<root>/<identifier>"`) and
 * package format (`format="docker"`, `"helm"`, …: the proxy's package type), in the app's own
 * prom-client registry: requests sent to the upstream, cache hits and misses, bytes fetched,
 * errors, stale serves, and the last `ratelimit-remaining` the upstream reported.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ClientObserver } from '../client.js';

/** What was asked of the cache (the `kind` label). */
export type ContentKind = 'manifest' | 'blob' | 'index' | 'chart' | 'file';

/** The labels of one proxy. */
export interface MetricLabels {
  /** `<root>/<identifier>`. */
  label: string;
  /** The proxy's package type. */
  format: string;
}

export class UpstreamMetrics {
  private readonly requests: Counter<'upstream' | 'format' | 'kind' | 'method'>;
  private readonly hits: Counter<'upstream' | 'format' | 'kind'>;
  private readonly misses: Counter<'upstream' | 'format' | 'kind'>;
  private readonly bytes: Counter<'upstream' | 'format'>;
  private readonly errors: Counter<'upstream' | 'format' | 'reason'>;
  private readonly stale: Counter<'upstream' | 'format'>;
  private readonly rateLimit: Gauge<'upstream' | 'format'>;

  constructor(registry: Registry) {
    const registers = [registry];
    const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> =>
      new Counter({ name, help, labelNames, registers });
    this.requests = counter('pallet_upstream_requests_total', 'HTTP requests sent to upstream registries, by kind (manifest, blob, token, ping, file) and method', ['upstream', 'format', 'kind', 'method'] as const);
    this.hits = counter('pallet_upstream_cache_hits_total', 'Pulls answered from an upstream proxy cache without fetching content', ['upstream', 'format', 'kind'] as const);
    this.misses = counter('pallet_upstream_cache_misses_total', 'Pulls that had to fetch content from the upstream', ['upstream', 'format', 'kind'] as const);
    this.bytes = counter('pallet_upstream_bytes_fetched_total', 'Blob, file and manifest bytes received from the upstream', ['upstream', 'format'] as const);
    this.errors = counter('pallet_upstream_errors_total', 'Failed upstream fetches, by reason (unavailable, rate-limited, denied, digest-mismatch, invalid, address-refused: the egress policy refused the address, redirect-refused: a redirect to another origin not in upstream.redirectHosts or to a non-http(s) URL, too-large: over upstream.maxBlobBytes, too-slow: under upstream.minBytesPerSecond, abandoned: nobody waited any more, wait-expired: a pull stopped waiting for a fetch of the same blob, quota: a quota was reached while writing)', ['upstream', 'format', 'reason'] as const);
    this.stale = counter('pallet_upstream_stale_serves_total', 'Cached tags and indexes served without revalidation because the upstream was down, slow or rate-limiting', ['upstream', 'format'] as const);
    this.rateLimit = new Gauge({ name: 'pallet_upstream_ratelimit_remaining', help: 'The last ratelimit-remaining header the upstream sent (Docker Hub pull limit)', labelNames: ['upstream', 'format'] as const, registers });
  }

  observer(up: MetricLabels): ClientObserver {
    const labels = { upstream: up.label, format: up.format };
    return {
      request: (kind, method) => this.requests.inc({ ...labels, kind, method }),
      rateLimit: (remaining) => this.rateLimit.set(labels, remaining),
    };
  }

  hit(up: MetricLabels, kind: ContentKind): void {
    this.hits.inc({ upstream: up.label, format: up.format, kind });
  }

  miss(up: MetricLabels, kind: ContentKind): void {
    this.misses.inc({ upstream: up.label, format: up.format, kind });
  }

  fetched(up: MetricLabels, bytes: number): void {
    this.bytes.inc({ upstream: up.label, format: up.format }, bytes);
  }

  error(up: MetricLabels, reason: string): void {
    this.errors.inc({ upstream: up.label, format: up.format, reason });
  }

  staleServe(up: MetricLabels): void {
    this.stale.inc({ upstream: up.label, format: up.format });
  }
}
