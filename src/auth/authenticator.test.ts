/**
 * The authenticator's hot path: verified basic credentials are cached, concurrent misses share
 * one KDF run, an expired entry is re-checked in the background against the stored hash
 * (served meanwhile, no KDF), and a password changed elsewhere stops working once that fails.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isPalletError } from '../base/errors.js';
import type { UserRecord } from '../metadata/identity-store.js';
import { openDatabase } from '../metadata/open.js';
import { SqlIdentityStore } from '../metadata/sql-identity-store.js';
import type { MetadataStore } from '../metadata/store.js';
import { AccessTokenService } from './access-tokens.js';
import { AuditLog } from './audit.js';
import { Authenticator } from './authenticator.js';
import { hashPassword } from './passwords.js';
import { LoginThrottle } from './login-throttle.js';
import { UserService } from './users.js';

class CountingUsers extends UserService {
  checks = 0;
  override async checkLogin(username: string, password: string): Promise<{ user: UserRecord } | { reason: string }> {
    this.checks++;
    return super.checkLogin(username, password);
  }
}

describe('Authenticator (basic credentials)', () => {
  let dir: string;
  let metadata: MetadataStore;
  let identity: SqlIdentityStore;
  let users: CountingUsers;
  let tokens: AccessTokenService;
  const cacheMs = 1000;

  const authenticator = () =>
    new Authenticator({
      users,
      tokens,
      throttle: new LoginThrottle({ pairFree: 100, addressFree: 100, windowMs: 60_000, maxDelayMs: 0 }),
      audit: new AuditLog(identity, () => undefined),
      cacheMs,
    });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pallet-authn-'));
    const opened = await openDatabase({ url: '', dataDir: dir });
    metadata = opened.metadata;
    identity = new SqlIdentityStore(opened.db, opened.dialect);
    users = new CountingUsers(identity, () => undefined);
    tokens = new AccessTokenService(identity, metadata, { cacheMs, defaultDays: 1, onError: () => undefined });
    await identity.createUser({ username: 'carol', passwordHash: await hashPassword('first-password'), email: '', admin: false });
  });

  after(async () => {
    await tokens.close();
    await metadata.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a user name with a NUL before any lookup (PostgreSQL refuses NUL in text: it was a 500)', async () => {
    const authn = authenticator();
    users.checks = 0;
    await assert.rejects(authn.login('car\u0000ol', 'first-password', '10.0.0.9'), (err: unknown) => isPalletError(err, 'UNAUTHORIZED'));
    await assert.rejects(authn.basic('car\u0000ol', 'first-password', '10.0.0.9'), (err: unknown) => isPalletError(err, 'UNAUTHORIZED'));
    assert.equal(users.checks, 0);
  });

  it('runs the KDF once for many concurrent requests, then serves from the cache', async () => {
    const authn = authenticator();
    users.checks = 0;
    const results = await Promise.all(Array.from({ length: 16 }, () => authn.basic('carol', 'first-password', '10.0.0.1')));
    assert.ok(results.every((p) => p.user.username === 'carol'));
    assert.equal(users.checks, 1);
    await authn.basic('carol', 'first-password', '10.0.0.1');
    assert.equal(users.checks, 1, 'a cache hit');
  });

  it('re-checks an expired entry in the background against the stored hash, without the KDF', async () => {
    const authn = authenticator();
    await authn.basic('carol', 'first-password', '10.0.0.1');
    users.checks = 0;
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, cacheMs + 20));
      assert.equal((await authn.basic('carol', 'first-password', '10.0.0.1')).user.username, 'carol');
    }
    assert.equal(users.checks, 0, 'no password check after the first');
  });

  it('re-checks an expired entry in the background and stops accepting a password changed elsewhere', async () => {
    const authn = authenticator();
    const secondHash = await hashPassword('second-password');
    await authn.basic('carol', 'first-password', '10.0.0.1');
    users.checks = 0;
    // Changed on "another replica": this authenticator is not told.
    const carol = (await identity.findUser('carol'))!;
    await identity.updateUser(carol.id, { passwordHash: secondHash });
    assert.equal((await authn.basic('carol', 'first-password', '10.0.0.1')).user.username, 'carol', 'still fresh');
    await new Promise((r) => setTimeout(r, cacheMs + 20));
    assert.equal((await authn.basic('carol', 'first-password', '10.0.0.1')).user.username, 'carol', 'stale: served, re-checked behind');
    // Served until the background re-check (one read) fails; then refused.
    let refused = false;
    for (const deadline = Date.now() + 10_000; !refused && Date.now() < deadline; ) {
      try {
        await authn.basic('carol', 'first-password', '10.0.0.1');
        await new Promise((r) => setTimeout(r, 10));
      } catch (err) {
        assert.ok(isPalletError(err, 'UNAUTHORIZED'));
        refused = true;
      }
    }
    assert.ok(refused, 'the old password stops working');
    assert.ok(users.checks >= 1);
    assert.equal((await authn.basic('carol', 'second-password', '10.0.0.1')).user.username, 'carol');
  });

  it('forgets a user at once when told it changed', async () => {
    const authn = authenticator();
    await authn.basic('carol', 'second-password', '10.0.0.1');
    users.checks = 0;
    authn.forgetUser((await identity.findUser('carol'))!.id);
    await authn.basic('carol', 'second-password', '10.0.0.1');
    assert.equal(users.checks, 1);
  });
});
