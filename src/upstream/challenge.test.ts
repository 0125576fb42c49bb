import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseChallenges, pickChallenge } from './challenge.js';

describe('parseChallenges', () => {
  it("reads Docker Hub's Bearer challenge with realm, service and scope", () => {
    const [c] = parseChallenges(
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"',
    );
    assert.deepEqual(c, {
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' },
    });
  });

  it('reads a Basic challenge, and lower-cases scheme and parameter names', () => {
    assert.deepEqual(parseChallenges('BASIC Realm="Registry Realm"'), [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]);
  });

  it('keeps commas and escaped quotes inside quoted values', () => {
    const [c] = parseChallenges('Bearer realm="http://h/token",scope="repository:a:pull,push repository:b:pull",error="say \\"hi\\""');
    assert.equal(c?.params.scope, 'repository:a:pull,push repository:b:pull');
    assert.equal(c?.params.error, 'say "hi"');
  });

  it('splits several challenges in one header or in an array of headers', () => {
    const joined = parseChallenges('Basic realm="r", Bearer realm="http://h/token", service="s"');
    assert.deepEqual(joined.map((c) => c.scheme), ['basic', 'bearer']);
    assert.equal(joined[1]?.params.service, 's');
    const array = parseChallenges(['Basic realm="r"', 'Bearer realm="http://h/token"']);
    assert.deepEqual(array.map((c) => c.scheme), ['basic', 'bearer']);
  });

  it('accepts unquoted values, spaces around "=", and a challenge without parameters', () => {
    const [c] = parseChallenges('Bearer realm = http://h:5000/v2/token , service=pallet');
    assert.deepEqual(c?.params, { realm: 'http://h:5000/v2/token', service: 'pallet' });
    assert.deepEqual(parseChallenges('Basic'), [{ scheme: 'basic', params: {} }]);
  });

  it('answers nothing for a missing or empty header', () => {
    assert.deepEqual(parseChallenges(undefined), []);
    assert.deepEqual(parseChallenges(''), []);
  });
});

describe('pickChallenge', () => {
  it('prefers Bearer with a realm, then Basic, and ignores schemes Pallet cannot answer', () => {
    assert.equal(pickChallenge(parseChallenges('Basic realm="r", Bearer realm="http://h/t"'))?.scheme, 'bearer');
    assert.equal(pickChallenge(parseChallenges('Bearer service="no-realm", Basic realm="r"'))?.scheme, 'basic');
    assert.equal(pickChallenge(parseChallenges('Negotiate, Digest realm="x"')), undefined);
  });
});
