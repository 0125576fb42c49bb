/**
 * The failed-login throttle: growing, capped delays per (username, address) pair and per
 * address; nobody else's failures delay a pair; waiting is async and bounded in number.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Registry } from 'prom-client';
import { isPalletError } from '../base/errors.js';
import { LoginThrottle } from './login-throttle.js';

describe('LoginThrottle', () => {
  it('grows delays exponentially after the free failures, up to the cap', () => {
    const t = new LoginThrottle({ pairFree: 3, addressFree: 10, windowMs: 60_000, maxDelayMs: 4000 });
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 40].map((n) => t.delayMs(n, 3)), [0, 0, 0, 250, 500, 1000, 2000, 4000, 4000, 4000]);
    assert.equal(t.delayMs(50, 0), 0, '0 free failures turns the delay off');
    const off = new LoginThrottle({ pairFree: 3, addressFree: 10, windowMs: 60_000, maxDelayMs: 0 });
    assert.equal(off.delayMs(50, 3), 0, 'maxDelayMs 0 turns every delay off');
  });

  it("delays only the failing pair before a check: not the user elsewhere, not other users there", async () => {
    const t = new LoginThrottle({ pairFree: 2, addressFree: 100, windowMs: 60_000, maxDelayMs: 1 });
    const now = Date.now();
    for (let i = 0; i < 5; i++) await t.afterFailure('bob', '10.0.0.1', now);
    assert.ok(t.pairDelayMs('bob', '10.0.0.1', now) > 0);
    assert.equal(t.pairDelayMs('bob', '10.0.0.2', now), 0, 'the same user from another address');
    assert.equal(t.pairDelayMs('alice', '10.0.0.1', now), 0, 'another user from the same address');
    assert.equal(t.pairDelayMs('bob', '10.0.0.1', now + 60_000), 0, 'forgotten after the window');
    t.succeed('bob', '10.0.0.1');
    assert.equal(t.pairDelayMs('bob', '10.0.0.1', now), 0, 'a success clears the pair');
  });

  it('bounds waiting requests per address, refusing the excess at once, and ends waits on close', async () => {
    const metrics = new Registry();
    const t = new LoginThrottle({ pairFree: 1, addressFree: 1, windowMs: 60_000, maxDelayMs: 60_000, baseDelayMs: 60_000, maxWaitingPerAddress: 3, maxWaiting: 5 }, metrics);
    const waits = [1, 2, 3].map((i) => t.afterFailure(`user${i}`, '10.0.0.1'));
    const settled = waits.map((w) => w.then(() => 'resolved', (err: unknown) => (isPalletError(err) ? err.code : 'other')));
    assert.equal(t.waiting, 3);
    await assert.rejects(t.afterFailure('user4', '10.0.0.1'), (err: unknown) => isPalletError(err, 'TOOMANYREQUESTS'));
    await assert.rejects(t.beforeCheck('user1', '10.0.0.1'), (err: unknown) => isPalletError(err, 'TOOMANYREQUESTS'), 'a failing pair finds no slot');
    await t.beforeCheck('fresh', '10.0.0.1'); // a pair without failures never waits, so is never refused
    // Another address has its own slots, up to the global cap (5).
    const other = [1, 2].map((i) => t.afterFailure(`user${i}`, '10.0.0.2').catch((err: unknown) => err));
    assert.equal(t.waiting, 5);
    await assert.rejects(t.afterFailure('x', '10.0.0.3'), (err: unknown) => isPalletError(err, 'TOOMANYREQUESTS'), 'the global cap');
    const refused = await metrics.getSingleMetric('pallet_auth_login_throttle_refusals_total')?.get();
    assert.equal(refused?.values[0]?.value, 3);
    t.close();
    assert.deepEqual(await Promise.all(settled), ['UNAVAILABLE', 'UNAVAILABLE', 'UNAVAILABLE']);
    await Promise.all(other);
    assert.equal(t.waiting, 0);
  });

  it('waits without holding the event loop', async () => {
    const t = new LoginThrottle({ pairFree: 1, addressFree: 1, windowMs: 60_000, maxDelayMs: 300, maxWaitingPerAddress: 1 });
    const histogram = monitorEventLoopDelay({ resolution: 10 });
    histogram.enable();
    // 64 failing attempts from 64 addresses, each waiting up to 300 ms at once.
    await Promise.all(Array.from({ length: 64 }, (_, i) => Promise.all([t.afterFailure('u', `10.1.0.${i}`), t.afterFailure('v', `10.1.0.${i}`).catch(() => undefined)])));
    histogram.disable();
    // Generous bound: a blocking sleep would show 300 ms and more.
    assert.ok(histogram.max / 1e6 < 250, `event loop delay max ${histogram.max / 1e6} ms`);
    t.close();
  });

  it('keeps at most maxKeys failure counts, forgetting the stalest', async () => {
    const t = new LoginThrottle({ pairFree: 2, addressFree: 0, windowMs: 60_000, maxDelayMs: 1, maxKeys: 10 });
    const now = Date.now();
    await t.afterFailure('user0', '10.0.0.1', now);
    await t.afterFailure('user0', '10.0.0.1', now);
    assert.ok(t.pairDelayMs('user0', '10.0.0.1', now) > 0);
    for (let i = 1; i <= 100; i++) await t.afterFailure(`user${i}`, '10.0.0.1', now);
    assert.equal(t.pairDelayMs('user0', '10.0.0.1', now), 0, 'pushed out by newer pairs');
    await t.afterFailure('user100', '10.0.0.1', now);
    assert.ok(t.pairDelayMs('user100', '10.0.0.1', now) > 0, 'recent pairs are kept');
  });
});
