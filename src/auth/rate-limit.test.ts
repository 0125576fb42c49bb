/**
 * Failed-login limiting: per user and per address, sliding, and refusing even a right password
 * once over the limit.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isPalletError } from '../base/errors.js';
import { LoginRateLimiter } from './rate-limit.js';

describe('LoginRateLimiter', () => {
  const limiter = () => new LoginRateLimiter({ perUser: 3, perAddress: 5, windowMs: 60_000 });

  it('refuses a user after the limit of failures within the window, saying when to retry', () => {
    const l = limiter();
    for (let i = 0; i < 3; i++) {
      l.check('alice', `10.0.0.${i}`, 1000 + i);
      l.fail('alice', `10.0.0.${i}`, 1000 + i);
    }
    assert.throws(
      () => l.check('alice', '10.0.0.9', 2000),
      (err: unknown) => isPalletError(err, 'TOOMANYREQUESTS') && err.detail?.retryAfterSeconds === 59,
    );
    l.check('bob', '10.0.0.9', 2000);
  });

  it('lets the user try again once the oldest failures leave the window', () => {
    const l = limiter();
    for (let i = 0; i < 3; i++) l.fail('alice', 'a', i * 1000);
    assert.equal(l.limited('alice', 'b', 59_000), true);
    assert.equal(l.limited('alice', 'b', 60_001), false);
  });

  it('refuses an address that tries many usernames', () => {
    const l = limiter();
    for (let i = 0; i < 5; i++) l.fail(`user${i}`, '192.0.2.1', 10);
    assert.equal(l.limited('someone-new', '192.0.2.1', 20), true);
    assert.equal(l.limited('someone-new', '192.0.2.2', 20), false);
  });

  it('a success clears the user’s failures but not the address’s', () => {
    const l = limiter();
    for (let i = 0; i < 2; i++) l.fail('alice', 'x', 10);
    l.succeed('alice');
    l.fail('alice', 'x', 20);
    l.fail('alice', 'x', 20);
    assert.equal(l.limited('alice', 'y', 30), false, 'two failures after the success');
    l.fail('carol', 'x', 30);
    assert.equal(l.limited('dave', 'x', 30), true, 'the address has 5 failures');
  });

  it('a limit of 0 turns the check off', () => {
    const l = new LoginRateLimiter({ perUser: 0, perAddress: 0, windowMs: 1000 });
    for (let i = 0; i < 100; i++) l.fail('a', 'b', 1);
    assert.equal(l.limited('a', 'b', 2), false);
  });
});
