/**
 * Failed-login throttling: growing delays instead of lockouts.
 *
 * Threats: online password guessing (one user from one address, many users from one address,
 * one user from many addresses) and its mirror image, locking a victim out by failing on
 * purpose in the victim's name. The rules answer both:
 *
 * 1. Failures are counted per (username, address) pair and per address; each count is
 *    forgotten `windowMs` after its last failure, and a success clears its pair.
 * 2. Before a password is checked the request waits the *pair's* delay, and only when that
 *    pair has been failing: the same user from another address (or from this one, before any
 *    failure) never waits, so nobody can slow a victim down from elsewhere.
 * 3. A failed check (a password or an access token) answers after max(pair, address) delay.
 * 4. A correct password is always accepted, after its pair's delay if the pair was failing;
 *    it is never refused for others' failures. A valid access token is never delayed (32
 *    random bytes cannot be guessed), nor are credentials the authenticator has verified
 *    before (its cache).
 * 5. The delay after n failures, once n reaches the free allowance f (0: never), is
 *    min(maxDelayMs, base · 2^(n − f)) with base = min(baseDelayMs (250 ms), maxDelayMs).
 * 6. Waiting is an async timer (the event loop runs on) and bounded: at most
 *    `maxWaitingPerAddress` requests of one address and `maxWaiting` in all wait at once. A
 *    request that would wait beyond either is answered TOOMANYREQUESTS at once, so delays
 *    cannot pile up sockets. Only requests that must wait (their pair failing, or their own
 *    check failed) can be refused so.
 *
 * Counts live in memory, per replica: behind N replicas an attacker gets N times the rate.
 * Memory is bounded: at most `maxKeys` pairs and as many addresses, the least recently failing
 * forgotten first.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Counter, Gauge, type Registry } from 'prom-client';
import { PalletError } from '../base/errors.js';

export interface ThrottleSettings {
  /** Failures of a (username, address) pair before its attempts wait (0: never). */
  pairFree: number;
  /** Failures of an address before its failing answers wait (0: never). */
  addressFree: number;
  /** How long a count is remembered after its last failure. */
  windowMs: number;
  /** Longest single delay (0: no delays at all). */
  maxDelayMs: number;
  /** First delay (default 250 ms). */
  baseDelayMs?: number;
  /** Requests waiting at once, in all (default 512) and per address (default 16). */
  maxWaiting?: number;
  maxWaitingPerAddress?: number;
  maxKeys?: number;
}

const BASE_DELAY_MS = 250;
/** Usernames longer than any valid one are cut before they become a key. */
const KEY_NAME_CHARS = 256;

/** Failure counts by key, forgotten a window after the last failure; bounded in size. */
class FailureCounts {
  readonly #counts = new Map<string, { n: number; last: number }>();

  constructor(
    private readonly windowMs: number,
    private readonly maxKeys: number,
  ) {}

  get(key: string, now: number): number {
    const entry = this.#counts.get(key);
    if (!entry) return 0;
    if (now - entry.last >= this.windowMs) {
      this.#counts.delete(key);
      return 0;
    }
    return entry.n;
  }

  add(key: string, now: number): number {
    const n = this.get(key, now) + 1;
    // Re-inserting keeps the map ordered by last failure: the first key is the stalest.
    this.#counts.delete(key);
    if (this.#counts.size >= this.maxKeys) {
      const stalest = this.#counts.keys().next().value;
      if (stalest !== undefined) this.#counts.delete(stalest);
    }
    this.#counts.set(key, { n, last: now });
    return n;
  }

  clear(key: string): void {
    this.#counts.delete(key);
  }

  get size(): number {
    return this.#counts.size;
  }
}

interface ThrottleMetrics {
  delays: Counter<'phase'>;
  refused: Counter;
  waiting: Gauge;
}

export class LoginThrottle {
  readonly #pairs: FailureCounts;
  readonly #addresses: FailureCounts;
  readonly #waitingByAddress = new Map<string, number>();
  #waiting = 0;
  readonly #closing = new AbortController();
  readonly #maxWaiting: number;
  readonly #maxWaitingPerAddress: number;
  readonly #metrics: ThrottleMetrics | undefined;

