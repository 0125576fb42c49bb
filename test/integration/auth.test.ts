/**
 * Identity and access through `inject()` over the real app (SQLite): expired and revoked access
 * tokens, a token of one space against another, forged JWTs (another key, `alg: none`), the
 * failed-login throttle (delays, never a lockout), UI sessions with CSRF, the audit log, the bootstrap administrator, auth
 * turned off — and that no password, token or session id ever appears in a response body
 * (other than the one response that hands it out) or in any log line, captured at debug level.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import { buildApp, createLogger, type App } from '../../src/app.js';
import { OciTokenSigner } from '../../src/auth/oci-tokens.js';
import { sha256Hex } from '../../src/auth/secrets.js';
import { digestOf } from '../../src/base/digest.js';
import { loadConfig, type Config } from '../../src/config/config.js';

const ADMIN_PASSWORD = 'auth-test-admin-password';
const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const ADMIN = basic('admin', ADMIN_PASSWORD);

/** An app whose every log line (debug and up) is kept in `lines`. */
async function start(dataDir: string, flags: Record<string, unknown> = {}): Promise<{ app: App; lines: string[]; config: Config }> {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const config = loadConfig({ env: {}, flags: { dataDir, logLevel: 'debug', adminPassword: ADMIN_PASSWORD, ...flags } });
  const app = await buildApp(config, createLogger(config, sink));
  return { app, lines, config };
}

