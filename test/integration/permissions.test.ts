/**
 * The permission matrix, through `inject()` over the real app (SQLite, filesystem storage):
 * every principal × every action × (own space, other space, public registry), each cell
 * asserted. A second table checks that the token service (`/v2/token`) grants exactly the
 * allowed pull/push/delete actions of each cell, never more than asked.
 *
 * Principals: a user with no role; anonymous; reader, writer, admin and owner of `acme`; an
 * access token of the owner narrowed to scopes read+write and to space `acme`.
 * Places: `acme/private` (own space), `globex/private` (another space, private), and
 * `initech/public` (a public registry in a space where nobody here has a role).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildApp, type App } from '../../src/app.js';
import { digestOf } from '../../src/base/digest.js';
import { loadConfig } from '../../src/config/config.js';

const ADMIN_PASSWORD = 'matrix-admin-password';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

type Who = 'none' | 'anonymous' | 'reader' | 'writer' | 'admin' | 'owner' | 'token';
type Action = 'pull' | 'push' | 'delete' | 'catalog' | 'manageRegistry' | 'manageMembers';
type Place = 'own' | 'other' | 'public';

const WHO: readonly Who[] = ['none', 'anonymous', 'reader', 'writer', 'admin', 'owner', 'token'];
const ACTIONS: readonly Action[] = ['pull', 'push', 'delete', 'catalog', 'manageRegistry', 'manageMembers'];
const PLACES: readonly Place[] = ['own', 'other', 'public'];

const PLACE: Record<Place, { space: string; registry: string; repo: string }> = {
  own: { space: 'acme', registry: 'private', repo: 'acme/private/app' },
  other: { space: 'globex', registry: 'private', repo: 'globex/private/app' },
  public: { space: 'initech', registry: 'public', repo: 'initech/public/app' },
};

/** The expected matrix: which actions each principal may do in each place. */
const Y = true;
const N = false;
//                     pull push delete catalog manageRegistry manageMembers
const ROW = (...cells: boolean[]): Record<Action, boolean> => Object.fromEntries(ACTIONS.map((a, i) => [a, cells[i]!])) as Record<Action, boolean>;
const NOTHING = ROW(N, N, N, N, N, N);
const PUBLIC_ONLY = ROW(Y, N, N, Y, N, N);
const EXPECTED: Record<Who, Record<Place, Record<Action, boolean>>> = {
  none: { own: NOTHING, other: NOTHING, public: PUBLIC_ONLY },
  anonymous: { own: NOTHING, other: NOTHING, public: PUBLIC_ONLY },
  reader: { own: ROW(Y, N, N, Y, N, N), other: NOTHING, public: PUBLIC_ONLY },
  writer: { own: ROW(Y, Y, Y, Y, N, N), other: NOTHING, public: PUBLIC_ONLY },
  admin: { own: ROW(Y, Y, Y, Y, Y, Y), other: NOTHING, public: PUBLIC_ONLY },
  owner: { own: ROW(Y, Y, Y, Y, Y, Y), other: NOTHING, public: PUBLIC_ONLY },
  token: { own: ROW(Y, Y, N, Y, N, N), other: NOTHING, public: PUBLIC_ONLY },
};

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('permission matrix (inject, SQLite)', () => {
  let dataDir: string;
  let app: App;
  const creds = new Map<Who, { oci?: string; api?: string }>();
  let cell = 0;

  const inject = (opts: InjectOptions): Promise<LightMyRequestResponse> => app.server.inject(opts);
  const admin = basic('admin', ADMIN_PASSWORD);
  const as = (who: Who, surface: 'oci' | 'api'): Record<string, string> => {
    const c = creds.get(who)?.[surface];
    return c ? { authorization: c } : {};
  };

  async function adminCall(method: 'POST' | 'PUT' | 'PATCH', url: string, payload: Record<string, unknown>): Promise<LightMyRequestResponse> {
    const res = await inject({ method, url, payload, headers: { authorization: admin } });
    assert.ok(res.statusCode < 300, `${method} ${url}: ${res.statusCode} ${res.body}`);
    return res;
  }

  /** Pushes a one-layer image as the admin; resolves to its manifest digest. */
  async function pushImage(repo: string, tag: string): Promise<string> {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed: randomBytes(8).toString('hex') }));
    const layer = randomBytes(64);
    for (const blob of [config, layer]) {
      const res = await inject({
        method: 'POST',
        url: `/v2/${repo}/blobs/uploads/?digest=${digestOf(blob)}`,
        payload: blob,
        headers: { authorization: admin, 'content-type': 'application/octet-stream' },
      });
      assert.equal(res.statusCode, 201, res.body);
    }
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digestOf(layer), size: layer.length }],
      }),
    );
    const res = await inject({ method: 'PUT', url: `/v2/${repo}/manifests/${tag}`, payload: manifest, headers: { authorization: admin, 'content-type': OCI_MANIFEST } });
    assert.equal(res.statusCode, 201, res.body);
    return digestOf(manifest);
  }

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pallet-matrix-'));
    app = await buildApp(loadConfig({ env: {}, flags: { dataDir, logLevel: 'silent', adminPassword: ADMIN_PASSWORD } }));
    for (const place of PLACES) {
      const { space, registry } = PLACE[place];
      await adminCall('POST', '/api/v1/spaces', { path: space });
      await adminCall('POST', '/api/v1/registries', { space, identifier: registry, packageType: 'docker', public: place === 'public' });
      await pushImage(PLACE[place].repo, '1');
    }
    for (const name of ['none', 'reader', 'writer', 'admin', 'owner', 'target'] as const) {
      const password = `${name}-password-${randomBytes(4).toString('hex')}`;
      await adminCall('POST', '/api/v1/users', { username: `u-${name}`, password });
      if (name !== 'target') creds.set(name, { oci: basic(`u-${name}`, password), api: basic(`u-${name}`, password) });
      if (name !== 'none' && name !== 'target') await adminCall('PUT', `/api/v1/spaces/acme/members/u-${name}`, { role: name });
    }
    const created = await inject({
      method: 'POST',
      url: '/api/v1/user/tokens',
      payload: { name: 'narrow', scopes: ['read', 'write'], space: 'acme', expiresInDays: 1 },
      headers: { authorization: creds.get('owner')!.api! },
    });
    assert.equal(created.statusCode, 201, created.body);
    const token = (JSON.parse(created.body) as { token: string }).token;
    creds.set('token', { oci: basic('u-owner', token), api: `Bearer ${token}` });
    creds.set('anonymous', {});
  });

  after(async () => {
    await app?.server.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  /** Performs one action; resolves to whether it was allowed (asserting the refusal's shape). */
  async function attempt(who: Who, action: Action, place: Place): Promise<boolean> {
    const { space, registry, repo } = PLACE[place];
    let res: LightMyRequestResponse;
    switch (action) {
      case 'pull':
        res = await inject({ method: 'GET', url: `/v2/${repo}/manifests/1`, headers: as(who, 'oci') });
        break;
      case 'push': {
        const blob = randomBytes(32);
        res = await inject({
          method: 'POST',
          url: `/v2/${repo}/blobs/uploads/?digest=${digestOf(blob)}`,
          payload: blob,
          headers: { ...as(who, 'oci'), 'content-type': 'application/octet-stream' },
        });
        break;
      }
      case 'delete': {
        const digest = await pushImage(repo, `del-${++cell}`);
        res = await inject({ method: 'DELETE', url: `/v2/${repo}/manifests/${digest}`, headers: as(who, 'oci') });
        break;
      }
      case 'catalog':
        return (await catalog(who)).includes(repo);
      case 'manageRegistry':
        res = await inject({ method: 'PATCH', url: `/api/v1/registries/${space}/${registry}`, payload: { description: `by ${who}` }, headers: as(who, 'api') });
        break;
      case 'manageMembers':
        res = await inject({ method: 'PUT', url: `/api/v1/spaces/${space}/members/u-target`, payload: { role: 'reader' }, headers: as(who, 'api') });
        break;
    }
    if (res.statusCode < 300) return true;
    const oci = action === 'pull' || action === 'push' || action === 'delete';
    if (who === 'anonymous') {
      assert.equal(res.statusCode, 401, `${who} ${action} ${place}: ${res.body}`);
      if (oci) {
        const scope = action === 'pull' ? 'pull' : `pull,${action}`;
        assert.match(String(res.headers['www-authenticate']), new RegExp(`^Bearer realm="[^"]+/v2/token",service="[^"]+",scope="repository:${repo}:${scope}"$`));
        assert.equal((JSON.parse(res.body) as { errors: Array<{ code: string }> }).errors[0]?.code, 'UNAUTHORIZED');
      }
    } else {
      assert.equal(res.statusCode, 403, `${who} ${action} ${place}: ${res.body}`);
      const body = JSON.parse(res.body) as { errors?: Array<{ code: string }>; code?: string };
      assert.equal(oci ? body.errors?.[0]?.code : body.code, oci ? 'DENIED' : 'FORBIDDEN');
    }
    return false;
  }

  const catalogs = new Map<Who, string[]>();
  /** The catalog as the principal sees it (anonymous: through an anonymous token). */
  async function catalog(who: Who): Promise<string[]> {
    const cached = catalogs.get(who);
    if (cached) return cached;
    let headers = as(who, 'oci');
    if (who === 'anonymous') {
      const challenge = await inject({ method: 'GET', url: '/v2/_catalog' });
      assert.equal(challenge.statusCode, 401);
      assert.match(String(challenge.headers['www-authenticate']), /scope="registry:catalog:\*"/);
      const token = await inject({ method: 'GET', url: '/v2/token?service=x&scope=registry:catalog:*' });
      assert.equal(token.statusCode, 200, token.body);
      headers = { authorization: `Bearer ${(JSON.parse(token.body) as { token: string }).token}` };
    }
    const res = await inject({ method: 'GET', url: '/v2/_catalog', headers });
    assert.equal(res.statusCode, 200, res.body);
    const names = (JSON.parse(res.body) as { repositories: string[] }).repositories;
    catalogs.set(who, names);
    return names;
  }

  for (const who of WHO) {
    for (const place of PLACES) {
      for (const action of ACTIONS) {
        const allowed = EXPECTED[who][place][action];
        it(`${who} ${allowed ? 'may' : 'may not'} ${action} in the ${place} ${place === 'public' ? 'registry' : 'space'}`, async () => {
          assert.equal(await attempt(who, action, place), allowed);
        });
      }
    }
  }

  for (const who of WHO) {
    it(`the token service grants ${who} exactly its allowed pull/push/delete, never more than asked`, async () => {
      for (const place of PLACES) {
        const { repo } = PLACE[place];
        for (const asked of [['pull'], ['pull', 'push', 'delete']]) {
          const res = await inject({
            method: 'GET',
            url: `/v2/token?service=x&scope=repository:${repo}:${asked.join(',')}`,
            headers: as(who, 'oci'),
          });
          assert.equal(res.statusCode, 200, res.body);
          const payload = JSON.parse(Buffer.from((JSON.parse(res.body) as { token: string }).token.split('.')[1]!, 'base64url').toString()) as {
            access: Array<{ name: string; actions: string[] }>;
          };
          const expected = asked.filter((a) => EXPECTED[who][place][a as Action]);
          assert.deepEqual(payload.access, [{ type: 'repository', name: repo, actions: expected }], `${who} ${place} asked ${asked}`);
        }
      }
    });
  }
});

