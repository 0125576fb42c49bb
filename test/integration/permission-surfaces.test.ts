/**
 * The permission matrix on every surface, through `inject()` over the real app (SQLite,
 * filesystem storage): each principal × each place (public, private, unknown registry) × each
 * action, on `/v2` (OCI), `/pkg/…/helm` (classic chart repository), `/pkg/…/generic` (generic
 * files), `/pkg/…/npm` (npm registries `npm-…`), `/pkg/…/toy` (a throw-away format whose routes
 * hold no auth code) and `/api/v1`, every cell
 * asserted: allowed, refused (401 for anonymous callers and token-service JWTs, with the
 * surface's challenge; 403 for users) or not found (404, only for callers who may know).
 *
 * Then the disclosure rule, byte for byte: every refused request to a registry that does not
 * exist is sent again once an administrator has created it as a private registry; status,
 * body, content type and challenge must be identical, so a refusal never tells whether a
 * private registry exists.
 *
 * Principals: the global administrator; admin, writer and reader of `acme`; a writer of project
 * `acme/p1` only (registry identifiers are unique per root space, so a role below the root does
 * not tell which of the root's registries exist); an access token of
 * the owner of `acme` narrowed to read+write and to `acme`; a read token limited to registry
 * `acme/private`; a user with no role; anonymous; a token-service JWT of the writer (for the
 * repository asked, with every action the writer holds there; `/v2` takes it, the others do not);
 * the writer's web session with its CSRF token (`/api/v1` takes it; elsewhere it is anonymous).
 * Places: `initech/public`, `acme/private`, `globex/private`, and `ghost` registries that do not
 * exist in `acme`, in `globex` and in a root space that does not exist (`nowhere`). All are
 * helm registries, served by `/v2`, `/pkg/…/helm` and `/api/v1`, beside a `toy-…` registry of the
 * throw-away format and a `gen-…` generic registry in each place.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildApp, type App } from '../../src/app.js';
import { isPalletError } from '../../src/base/errors.js';
import { loadConfig } from '../../src/config/config.js';
import type { PackageFormat } from '../../src/formats/format.js';
import { FORMATS } from '../../src/formats/index.js';
import { requireAccess } from '../../src/http/pkg-access.js';
import { chart } from '../fixtures/charts.js';
import { publishDoc } from '../helpers/npm.js';

const ADMIN_PASSWORD = 'surfaces-admin-password';

type Who = 'gadmin' | 'admin' | 'writer' | 'reader' | 'project' | 'token' | 'regtoken' | 'none' | 'anonymous' | 'jwt' | 'session';
type Place = 'public' | 'own' | 'other' | 'ghostOwn' | 'ghostOther' | 'ghostRoot';
type Action = 'pull' | 'push' | 'delete' | 'manage';
type Surface = 'v2' | 'pkg' | 'npm' | 'toy' | 'generic' | 'api';

const WHO: readonly Who[] = ['gadmin', 'admin', 'writer', 'reader', 'project', 'token', 'regtoken', 'none', 'anonymous', 'jwt', 'session'];
const PLACES: readonly Place[] = ['public', 'own', 'other', 'ghostOwn', 'ghostOther', 'ghostRoot'];
const ACTIONS: readonly Action[] = ['pull', 'push', 'delete', 'manage'];
const SURFACE_ACTIONS: Record<Surface, readonly Action[]> = {
  v2: ['pull', 'push', 'delete'],
  pkg: ['pull', 'push', 'delete'],
  npm: ['pull', 'push', 'delete'],
  toy: ['pull', 'push', 'delete'],
  generic: ['pull', 'push', 'delete'],
  api: ['pull', 'delete', 'manage'],
};

/**
 * A throw-away format mounted by the /pkg dispatcher: its routes write no auth code, only
 * `requireAccess` with the action (and the three-line error table every surface has).
 */
