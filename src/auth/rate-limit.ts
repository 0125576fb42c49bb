/**
 * Failed-login limiting: a sliding window of failure times per username and per client address.
 * Once either key reaches its limit, every attempt on it is refused (TOOMANYREQUESTS) before any
 * password is checked, right or wrong, until enough failures have left the window.
 *
 * In-process and per replica: behind a load balancer with N replicas an attacker gets at most
 * N times the limit per window. Memory is bounded: at most `limit` times per key, and keys are
 * dropped once their window is empty (swept on each call, amortised).
 */
import { PalletError } from '../base/errors.js';

export interface LoginLimits {
  perUser: number;
  perAddress: number;
  windowMs: number;
}

class SlidingWindow {
  readonly #failures = new Map<string, number[]>();
  #lastSweep = 0;

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  #recent(key: string, now: number): number[] {
    const times = this.#failures.get(key);
    if (!times) return [];
    const from = now - this.windowMs;
    while (times.length > 0 && times[0]! <= from) times.shift();
    if (times.length === 0) this.#failures.delete(key);
    return times;
  }

  /** Seconds until the key may try again; 0 when it may now. */
  retryAfter(key: string, now: number): number {
    if (this.limit <= 0) return 0;
    const times = this.#recent(key, now);
    if (times.length < this.limit) return 0;
    return Math.max(1, Math.ceil((times[times.length - this.limit]! + this.windowMs - now) / 1000));
  }

  fail(key: string, now: number): void {
    if (this.limit <= 0) return;
    this.#sweep(now);
    const times = this.#recent(key, now);
    times.push(now);
    if (times.length > this.limit) times.splice(0, times.length - this.limit);
    this.#failures.set(key, times);
  }

  reset(key: string): void {
    this.#failures.delete(key);
  }

  #sweep(now: number): void {
    if (now - this.#lastSweep < this.windowMs) return;
    this.#lastSweep = now;
    for (const key of [...this.#failures.keys()]) this.#recent(key, now);
  }
}

export class LoginRateLimiter {
  readonly #users: SlidingWindow;
  readonly #addresses: SlidingWindow;

  constructor(limits: LoginLimits) {
    this.#users = new SlidingWindow(limits.perUser, limits.windowMs);
    this.#addresses = new SlidingWindow(limits.perAddress, limits.windowMs);
  }

  /** TOOMANYREQUESTS when the user or the address is over its limit. */
  check(username: string | undefined, address: string, now = Date.now()): void {
    const wait = Math.max(username === undefined ? 0 : this.#users.retryAfter(username, now), this.#addresses.retryAfter(address, now));
    if (wait > 0) {
      throw new PalletError('TOOMANYREQUESTS', `too many failed logins: try again in ${wait} seconds`, { retryAfterSeconds: wait });
    }
  }

  /** Whether the user or address is over its limit (without throwing). */
  limited(username: string | undefined, address: string, now = Date.now()): boolean {
    try {
      this.check(username, address, now);
      return false;
    } catch {
      return true;
    }
  }

  fail(username: string | undefined, address: string, now = Date.now()): void {
    if (username !== undefined) this.#users.fail(username, now);
    this.#addresses.fail(address, now);
  }

  /** A successful login clears the user's failures (not the address's). */
  succeed(username: string): void {
    this.#users.reset(username);
  }
}
