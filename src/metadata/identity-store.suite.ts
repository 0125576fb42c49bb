/**
 * The shared behaviour suite of `IdentityStore`: SQLite and PostgreSQL run exactly these tests
 * against a real, freshly migrated database. `open` returns the identity store and the metadata
 * store over the same database (spaces are the metadata store's), plus how to close them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isPalletError } from '../base/errors.js';
import type { IdentityStore, SigningKeyRecord, UserRecord } from './identity-store.js';
import type { MetadataStore, SpaceRecord } from './store.js';

export interface OpenedIdentity {
  identity: IdentityStore;
  metadata: MetadataStore;
  close(): Promise<void>;
}

export function identityStoreSuite(name: string, open: () => Promise<OpenedIdentity>, cleanup?: () => Promise<void>): void {
  describe(name, () => {
    let opened: OpenedIdentity;
    let store: IdentityStore;
    let metadata: MetadataStore;
    let counter = 0;

    before(async () => {
      opened = await open();
      store = opened.identity;
      metadata = opened.metadata;
    });

    after(async () => {
      await opened?.close();
      await cleanup?.();
    });

    const unique = (prefix: string): string => `${prefix}${++counter}`;
    const user = (fields: { admin?: boolean } = {}): Promise<UserRecord> =>
      store.createUser({ username: unique('user'), passwordHash: '$argon2id$fake', email: '', admin: fields.admin ?? false });
    const space = (parent?: SpaceRecord): Promise<SpaceRecord> =>
      metadata.createSpace({ path: parent ? `${parent.path}/${unique('p')}` : unique('org'), parentId: parent?.id ?? null, description: '' });

    describe('users', () => {
      it('creates a user and finds it by name and by id', async () => {
        const u = await store.createUser({ username: unique('alice'), passwordHash: 'h1', email: 'a@example.com', admin: true });
        assert.equal(u.admin, true);
        assert.equal(u.disabled, false);
        assert.equal(u.lastLoginAt, null);
        assert.deepEqual(await store.findUser(u.username), u);
        assert.deepEqual(await store.findUserById(u.id), u);
        assert.equal(await store.findUser('nobody-at-all'), undefined);
      });

      it('refuses a second user with the same name with ALREADY_EXISTS', async () => {
        const u = await user();
        await assert.rejects(
          store.createUser({ username: u.username, passwordHash: 'x', email: '', admin: false }),
          (err: unknown) => isPalletError(err, 'ALREADY_EXISTS'),
        );
      });

      it('lists users sorted by name and counts them', async () => {
        const before = await store.countUsers();
        await store.createUser({ username: `zz${unique('x')}`, passwordHash: 'h', email: '', admin: false });
        await store.createUser({ username: `aa${unique('x')}`, passwordHash: 'h', email: '', admin: false });
        const names = (await store.listUsers()).map((u) => u.username);
        assert.deepEqual(names, [...names].sort());
        assert.equal(await store.countUsers(), before + 2);
      });

      it('updates only the fields given and NOT_FOUND for a missing user', async () => {
        const u = await user();
        const changed = await store.updateUser(u.id, { disabled: true, lastLoginAt: 1234 });
        assert.equal(changed.disabled, true);
        assert.equal(changed.lastLoginAt, 1234);
        assert.equal(changed.passwordHash, u.passwordHash);
        assert.equal(changed.email, u.email);
        const again = await store.updateUser(u.id, { passwordHash: 'new', email: 'e@x', admin: true, disabled: false });
        assert.deepEqual([again.passwordHash, again.email, again.admin, again.disabled], ['new', 'e@x', true, false]);
        await assert.rejects(store.updateUser('missing', { email: 'x' }), (err: unknown) => isPalletError(err, 'NOT_FOUND'));
      });

      it('deletes a user with its tokens, memberships and sessions', async () => {
        const u = await user();
        const s = await space();
        await store.setMember(s.id, u.id, 'writer');
        await store.createAccessToken({ userId: u.id, name: 't', tokenHash: unique('hash'), scopes: ['read'], spaceId: null, registryId: null, expiresAt: null });
        await store.createSession({ idHash: unique('sess'), userId: u.id, csrfHash: 'c', createdAt: 1, expiresAt: Date.now() + 60_000 });
        assert.equal(await store.deleteUser(u.id), true);
        assert.equal(await store.deleteUser(u.id), false);
        assert.deepEqual(await store.listMembers(s.id), []);
        assert.deepEqual(await store.listAccessTokens(u.id), []);
        assert.equal(await store.deleteUserSessions(u.id), 0);
      });
    });

    describe('access tokens', () => {
      it('stores a token by hash with its scopes, limits and expiry and finds it by hash', async () => {
        const u = await user();
        const hash = unique('hash');
        const t = await store.createAccessToken({ userId: u.id, name: 'ci', tokenHash: hash, scopes: ['read', 'write'], spaceId: 'sp', registryId: 'rg', expiresAt: 99 });
        assert.deepEqual(await store.findAccessTokenByHash(hash), t);
        assert.deepEqual(t.scopes, ['read', 'write']);
        assert.equal(t.spaceId, 'sp');
        assert.equal(t.registryId, 'rg');
        assert.equal(t.expiresAt, 99);
        assert.equal(await store.findAccessTokenByHash('other'), undefined);
      });

      it('refuses a duplicate hash and a token of a missing user', async () => {
        const u = await user();
        const hash = unique('hash');
        const input = { userId: u.id, name: 'a', tokenHash: hash, scopes: ['read'], spaceId: null, registryId: null, expiresAt: null };
        await store.createAccessToken(input);
        await assert.rejects(store.createAccessToken(input), (err: unknown) => isPalletError(err, 'ALREADY_EXISTS'));
        await assert.rejects(
          store.createAccessToken({ ...input, userId: 'missing', tokenHash: unique('hash') }),
          (err: unknown) => isPalletError(err, 'NOT_FOUND'),
        );
      });

      it("lists a user's tokens oldest first and deletes only the owner's token", async () => {
        const u = await user();
        const other = await user();
        const a = await store.createAccessToken({ userId: u.id, name: 'a', tokenHash: unique('h'), scopes: ['read'], spaceId: null, registryId: null, expiresAt: null });
        await new Promise((r) => setTimeout(r, 2));
        const b = await store.createAccessToken({ userId: u.id, name: 'b', tokenHash: unique('h'), scopes: ['read'], spaceId: null, registryId: null, expiresAt: null });
        assert.deepEqual((await store.listAccessTokens(u.id)).map((t) => t.name), ['a', 'b']);
        assert.equal(await store.deleteAccessToken(other.id, a.id), false, 'another user cannot delete it');
        assert.equal(await store.deleteAccessToken(u.id, a.id), true);
        assert.equal(await store.findAccessTokenByHash(a.tokenHash), undefined);
        assert.deepEqual((await store.listAccessTokens(u.id)).map((t) => t.id), [b.id]);
      });

      it('records last-use times and ignores unknown ids', async () => {
        const u = await user();
        const t = await store.createAccessToken({ userId: u.id, name: 'a', tokenHash: unique('h'), scopes: ['read'], spaceId: null, registryId: null, expiresAt: null });
        await store.touchAccessTokens([[t.id, 5000], ['missing', 6000]]);
        assert.equal((await store.findAccessTokenByHash(t.tokenHash))?.lastUsedAt, 5000);
      });
    });

    describe('space members', () => {
      it('sets, changes and removes a role; lists members by name and memberships by user', async () => {
        const s = await space();
        const child = await space(s);
        const bob = await store.createUser({ username: `b${unique('m')}`, passwordHash: 'h', email: '', admin: false });
        const al = await store.createUser({ username: `a${unique('m')}`, passwordHash: 'h', email: '', admin: false });
        await store.setMember(s.id, bob.id, 'reader');
        const changed = await store.setMember(s.id, bob.id, 'admin');
        assert.equal(changed.role, 'admin');
        assert.equal(changed.username, bob.username);
        await store.setMember(s.id, al.id, 'writer');
        await store.setMember(child.id, bob.id, 'owner');
        assert.deepEqual((await store.listMembers(s.id)).map((m) => [m.username, m.role]), [
          [al.username, 'writer'],
          [bob.username, 'admin'],
        ]);
        const memberships = await store.listMemberships(bob.id);
        assert.deepEqual(
          memberships.map((m) => [m.spaceId, m.role]),
          [
            [s.id, 'admin'],
            [child.id, 'owner'],
          ].sort((x, y) => (x[0]! < y[0]! ? -1 : 1)),
        );
        assert.equal(await store.removeMember(s.id, bob.id), true);
        assert.equal(await store.removeMember(s.id, bob.id), false);
        assert.deepEqual((await store.listMembers(s.id)).map((m) => m.username), [al.username]);
      });

      it('NOT_FOUND for a missing space or user', async () => {
        const u = await user();
        const s = await space();
        await assert.rejects(store.setMember('missing', u.id, 'reader'), (err: unknown) => isPalletError(err, 'NOT_FOUND'));
        await assert.rejects(store.setMember(s.id, 'missing', 'reader'), (err: unknown) => isPalletError(err, 'NOT_FOUND'));
      });

      it('a deleted space takes its memberships with it', async () => {
        const u = await user();
        const s = await space();
        await store.setMember(s.id, u.id, 'owner');
        await metadata.deleteSpace(s.id);
        assert.deepEqual(await store.listMemberships(u.id), []);
      });
    });

    describe('web sessions', () => {
      it('creates, finds and deletes a session; removes expired ones and all of a user', async () => {
        const u = await user();
        const now = Date.now();
        const live = { idHash: unique('s'), userId: u.id, csrfHash: 'c1', createdAt: now, expiresAt: now + 60_000 };
        const old = { idHash: unique('s'), userId: u.id, csrfHash: 'c2', createdAt: now - 10, expiresAt: now - 5 };
        await store.createSession(live);
        await store.createSession(old);
        assert.deepEqual(await store.findSession(live.idHash), live);
        assert.ok((await store.deleteExpiredSessions(now)) >= 1);
        assert.equal(await store.findSession(old.idHash), undefined);
        const another = { ...live, idHash: unique('s') };
        await store.createSession(another);
        assert.equal(await store.deleteSession(live.idHash), true);
        assert.equal(await store.deleteSession(live.idHash), false);
        assert.equal(await store.deleteUserSessions(u.id), 1);
        assert.equal(await store.findSession(another.idHash), undefined);
      });
    });

    describe('signing keys', () => {
      it('keeps the first key stored under a name; later candidates adopt it', async () => {
        const name = unique('key');
        const first: SigningKeyRecord = { name, kid: 'k1', algorithm: 'ES256', privateJwk: '{"d":1}', publicJwk: '{"x":1}', createdAt: 1 };
        const second: SigningKeyRecord = { ...first, kid: 'k2', privateJwk: '{"d":2}' };
        const [a, b] = await Promise.all([store.ensureSigningKey(first), store.ensureSigningKey(second)]);
        assert.equal(a.kid, b.kid, 'both callers see the same key');
        assert.deepEqual(await store.ensureSigningKey(second), a);
        assert.ok((await store.listSigningKeys()).some((k) => k.name === name && k.kid === a.kid));
      });
    });

    describe('audit log', () => {
      it('appends events and lists them newest first with filters and the total', async () => {
        const actor = unique('auditor');
        for (let i = 0; i < 5; i++) {
          await store.appendAudit({
            actor,
            action: i % 2 === 0 ? 'space.create' : 'auth.failure',
            target: `t${i}`,
            outcome: i % 2 === 0 ? 'success' : 'failure',
            address: '127.0.0.1',
            details: { i },
          });
        }
        const all = await store.listAudit({ actor, limit: 10, offset: 0 });
        assert.equal(all.total, 5);
        assert.deepEqual(all.items.map((e) => e.target), ['t4', 't3', 't2', 't1', 't0']);
        assert.deepEqual(all.items[0]?.details, { i: 4 });
        const failures = await store.listAudit({ actor, outcome: 'failure', limit: 1, offset: 1 });
        assert.equal(failures.total, 2);
        assert.deepEqual(failures.items.map((e) => e.target), ['t1']);
        const creates = await store.listAudit({ actor, action: 'space.create', limit: 10, offset: 0 });
        assert.equal(creates.total, 3);
        assert.equal((await store.listAudit({ actor, since: Date.now() + 60_000, limit: 10, offset: 0 })).total, 0);
        assert.ok(all.items.every((e) => e.count === 1 && e.lastAt === e.at));
      });

      it('coalesces a repeated event within the window into one row with a count', async () => {
        const actor = unique('guesser');
        const event = { actor, action: 'auth.failure', target: actor, outcome: 'failure' as const, address: '192.0.2.7', details: { reason: 'wrong password' } };
        for (let i = 0; i < 3; i++) await store.appendAudit(event, { coalesceMs: 60_000 });
        await store.appendAudit({ ...event, details: { reason: 'unknown user' } }, { coalesceMs: 60_000 });
        await store.appendAudit({ ...event, address: '192.0.2.8' }, { coalesceMs: 60_000 });
        await store.appendAudit(event);
        const { items, total } = await store.listAudit({ actor, limit: 10, offset: 0 });
        assert.equal(total, 4);
        const counts = items.map((e) => `${e.address} ${String(e.details.reason)} ${e.count}`).sort();
        assert.deepEqual(counts, ['192.0.2.7 unknown user 1', '192.0.2.7 wrong password 1', '192.0.2.7 wrong password 3', '192.0.2.8 wrong password 1']);
        const three = items.find((e) => e.count === 3)!;
        assert.ok(three.lastAt >= three.at);
        // Anonymous events (actor null) coalesce too.
        const anonymous = { ...event, actor: null, target: '', address: `198.18.${counter % 250}.${++counter % 250}` };
        for (let i = 0; i < 2; i++) await store.appendAudit(anonymous, { coalesceMs: 60_000 });
        const recent = await store.listAudit({ action: 'auth.failure', limit: 50, offset: 0 });
        assert.equal(recent.items.filter((e) => e.address === anonymous.address).map((e) => e.count).join(), '2');
      });

      it('prunes events older than a time and beyond a row cap, oldest first', async () => {
        const actor = unique('pruned');
        for (let i = 0; i < 6; i++) await store.appendAudit({ actor, action: 'space.create', target: `p${i}`, outcome: 'success', address: '', details: {} });
        const total = (await store.listAudit({ limit: 1, offset: 0 })).total;
        assert.equal(await store.pruneAudit(0, 0), 0, 'nothing is older than 0; 0 rows is no cap');
        assert.equal(await store.pruneAudit(0, total - 2), 2, 'the two oldest go');
        const left = await store.listAudit({ limit: 1000, offset: 0 });
        assert.equal(left.total, total - 2);
        assert.ok(left.items.some((e) => e.target === 'p5'), 'the newest stays');
        assert.equal(await store.pruneAudit(Date.now() + 1000, 0), total - 2, 'everything before a time');
        assert.equal((await store.listAudit({ limit: 1, offset: 0 })).total, 0);
      });
    });
  });
}