const STATUS: Partial<Record<string, number>> = { UNAUTHORIZED: 401, DENIED: 403, NOT_FOUND: 404 };
const toyFormat: PackageFormat = {
  type: 'toy',
  label: 'Toy',
  description: 'A throw-away format for the permission matrix',
  icon: 'box',
  ociBased: false,
  pkgPath: 'toy',
  sources: [{ id: 'custom', label: 'Custom' }],
  urlSchemes: ['https:'],
  urlHint: 'anything',
  setup: () => [],
  create: () => ({
    routes: async (app) => {
      app.setErrorHandler((err, _request, reply) => {
        const code = isPalletError(err) ? err.code : 'UNKNOWN';
        return reply.code(STATUS[code] ?? 500).send({ error: err instanceof Error ? err.message : String(err) });
      });
      app.get('/thing', async (request) => ({ registry: (await requireAccess(request, 'pull')).registry.identifier }));
      app.put('/thing', async (request, reply) => {
        await requireAccess(request, 'push');
        return reply.code(201).send({ stored: true });
      });
      app.delete('/thing', async (request, reply) => {
        await requireAccess(request, 'delete');
        return reply.code(204).send();
      });
    },
  }),
};

const PLACE: Record<Place, { root: string; registry: string }> = {
  public: { root: 'initech', registry: 'public' },
  own: { root: 'acme', registry: 'private' },
  other: { root: 'globex', registry: 'private' },
  ghostOwn: { root: 'acme', registry: 'ghost' },
  ghostOther: { root: 'globex', registry: 'ghost' },
  ghostRoot: { root: 'nowhere', registry: 'ghost' },
};
const GHOSTS: readonly Place[] = ['ghostOwn', 'ghostOther', 'ghostRoot'];

/** A: allowed. N: not found (404, the caller may know). X: refused (401 anonymous or JWT, else 403). */
type Cell = 'A' | 'N' | 'X';
/** Cells per place in ACTIONS order (pull push delete manage), places in PLACES order. */
const ROWS: Record<Exclude<Who, 'session'>, string> = {
  //        public own   other ghostO ghostX ghostR
  gadmin: '  AAAA   AAAA  AAAA  NNNN   NNNN   NNNN',
  admin: '   AXXX   AAAA  XXXX  NNNN   XXXX   XXXX',
  writer: '  AXXX   AAAX  XXXX  NNNN   XXXX   XXXX',
  reader: '  AXXX   AXXX  XXXX  NNNN   XXXX   XXXX',
  // A role below the root space does not show which of the root's registries exist.
  project: ' AXXX   XXXX  XXXX  XXXX   XXXX   XXXX',
  token: '   AXXX   AAXX  XXXX  NNNN   XXXX   XXXX',
  regtoken: 'AXXX   AXXX  XXXX  XXXX   XXXX   XXXX',
  none: '    AXXX   XXXX  XXXX  XXXX   XXXX   XXXX',
  anonymous: 'AXXX  XXXX  XXXX  XXXX   XXXX   XXXX',
  // On /v2 only; /pkg and /api/v1 take no token-service JWT (every cell there is a 401).
  jwt: '     AXXX   AAAX  XXXX  NNNN   XXXX   XXXX',
};

function expected(who: Who, place: Place, action: Action, surface: Surface): Cell {
  if (who === 'jwt' && surface !== 'v2') return 'X';
  // The writer's web session counts on /api/v1 only; elsewhere the cookie is not a credential.
  if (who === 'session') return expected(surface === 'api' ? 'writer' : 'anonymous', place, action, surface);
  // The registry-limited token names acme/private, not acme/toy-private: for the toy format it holds nothing.
  if (who === 'regtoken' && (surface === 'toy' || surface === 'generic' || surface === 'npm')) return expected('none', place, action, surface);
  const cells = ROWS[who].replace(/\s+/g, '');
  return cells[PLACES.indexOf(place) * ACTIONS.length + ACTIONS.indexOf(action)] as Cell;
}

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

interface Recorded {
  request: InjectOptions;
  response: LightMyRequestResponse;
}

