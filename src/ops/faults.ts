/**
 * Dependency faults as metrics: `pallet_dependency_faults_total{dependency,fault}` counts every
 * database or storage failure that a request (or background job) met and that became a 503
 * (`unavailable`) or 507 (`full`); for a storage driver with a disk of its own,
 * `pallet_storage_free_bytes` and `pallet_storage_headroom_bytes` are read at scrape time
 * (alert when free approaches headroom: below it, new uploads are refused).
 */
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { StorageDriver } from '../storage/driver.js';

export type Dependency = 'database' | 'storage';
export type Fault = 'unavailable' | 'full';

/** How often the same fault of the same dependency is logged at most (a down database fails every request). */
const LOG_EVERY_MS = 10_000;

export class FaultMetrics {
  readonly #faults: Counter<'dependency' | 'fault'>;
  readonly #lastLogged = new Map<string, number>();

  constructor(
    private readonly registry: Registry,
    private readonly log?: Logger,
  ) {
    this.#faults = new Counter({
      name: 'pallet_dependency_faults_total',
      help: 'Database and storage failures that requests or jobs met (unavailable: 503, full: 507)',
      labelNames: ['dependency', 'fault'] as const,
      registers: [registry],
    });
    for (const dependency of ['database', 'storage'] as const) {
      for (const fault of ['unavailable', 'full'] as const) this.#faults.inc({ dependency, fault }, 0);
    }
  }

  record(dependency: Dependency, fault: Fault, err?: Error): void {
    this.#faults.inc({ dependency, fault });
    const key = `${dependency}:${fault}`;
    const now = Date.now();
    if (now - (this.#lastLogged.get(key) ?? 0) < LOG_EVERY_MS) return;
    this.#lastLogged.set(key, now);
    this.log?.warn({ dependency, fault, err }, `${dependency} ${fault === 'full' ? 'is out of space' : 'is unavailable'}`);
  }

  /** Exports the free space and headroom of `driver`, when it has a disk. */
  watchCapacity(driver: StorageDriver): void {
    if (!driver.capacity) return;
    const capacity = driver.capacity.bind(driver);
    new Gauge({
      name: 'pallet_storage_free_bytes',
      help: 'Free bytes on the filesystem that holds stored objects',
      registers: [this.registry],
      async collect() {
        this.set((await capacity()).freeBytes);
      },
    });
    new Gauge({
      name: 'pallet_storage_headroom_bytes',
      help: 'Free space kept for deletes and GC: below it new uploads are refused (507)',
      registers: [this.registry],
      async collect() {
        this.set((await capacity()).headroomBytes);
      },
    });
  }
}
