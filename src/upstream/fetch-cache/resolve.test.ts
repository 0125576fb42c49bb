import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PalletError } from '../../base/errors.js';
import type { RegistryRecord } from '../../metadata/store.js';
import { collectInOrder, resolveInOrder, type Resolution } from './resolve.js';

const quiet = { info: () => undefined, warn: () => undefined };
const proxy = (id: string): RegistryRecord => ({
  id,
  spaceId: 's',
  rootSpaceId: 's',
  identifier: id,
  packageType: 'helm',
  kind: 'upstream',
  description: '',
  labels: [],
  public: false,
  upstream: null,
  createdAt: 0,
  updatedAt: 0,
});

/** A resolution over proxies whose answers `answers` gives (a value, undefined, or an error to throw). */
function order(answers: Record<string, unknown>, own?: () => Promise<string | undefined>): Resolution<string> & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    own,
    upstreams: async () => Object.keys(answers).map(proxy),
    attempt: async (u) => {
      asked.push(u.id);
      const a = answers[u.id];
      if (a instanceof Error) throw a;
      return a as string | undefined;
    },
    labelOf: (u) => `acme/${u.id}`,
    notFound: (_u, notes) => new PalletError('NOT_FOUND', `nowhere${notes.length ? `; ${notes.join('; ')}` : ''}`),
    failed: (failure, _u, notes) => new PalletError(failure.code, `could not fetch (${notes.join('; ')})`),
    log: quiet,
    fields: {},
  };
}

describe('the resolution order', () => {
  it('answers with its own content before asking any upstream', async () => {
    const r = order({ a: 'from a' }, async () => 'own');
    assert.equal(await resolveInOrder(r), 'own');
    assert.deepEqual(r.asked, []);
  });

  it('asks the upstreams top to bottom past misses and denials', async () => {
    const r = order({ a: undefined, b: new PalletError('DENIED', 'b says no'), c: 'from c', d: 'from d' }, async () => {
      throw new PalletError('MANIFEST_UNKNOWN', 'not here');
    });
    assert.equal(await resolveInOrder(r), 'from c');
    assert.deepEqual(r.asked, ['a', 'b', 'c']);
  });

  it('names denials when none has it, and reports a failure over a miss', async () => {
    await assert.rejects(resolveInOrder(order({ a: new PalletError('DENIED', 'b says no'), b: undefined })), /nowhere; acme\/a: b says no/);
    const failing = order({ a: new PalletError('UNAVAILABLE', 'down'), b: undefined });
    await assert.rejects(resolveInOrder(failing), (err) => err instanceof PalletError && err.code === 'UNAVAILABLE' && /acme\/a: down/.test(err.message));
    assert.deepEqual(failing.asked, ['a', 'b'], 'the next upstream was asked after the failure');
  });

  it('stops at an error that is neither a miss, a denial nor a failure', async () => {
    const r = order({ a: new PalletError('DIGEST_INVALID', 'bad input'), b: 'from b' });
    await assert.rejects(resolveInOrder(r), /bad input/);
    assert.deepEqual(r.asked, ['a']);
  });

  it('throws its own miss when there are no upstreams', async () => {
    const r = { ...order({}), own: async () => Promise.reject(new PalletError('BLOB_UNKNOWN', 'own miss')) };
    await assert.rejects(resolveInOrder(r), /own miss/);
  });

  it('merges every upstream, leaving out one that fails only for a local registry', async () => {
    const attempt = async (u: RegistryRecord): Promise<string> => {
      if (u.id === 'b') throw new PalletError('UNAVAILABLE', 'down');
      return u.id;
    };
    assert.deepEqual(await collectInOrder([proxy('a'), proxy('b'), proxy('c')], attempt, true, (u) => `-${u.id}`), ['a', '-b', 'c']);
    await assert.rejects(collectInOrder([proxy('b')], attempt, false, (u) => u.id), /down/);
  });
});
