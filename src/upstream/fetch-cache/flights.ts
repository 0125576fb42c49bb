/**
 * The in-process bookkeeping of upstream fetches: single-flight slots for body fetches (with
 * who still reads or waits for each), single-flight promises for small fetches (a manifest, an
 * index), and the small expiring maps of the fetch-and-cache core.
 *
 * A `Flight` is one upstream GET that fills a proxy's cache. Pulls that miss the same blob on
 * the same proxy while it runs wait for it, at most `waitMs` each (`wait`), and then try the
 * next upstream. Readers and waiters `hold` the flight; once nobody holds it and it is older
 * than the wait limit, `abandoned` says so and the fetch stops (an endless or very slow body
 * must not fill the disk for nobody).
 */
import { PalletError } from '../../base/errors.js';
import type { BlobRecord } from '../../metadata/store.js';

/** A promise settled from outside, whose rejection is never unhandled. */
export class Deferred<T> {
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

/** A bounded map whose oldest entries go first when full. */
export class BoundedMap<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(key: string): V | undefined {
    return this.map.get(key);
  }
  set(key: string, value: V): void {
    this.map.delete(key);
    if (this.map.size >= this.max) {
      const oldest = this.map.keys().next().value;
      if (oldest !== undefined) this.map.delete(oldest);
    }
    this.map.set(key, value);
  }
  delete(key: string): void {
    this.map.delete(key);
  }
}

/** Keys that expire; the oldest go first when full. */
export class ExpiringSet {
  private readonly until: BoundedMap<number>;
  constructor(max: number) {
    this.until = new BoundedMap(max);
  }
  add(key: string, ttlMs: number): void {
    if (ttlMs > 0) this.until.set(key, Date.now() + ttlMs);
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

/**
 * One promise per key while it runs: concurrent callers of `run` with the same key share the
 * first caller's work; the key is free again once it settles.
 */
export class SharedFlights {
  private readonly running = new Map<string, Promise<unknown>>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const existing = this.running.get(key) as Promise<T> | undefined;
    if (existing) return existing;
    const flight = work().finally(() => this.running.delete(key));
    this.running.set(key, flight);
    return flight;
  }
}

/** Thrown by `Flight.wait` when the wait limit passed first. */
export class WaitExpired extends Error {
  constructor(readonly waitedMs: number) {
    super(`waited ${waitedMs} ms`);
    this.name = 'WaitExpired';
  }
}

/** One upstream fetch into a proxy's cache; see the module header. */
export class Flight {
  readonly startedAt = Date.now();
  /** The proxy repository the fetch is cached under, once known. */
  repositoryId: string | undefined;
  private readonly outcome = new Deferred<BlobRecord>();
  private holders = 0;

  constructor(private readonly waitMs: number) {}

  /** Someone reads or waits for the fetch; call the returned function when they stop. */
  hold(): () => void {
    this.holders++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holders--;
    };
  }

  /** Nobody reads or waits, and the fetch is older than the wait limit: it should stop. */
  get abandoned(): boolean {
    return this.holders === 0 && Date.now() - this.startedAt > this.waitMs;
  }

  resolve(blob: BlobRecord): void {
    this.outcome.resolve(blob);
  }

  reject(err: unknown): void {
    this.outcome.reject(err);
  }

  /** The outcome, for a holder that waits for it (the caller holds the flight meanwhile). */
  get settled(): Promise<BlobRecord> {
    return this.outcome.promise;
  }

  /**
   * Waits for the fetch's outcome, holding the flight meanwhile: resolves to the committed blob,
   * rejects with the fetch's error, with `WaitExpired` after `waitMs`, or when `signal` aborts.
   */
  async wait(signal?: AbortSignal): Promise<BlobRecord> {
    const release = this.hold();
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      return await Promise.race([
        this.outcome.promise,
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => reject(new WaitExpired(this.waitMs)), this.waitMs);
          onAbort = () => reject(new PalletError('UNAVAILABLE', 'the request was aborted while waiting for the upstream'));
          signal?.addEventListener('abort', onAbort, { once: true });
        }),
      ]);
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
      release();
    }
  }
}

/** Flights by key; a flight leaves the map when it lands. */
export class Flights {
  private readonly map = new Map<string, Flight>();
  constructor(private readonly waitMs: number) {}

  get(key: string): Flight | undefined {
    return this.map.get(key);
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  /** Registers a new flight under `key` (the caller checked there is none). */
  open(key: string): Flight {
    const flight = new Flight(this.waitMs);
    this.map.set(key, flight);
    return flight;
  }

  /** Ends a flight with its blob or its error; the slot is free again. */
  land(key: string, flight: Flight, outcome: { blob: BlobRecord } | { error: unknown }): void {
    if (this.map.get(key) === flight) this.map.delete(key);
    if ('blob' in outcome) flight.resolve(outcome.blob);
    else flight.reject(outcome.error);
  }
}