describe('identity and access (inject, SQLite)', () => {
  let dataDir: string;
  let app: App;
  let lines: string[];
  /** Every response body and header block seen, to search for leaked secrets. */
  const seen: Array<{ what: string; text: string }> = [];
  /** Secrets used in this suite, and the one response allowed to show each. */
  const secrets = new Map<string, string>();
  const alicePassword = `alice-${randomBytes(6).toString('hex')}`;

  const inject = async (opts: InjectOptions): Promise<LightMyRequestResponse> => {
    const res = await app.server.inject(opts);
    seen.push({ what: `${opts.method} ${opts.url}`, text: `${JSON.stringify(res.headers)}\n${res.body}` });
    return res;
  };
  const asAdmin = (opts: InjectOptions): Promise<LightMyRequestResponse> => inject({ ...opts, headers: { authorization: ADMIN, ...opts.headers } });

  async function pushBlob(repo: string, authorization: string | undefined): Promise<LightMyRequestResponse> {
    const blob = randomBytes(16);
    return inject({
      method: 'POST',
      url: `/v2/${repo}/blobs/uploads/?digest=${digestOf(blob)}`,
      payload: blob,
      headers: { 'content-type': 'application/octet-stream', ...(authorization ? { authorization } : {}) },
    });
  }

  async function createToken(authorization: string, body: Record<string, unknown>): Promise<{ id: string; token: string }> {
    const res = await inject({ method: 'POST', url: '/api/v1/user/tokens', payload: body, headers: { authorization } });
    assert.equal(res.statusCode, 201, res.body);
    const created = JSON.parse(res.body) as { id: string; token: string };
    assert.match(created.token, /^pallet_[A-Za-z0-9_-]{43}$/);
    secrets.set(created.token, `POST /api/v1/user/tokens`);
    return created;
  }

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pallet-auth-'));
    ({ app, lines } = await start(dataDir, { auth: { maxFailedLoginsPerUser: 3, maxFailedLoginsPerAddress: 30, maxLoginDelayMs: 20 } }));
    secrets.set(ADMIN_PASSWORD, '');
    secrets.set(alicePassword, '');
    for (const space of ['acme', 'globex']) {
      assert.equal((await asAdmin({ method: 'POST', url: '/api/v1/spaces', payload: { path: space } })).statusCode, 201);
      assert.equal((await asAdmin({ method: 'POST', url: '/api/v1/registries', payload: { space, identifier: 'r', packageType: 'docker' } })).statusCode, 201);
    }
    assert.equal((await asAdmin({ method: 'POST', url: '/api/v1/users', payload: { username: 'alice', password: alicePassword } })).statusCode, 201);
    for (const space of ['acme', 'globex']) {
      assert.equal((await asAdmin({ method: 'PUT', url: `/api/v1/spaces/${space}/members/alice`, payload: { role: 'writer' } })).statusCode, 200);
    }
  });

  after(async () => {
    await app?.server.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('accepts an access token as the basic password on /v2 and as a bearer on the API', async () => {
    const { token } = await createToken(basic('alice', alicePassword), { name: 'ci', scopes: ['read', 'write'] });
    assert.equal((await pushBlob('acme/r/app', basic('alice', token))).statusCode, 201);
    assert.equal((await pushBlob('acme/r/app', `Bearer ${token}`)).statusCode, 201);
    const me = await inject({ method: 'GET', url: '/api/v1/auth/me', headers: { authorization: `Bearer ${token}` } });
    assert.equal(me.statusCode, 200);
    assert.equal((JSON.parse(me.body) as { authenticatedBy: string }).authenticatedBy, 'token');
    assert.equal((await pushBlob('acme/r/app', basic('admin', token))).statusCode, 401, "another user's name with the token");
  });

  it('refuses a revoked token at once, on /v2 and on the API', async () => {
    const { id, token } = await createToken(basic('alice', alicePassword), { name: 'short-lived', scopes: ['read', 'write'] });
    assert.equal((await pushBlob('acme/r/app', basic('alice', token))).statusCode, 201);
    const revoked = await inject({ method: 'DELETE', url: `/api/v1/user/tokens/${id}`, headers: { authorization: basic('alice', alicePassword) } });
    assert.equal(revoked.statusCode, 204);
    const refused = await pushBlob('acme/r/app', basic('alice', token));
    assert.equal(refused.statusCode, 401);
    assert.match(String(refused.headers['www-authenticate']), /^Bearer realm=/);
    assert.equal((await inject({ method: 'GET', url: '/api/v1/auth/me', headers: { authorization: `Bearer ${token}` } })).statusCode, 401);
    const list = await inject({ method: 'GET', url: '/api/v1/user/tokens', headers: { authorization: basic('alice', alicePassword) } });
    assert.ok(!(JSON.parse(list.body) as { items: Array<{ id: string }> }).items.some((t) => t.id === id));
  });

  it('refuses an expired token', async () => {
    const alice = await app.services.auth.identity.findUser('alice');
    const token = `pallet_${randomBytes(32).toString('base64url')}`;
    secrets.set(token, '');
    await app.services.auth.identity.createAccessToken({
      userId: alice!.id,
      name: 'expired',
      tokenHash: sha256Hex(token),
      scopes: ['read', 'write'],
      spaceId: null,
      registryId: null,
      expiresAt: Date.now() - 1000,
    });
    assert.equal((await pushBlob('acme/r/app', basic('alice', token))).statusCode, 401);
    assert.equal((await inject({ method: 'GET', url: '/api/v1/auth/me', headers: { authorization: `Bearer ${token}` } })).statusCode, 401);
  });

  it('a token for space A cannot touch space B, though its user can', async () => {
    const { token } = await createToken(basic('alice', alicePassword), { name: 'acme-only', scopes: ['read', 'write', 'delete'], space: 'acme' });
    assert.equal((await pushBlob('acme/r/app', basic('alice', token))).statusCode, 201);
    assert.equal((await pushBlob('globex/r/app', basic('alice', token))).statusCode, 403);
    assert.equal((await pushBlob('globex/r/app', basic('alice', alicePassword))).statusCode, 201);
    const patch = await inject({ method: 'PATCH', url: '/api/v1/registries/globex/r', payload: { description: 'x' }, headers: { authorization: `Bearer ${token}` } });
    assert.equal(patch.statusCode, 403);
    const grant = await inject({ method: 'GET', url: '/v2/token?scope=repository:globex/r/app:pull,push', headers: { authorization: basic('alice', token) } });
    const payload = JSON.parse(Buffer.from((JSON.parse(grant.body) as { token: string }).token.split('.')[1]!, 'base64url').toString()) as { access: unknown };
    assert.deepEqual(payload.access, [{ type: 'repository', name: 'globex/r/app', actions: [] }]);
  });

  it('a narrow token cannot mint a broader one', async () => {
    const { token } = await createToken(basic('alice', alicePassword), { name: 'read-only', scopes: ['read'] });
    const res = await inject({ method: 'POST', url: '/api/v1/user/tokens', payload: { name: 'wider', scopes: ['write'] }, headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.statusCode, 403);
  });

  it('the token service grants nothing for an invalid repository name', async () => {
    for (const authorization of [basic('alice', alicePassword), ADMIN]) {
      for (const name of ['acme/r/../../globex/r/app', 'acme/r/app:latest', 'acme/r/./app', 'acme/r/APP', 'acme/r//app', 'acme/r']) {
        const res = await inject({ method: 'GET', url: `/v2/token?scope=${encodeURIComponent(`repository:${name}:pull,push,delete`)}`, headers: { authorization } });
        assert.equal(res.statusCode, 200, res.body);
        const claims = JSON.parse(Buffer.from((JSON.parse(res.body) as { token: string }).token.split('.')[1]!, 'base64url').toString()) as {
          access: Array<{ name: string; actions: string[] }>;
        };
        assert.ok(claims.access.every((a) => a.actions.length === 0), `${name}: ${JSON.stringify(claims.access)}`);
      }
    }
  });

  it('asks for the current password when users change their own, not when an administrator resets another', async () => {
    const first = `carol-${randomBytes(6).toString('hex')}`;
    const second = `carol-${randomBytes(6).toString('hex')}`;
    const third = `carol-${randomBytes(6).toString('hex')}`;
    for (const p of [first, second, third]) secrets.set(p, '');
    assert.equal((await asAdmin({ method: 'POST', url: '/api/v1/users', payload: { username: 'carol', password: first } })).statusCode, 201);
    const patch = (authorization: string, payload: Record<string, unknown>) => inject({ method: 'PATCH', url: '/api/v1/users/carol', payload, headers: { authorization } });
    const missing = await patch(basic('carol', first), { password: second });
    assert.equal(missing.statusCode, 400, missing.body);
    assert.match((JSON.parse(missing.body) as { message: string }).message, /currentPassword/);
    assert.equal((await patch(basic('carol', first), { password: second, currentPassword: 'not-the-password' })).statusCode, 403);
    const { token } = await createToken(basic('carol', first), { name: 'carol-admin', scopes: ['read', 'admin'] });
    assert.equal((await patch(`Bearer ${token}`, { password: second })).statusCode, 400, 'a token needs it too');
    assert.equal((await patch(basic('carol', first), { email: 'carol@example.com' })).statusCode, 200, 'email alone needs none');
    assert.equal((await patch(basic('carol', first), { password: second, currentPassword: first })).statusCode, 200);
    assert.equal((await inject({ method: 'GET', url: '/v2/', headers: { authorization: basic('carol', second) } })).statusCode, 200);
    assert.equal((await asAdmin({ method: 'PATCH', url: '/api/v1/users/carol', payload: { password: third } })).statusCode, 200, 'an administrator resets it');
    assert.equal((await inject({ method: 'GET', url: '/v2/', headers: { authorization: basic('carol', third) } })).statusCode, 200);
    const own = await asAdmin({ method: 'PATCH', url: '/api/v1/users/admin', payload: { password: 'another-admin-password' } });
    assert.equal(own.statusCode, 400, 'an administrator changing its own password needs it as well');
  });

  it('refuses JWTs signed by another key, with alg none, or for another repository', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const realToken = JSON.parse(
      (await inject({ method: 'GET', url: '/v2/token?scope=repository:acme/r/app:pull,push', headers: { authorization: basic('alice', alicePassword) } })).body,
    ) as { token: string };
    secrets.set(realToken.token, 'GET /v2/token?scope=repository:acme/r/app:pull,push');
    const header = JSON.parse(Buffer.from(realToken.token.split('.')[0]!, 'base64url').toString()) as { kid: string };
    const claims = { access: [{ type: 'repository', name: 'acme/r/app', actions: ['pull', 'push'] }] };
    const audience = new URL(app.services.config.baseUrl || 'http://127.0.0.1:5000').host;
    const foreign = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: header.kid }).setIssuer('pallet').setAudience(audience).setSubject('alice').setExpirationTime('5m').sign(privateKey);
    const none = new UnsecuredJWT(claims).setIssuer('pallet').setAudience(audience).setSubject('alice').setExpirationTime('5m').encode();
    for (const forged of [foreign, none]) {
      const res = await pushBlob('acme/r/app', `Bearer ${forged}`);
      assert.equal(res.statusCode, 401);
      assert.match(String(res.headers['www-authenticate']), /^Bearer realm="[^"]+\/v2\/token"/);
    }
    assert.equal((await pushBlob('acme/r/app', `Bearer ${realToken.token}`)).statusCode, 201, 'the real token works');
    const other = await pushBlob('acme/r/other', `Bearer ${realToken.token}`);
    assert.equal(other.statusCode, 401, 'the grant names one repository');
    assert.match(String(other.headers['www-authenticate']), /scope="repository:acme\/r\/other:pull,push",error="insufficient_scope"/);
  });

  it('slows failing logins down but never locks out the right password or a valid token', async () => {
    const victim = 'bob';
    const bobPassword = `bob-${randomBytes(6).toString('hex')}`;
    secrets.set(bobPassword, '');
    assert.equal((await asAdmin({ method: 'POST', url: '/api/v1/users', payload: { username: victim, password: bobPassword } })).statusCode, 201);
    const { token } = await createToken(basic(victim, bobPassword), { name: 'docker-login', scopes: ['read'] });
    const delays = async (): Promise<number> => {
      const metric = await app.services.metrics.getSingleMetric('pallet_auth_login_delays_total')?.get();
      return (metric?.values ?? []).reduce((sum, v) => sum + v.value, 0);
    };
    const before = await delays();
    // Many wrong guesses in bob's name, from many addresses and from one.
    for (let i = 0; i < 12; i++) {
      const res = await inject({ method: 'GET', url: '/v2/', headers: { authorization: basic(victim, `wrong-${i}-guess`) }, remoteAddress: `198.51.100.${i}` });
      assert.equal(res.statusCode, 401);
    }
    for (let i = 0; i < 6; i++) {
      const res = await inject({ method: 'GET', url: '/v2/', headers: { authorization: basic(victim, `again-${i}-guess`) }, remoteAddress: '198.51.100.77' });
      assert.equal(res.statusCode, 401);
    }
    assert.ok((await delays()) > before, 'the failing pair was delayed');
    // bob still gets in: from a fresh address, from the attacked one (after its delay), by token.
    const login = await inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: victim, password: bobPassword }, remoteAddress: '198.51.100.200' });
    assert.equal(login.statusCode, 200, login.body);
    assert.equal((await inject({ method: 'GET', url: '/v2/', headers: { authorization: basic(victim, bobPassword) }, remoteAddress: '198.51.100.77' })).statusCode, 200);
    for (const address of ['198.51.100.77', '198.51.100.3']) {
      const res = await inject({ method: 'GET', url: '/v2/', headers: { authorization: basic(victim, token) }, remoteAddress: address });
      assert.equal(res.statusCode, 200, `docker login with a token from ${address}`);
    }
    // One address guessing many usernames does not lock out a valid login from it.
    const perAddress = app.services.config.auth.maxFailedLoginsPerAddress;
    for (let i = 0; i < perAddress + 5; i++) {
      const res = await inject({ method: 'GET', url: '/v2/', headers: { authorization: basic(`nobody${i}`, 'guess-guess') }, remoteAddress: '203.0.113.7' });
      assert.equal(res.statusCode, 401);
    }
    assert.equal((await inject({ method: 'GET', url: '/v2/', headers: { authorization: ADMIN }, remoteAddress: '203.0.113.7' })).statusCode, 200, 'a valid login from the same address');
  });

  it('logs into the UI with httpOnly SameSite cookies and requires the CSRF token to change state', async () => {
    const login = await inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'alice', password: alicePassword } });
    assert.equal(login.statusCode, 200, login.body);
    const setCookie = [login.headers['set-cookie']].flat().map(String);
    const session = setCookie.find((c) => c.startsWith('pallet_session='))!;
    assert.match(session, /; HttpOnly/);
    assert.match(session, /; SameSite=Strict/);
    const csrfCookie = setCookie.find((c) => c.startsWith('pallet_csrf='))!;
    assert.doesNotMatch(csrfCookie, /HttpOnly/);
    const sessionId = session.slice('pallet_session='.length, session.indexOf(';'));
    const { csrfToken } = JSON.parse(login.body) as { csrfToken: string };
    secrets.set(sessionId, 'POST /api/v1/auth/login');
    secrets.set(csrfToken, 'POST /api/v1/auth/login');
    const cookie = `pallet_session=${sessionId}; pallet_csrf=${csrfToken}`;

    const me = await inject({ method: 'GET', url: '/api/v1/auth/me', headers: { cookie } });
    assert.equal(me.statusCode, 200);
    assert.equal((JSON.parse(me.body) as { user: { username: string } }).user.username, 'alice');
    const noCsrf = await inject({ method: 'PATCH', url: '/api/v1/registries/acme/r', payload: { description: 'x' }, headers: { cookie } });
    assert.equal(noCsrf.statusCode, 403);
    assert.match((JSON.parse(noCsrf.body) as { message: string }).message, /CSRF/);
    const wrongCsrf = await inject({ method: 'POST', url: '/api/v1/user/tokens', payload: { name: 'x' }, headers: { cookie, 'x-csrf-token': 'forged' } });
    assert.equal(wrongCsrf.statusCode, 403);
    const withCsrf = await inject({ method: 'POST', url: '/api/v1/user/tokens', payload: { name: 'from-ui' }, headers: { cookie, 'x-csrf-token': csrfToken } });
    assert.equal(withCsrf.statusCode, 201);
    secrets.set((JSON.parse(withCsrf.body) as { token: string }).token, 'POST /api/v1/user/tokens');

    const logout = await inject({ method: 'POST', url: '/api/v1/auth/logout', headers: { cookie, 'x-csrf-token': csrfToken } });
    assert.equal(logout.statusCode, 204);
    assert.match(String([logout.headers['set-cookie']].flat()[0]), /Max-Age=0/);
    assert.equal((await inject({ method: 'GET', url: '/api/v1/auth/me', headers: { cookie } })).statusCode, 401);
  });

  it('refuses a wrong password at login without saying whether the user exists', async () => {
    const unknown = await inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'nobody-here', password: 'whatever-1' }, remoteAddress: '192.0.2.50' });
    const wrong = await inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'alice', password: 'whatever-1' }, remoteAddress: '192.0.2.50' });
    assert.equal(unknown.statusCode, 401);
    assert.equal(wrong.statusCode, 401);
    assert.equal(JSON.parse(unknown.body).message, JSON.parse(wrong.body).message);
  });

  it('keeps an audit log of management actions and failed logins, for administrators only', async () => {
    const res = await asAdmin({ method: 'GET', url: '/api/v1/audit?size=500' });
    assert.equal(res.statusCode, 200);
    const events = (JSON.parse(res.body) as { items: Array<{ action: string; actor: string | null; target: string; outcome: string }> }).items;
    const has = (action: string, actor: string | null, target: string, outcome = 'success') =>
      assert.ok(events.some((e) => e.action === action && e.actor === actor && e.target === target && e.outcome === outcome), `${action} ${actor} ${target} ${outcome}`);
    has('space.create', 'admin', 'acme');
    has('registry.create', 'admin', 'globex/r');
    has('user.create', 'admin', 'alice');
    has('member.set', 'admin', 'acme/alice');
    has('token.create', 'alice', 'ci');
    has('auth.login', 'alice', 'alice');
    has('auth.failure', 'bob', 'bob', 'failure');
    has('auth.failure', 'alice', 'alice', 'failure');
    has('registry.update', 'alice', 'globex/r', 'failure');
    const denied = await inject({ method: 'GET', url: '/api/v1/audit', headers: { authorization: basic('alice', alicePassword) } });
    assert.equal(denied.statusCode, 403);
  });

  it('does not tell callers outside a space which of its registries exist', async () => {
    const alice = basic('alice', alicePassword);
    const get = async (url: string, authorization?: string) =>
      (await inject({ method: 'GET', url, headers: authorization ? { authorization } : {} })).statusCode;
    assert.equal(await get('/api/v1/registries/acme/nope', alice), 404, 'a member of acme may know');
    assert.equal(await get('/api/v1/registries/nowhere/nope', alice), 403, 'a missing root space looks private');
    assert.equal(await get('/api/v1/spaces/nowhere', alice), 403);
    assert.equal(await get('/api/v1/spaces/nowhere', ADMIN), 404, 'administrators see everything');
    assert.equal(await get('/api/v1/registries/acme/nope'), 401, 'anonymous: authenticate first');
    assert.equal(await get('/api/v1/registries/acme/r'), 401);
    const bobLike = await asAdmin({ method: 'POST', url: '/api/v1/users', payload: { username: 'outsider', password: 'outsider-password' } });
    assert.equal(bobLike.statusCode, 201);
    const outsider = basic('outsider', 'outsider-password');
    secrets.set('outsider-password', '');
    assert.equal(await get('/api/v1/registries/acme/r', outsider), 403, 'an existing private registry');
    assert.equal(await get('/api/v1/registries/acme/nope', outsider), 403, 'a missing one answers the same');
    assert.equal(await get('/v2/acme/nope/app/manifests/1', outsider), 403);
    assert.equal(await get('/v2/acme/r/app/manifests/1', outsider), 403);
    assert.equal(await get('/api/v1/registries?space=acme', outsider), 403, 'listing a hidden space');
    assert.equal(await get('/api/v1/registries?space=nowhere', outsider), 403);
    assert.equal(await get('/api/v1/registries?space=nowhere', ADMIN), 404);
    assert.equal(await get('/api/v1/registries?space=acme', alice), 200);
  });

  it('lets anonymous callers browse public registries through the API, and nothing else', async () => {
    assert.equal((await asAdmin({ method: 'POST', url: '/api/v1/spaces', payload: { path: 'open' } })).statusCode, 201);
    const created = await asAdmin({ method: 'POST', url: '/api/v1/registries', payload: { space: 'open', identifier: 'pub', packageType: 'docker', public: true } });
    assert.equal(created.statusCode, 201);
    const spaces = JSON.parse((await inject({ method: 'GET', url: '/api/v1/spaces' })).body) as { items: Array<{ path: string }> };
    assert.deepEqual(spaces.items.map((x) => x.path), ['open']);
    const registries = JSON.parse((await inject({ method: 'GET', url: '/api/v1/registries' })).body) as { items: Array<{ identifier: string }> };
    assert.deepEqual(registries.items.map((r) => r.identifier), ['pub']);
    assert.equal((await inject({ method: 'GET', url: '/api/v1/registries/open/pub' })).statusCode, 200);
    assert.equal((await inject({ method: 'GET', url: '/api/v1/registries/open/pub/artifacts' })).statusCode, 200);
    assert.equal((await inject({ method: 'GET', url: '/api/v1/registries/open/pub/setup' })).statusCode, 200);
    assert.equal((await inject({ method: 'PATCH', url: '/api/v1/registries/open/pub', payload: { description: 'x' } })).statusCode, 401);
    assert.equal((await inject({ method: 'GET', url: '/api/v1/spaces/open/members' })).statusCode, 401);
  });

  it('does not count our own expired JWTs as failed logins', async () => {
    const short = new OciTokenSigner(app.services.auth.identity, { ttlSeconds: -10, cacheMs: 0, secrets: app.services.upstreamSecrets });
    await short.init();
    const audience = new URL(app.services.config.baseUrl || 'http://127.0.0.1:5000').host;
    const { token } = await short.issue('alice', audience, [{ type: 'repository', name: 'acme/r/app', actions: ['pull'] }], false);
    const limit = app.services.config.auth.maxFailedLoginsPerAddress;
    for (let i = 0; i <= limit; i++) {
      const res = await inject({ method: 'GET', url: '/v2/acme/r/app/tags/list', headers: { authorization: `Bearer ${token}` }, remoteAddress: '192.0.2.99' });
      assert.equal(res.statusCode, 401);
    }
    assert.equal((await inject({ method: 'GET', url: '/v2/', headers: { authorization: ADMIN }, remoteAddress: '192.0.2.99' })).statusCode, 200);
  });

  it('never shows a password, token or session id in a response body or a log line', () => {
    assert.ok(lines.length > 50, `captured ${lines.length} log lines`);
    for (const [secret, allowedIn] of secrets) {
      for (const line of lines) assert.ok(!line.includes(secret), `a log line contains a secret: ${line.slice(0, 300)}`);
      for (const response of seen) {
        if (response.what === allowedIn && response.text.includes(secret)) continue;
        assert.ok(!response.text.includes(secret), `the response to ${response.what} contains a secret`);
      }
    }
    // The stored hashes never leave either.
    for (const response of seen) assert.doesNotMatch(response.text, /\$argon2id\$/);
  });
});

