/**
 * Prometheus metrics of Helm upstream indexes (`upstream="<root>/<identifier>"`): how reads of
 * an upstream index.yaml ended, how many chart versions each serves and how many it left out
 * (by reason), how long reads took, and serves of the last good copy while a new one was read
 * or after one failed. Also the chart index worker jobs (reads and merged renders) by outcome.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { observeIndexJobs } from '../chart-index-jobs.js';

export class HelmIndexMetrics {
  private readonly reads: Counter<'upstream' | 'outcome'>;
  private readonly entries: Gauge<'upstream'>;
  private readonly skipped: Counter<'upstream' | 'reason'>;
  private readonly seconds: Histogram;
  private readonly lastGood: Counter<'upstream' | 'reason'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.reads = new Counter({ name: 'pallet_helm_upstream_index_reads_total', help: 'Upstream index.yaml documents read, by outcome (ok; refused: not an index, over the time or heap budget, or no worker free)', labelNames: ['upstream', 'outcome'] as const, registers });
    this.entries = new Gauge({ name: 'pallet_helm_upstream_index_entries', help: 'Chart versions the last good copy of an upstream index lists', labelNames: ['upstream'] as const, registers });
    this.skipped = new Counter({ name: 'pallet_helm_upstream_index_skipped_total', help: 'Chart versions of upstream indexes left out, by reason (over-cap, url-host, url-scheme, invalid, duplicate, too-large, unreadable)', labelNames: ['upstream', 'reason'] as const, registers });
    this.seconds = new Histogram({ name: 'pallet_helm_upstream_index_read_seconds', help: 'Time to read an upstream index.yaml in a worker', buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120], registers });
    this.lastGood = new Counter({ name: 'pallet_helm_upstream_index_last_good_serves_total', help: 'Upstream indexes answered with the last good copy, by reason (reading: a new copy was still being read; refused: the new copy could not be read)', labelNames: ['upstream', 'reason'] as const, registers });
    const jobs = new Counter({ name: 'pallet_chart_index_jobs_total', help: 'Chart index worker jobs (read, render) by outcome (ok, refused, timeout, memory, busy, failed)', labelNames: ['kind', 'outcome'] as const, registers });
    observeIndexJobs((kind, outcome) => jobs.inc({ kind, outcome }));
  }

  read(upstream: string, outcome: string, seconds: number, entries?: number, skipped?: Record<string, number>): void {
    this.reads.inc({ upstream, outcome });
    this.seconds.observe(seconds);
    if (entries !== undefined) this.entries.set({ upstream }, entries);
    for (const [reason, n] of Object.entries(skipped ?? {})) this.skipped.inc({ upstream, reason }, n);
  }

  lastGoodServe(upstream: string, reason: 'reading' | 'refused'): void {
    this.lastGood.inc({ upstream, reason });
  }
}