/**
 * Limited and narrow tokens: a token's scopes, space or registry limit and expiry bound
 * everything done through it, the global administrator's included. Rows: tokens of the global
 * administrator (`full`: every scope, no limit — the control; `space`: every scope, limited to
 * `acme`; `registry`: every scope, limited to `acme/private`; `read`: read only;
 * `noadmin`: read, write, delete) and of the owner of `acme` (`project`: every scope, limited to
 * `acme/p1`). Each cell is one request; the test asserts whether it succeeded.
 */
type TokenWho = 'full' | 'space' | 'registry' | 'read' | 'noadmin' | 'project';
type TokenAct =
  | 'createUser'
  | 'listUsers'
  | 'resetPassword'
  | 'readAudit'
  | 'createRootSpace'
  | 'createRegistryInAcme'
  | 'createRegistryInGlobex'
  | 'manageOtherRegistryInAcme'
  | 'pullOtherRegistryInAcme'
  | 'tokenServicePushUnknownSpace'
  | 'mintUnlimited'
  | 'mintWiderScopes';
const TOKEN_WHO: readonly TokenWho[] = ['full', 'space', 'registry', 'read', 'noadmin', 'project'];
const TOKEN_ACTS: readonly TokenAct[] = [
  'createUser',
  'listUsers',
  'resetPassword',
  'readAudit',
  'createRootSpace',
  'createRegistryInAcme',
  'createRegistryInGlobex',
  'manageOtherRegistryInAcme',
  'pullOtherRegistryInAcme',
  'tokenServicePushUnknownSpace',
  'mintUnlimited',
  'mintWiderScopes',
];
//                       user  list  reset audit root  regA  regG  mngO  pullO tsvc  mintU mintW
const TROW = (...cells: boolean[]): Record<TokenAct, boolean> => Object.fromEntries(TOKEN_ACTS.map((a, i) => [a, cells[i]!])) as Record<TokenAct, boolean>;
const TOKEN_EXPECTED: Record<TokenWho, Record<TokenAct, boolean>> = {
  full: TROW(Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, Y, N),
  space: TROW(N, N, N, N, N, Y, N, Y, Y, N, N, N),
  registry: TROW(N, N, N, N, N, N, N, N, N, N, N, N),
  read: TROW(N, N, N, N, N, N, N, N, Y, N, N, N),
  noadmin: TROW(N, N, N, N, N, N, N, N, Y, N, N, N),
  project: TROW(N, N, N, N, N, N, N, N, N, N, N, N),
};