describe('permission matrix on every surface (inject, SQLite)', () => {
  let dataDir: string;
  let app: App;
  const creds = new Map<Who, string>();
  let session: Record<string, string> = {};
  const admin = basic('admin', ADMIN_PASSWORD);
  /** Refused requests to ghost registries, replayed once they exist. */
  const refusedGhosts: Recorded[] = [];
  let version = 0;
  /** JWT rows fail authentication on /pkg and /api/v1: each from its own address, so the failed-login throttle does not slow the test. */
  let address = 0;

  const inject = (opts: InjectOptions): Promise<LightMyRequestResponse> => app.server.inject(opts);

  async function ok(method: 'POST' | 'PUT', url: string, payload: Record<string, unknown>, authorization = admin): Promise<LightMyRequestResponse> {
    const res = await inject({ method, url, payload, headers: { authorization } });
    assert.ok(res.statusCode < 300, `${method} ${url}: ${res.statusCode} ${res.body}`);
    return res;
  }

  async function uploadChart(root: string, registry: string, v: string): Promise<void> {
    const res = await inject({
      method: 'POST',
      url: `/pkg/${root}/${registry}/helm/api/charts`,
      payload: await chart('hello', v).build(),
      headers: { authorization: admin, 'content-type': 'application/gzip' },
    });
    assert.equal(res.statusCode, 201, res.body);
  }

  async function createRegistry(place: Place): Promise<void> {
    const { root, registry } = PLACE[place];
    await ok('POST', '/api/v1/registries', { space: root, identifier: registry, packageType: 'helm', public: place === 'public' });
    // Through the domain: the API's packageType enum is fixed when its schemas load.
    await app.services.registries.create({ space: root, identifier: `toy-${registry}`, packageType: 'toy', public: place === 'public' });
    await uploadChart(root, registry, '1.0.0');
    await ok('POST', '/api/v1/registries', { space: root, identifier: `gen-${registry}`, packageType: 'generic', public: place === 'public' });
    const file = await inject({ method: 'PUT', url: `/pkg/${root}/gen-${registry}/generic/hello/1.0.0/hello.txt`, payload: Buffer.from('hello'), headers: { authorization: admin } });
    assert.equal(file.statusCode, 201, file.body);
    await app.services.registries.create({ space: root, identifier: `npm-${registry}`, packageType: 'npm', public: place === 'public' });
    const published = await inject({ method: 'PUT', url: `/pkg/${root}/npm-${registry}/npm/hello`, payload: JSON.stringify(publishDoc('hello', '1.0.0')), headers: { authorization: admin, 'content-type': 'application/json' } });
    assert.equal(published.statusCode, 201, published.body);
  }

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pallet-surfaces-'));
    const config = loadConfig({ env: {}, flags: { dataDir, logLevel: 'silent', adminPassword: ADMIN_PASSWORD } });
    app = await buildApp(config, undefined, [...FORMATS, toyFormat]);
    for (const space of ['acme', 'acme/p1', 'globex', 'initech']) await ok('POST', '/api/v1/spaces', { path: space });
    for (const place of ['public', 'own', 'other'] as const) await createRegistry(place);
    creds.set('gadmin', admin);
    for (const name of ['admin', 'writer', 'reader', 'owner', 'project', 'none'] as const) {
      const password = `${name}-password-${randomBytes(4).toString('hex')}`;
      await ok('POST', '/api/v1/users', { username: `u-${name}`, password });
      creds.set(name as Who, basic(`u-${name}`, password));
      if (name === 'project') await ok('PUT', '/api/v1/spaces/acme%2Fp1/members/u-project', { role: 'writer' });
      else if (name !== 'none') await ok('PUT', `/api/v1/spaces/acme/members/u-${name}`, { role: name });
    }
    const owner = creds.get('owner' as Who)!;
    const token = async (body: Record<string, unknown>): Promise<string> =>
      (JSON.parse((await ok('POST', '/api/v1/user/tokens', { expiresInDays: 1, ...body }, owner)).body) as { token: string }).token;
    creds.set('token', `Bearer ${await token({ name: 'narrow', scopes: ['read', 'write'], space: 'acme' })}`);
    creds.set('regtoken', `Bearer ${await token({ name: 'one-registry', scopes: ['read'], registry: 'acme/private' })}`);
    const writerPassword = Buffer.from(creds.get('writer')!.slice('Basic '.length), 'base64').toString().split(':')[1]!;
    const login = await inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'u-writer', password: writerPassword } });
    assert.equal(login.statusCode, 200, login.body);
    const cookie = login.cookies.find((c) => c.name === 'pallet_session')!;
    session = { cookie: `pallet_session=${cookie.value}`, 'x-csrf-token': (JSON.parse(login.body) as { csrfToken: string }).csrfToken };
  });

  after(async () => {
    await app?.server.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  /** The writer's token-service JWT for `repo`, asking every action. */
  async function jwtFor(repo: string): Promise<string> {
    const res = await inject({ method: 'GET', url: `/v2/token?service=x&scope=repository:${repo}:pull,push,delete`, headers: { authorization: creds.get('writer')! } });
    assert.equal(res.statusCode, 200, res.body);
    return `Bearer ${(JSON.parse(res.body) as { token: string }).token}`;
  }

  /** The request performing `action` on `place` through `surface`. */
  async function requestFor(who: Who, place: Place, action: Action, surface: Surface): Promise<InjectOptions> {
    const { root, registry } = PLACE[place];
    const repo = `${root}/${registry}/hello`;
    const authorization = who === 'jwt' ? await jwtFor(repo) : creds.get(who);
    const headers: Record<string, string> = who === 'session' ? { ...session } : authorization ? { authorization } : {};
    const from = who === 'jwt' ? { remoteAddress: `198.51.${Math.floor(++address / 250)}.${address % 250}` } : {};
    const missing = `sha256:${'0'.repeat(64)}`;
    if (surface === 'v2') {
      if (action === 'pull') return { method: 'GET', url: `/v2/${repo}/tags/list`, headers, ...from };
      if (action === 'delete') return { method: 'DELETE', url: `/v2/${repo}/manifests/${missing}`, headers, ...from };
      const blob = Buffer.from(`${who}-${place}`);
      return { method: 'POST', url: `/v2/${repo}/blobs/uploads/?digest=${sha256(blob)}`, payload: blob, headers: { ...headers, 'content-type': 'application/octet-stream' }, ...from };
    }
    if (surface === 'pkg') {
      const base = `/pkg/${root}/${registry}/helm`;
      if (action === 'pull') return { method: 'GET', url: `${base}/index.yaml`, headers, ...from };
      if (action === 'delete') return { method: 'DELETE', url: `${base}/api/charts/hello/9.9.9`, headers, ...from };
      const archive = await chart('hello', `2.0.${++version}`).build();
      return { method: 'POST', url: `${base}/api/charts`, payload: archive, headers: { ...headers, 'content-type': 'application/gzip' }, ...from };
    }
    if (surface === 'generic') {
      const base = `/pkg/${root}/gen-${registry}/generic/hello`;
      if (action === 'pull') return { method: 'GET', url: `${base}/1.0.0/hello.txt`, headers, ...from };
      if (action === 'delete') return { method: 'DELETE', url: `${base}/9.9.9/hello.txt`, headers, ...from };
      return { method: 'PUT', url: `${base}/2.0.${++version}/hello.txt`, payload: Buffer.from(`${who}-${place}`), headers: { ...headers, 'content-type': 'application/octet-stream' }, ...from };
    }
    if (surface === 'npm') {
      const base = `/pkg/${root}/npm-${registry}/npm`;
      if (action === 'pull') return { method: 'GET', url: `${base}/hello`, headers, ...from };
      if (action === 'delete') return { method: 'DELETE', url: `${base}/hello/-/hello-9.9.9.tgz/-rev/1-0`, headers, ...from };
      const doc = publishDoc('hello', `2.0.${++version}`);
      return { method: 'PUT', url: `${base}/hello`, payload: JSON.stringify(doc), headers: { ...headers, 'content-type': 'application/json' }, ...from };
    }
    if (surface === 'toy') {
      const url = `/pkg/${root}/toy-${registry}/toy/thing`;
      return { method: action === 'pull' ? 'GET' : action === 'push' ? 'PUT' : 'DELETE', url, headers, ...from };
    }
    const base = `/api/v1/registries/${root}/${registry}`;
    if (action === 'pull') return { method: 'GET', url: base, headers, ...from };
    if (action === 'delete') return { method: 'DELETE', url: `${base}/artifacts/nothing-here`, headers, ...from };
    return { method: 'PATCH', url: base, payload: { description: `by ${who}` }, headers, ...from };
  }

  /** Asserts the answer's shape for the expected cell (status, error code, challenge). */
  function check(who: Who, place: Place, action: Action, surface: Surface, res: LightMyRequestResponse): void {
    const cell = expected(who, place, action, surface);
    const label = `${who} ${action} ${place} on ${surface}: ${res.statusCode} ${res.body}`;
    if (cell === 'A') {
      // Allowed: done, or content that does not exist (a missing version or manifest).
      assert.ok(res.statusCode < 400 || (res.statusCode === 404 && action === 'delete'), label);
      return;
    }
    if (cell === 'N') {
      assert.equal(res.statusCode, 404, label);
      if (surface === 'v2') assert.equal((JSON.parse(res.body) as { errors: Array<{ code: string }> }).errors[0]?.code, 'NAME_UNKNOWN', label);
      if (surface === 'api') assert.equal((JSON.parse(res.body) as { code: string }).code, 'NOT_FOUND', label);
      return;
    }
    const unauthenticated = who === 'anonymous' || who === 'jwt' || (who === 'session' && surface !== 'api');
    assert.equal(res.statusCode, unauthenticated ? 401 : 403, label);
    const challenge = String(res.headers['www-authenticate'] ?? '');
    if (surface === 'v2') {
      const code = (JSON.parse(res.body) as { errors: Array<{ code: string }> }).errors[0]?.code;
      assert.equal(code, unauthenticated ? 'UNAUTHORIZED' : 'DENIED', label);
      if (unauthenticated) {
        const { root, registry } = PLACE[place];
        const scope = action === 'pull' ? 'pull' : `pull,${action}`;
        const error = who === 'jwt' ? ',error="insufficient_scope"' : '';
        assert.equal(challenge.replace(/realm="[^"]*",service="[^"]*"/, 'R'), `Bearer R,scope="repository:${root}/${registry}/hello:${scope}"${error}`, label);
      }
    } else if (surface === 'pkg' || surface === 'npm' || surface === 'toy' || surface === 'generic') {
      const realm = surface === 'pkg' ? 'Helm' : surface === 'npm' ? 'npm' : surface === 'toy' ? 'Toy' : 'Generic';
      assert.equal(challenge, unauthenticated ? `Basic realm="Pallet ${realm} repository", charset="UTF-8"` : '', label);
    } else {
      assert.equal((JSON.parse(res.body) as { code: string }).code, unauthenticated ? 'UNAUTHORIZED' : 'FORBIDDEN', label);
    }
  }

  for (const surface of ['v2', 'pkg', 'npm', 'toy', 'generic', 'api'] as const) {
    for (const who of WHO) {
      it(`${surface}: ${who}, every place and action`, async () => {
        for (const place of PLACES) {
          for (const action of SURFACE_ACTIONS[surface]) {
            const request = await requestFor(who, place, action, surface);
            const response = await inject(request);
            check(who, place, action, surface, response);
            if (GHOSTS.includes(place) && expected(who, place, action, surface) === 'X') refusedGhosts.push({ request, response });
          }
        }
      });
    }
  }

  it('serves a format only its own registries, and still refuses callers who may not see them', async () => {
    const url = '/pkg/acme/private/toy/thing';
    assert.equal((await inject({ method: 'GET', url, headers: { authorization: admin } })).statusCode, 404);
    assert.equal((await inject({ method: 'GET', url, headers: { authorization: creds.get('none')! } })).statusCode, 403);
    const anonymous = await inject({ method: 'GET', url });
    assert.equal(anonymous.statusCode, 401);
    assert.equal(anonymous.headers['www-authenticate'], 'Basic realm="Pallet Toy repository", charset="UTF-8"');
  });

  it('refuses a registry that does not exist exactly like a private one, byte for byte', async () => {
    assert.ok(refusedGhosts.length > 100, `${refusedGhosts.length} refusals recorded`);
    await ok('POST', '/api/v1/spaces', { path: 'nowhere' });
    for (const place of GHOSTS) await createRegistry(place);
    for (const { request, response: before } of refusedGhosts) {
      const now = await inject(request);
      const label = `${request.method} ${request.url}`;
      assert.equal(now.statusCode, before.statusCode, label);
      assert.equal(now.body, before.body, label);
      for (const header of ['content-type', 'content-length', 'www-authenticate']) assert.equal(now.headers[header], before.headers[header], `${label} ${header}`);
    }
  });
});