describe('bootstrap administrator and auth off', () => {
  it('generates the admin password once, logs it once at warn, and accepts it', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'pallet-bootstrap-'));
    try {
      const first = await start(dataDir, { adminPassword: '' });
      const warned = first.lines.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => /bootstrap administrator/.test(l.msg));
      assert.equal(warned.length, 1);
      assert.equal(warned[0]!.level, 40, 'warn');
      const password = /generated password (\S+)/.exec(warned[0]!.msg)?.[1];
      assert.ok(password);
      const ok = await first.app.server.inject({ method: 'GET', url: '/v2/', headers: { authorization: basic('admin', password) } });
      assert.equal(ok.statusCode, 200);
      await first.app.server.close();
      const second = await start(dataDir, { adminPassword: 'ignored-now-1' });
      assert.ok(!second.lines.some((l) => /bootstrap administrator/.test(l)), 'not again on the next start');
      const still = await second.app.server.inject({ method: 'GET', url: '/v2/', headers: { authorization: basic('admin', password) } });
      assert.equal(still.statusCode, 200, 'PALLET_ADMIN_PASSWORD only applies to an empty users table');
      await second.app.server.close();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('with auth.enabled false, anonymous requests may do everything', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'pallet-noauth-'));
    try {
      const config = loadConfig({ env: { PALLET_AUTH_ENABLED: 'false' }, flags: { dataDir, logLevel: 'silent' } });
      assert.equal(config.auth.enabled, false);
      const app = await buildApp(config);
      assert.equal((await app.server.inject({ method: 'GET', url: '/v2/' })).statusCode, 200);
      assert.equal((await app.server.inject({ method: 'POST', url: '/api/v1/spaces', payload: { path: 'open' } })).statusCode, 201);
      await app.server.close();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('client address behind a reverse proxy (server.trustProxy)', () => {
  async function failedLoginAddress(app: App, remoteAddress: string, forwardedFor: string): Promise<string | undefined> {
    const username = `ghost-${randomBytes(4).toString('hex')}`;
    const res = await app.server.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username, password: 'wrong-password' }, remoteAddress, headers: { 'x-forwarded-for': forwardedFor } });
    assert.equal(res.statusCode, 401);
    const audit = await app.server.inject({ method: 'GET', url: `/api/v1/audit?actor=${username}`, headers: { authorization: ADMIN } });
    return (JSON.parse(audit.body) as { items: Array<{ address: string }> }).items[0]?.address;
  }

  it('believes X-Forwarded-For only from the listed proxies', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'pallet-proxy-'));
    const { app } = await start(dataDir, { logLevel: 'silent', server: { trustProxy: '127.0.0.1, 10.0.0.0/8' } });
    try {
      assert.equal(await failedLoginAddress(app, '127.0.0.1', '198.51.100.9'), '198.51.100.9');
      assert.equal(await failedLoginAddress(app, '10.2.3.4', '192.0.2.1, 198.51.100.10'), '198.51.100.10', 'the rightmost untrusted hop');
      assert.equal(await failedLoginAddress(app, '203.0.113.5', '198.51.100.11'), '203.0.113.5', 'an untrusted peer');
    } finally {
      await app.server.close();
      await rm(dataDir, { recursive: true, force: true });
    }
    const plainDir = await mkdtemp(join(tmpdir(), 'pallet-proxy-'));
    const plain = (await start(plainDir, { logLevel: 'silent' })).app;
    try {
      assert.equal(await failedLoginAddress(plain, '127.0.0.1', '198.51.100.12'), '127.0.0.1', 'by default nobody is trusted');
    } finally {
      await plain.server.close();
      await rm(plainDir, { recursive: true, force: true });
    }
  });
});

