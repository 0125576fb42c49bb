import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { isPalletError } from '../base/errors.js';
import { deriveKey, resolveUpstreamKey, SecretBox } from './secret-box.js';

describe('SecretBox', () => {
  it('seals with a fresh IV each time and opens what it sealed', () => {
    const box = new SecretBox(randomBytes(32));
    const a = box.seal('hunter2');
    const b = box.seal('hunter2');
    assert.notEqual(a, b);
    assert.ok(box.isSealed(a) && !a.includes('hunter2'));
    assert.equal(box.open(a), 'hunter2');
    assert.equal(box.open(b), 'hunter2');
    assert.equal(box.open(box.seal('')), '');
  });

  it('opens a value stored before sealing existed as it is', () => {
    const box = new SecretBox(randomBytes(32));
    assert.equal(box.isSealed('plain-old-password'), false);
    assert.equal(box.open('plain-old-password'), 'plain-old-password');
  });

  it('refuses a value sealed with another key or tampered with', () => {
    const box = new SecretBox(randomBytes(32));
    const sealed = box.seal('token');
    assert.throws(() => new SecretBox(randomBytes(32)).open(sealed), (err) => isPalletError(err, 'UNAVAILABLE') && /another server key/.test(err.message));
    const parts = sealed.split(':');
    const data = Buffer.from(parts[4]!, 'base64url');
    data[0] = data[0]! ^ 1;
    parts[4] = data.toString('base64url');
    assert.throws(() => box.open(parts.join(':')), (err) => isPalletError(err, 'UNAVAILABLE'));
  });

  it('derives the same key from the same configured string, and keeps a generated one in the store', async () => {
    assert.deepEqual(deriveKey('operator secret'), deriveKey('operator secret'));
    assert.equal(deriveKey('operator secret').length, 32);
    const stored = new Map<string, string>();
    const store = {
      serverSecret: async (name: string, create: () => string) => {
        if (!stored.has(name)) stored.set(name, create());
        return stored.get(name)!;
      },
    };
    const first = await resolveUpstreamKey('', store);
    assert.equal(first.length, 32);
    assert.deepEqual(await resolveUpstreamKey('', store), first);
    assert.deepEqual(await resolveUpstreamKey('configured', store), deriveKey('configured'));
  });
});
