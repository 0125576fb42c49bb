/**
 * `server.trustProxy`: which X-Forwarded-For hops are believed, and bad entries refused.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isPalletError } from './errors.js';
import { clientAddress, parseTrustProxy } from './client-address.js';

describe('client address', () => {
  it('ignores X-Forwarded-For unless the peer is a trusted proxy', () => {
    assert.equal(clientAddress('203.0.113.9', '198.51.100.1', undefined), '203.0.113.9');
    const trust = parseTrustProxy('10.0.0.0/8, 127.0.0.1');
    assert.equal(clientAddress('203.0.113.9', '198.51.100.1', trust), '203.0.113.9', 'an untrusted peer');
    assert.equal(clientAddress('127.0.0.1', '198.51.100.1', trust), '198.51.100.1');
    assert.equal(clientAddress('::ffff:127.0.0.1', '198.51.100.1', trust), '198.51.100.1', 'IPv4-mapped peer');
    assert.equal(clientAddress('127.0.0.1', undefined, trust), '127.0.0.1');
  });

  it('walks the chain from the right and stops at the first untrusted hop, so clients cannot prepend', () => {
    const trust = parseTrustProxy('10.0.0.0/8,127.0.0.1');
    assert.equal(clientAddress('127.0.0.1', '1.2.3.4, 198.51.100.1, 10.1.2.3', trust), '198.51.100.1');
    assert.equal(clientAddress('127.0.0.1', '10.0.0.2, 10.1.2.3', trust), '10.0.0.2', 'the leftmost when all are trusted');
  });

  it('matches IPv6 CIDRs', () => {
    const trust = parseTrustProxy('fd00::/8')!;
    assert.equal(trust('fd12::1'), true);
    assert.equal(trust('fe80::1'), false);
    assert.equal(trust('10.0.0.1'), false);
  });

  it('refuses entries that are not addresses or CIDRs', () => {
    assert.equal(parseTrustProxy(''), undefined);
    assert.equal(parseTrustProxy(' , '), undefined);
    for (const bad of ['true', 'loopback', '10.0.0.0/33', '10.0.0.0/8/1', '300.1.1.1', 'fd00::/129', '10.0.0.0/x']) {
      assert.throws(() => parseTrustProxy(bad), (err: unknown) => isPalletError(err, 'INVALID_ARGUMENT') && err.message.includes('server.trustProxy'), bad);
    }
  });
});
