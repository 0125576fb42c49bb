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