describe('a bounded audit log', () => {
  it('caps field sizes, coalesces repeated failures, skips anonymous no-ops and prunes to its limits', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'pallet-audit-'));
    const { app } = await start(dataDir, { logLevel: 'silent', auth: { maxLoginDelayMs: 0 } });
    const audit = async (query: string) =>
      (JSON.parse((await app.server.inject({ method: 'GET', url: `/api/v1/audit?size=500&${query}`, headers: { authorization: ADMIN } })).body) as {
        items: Array<{ actor: string | null; target: string; address: string; count: number; action: string }>;
        total: number;
      });
    try {
      const huge = 'x'.repeat(5000);
      for (let i = 0; i < 40; i++) {
        const res = await app.server.inject({ method: 'GET', url: '/v2/', headers: { authorization: basic(huge, 'guess-guess') }, remoteAddress: '192.0.2.201' });
        assert.equal(res.statusCode, 401);
      }
      for (let i = 0; i < 20; i++) {
        const res = await app.server.inject({ method: 'POST', url: '/api/v1/spaces', payload: { path: `p${'y'.repeat(3000)}` }, remoteAddress: '192.0.2.202' });
        assert.equal(res.statusCode, 401);
        assert.equal((await app.server.inject({ method: 'POST', url: '/api/v1/auth/logout', remoteAddress: '192.0.2.203' })).statusCode, 204);
      }
      const failures = (await audit('action=auth.failure')).items.filter((e) => e.address === '192.0.2.201');
      assert.equal(failures.length, 1, 'one row for the repeated failure');
      assert.equal(failures[0]!.count, 40);
      assert.ok(failures[0]!.actor!.length <= 140 && failures[0]!.actor!.endsWith('[truncated]'), `actor of ${failures[0]!.actor!.length} characters`);
      const creates = (await audit('action=space.create')).items.filter((e) => e.address === '192.0.2.202');
      assert.equal(creates.length, 1);
      assert.equal(creates[0]!.count, 20);
      assert.ok(creates[0]!.target.length <= 140);
      assert.equal((await audit('action=auth.logout')).items.filter((e) => e.address === '192.0.2.203').length, 0, 'an anonymous logout changes nothing');

      const total = (await audit('')).total;
      assert.ok(total >= 2);
      assert.equal(await app.services.auth.audit.prune({ retentionDays: 90, maxRows: 1 }), total - 1);
      assert.equal((await audit('')).total, 1);
      assert.equal(await app.services.auth.audit.prune({ retentionDays: 0, maxRows: 0 }), 0, '0 and 0 keep everything');
    } finally {
      await app.server.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
