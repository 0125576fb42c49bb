/**
 * Prometheus metrics of npm registries (`registry="<root>/<identifier>"`): publishes by outcome
 * (`published`, or the refusal's status class: `conflict` 409, `invalid` other 4xx, `failed`
 * 5xx) and tarball downloads. Request counts and latencies per route (`npm.packument`,
 * `npm.tarball`, `npm.publish`, …) are the core's HTTP metrics.
 */
import { Counter, type Registry } from 'prom-client';

export type PublishOutcome = 'published' | 'conflict' | 'invalid' | 'failed';

export class NpmMetrics {
  private readonly publishes: Counter<'registry' | 'outcome'>;
  private readonly downloads: Counter<'registry'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.publishes = new Counter({ name: 'pallet_npm_publishes_total', help: 'npm publishes, by registry and outcome (published, conflict, invalid, failed)', labelNames: ['registry', 'outcome'] as const, registers });
    this.downloads = new Counter({ name: 'pallet_npm_tarball_downloads_total', help: 'npm tarballs served (GET), by registry', labelNames: ['registry'] as const, registers });
  }

  publish(registry: string, outcome: PublishOutcome): void {
    this.publishes.inc({ registry, outcome });
  }

  download(registry: string): void {
    this.downloads.inc({ registry });
  }
}
