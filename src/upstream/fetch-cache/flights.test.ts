import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Flights, WaitExpired } from './flights.js';

const blob = { digest: `sha256:${'a'.repeat(64)}`, size: 1, createdAt: 0, verified: true };

describe('Flights', () => {
  it('lets waiters share the outcome, and frees the slot when the flight lands', async () => {
    const flights = new Flights(5_000);
    const flight = flights.open('k');
    const waiting = [flight.wait(), flight.wait()];
    flights.land('k', flight, { blob });
    assert.deepEqual(await Promise.all(waiting), [blob, blob]);
    assert.equal(flights.has('k'), false);
    const failed = flights.open('k');
    const waiter = failed.wait();
    flights.land('k', failed, { error: new Error('cut off') });
    await assert.rejects(waiter, /cut off/);
  });

  it('gives up waiting after the wait limit, and on abort', async () => {
    const flights = new Flights(50);
    const flight = flights.open('k');
    await assert.rejects(flight.wait(), (err) => err instanceof WaitExpired);
    const controller = new AbortController();
    const aborted = new Flights(60_000).open('k').wait(controller.signal);
    controller.abort();
    await assert.rejects(aborted, /aborted/);
  });

  it('is abandoned only when nobody holds it and it is older than the wait limit', async () => {
    const flight = new Flights(30).open('k');
    const release = flight.hold();
    assert.equal(flight.abandoned, false);
    await sleep(60);
    assert.equal(flight.abandoned, false, 'a holder keeps it going');
    release();
    release();
    assert.equal(flight.abandoned, true);
    const young = new Flights(60_000).open('k');
    assert.equal(young.abandoned, false, 'too young to stop');
  });
});