describe('limited and narrow tokens (inject, SQLite)', () => {
  let dataDir: string;
  let app: App;
  const bearer = new Map<TokenWho, string>();
  const scopesOf = new Map<TokenWho, string[]>();
  let n = 0;
  const admin = basic('admin', ADMIN_PASSWORD);
  const ownerPassword = `owner-${randomBytes(4).toString('hex')}`;
  const inject = (opts: InjectOptions): Promise<LightMyRequestResponse> => app.server.inject(opts);

  async function ok(method: 'POST' | 'PUT', url: string, payload: Record<string, unknown>, authorization = admin): Promise<LightMyRequestResponse> {
    const res = await inject({ method, url, payload, headers: { authorization } });
    assert.ok(res.statusCode < 300, `${method} ${url}: ${res.statusCode} ${res.body}`);
    return res;
  }
  async function token(authorization: string, body: Record<string, unknown>): Promise<string> {
    return (JSON.parse((await ok('POST', '/api/v1/user/tokens', body, authorization)).body) as { token: string }).token;
  }

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pallet-tokens-'));
    app = await buildApp(loadConfig({ env: {}, flags: { dataDir, logLevel: 'silent', adminPassword: ADMIN_PASSWORD } }));
    for (const space of ['acme', 'acme/p1', 'globex']) await ok('POST', '/api/v1/spaces', { path: space });
    for (const identifier of ['private', 'other']) await ok('POST', '/api/v1/registries', { space: 'acme', identifier, packageType: 'docker' });
    await ok('POST', '/api/v1/users', { username: 'u-owner', password: ownerPassword });
    await ok('POST', '/api/v1/users', { username: 'u-target', password: 'target-password' });
    await ok('PUT', '/api/v1/spaces/acme/members/u-owner', { role: 'owner' });
    const all = ['read', 'write', 'delete', 'admin'];
    const specs: Record<TokenWho, [string, Record<string, unknown>]> = {
      full: [admin, { scopes: all }],
      space: [admin, { scopes: all, space: 'acme' }],
      registry: [admin, { scopes: all, registry: 'acme/private' }],
      read: [admin, { scopes: ['read'] }],
      noadmin: [admin, { scopes: ['read', 'write', 'delete'] }],
      project: [basic('u-owner', ownerPassword), { scopes: ['read', 'admin'], space: 'acme/p1' }],
    };
    for (const who of TOKEN_WHO) {
      const [authorization, body] = specs[who];
      bearer.set(who, `Bearer ${await token(authorization, { name: who, expiresInDays: 5, ...body })}`);
      scopesOf.set(who, body.scopes as string[]);
    }
  });

  after(async () => {
    await app?.server.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function attempt(who: TokenWho, act: TokenAct): Promise<boolean> {
    const headers = { authorization: bearer.get(who)! };
    const id = `${who}-${++n}`;
    let res: LightMyRequestResponse;
    switch (act) {
      case 'createUser':
        res = await inject({ method: 'POST', url: '/api/v1/users', payload: { username: `x-${id}`, password: 'new-user-password' }, headers });
        break;
      case 'listUsers':
        res = await inject({ method: 'GET', url: '/api/v1/users', headers });
        break;
      case 'resetPassword':
        res = await inject({ method: 'PATCH', url: '/api/v1/users/u-target', payload: { password: `reset-${id}` }, headers });
        break;
      case 'readAudit':
        res = await inject({ method: 'GET', url: '/api/v1/audit', headers });
        break;
      case 'createRootSpace':
        res = await inject({ method: 'POST', url: '/api/v1/spaces', payload: { path: `root-${id}` }, headers });
        break;
      case 'createRegistryInAcme':
      case 'createRegistryInGlobex': {
        const space = act === 'createRegistryInAcme' ? 'acme' : 'globex';
        res = await inject({ method: 'POST', url: '/api/v1/registries', payload: { space, identifier: `r-${id}`, packageType: 'docker' }, headers });
        break;
      }
      case 'manageOtherRegistryInAcme':
        res = await inject({ method: 'PATCH', url: '/api/v1/registries/acme/other', payload: { description: id }, headers });
        break;
      case 'pullOtherRegistryInAcme':
        res = await inject({ method: 'GET', url: '/v2/acme/other/app/tags/list', headers });
        // Nothing was pushed: allowed means "not known" (404), refused means 401/403.
        return res.statusCode === 404;
      case 'tokenServicePushUnknownSpace': {
        const plain = bearer.get(who)!.slice('Bearer '.length);
        const username = who === 'project' ? 'u-owner' : 'admin';
        res = await inject({ method: 'GET', url: '/v2/token?scope=repository:nowhere/r/app:push', headers: { authorization: basic(username, plain) } });
        assert.equal(res.statusCode, 200, res.body);
        const claims = JSON.parse(Buffer.from((JSON.parse(res.body) as { token: string }).token.split('.')[1]!, 'base64url').toString()) as {
          access: Array<{ actions: string[] }>;
        };
        return claims.access.some((a) => a.actions.includes('push'));
      }
      case 'mintUnlimited':
        res = await inject({ method: 'POST', url: '/api/v1/user/tokens', payload: { name: id, scopes: scopesOf.get(who), expiresInDays: 1 }, headers });
        break;
      case 'mintWiderScopes': {
        const wider = ['read', 'write', 'delete', 'admin'].filter((s) => !scopesOf.get(who)!.includes(s));
        // A token holding every scope cannot ask for more: the cell stays N for it.
        if (wider.length === 0) return false;
        const limit = who === 'space' ? { space: 'acme' } : who === 'registry' ? { registry: 'acme/private' } : who === 'project' ? { space: 'acme/p1' } : {};
        res = await inject({ method: 'POST', url: '/api/v1/user/tokens', payload: { name: id, scopes: [...scopesOf.get(who)!, ...wider], expiresInDays: 1, ...limit }, headers });
        break;
      }
    }
    if (res.statusCode < 300) return true;
    assert.equal(res.statusCode, 403, `${who} ${act}: ${res.statusCode} ${res.body}`);
    return false;
  }

  for (const who of TOKEN_WHO) {
    for (const act of TOKEN_ACTS) {
      const allowed = TOKEN_EXPECTED[who][act];
      it(`a ${who} token ${allowed ? 'may' : 'may not'} ${act}`, async () => {
        assert.equal(await attempt(who, act), allowed);
      });
    }
  }

  it('a token limited to acme/p1 mints tokens only inside acme/p1, within its scopes and expiry', async () => {
    const project = { authorization: bearer.get('project')! };
    const mint = (body: Record<string, unknown>) => inject({ method: 'POST', url: '/api/v1/user/tokens', payload: { name: `m-${++n}`, ...body }, headers: project });
    assert.equal((await mint({ scopes: ['read', 'write', 'delete', 'admin'] })).statusCode, 403, 'unlimited, wider scopes');
    assert.equal((await mint({ scopes: ['read'], space: 'acme' })).statusCode, 403, 'the parent space');
    assert.equal((await mint({ scopes: ['read'], registry: 'acme/private' })).statusCode, 403, 'a registry outside acme/p1');
    assert.equal((await mint({ scopes: ['read'], space: 'acme/p1', expiresInDays: 30 })).statusCode, 403, 'outliving its creator');
    const inside = await mint({ scopes: ['read'], space: 'acme/p1', expiresInDays: 2 });
    assert.equal(inside.statusCode, 201, inside.body);
    // An omitted limit is not silently inherited; an omitted expiry is shortened to the creator's.
    assert.equal((await mint({})).statusCode, 403, 'no limit named');
    const inherited = await mint({ space: 'acme/p1' });
    assert.equal(inherited.statusCode, 201, inherited.body);
    const view = JSON.parse(inherited.body) as { space: string | null; scopes: string[]; expiresAt: string };
    assert.equal(view.space, 'acme/p1');
    assert.deepEqual(view.scopes, ['read']);
    assert.ok(Date.parse(view.expiresAt) <= Date.now() + 5 * 24 * 3600_000);
  });

  it('a limited token revokes only tokens inside its own limits', async () => {
    const full = await token(admin, { name: `victim-${++n}`, scopes: ['read'] });
    const list = await inject({ method: 'GET', url: '/api/v1/user/tokens', headers: { authorization: admin } });
    const id = (JSON.parse(list.body) as { items: Array<{ id: string; name: string }> }).items.find((t) => t.name === `victim-${n}`)!.id;
    const res = await inject({ method: 'DELETE', url: `/api/v1/user/tokens/${id}`, headers: { authorization: bearer.get('space')! } });
    assert.equal(res.statusCode, 403, res.body);
    assert.equal((await inject({ method: 'GET', url: '/v2/', headers: { authorization: `Bearer ${full}` } })).statusCode, 200);
  });
});