  constructor(
    private readonly settings: ThrottleSettings,
    metrics?: Registry,
  ) {
    const maxKeys = settings.maxKeys ?? 100_000;
    this.#pairs = new FailureCounts(settings.windowMs, maxKeys);
    this.#addresses = new FailureCounts(settings.windowMs, maxKeys);
    this.#maxWaiting = settings.maxWaiting ?? 512;
    this.#maxWaitingPerAddress = settings.maxWaitingPerAddress ?? 16;
    this.#metrics = metrics && {
      delays: new Counter({
        name: 'pallet_auth_login_delays_total',
        help: 'Authentication attempts delayed by failed-login throttling, by phase (before a password check, after a failure)',
        labelNames: ['phase'] as const,
        registers: [metrics],
      }),
      refused: new Counter({
        name: 'pallet_auth_login_throttle_refusals_total',
        help: 'Attempts answered 429 at once because too many throttled attempts were already waiting',
        registers: [metrics],
      }),
      waiting: new Gauge({ name: 'pallet_auth_login_waiting', help: 'Authentication attempts waiting out a throttling delay', registers: [metrics] }),
    };
  }

  /** The delay after `n` failures with `free` of them allowed (rule 5). */
  delayMs(n: number, free: number): number {
    const max = this.settings.maxDelayMs;
    if (max <= 0 || free <= 0 || n < free) return 0;
    return Math.min(max, Math.min(this.settings.baseDelayMs ?? BASE_DELAY_MS, max) * 2 ** Math.min(n - free, 30));
  }

  /** How long a password attempt of the pair waits before its check (rule 2). */
  pairDelayMs(username: string, address: string, now = Date.now()): number {
    return this.delayMs(this.#pairs.get(pairKey(username, address), now), this.settings.pairFree);
  }

  /** Before a password check: waits the pair's delay when the pair has been failing. */
  async beforeCheck(username: string, address: string): Promise<void> {
    await this.#wait(this.pairDelayMs(username, address), address, 'before');
  }

  /** After a failed check: counts it, then waits max(pair, address) delay (rule 3). */
  async afterFailure(username: string | undefined, address: string, now = Date.now()): Promise<void> {
    const pair = username === undefined ? 0 : this.delayMs(this.#pairs.add(pairKey(username, address), now), this.settings.pairFree);
    const byAddress = this.delayMs(this.#addresses.add(address, now), this.settings.addressFree);
    await this.#wait(Math.max(pair, byAddress), address, 'after');
  }

  /** A correct password clears its pair (not its address: a sprayer may know one password). */
  succeed(username: string, address: string): void {
    this.#pairs.clear(pairKey(username, address));
  }

  /** Ends every wait (UNAVAILABLE), for shutdown. */
  close(): void {
    this.#closing.abort();
  }

  /** Requests waiting now (for tests and the gauge). */
  get waiting(): number {
    return this.#waiting;
  }

  async #wait(ms: number, address: string, phase: 'before' | 'after'): Promise<void> {
    if (ms <= 0) return;
    const here = this.#waitingByAddress.get(address) ?? 0;
    if (here >= this.#maxWaitingPerAddress || this.#waiting >= this.#maxWaiting) {
      this.#metrics?.refused.inc();
      const seconds = Math.max(1, Math.ceil(ms / 1000));
      throw new PalletError('TOOMANYREQUESTS', `too many failed logins: try again in ${seconds} seconds`, { retryAfterSeconds: seconds });
    }
    this.#waitingByAddress.set(address, here + 1);
    this.#waiting++;
    this.#metrics?.delays.inc({ phase });
    this.#metrics?.waiting.set(this.#waiting);
    try {
      await sleep(ms, undefined, { signal: this.#closing.signal });
    } catch {
      throw new PalletError('UNAVAILABLE', 'the server is shutting down');
    } finally {
      this.#waiting--;
      const left = (this.#waitingByAddress.get(address) ?? 1) - 1;
      if (left <= 0) this.#waitingByAddress.delete(address);
      else this.#waitingByAddress.set(address, left);
      this.#metrics?.waiting.set(this.#waiting);
    }
  }
}

function pairKey(username: string, address: string): string {
  return `${username.slice(0, KEY_NAME_CHARS)}\u0000${address}`;
}
