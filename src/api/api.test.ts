/**
 * The management REST API through `inject()` over the real app: SQLite metadata in a temporary
 * data dir and the filesystem storage driver. Content is pushed through the OCI routes, so
 * sizes, counts and the blob files on disk are the ones real clients produce.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildApp, type App } from '../app.js';
import { digestOf } from '../base/digest.js';
import { loadConfig } from '../config/config.js';
import type { ArtifactView, VersionDetail, VersionView } from '../registry/artifacts.js';
import type { Page } from '../base/paging.js';
import type { RegistryView } from '../registry/registry-views.js';
import type { SetupGuide } from '../registry/setup-guide.js';
import type { SpaceView } from '../registry/spaces.js';
import type { ApiErrorBody } from './errors.js';
import { isDocumented } from './openapi.js';
import { chart } from '../../test/fixtures/charts.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
const HELM_CONFIG = 'application/vnd.cncf.helm.config.v1+json';
const HELM_CHART = 'application/vnd.cncf.helm.chart.content.v1.tar+gzip';
const BASE_URL = 'https://pallet.example.com';
const ADMIN_PASSWORD = 'api-test-admin-password';
/** Every request authenticates as the bootstrap admin (permissions have their own suite). */
const ADMIN = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;

interface Response<T> {
  status: number;
  text: string;
  json: T;
}

interface Harness {
  app: App;
  dataDir: string;
  call<T = ApiErrorBody>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, body?: unknown): Promise<Response<T>>;
  raw(method: 'POST' | 'PATCH', url: string, payload: string, contentType?: string): Promise<Response<ApiErrorBody>>;
  /** `app.server.inject` as the admin. */
  inject(opts: InjectOptions): Promise<LightMyRequestResponse>;
  /** Creates a space and asserts 201. */
  space(path: string): Promise<SpaceView>;
  /** Creates a registry and asserts 201. */
  registry(input: Record<string, unknown>): Promise<RegistryView>;
  close(): Promise<void>;
}

async function start(): Promise<Harness> {
  const dataDir = await mkdtemp(join(tmpdir(), 'pallet-api-'));
  const app = await buildApp(loadConfig({ env: {}, flags: { dataDir, logLevel: 'silent', baseUrl: BASE_URL, adminPassword: ADMIN_PASSWORD } }));
  const parse = <T>(status: number, text: string): Response<T> => ({ status, text, json: (text ? JSON.parse(text) : undefined) as T });
  const h: Harness = {
    app,
    dataDir,
    async call<T>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, body?: unknown) {
      const res = await h.inject({ method, url, ...(body !== undefined ? { payload: body as Record<string, unknown> } : {}) });
      return parse<T>(res.statusCode, res.body);
    },
    async raw(method, url, payload, contentType = 'application/json') {
      const res = await h.inject({ method, url, payload, headers: { 'content-type': contentType } });
      return parse<ApiErrorBody>(res.statusCode, res.body);
    },
    inject(opts) {
      return app.server.inject({ ...opts, headers: { authorization: ADMIN, ...opts.headers } });
    },
    async space(path) {
      const res = await h.call<SpaceView>('POST', '/api/v1/spaces', { path });
      assert.equal(res.status, 201, res.text);
      return res.json;
    },
    async registry(input) {
      const res = await h.call<RegistryView>('POST', '/api/v1/registries', { packageType: 'docker', kind: 'local', ...input });
      assert.equal(res.status, 201, res.text);
      return res.json;
    },
    async close() {
      await app.server.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return h;
}

/** Every blob file the filesystem driver holds, by hex digest. */
async function blobFiles(dataDir: string): Promise<Set<string>> {
  const entries = await readdir(join(dataDir, 'storage', 'blobs'), { recursive: true, withFileTypes: true }).catch(() => []);
  return new Set(entries.filter((e) => e.isFile()).map((e) => e.name));
}

/** Upload session directories the filesystem driver holds. */
async function uploadDirs(dataDir: string): Promise<string[]> {
  return readdir(join(dataDir, 'storage', 'uploads')).catch(() => []);
}

const hex = (digest: string): string => digest.slice(digest.indexOf(':') + 1);

// OCI pushes ---------------------------------------------------------------------------------

interface Pushed {
  digest: string;
  size: number;
}

async function pushBlob(h: Harness, repo: string, data: Buffer): Promise<Pushed> {
  const digest = digestOf(data);
  const res = await h.inject({
    method: 'POST',
    url: `/v2/${repo}/blobs/uploads/?digest=${digest}`,
    payload: data,
    headers: { 'content-type': 'application/octet-stream' },
  });
  assert.equal(res.statusCode, 201, res.body);
  return { digest, size: data.length };
}

async function pushManifest(h: Harness, repo: string, reference: string, doc: Record<string, unknown>): Promise<Pushed & { body: Buffer }> {
  const body = Buffer.from(JSON.stringify(doc));
  const res = await h.inject({
    method: 'PUT',
    url: `/v2/${repo}/manifests/${reference}`,
    payload: body,
    headers: { 'content-type': String(doc.mediaType) },
  });
  assert.equal(res.statusCode, 201, res.body);
  return { digest: digestOf(body), size: body.length, body };
}

interface PushedImage extends Pushed {
  config: Pushed;
  layers: Pushed[];
  doc: Record<string, unknown>;
}

/** Pushes config + layers, then the manifest by `reference` (a tag or, with `byDigest`, its digest). */
async function pushImage(
  h: Harness,
  repo: string,
  reference: string | undefined,
  layers: Buffer[],
  options: { configMediaType?: string; layerMediaType?: string; config?: Buffer } = {},
): Promise<PushedImage> {
  const configData = options.config ?? Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed: randomBytes(4).toString('hex') }));
  const config = await pushBlob(h, repo, configData);
  const pushedLayers: Pushed[] = [];
  for (const layer of layers) pushedLayers.push(await pushBlob(h, repo, layer));
  const doc = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: options.configMediaType ?? OCI_CONFIG, digest: config.digest, size: config.size },
    layers: pushedLayers.map((l) => ({ mediaType: options.layerMediaType ?? OCI_LAYER, digest: l.digest, size: l.size })),
  };
  const body = Buffer.from(JSON.stringify(doc));
  const manifest = await pushManifest(h, repo, reference ?? digestOf(body), doc);
  return { digest: manifest.digest, size: manifest.size, config, layers: pushedLayers, doc };
}

// Tests ----------------------------------------------------------------------------------------

describe('management API: spaces', () => {
  let h: Harness;
  before(async () => {
    h = await start();
  });
  after(async () => h.close());

  it('creates, reads, lists, describes and deletes root and nested spaces', async () => {
    const created = await h.call<SpaceView>('POST', '/api/v1/spaces', { path: 'acme', description: 'Acme Corp' });
    assert.equal(created.status, 201);
    assert.deepEqual({ ...created.json, createdAt: '', updatedAt: '' }, {
      path: 'acme', name: 'acme', parent: null, root: 'acme', description: 'Acme Corp', createdAt: '', updatedAt: '',
    });
    assert.ok(!Number.isNaN(Date.parse(created.json.createdAt)));

    const nested = await h.call<SpaceView>('POST', '/api/v1/spaces', { path: 'acme/payments' });
    assert.equal(nested.status, 201, nested.text);
    assert.equal(nested.json.parent, 'acme');
    assert.equal(nested.json.name, 'payments');

    const got = await h.call<SpaceView>('GET', '/api/v1/spaces/acme%2Fpayments');
    assert.equal(got.status, 200);
    assert.equal(got.json.path, 'acme/payments');

    await h.space('beta');
    const list = await h.call<Page<SpaceView>>('GET', '/api/v1/spaces?size=2');
    assert.equal(list.status, 200);
    assert.deepEqual(list.json.items.map((s) => s.path), ['acme', 'acme/payments']);
    assert.deepEqual([list.json.total, list.json.page, list.json.size], [3, 1, 2]);
    const page2 = await h.call<Page<SpaceView>>('GET', '/api/v1/spaces?size=2&page=2');
    assert.deepEqual(page2.json.items.map((s) => s.path), ['beta']);
    const desc = await h.call<Page<SpaceView>>('GET', '/api/v1/spaces?sort=path&order=desc&q=ACME');
    assert.deepEqual(desc.json.items.map((s) => s.path), ['acme/payments', 'acme']);

    const patched = await h.call<SpaceView>('PATCH', '/api/v1/spaces/acme%2Fpayments', { description: 'Payments team' });
    assert.equal(patched.status, 200);
    assert.equal(patched.json.description, 'Payments team');
    assert.equal((await h.call<SpaceView>('GET', '/api/v1/spaces/acme%2Fpayments')).json.description, 'Payments team');

    assert.equal((await h.call('DELETE', '/api/v1/spaces/acme%2Fpayments')).status, 204);
    const gone = await h.call('GET', '/api/v1/spaces/acme%2Fpayments');
    assert.equal(gone.status, 404);
    assert.equal(gone.json.code, 'NOT_FOUND');
  });

  it('rejects names that break the rule with INVALID_NAME and the rule in the message', async () => {
    for (const bad of ['Acme', '1acme', 'my space', 'a'.repeat(256), 'acme//x', '-acme']) {
      const res = await h.call('POST', '/api/v1/spaces', { path: bad });
      assert.equal(res.status, 400, bad);
      assert.equal(res.json.code, 'INVALID_NAME', bad);
      assert.match(res.json.message, /must start with a lowercase letter/, bad);
      assert.match(res.json.message, /at most 255 characters/, bad);
    }
    const longest = 'a'.repeat(255);
    assert.equal((await h.call('POST', '/api/v1/spaces', { path: longest })).status, 201);
  });

  it('needs an existing parent for a nested space', async () => {
    const res = await h.call('POST', '/api/v1/spaces', { path: 'nowhere/project' });
    assert.equal(res.status, 404);
    assert.equal(res.json.code, 'NOT_FOUND');
    assert.match(res.json.message, /parent space "nowhere" does not exist/);
    assert.equal((await h.call('GET', '/api/v1/spaces/nowhere%2Fproject')).status, 404);
  });

  it('answers 409 for a duplicate space', async () => {
    await h.space('dup');
    const res = await h.call('POST', '/api/v1/spaces', { path: 'dup' });
    assert.equal(res.status, 409);
    assert.equal(res.json.code, 'ALREADY_EXISTS');
    assert.match(res.json.message, /"dup" already exists/);
  });

  it('refuses to delete a space that still holds registries or child spaces', async () => {
    await h.space('holder');
    await h.space('holder/team');
    await h.registry({ space: 'holder/team', identifier: 'images' });

    const parent = await h.call('DELETE', '/api/v1/spaces/holder');
    assert.equal(parent.status, 409);
    assert.equal(parent.json.code, 'CONFLICT');
    assert.match(parent.json.message, /1 child space/);

    const child = await h.call('DELETE', '/api/v1/spaces/holder%2Fteam');
    assert.equal(child.status, 409);
    assert.match(child.json.message, /1 registry/);
    assert.equal(child.json.details.registries, 1);

    assert.equal((await h.call('DELETE', '/api/v1/registries/holder/images')).status, 204);
    assert.equal((await h.call('DELETE', '/api/v1/spaces/holder%2Fteam')).status, 204);
    assert.equal((await h.call('DELETE', '/api/v1/spaces/holder')).status, 204);
  });
});

describe('management API: registries', () => {
  let h: Harness;
  before(async () => {
    h = await start();
    await h.space('acme');
    await h.space('acme/payments');
    await h.space('other');
  });
  after(async () => h.close());

  it('creates a local registry and reads it back with stats and its client URL', async () => {
    const created = await h.call<RegistryView>('POST', '/api/v1/registries', {
      space: 'acme',
      identifier: 'docker-local',
      packageType: 'docker',
      kind: 'local',
      description: 'Team images',
      labels: ['team-a', ' team-a ', 'prod'],
      public: true,
    });
    assert.equal(created.status, 201, created.text);
    const { createdAt, updatedAt, ...rest } = created.json;
    assert.deepEqual(rest, {
      space: 'acme',
      root: 'acme',
      identifier: 'docker-local',
      packageType: 'docker',
      kind: 'local',
      description: 'Team images',
      labels: ['team-a', 'prod'],
      public: true,
      upstreams: [],
      upstream: null,
      url: `${BASE_URL}/acme/docker-local`,
      sizeBytes: 0,
      artifactCount: 0,
      downloadCount: 0,
      settings: {},
    });
    assert.ok(Date.parse(createdAt) <= Date.parse(updatedAt));
    const got = await h.call<RegistryView>('GET', '/api/v1/registries/acme/docker-local');
    assert.equal(got.status, 200);
    assert.deepEqual(got.json, created.json);
    assert.equal((await h.call('GET', '/api/v1/registries/acme/missing')).status, 404);
    const nested = await h.call('GET', '/api/v1/registries/acme%2Fpayments/docker-local');
    assert.equal(nested.status, 404);
    assert.match(nested.json.message, /addressed by their root space/);
    const noSpace = await h.call('POST', '/api/v1/registries', { space: 'acme/nope', identifier: 'x', packageType: 'docker' });
    assert.equal(noSpace.status, 404);
    assert.match(noSpace.json.message, /space "acme\/nope" does not exist/);
  });

  it('applies the name rule to identifiers', async () => {
    for (const bad of ['Docker', '9lives', 'has space', 'x'.repeat(256)]) {
      const res = await h.call('POST', '/api/v1/registries', { space: 'acme', identifier: bad, packageType: 'docker' });
      assert.equal(res.status, 400, bad);
      assert.equal(res.json.code, 'INVALID_NAME', bad);
      assert.match(res.json.message, /identifier .* is invalid: it must start with a lowercase letter and contain only lowercase letters, digits/);
    }
  });

  it('answers 409 for an identifier already taken anywhere in the root space', async () => {
    await h.registry({ space: 'acme', identifier: 'taken' });
    const res = await h.call('POST', '/api/v1/registries', { space: 'acme/payments', identifier: 'taken', packageType: 'helm' });
    assert.equal(res.status, 409);
    assert.equal(res.json.code, 'ALREADY_EXISTS');
    // Another root space has its own identifiers.
    await h.registry({ space: 'other', identifier: 'taken' });
  });

  it('lists registries by space, recursively, filtered, sorted and paged', async () => {
    await h.registry({ space: 'acme/payments', identifier: 'pay-charts', packageType: 'helm', description: 'Payment charts' });
    await h.registry({ space: 'acme/payments', identifier: 'pay-images', labels: ['payments'] });
    const ids = async (query: string): Promise<string[]> => {
      const res = await h.call<Page<RegistryView>>('GET', `/api/v1/registries?${query}`);
      assert.equal(res.status, 200, res.text);
      return res.json.items.map((r) => `${r.root}/${r.identifier}`);
    };
    const direct = await ids('space=acme');
    assert.ok(direct.includes('acme/taken') && !direct.includes('acme/pay-images'));
    assert.deepEqual(await ids('space=acme%2Fpayments'), ['acme/pay-charts', 'acme/pay-images']);
    const recursive = await ids('space=acme&recursive=true');
    assert.ok(recursive.includes('acme/taken') && recursive.includes('acme/pay-images'));
    assert.deepEqual(await ids('space=acme&recursive=true&packageType=helm'), ['acme/pay-charts']);
    assert.deepEqual(await ids('space=acme&recursive=true&q=PAYMENT'), ['acme/pay-charts', 'acme/pay-images']);
    assert.deepEqual(await ids('space=acme%2Fpayments&sort=packageType'), ['acme/pay-images', 'acme/pay-charts']);
    assert.deepEqual(await ids('space=acme%2Fpayments&sort=identifier&order=desc'), ['acme/pay-images', 'acme/pay-charts']);
    // pay-images has no description (sorts first); pay-charts has no labels (sorts first).
    assert.deepEqual(await ids('space=acme%2Fpayments&sort=description'), ['acme/pay-images', 'acme/pay-charts']);
    assert.deepEqual(await ids('space=acme%2Fpayments&sort=labels'), ['acme/pay-charts', 'acme/pay-images']);
    assert.deepEqual(await ids('space=acme%2Fpayments&sort=labels&order=desc'), ['acme/pay-images', 'acme/pay-charts']);

    const paged = await h.call<Page<RegistryView>>('GET', '/api/v1/registries?space=acme&recursive=true&size=1&page=2');
    assert.equal(paged.json.items.length, 1);
    assert.equal(paged.json.page, 2);
    assert.equal(paged.json.size, 1);
    assert.equal(paged.json.total, recursive.length);
    assert.equal(paged.json.items[0]!.identifier, recursive[1]!.split('/')[1]);

    const badSort = await h.call('GET', '/api/v1/registries?sort=colour');
    assert.equal(badSort.status, 400);
    assert.equal(badSort.json.code, 'INVALID_ARGUMENT');
    assert.match(badSort.json.message, /sort must be one of identifier, packageType, kind, description, labels, sizeBytes/);
    assert.equal((await h.call('GET', '/api/v1/registries?size=501')).status, 400);
    assert.equal((await h.call('GET', '/api/v1/registries?page=0')).status, 400);
    assert.equal((await h.call('GET', '/api/v1/registries?space=nope')).status, 404);
  });

  it('validates upstream proxy configs', async () => {
    const hub = await h.registry({ space: 'acme', identifier: 'hub', kind: 'upstream', upstream: { source: 'dockerhub' } });
    assert.deepEqual(hub.upstream, { source: 'dockerhub', url: 'https://registry-1.docker.io', auth: { type: 'anonymous' }, tagTtlSeconds: 300 });
    assert.deepEqual(hub.upstreams, []);

    const ghcr = await h.registry({
      space: 'acme',
      identifier: 'ghcr',
      kind: 'upstream',
      upstream: { source: 'custom', url: 'https://ghcr.io/', tagTtlSeconds: 0 },
    });
    assert.equal(ghcr.upstream?.url, 'https://ghcr.io');
    assert.equal(ghcr.upstream?.tagTtlSeconds, 0);
    const helmOci = await h.registry({ space: 'acme', identifier: 'bitnami', packageType: 'helm', kind: 'upstream', upstream: { url: 'oci://registry-1.docker.io/bitnamicharts' } });
    assert.equal(helmOci.upstream?.source, 'custom');

    const rejected: Array<[Record<string, unknown>, RegExp]> = [
      [{ kind: 'upstream' }, /needs its upstream config/],
      [{ kind: 'upstream', upstream: { source: 'custom' } }, /upstream\.url is required/],
      [{ kind: 'upstream', upstream: { source: 'custom', url: 'oci://ghcr.io' } }, /must start with http:\/\/, https:\/\//],
      [{ kind: 'upstream', upstream: { source: 'custom', url: 'not a url' } }, /not a valid URL/],
      [{ kind: 'upstream', upstream: { source: 'custom', url: 'https://u:p@ghcr.io' } }, /must not carry credentials/],
      [{ kind: 'upstream', upstream: { source: 'dockerhub', url: 'https://example.com' } }, /fixed to https:\/\/registry-1.docker.io/],
      [{ kind: 'upstream', upstream: { source: 'dockerhub', tagTtlSeconds: -1 } }, /tagTtlSeconds must be >= 0/],
      [{ kind: 'upstream', upstream: { source: 'dockerhub', auth: { type: 'basic', username: 'u' } } }, /password .* is required/],
      [{ kind: 'upstream', upstream: { source: 'ftp' } }, /upstream\.source must be one of dockerhub, custom/],
      [{ kind: 'local', upstream: { source: 'dockerhub' } }, /only upstream proxies/],
      [{ packageType: 'helm', kind: 'upstream', upstream: { source: 'dockerhub' } }, /must be custom/],
      [{ kind: 'remote' }, /kind must be one of local, upstream/],
      [{ labels: [''] }, /labels\[0\] must not be empty/],
      [{ labels: ['x'.repeat(65)] }, /at most 64/],
    ];
    for (const [input, message] of rejected) {
      const res = await h.call('POST', '/api/v1/registries', { space: 'acme', identifier: 'rejected', packageType: 'docker', ...input });
      assert.equal(res.status, 400, JSON.stringify(input));
      assert.equal(res.json.code, 'INVALID_ARGUMENT', JSON.stringify(input));
      assert.match(res.json.message, message, JSON.stringify(input));
    }
    assert.equal((await h.call('GET', '/api/v1/registries/acme/rejected')).status, 404);
  });

  it('never returns an upstream password, and keeps it when a PATCH leaves it out', async () => {
    const secret = 'pw-7f3a9c1e-never-shown';
    const created = await h.call<RegistryView>('POST', '/api/v1/registries', {
      space: 'acme',
      identifier: 'private-hub',
      packageType: 'docker',
      kind: 'upstream',
      upstream: { source: 'dockerhub', auth: { type: 'basic', username: 'robot', password: secret } },
    });
    assert.equal(created.status, 201, created.text);
    assert.deepEqual(created.json.upstream?.auth, { type: 'basic', username: 'robot' });
    const patched = await h.call<RegistryView>('PATCH', '/api/v1/registries/acme/private-hub', { upstream: { tagTtlSeconds: 60 } });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.json.upstream?.tagTtlSeconds, 60);
    const patchedAuth = await h.call('PATCH', '/api/v1/registries/acme/private-hub', { upstream: { auth: { type: 'basic', username: 'robot2' } } });
    const texts = [
      created.text,
      patched.text,
      patchedAuth.text,
      (await h.call('GET', '/api/v1/registries/acme/private-hub')).text,
      (await h.call('GET', '/api/v1/registries?space=acme&kind=upstream')).text,
      (await h.call('GET', '/api/v1/registries')).text,
      (await h.call('GET', '/api/v1/registries/acme/private-hub/setup')).text,
      (await h.call('GET', '/api/v1/openapi.json')).text,
    ];
    for (const text of texts) assert.ok(!text.includes(secret), `password leaked in ${text.slice(0, 200)}`);

    // Sealed at rest (AES-256-GCM under the server key), and kept across PATCHes.
    const root = await h.app.services.store.findSpace('acme');
    const stored = await h.app.services.store.findRegistry(root!.id, 'private-hub');
    const auth = stored?.upstream?.auth as { type: string; username: string; password: string };
    assert.equal(auth.username, 'robot2');
    assert.match(auth.password, /^enc:v1:/);
    assert.ok(!JSON.stringify(stored?.upstream).includes(secret), 'the stored row never holds the password in plain text');
    assert.equal(h.app.services.upstreamSecrets.open(auth.password), secret);

    // A password stored in plain text before encryption existed is sealed at startup.
    await h.app.services.store.updateRegistry(stored!.id, { upstream: { ...stored!.upstream, auth: { ...auth, password: 'legacy-plain' } } });
    assert.equal(await h.app.services.registries.sealStoredSecrets(), 1);
    const resealed = (await h.app.services.store.findRegistry(root!.id, 'private-hub'))?.upstream?.auth as { password: string };
    assert.match(resealed.password, /^enc:v1:/);
    assert.equal(h.app.services.upstreamSecrets.open(resealed.password), 'legacy-plain');
    assert.equal(await h.app.services.registries.sealStoredSecrets(), 0);
  });

  it('validates the upstream list: existing proxies of the same type, in the same root', async () => {
    await h.registry({ space: 'acme', identifier: 'helm-proxy', packageType: 'helm', kind: 'upstream', upstream: { url: 'https://charts.example.com' } });
    await h.registry({ space: 'acme', identifier: 'plain-local' });
    await h.registry({ space: 'other', identifier: 'other-hub', kind: 'upstream', upstream: { source: 'dockerhub' } });
    const cases: Array<[unknown, RegExp]> = [
      [['no-such-proxy'], /no upstream proxy "no-such-proxy" exists in acme/],
      [['helm-proxy'], /"helm-proxy" is a helm upstream proxy; .* takes only docker proxies/],
      [['plain-local'], /"plain-local" is a local registry, not an upstream proxy/],
      [['other-hub'], /no upstream proxy "other-hub" exists in acme/],
      [['hub', 'hub'], /lists "hub" more than once/],
    ];
    for (const [upstreams, message] of cases) {
      const res = await h.call('POST', '/api/v1/registries', { space: 'acme', identifier: 'with-ups', packageType: 'docker', upstreams });
      assert.equal(res.status, 400, JSON.stringify(upstreams));
      assert.equal(res.json.code, 'INVALID_ARGUMENT');
      assert.match(res.json.message, message);
    }
    const onProxy = await h.call('POST', '/api/v1/registries', {
      space: 'acme', identifier: 'proxy-with-list', packageType: 'docker', kind: 'upstream', upstream: { source: 'dockerhub' }, upstreams: ['hub'],
    });
    assert.equal(onProxy.status, 400);
    assert.match(onProxy.json.message, /an upstream proxy has no upstream list/);
    assert.equal((await h.call('GET', '/api/v1/registries/acme/with-ups')).status, 404);
  });

  it('keeps the upstream order and replaces it through PATCH', async () => {
    const reg = await h.registry({ space: 'acme/payments', identifier: 'ordered', upstreams: ['ghcr', 'hub'] });
    assert.deepEqual(reg.upstreams, ['ghcr', 'hub']);
    assert.deepEqual((await h.call<RegistryView>('GET', '/api/v1/registries/acme/ordered')).json.upstreams, ['ghcr', 'hub']);

    const swapped = await h.call<RegistryView>('PATCH', '/api/v1/registries/acme/ordered', { upstreams: ['hub', 'ghcr'] });
    assert.equal(swapped.status, 200, swapped.text);
    assert.deepEqual(swapped.json.upstreams, ['hub', 'ghcr']);
    const listed = await h.call<Page<RegistryView>>('GET', '/api/v1/registries?space=acme%2Fpayments&q=ordered');
    assert.deepEqual(listed.json.items[0]?.upstreams, ['hub', 'ghcr']);

    const bad = await h.call('PATCH', '/api/v1/registries/acme/ordered', { upstreams: ['hub', 'plain-local'] });
    assert.equal(bad.status, 400);
    assert.deepEqual((await h.call<RegistryView>('GET', '/api/v1/registries/acme/ordered')).json.upstreams, ['hub', 'ghcr']);

    const cleared = await h.call<RegistryView>('PATCH', '/api/v1/registries/acme/ordered', { upstreams: [], description: 'now alone', labels: ['a', 'b'], public: true });
    assert.equal(cleared.status, 200);
    assert.deepEqual(cleared.json.upstreams, []);
    assert.equal(cleared.json.description, 'now alone');
    assert.deepEqual(cleared.json.labels, ['a', 'b']);
    assert.equal(cleared.json.public, true);
  });

  it('refuses to change identifier, packageType or kind', async () => {
    await h.registry({ space: 'acme', identifier: 'fixed' });
    for (const [field, value] of [['identifier', 'renamed'], ['packageType', 'helm'], ['kind', 'upstream'], ['space', 'acme/payments']] as const) {
      const res = await h.call('PATCH', '/api/v1/registries/acme/fixed', { [field]: value });
      assert.equal(res.status, 400, field);
      assert.equal(res.json.code, 'INVALID_ARGUMENT');
      assert.match(res.json.message, new RegExp(`^${field} cannot change after creation`));
    }
    const same = await h.call<RegistryView>('PATCH', '/api/v1/registries/acme/fixed', { identifier: 'fixed', packageType: 'docker', kind: 'local', description: 'ok' });
    assert.equal(same.status, 200, same.text);
    assert.equal(same.json.description, 'ok');
    const proxyOnly = await h.call('PATCH', '/api/v1/registries/acme/fixed', { upstream: { source: 'dockerhub' } });
    assert.equal(proxyOnly.status, 400);
    assert.match(proxyOnly.json.message, /only upstream proxies/);
  });

  it('keeps every proxy field a PATCH leaves out: giving only the URL does not reset tagTtlSeconds', async () => {
    await h.registry({ space: 'acme', identifier: 'ttl-proxy', kind: 'upstream', upstream: { source: 'custom', url: 'https://one.example.com', tagTtlSeconds: 60 } });
    const moved = await h.call<RegistryView>('PATCH', '/api/v1/registries/acme/ttl-proxy', { upstream: { url: 'https://two.example.com' } });
    assert.equal(moved.status, 200, moved.text);
    assert.deepEqual(moved.json.upstream, { source: 'custom', url: 'https://two.example.com', auth: { type: 'anonymous' }, tagTtlSeconds: 60 });
    const created = await h.registry({ space: 'acme', identifier: 'ttl-default', kind: 'upstream', upstream: { source: 'custom', url: 'https://one.example.com' } });
    assert.equal(created.upstream?.tagTtlSeconds, 300, 'a create still gets the default');
  });

  it('answers 409 naming the registries that still use an upstream proxy', async () => {
    await h.registry({ space: 'acme', identifier: 'mirror', kind: 'upstream', upstream: { source: 'custom', url: 'https://mirror.example.com' } });
    await h.registry({ space: 'acme', identifier: 'user-b', upstreams: ['mirror'] });
    await h.registry({ space: 'acme/payments', identifier: 'user-a', upstreams: ['hub', 'mirror'] });
    const res = await h.call('DELETE', '/api/v1/registries/acme/mirror');
    assert.equal(res.status, 409);
    assert.equal(res.json.code, 'CONFLICT');
    assert.match(res.json.message, /used by user-a, user-b/);
    assert.deepEqual(res.json.details.usedBy, ['user-a', 'user-b']);
    assert.equal((await h.call('GET', '/api/v1/registries/acme/mirror')).status, 200);

    await h.call('PATCH', '/api/v1/registries/acme/user-a', { upstreams: ['hub'] });
    await h.call('PATCH', '/api/v1/registries/acme/user-b', { upstreams: [] });
    assert.equal((await h.call('DELETE', '/api/v1/registries/acme/mirror')).status, 204);
    assert.equal((await h.call('GET', '/api/v1/registries/acme/mirror')).status, 404);
  });

  it('gives Setup Client commands with the host and names filled in', async () => {
    await h.registry({ space: 'acme', identifier: 'charts', packageType: 'helm' });
    const docker = await h.call<SetupGuide>('GET', '/api/v1/registries/acme/docker-local/setup');
    assert.equal(docker.status, 200, docker.text);
    assert.equal(docker.json.packageType, 'docker');
    const dockerCommands = docker.json.steps.flatMap((s) => s.commands);
    assert.deepEqual(dockerCommands, [
      'docker login pallet.example.com',
      'docker tag <image>:<tag> pallet.example.com/acme/docker-local/<image>:<tag>',
      'docker push pallet.example.com/acme/docker-local/<image>:<tag>',
      'docker pull pallet.example.com/acme/docker-local/<image>:<tag>',
    ]);
    const helm = await h.call<SetupGuide>('GET', '/api/v1/registries/acme/charts/setup');
    assert.equal(helm.json.packageType, 'helm');
    assert.deepEqual(helm.json.steps.flatMap((s) => s.commands), [
      'helm registry login pallet.example.com',
      'helm push <chart>-<version>.tgz oci://pallet.example.com/acme/charts',
      'helm pull oci://pallet.example.com/acme/charts/<chart> --version <version>',
      'helm repo add charts https://pallet.example.com/pkg/acme/charts/helm --username <username> --password <access token>',
      'helm repo update',
      'curl --user <username>:<access token> --data-binary @<chart>-<version>.tgz https://pallet.example.com/pkg/acme/charts/helm/api/charts',
    ]);
    assert.ok(helm.json.steps.every((s) => s.title.length > 0));
    const proxy = await h.call<SetupGuide>('GET', '/api/v1/registries/acme/hub/setup');
    assert.ok(!proxy.json.steps.some((s) => s.commands.some((c) => c.startsWith('docker push'))), 'no push to a proxy');
    assert.equal((await h.call('GET', '/api/v1/registries/acme/nope/setup')).status, 404);
  });
});

describe('management API: request errors and the OpenAPI document', () => {
  let h: Harness;
  before(async () => {
    h = await start();
    await h.space('acme');
    await h.registry({ space: 'acme', identifier: 'docker-local' });
  });
  after(async () => h.close());

  it('answers malformed JSON with 400 INVALID_ARGUMENT in the API shape', async () => {
    for (const [url, method] of [['/api/v1/spaces', 'POST'], ['/api/v1/registries', 'POST'], ['/api/v1/registries/acme/docker-local', 'PATCH']] as const) {
      const res = await h.raw(method, url, '{"path": "acme",');
      assert.equal(res.status, 400, url);
      assert.deepEqual(Object.keys(res.json).sort(), ['code', 'details', 'message']);
      assert.equal(res.json.code, 'INVALID_ARGUMENT');
      assert.match(res.json.message, /not valid JSON/);
    }
    const empty = await h.raw('POST', '/api/v1/spaces', '');
    assert.equal(empty.status, 400);
    assert.equal(empty.json.code, 'INVALID_ARGUMENT');
    const notJson = await h.raw('POST', '/api/v1/spaces', 'path=acme', 'application/x-www-form-urlencoded');
    assert.equal(notJson.status, 415);
    assert.equal(notJson.json.code, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('rejects unknown fields, wrong types and missing fields with 400 naming the field', async () => {
    const unknown = await h.call('PATCH', '/api/v1/registries/acme/docker-local', { descripton: 'typo' });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.json.code, 'INVALID_ARGUMENT');
    assert.match(unknown.json.message, /unknown field "descripton"/);
    assert.equal(unknown.json.details.field, 'descripton');

    const nested = await h.call('POST', '/api/v1/registries', {
      space: 'acme', identifier: 'x', packageType: 'docker', kind: 'upstream', upstream: { source: 'dockerhub', token: 't' },
    });
    assert.equal(nested.status, 400);
    assert.match(nested.json.message, /unknown field "upstream.token"/);

    const wrongType = await h.call('PATCH', '/api/v1/registries/acme/docker-local', { public: 'maybe' });
    assert.equal(wrongType.status, 400);
    assert.match(wrongType.json.message, /public must be boolean/);

    const missing = await h.call('POST', '/api/v1/registries', { space: 'acme', identifier: 'x' });
    assert.equal(missing.status, 400);
    assert.match(missing.json.message, /packageType is required/);

    const badType = await h.call('POST', '/api/v1/registries', { space: 'acme', identifier: 'x', packageType: 'cobol' });
    assert.equal(badType.status, 400);
    assert.match(badType.json.message, /packageType must be one of docker, helm/);
  });

  it('answers unknown API routes with 404 in the API shape', async () => {
    const res = await h.call('GET', '/api/v1/nothing-here');
    assert.equal(res.status, 404);
    assert.equal(res.json.code, 'NOT_FOUND');
    assert.match(res.json.message, /no API endpoint GET \/api\/v1\/nothing-here/);
  });

  it('serves an OpenAPI document that matches the registered routes', async () => {
    const res = await h.call<Record<string, unknown>>('GET', '/api/v1/openapi.json');
    assert.equal(res.status, 200);
    assert.equal(res.json.openapi, '3.1.0');
    const paths = res.json.paths as Record<string, Record<string, unknown>>;
    let operations = 0;
    for (const [path, item] of Object.entries(paths)) {
      for (const method of Object.keys(item)) {
        operations++;
        const url = `/api/v1${path.replace(/\{(\w+)\}/g, ':$1')}`;
        assert.ok(h.app.server.hasRoute({ method: method.toUpperCase() as 'GET', url }), `${method} ${url} is documented but not served`);
      }
    }
    assert.equal(operations, 35); // +1: POST …/cleanup (scale-out); +1: GET /package-types
    // The start-up guard in plugin.ts relies on this lookup.
    assert.ok(isDocumented('GET', '/api/v1/registries/:root/:identifier/artifacts/:name/versions/:version', '/api/v1'));
    assert.ok(!isDocumented('PUT', '/api/v1/spaces/:path', '/api/v1'));
    assert.ok(!isDocumented('GET', '/api/v1/undocumented', '/api/v1'));
    // Every $ref points at a component that exists.
    const schemas = (res.json.components as { schemas: Record<string, unknown> }).schemas;
    for (const m of res.text.matchAll(/"#\/components\/schemas\/(\w+)"/g)) assert.ok(schemas[m[1]!], m[1]);
  });
});

describe('management API: artifacts and storage reclaim', () => {
  let h: Harness;
  before(async () => {
    h = await start();
    await h.space('acme');
    await h.registry({ space: 'acme', identifier: 'docker-local' });
    await h.registry({ space: 'acme', identifier: 'second' });
  });
  after(async () => h.close());

  it('lists artifacts and versions with exact sizes, counts and downloads', async () => {
    const repo = 'acme/docker-local/team/app';
    const l1 = randomBytes(1000);
    const l2 = randomBytes(2345);
    const v1 = await pushImage(h, repo, 'v1', [l1, l2]);
    const latest = await h.inject({ method: 'PUT', url: `/v2/${repo}/manifests/latest`, payload: Buffer.from(JSON.stringify(v1.doc)), headers: { 'content-type': OCI_MANIFEST } });
    assert.equal(latest.statusCode, 201);
    const l3 = randomBytes(500);
    const v2 = await pushImage(h, repo, 'v2', [l1, l3]); // shares l1 with v1
    // A repository with blobs but no manifest is no artifact.
    await pushBlob(h, 'acme/docker-local/unfinished', randomBytes(10));

    const pull = await h.inject({ method: 'GET', url: `/v2/${repo}/manifests/v1` });
    assert.equal(pull.statusCode, 200);
    await h.inject({ method: 'GET', url: `/v2/${repo}/manifests/${v1.digest}` });
    await h.inject({ method: 'GET', url: `/v2/${repo}/manifests/v2` });
    await h.app.services.downloads.flush();

    const blobBytes = v1.config.size + l1.length + l2.length + v2.config.size + l3.length;
    const artifactBytes = blobBytes + v1.size + v2.size;
    const artifacts = await h.call<Page<ArtifactView>>('GET', '/api/v1/registries/acme/docker-local/artifacts');
    assert.equal(artifacts.status, 200, artifacts.text);
    assert.equal(artifacts.json.total, 1);
    const [artifact] = artifacts.json.items;
    assert.deepEqual({ ...artifact, updatedAt: '' }, {
      name: 'team/app', versionCount: 2, latestVersion: 'v2', sizeBytes: artifactBytes, downloadCount: 3, updatedAt: '', cached: false,
    });
    const one = await h.call<ArtifactView>('GET', '/api/v1/registries/acme/docker-local/artifacts/team%2Fapp');
    assert.deepEqual(one.json, artifact);
    assert.equal((await h.call('GET', '/api/v1/registries/acme/docker-local/artifacts/unfinished')).status, 404);

    const registry = await h.call<RegistryView>('GET', '/api/v1/registries/acme/docker-local');
    assert.equal(registry.json.sizeBytes, artifactBytes + 10);
    assert.equal(registry.json.artifactCount, 1);
    assert.equal(registry.json.downloadCount, 3);

    const versions = await h.call<Page<VersionView>>('GET', '/api/v1/registries/acme/docker-local/artifacts/team%2Fapp/versions');
    assert.equal(versions.status, 200, versions.text);
    assert.equal(versions.json.total, 2);
    const byDigest = new Map(versions.json.items.map((v) => [v.digest, v]));
    const first = byDigest.get(v1.digest)!;
    assert.deepEqual(first.tags, ['latest', 'v1']);
    assert.equal(first.size, v1.size + v1.config.size + l1.length + l2.length);
    assert.equal(first.manifestSize, v1.size);
    assert.equal(first.downloadCount, 2);
    assert.equal(first.mediaType, OCI_MANIFEST);
    const second = byDigest.get(v2.digest)!;
    assert.deepEqual(second.tags, ['v2']);
    assert.equal(second.size, v2.size + v2.config.size + l1.length + l3.length);
    assert.equal(second.downloadCount, 1);

    const bySize = await h.call<Page<VersionView>>('GET', '/api/v1/registries/acme/docker-local/artifacts/team%2Fapp/versions?sort=size&order=asc');
    assert.deepEqual(bySize.json.items.map((v) => v.digest), [v2.digest, v1.digest].sort((a, b) => (byDigest.get(a)!.size - byDigest.get(b)!.size)));
    const tagged = await h.call<Page<VersionView>>('GET', '/api/v1/registries/acme/docker-local/artifacts/team%2Fapp/versions?q=latest');
    assert.deepEqual(tagged.json.items.map((v) => v.digest), [v1.digest]);
  });

  it('shows an image version by tag or digest: manifest, config and layers', async () => {
    const repo = 'acme/docker-local/detail';
    const image = await pushImage(h, repo, 'stable', [randomBytes(64), randomBytes(128)]);
    for (const ref of ['stable', image.digest]) {
      const res = await h.call<VersionDetail>('GET', `/api/v1/registries/acme/docker-local/artifacts/detail/versions/${ref}`);
      assert.equal(res.status, 200, res.text);
      const d = res.json;
      assert.equal(d.name, 'detail');
      assert.equal(d.digest, image.digest);
      assert.deepEqual(d.tags, ['stable']);
      assert.deepEqual(d.manifest, image.doc);
      assert.deepEqual(d.config, { mediaType: OCI_CONFIG, digest: image.config.digest, size: image.config.size });
      assert.deepEqual(d.layers, image.layers.map((l) => ({ mediaType: OCI_LAYER, digest: l.digest, size: l.size })));
      assert.equal(d.platforms, null);
      assert.equal(d.chart, null);
      assert.equal(d.size, image.size + image.config.size + 64 + 128);
    }
    const missing = await h.call('GET', '/api/v1/registries/acme/docker-local/artifacts/detail/versions/nope');
    assert.equal(missing.status, 404);
    assert.equal(missing.json.code, 'NOT_FOUND');
    const invalid = await h.call('GET', '/api/v1/registries/acme/docker-local/artifacts/detail/versions/sha256:xyz');
    assert.equal(invalid.status, 400);
    assert.equal(invalid.json.code, 'INVALID_ARGUMENT');
  });

  it('shows the platforms of an index', async () => {
    const repo = 'acme/docker-local/multi';
    const amd = await pushImage(h, repo, undefined, [randomBytes(32)]);
    const arm = await pushImage(h, repo, undefined, [randomBytes(48)]);
    const index = await pushManifest(h, repo, '1.0', {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        { mediaType: OCI_MANIFEST, digest: amd.digest, size: amd.size, platform: { architecture: 'amd64', os: 'linux' } },
        { mediaType: OCI_MANIFEST, digest: arm.digest, size: arm.size, platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } },
      ],
    });
    const res = await h.call<VersionDetail>('GET', '/api/v1/registries/acme/docker-local/artifacts/multi/versions/1.0');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.mediaType, OCI_INDEX);
    assert.equal(res.json.config, null);
    assert.deepEqual(res.json.layers, []);
    assert.deepEqual(res.json.platforms, [
      { mediaType: OCI_MANIFEST, digest: amd.digest, size: amd.size, platform: { architecture: 'amd64', os: 'linux' } },
      { mediaType: OCI_MANIFEST, digest: arm.digest, size: arm.size, platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } },
    ]);
    assert.equal(res.json.size, index.size + amd.size + arm.size);
    const versions = await h.call<Page<VersionView>>('GET', '/api/v1/registries/acme/docker-local/artifacts/multi/versions');
    assert.equal(versions.json.total, 3);
    const artifact = await h.call<ArtifactView>('GET', '/api/v1/registries/acme/docker-local/artifacts/multi');
    assert.equal(artifact.json.versionCount, 3);
    assert.equal(artifact.json.latestVersion, '1.0');
  });

  it('shows the chart metadata of a Helm chart', async () => {
    await h.registry({ space: 'acme', identifier: 'charts', packageType: 'helm' });
    const chartConfig = Buffer.from(JSON.stringify({ apiVersion: 'v2', name: 'webapp', version: '1.2.3', appVersion: '4.5' }));
    await pushImage(h, 'acme/charts/webapp', '1.2.3', [await chart('webapp', '1.2.3').build()], { config: chartConfig, configMediaType: HELM_CONFIG, layerMediaType: HELM_CHART });
    const res = await h.call<VersionDetail>('GET', '/api/v1/registries/acme/charts/artifacts/webapp/versions/1.2.3');
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.chart, { apiVersion: 'v2', name: 'webapp', version: '1.2.3', appVersion: '4.5' });
  });

  it('deletes a version by tag (with all its tags) and by digest', async () => {
    const repo = 'acme/docker-local/deletable';
    const a = await pushImage(h, repo, 'a1', [randomBytes(20)]);
    await h.inject({ method: 'PUT', url: `/v2/${repo}/manifests/a2`, payload: Buffer.from(JSON.stringify(a.doc)), headers: { 'content-type': OCI_MANIFEST } });
    const b = await pushImage(h, repo, 'b1', [randomBytes(30)]);
    const c = await pushImage(h, repo, 'c1', [randomBytes(40)]);
    const base = '/api/v1/registries/acme/docker-local/artifacts/deletable/versions';

    assert.equal((await h.call('DELETE', `${base}/a1`)).status, 204);
    assert.equal((await h.call('GET', `${base}/a2`)).status, 404, 'the other tag of the version went too');
    assert.equal((await h.call('GET', `${base}/${a.digest}`)).status, 404);
    assert.equal((await h.inject({ method: 'GET', url: `/v2/${repo}/manifests/${a.digest}` })).statusCode, 404);

    assert.equal((await h.call('DELETE', `${base}/${b.digest}`)).status, 204);
    assert.equal((await h.call('GET', `${base}/b1`)).status, 404);
    assert.equal((await h.call('DELETE', `${base}/${b.digest}`)).status, 404);

    const left = await h.call<Page<VersionView>>('GET', base);
    assert.deepEqual(left.json.items.map((v) => v.digest), [c.digest]);
    assert.equal((await h.call('DELETE', `${base}/bad:ref:x`)).status, 400);
  });

  it('deletes an artifact and reclaims the blobs only it held', async () => {
    const shared = randomBytes(300);
    const own = randomBytes(400);
    const gone = await pushImage(h, 'acme/docker-local/doomed', 'x', [shared, own]);
    const kept = await pushImage(h, 'acme/docker-local/survivor', 'y', [shared]);
    const before = await blobFiles(h.dataDir);
    assert.ok(before.has(hex(digestOf(own))) && before.has(hex(digestOf(shared))));

    assert.equal((await h.call('DELETE', '/api/v1/registries/acme/docker-local/artifacts/doomed')).status, 204);
    assert.equal((await h.call('GET', '/api/v1/registries/acme/docker-local/artifacts/doomed')).status, 404);
    const after = await blobFiles(h.dataDir);
    assert.ok(!after.has(hex(digestOf(own))), 'the blob only the artifact held is gone from disk');
    assert.ok(!after.has(hex(gone.config.digest)));
    assert.ok(after.has(hex(digestOf(shared))), 'a blob another artifact links stays');
    assert.ok(after.has(hex(kept.config.digest)));
    const pull = await h.inject({ method: 'GET', url: `/v2/acme/docker-local/survivor/blobs/${digestOf(shared)}` });
    assert.equal(pull.statusCode, 200);
    assert.ok(pull.rawPayload.equals(shared));
    assert.equal((await h.call('DELETE', '/api/v1/registries/acme/docker-local/artifacts/doomed')).status, 404);
  });

  it('deletes a registry: its artifacts, uploads and unshared blob files go, shared blobs stay', async () => {
    await h.registry({ space: 'acme', identifier: 'temp' });
    const shared = randomBytes(700);
    const only = randomBytes(800);
    const image = await pushImage(h, 'acme/temp/app', 'v1', [shared, only]);
    const other = await pushImage(h, 'acme/second/app', 'v1', [shared]);
    // An upload session in flight in the doomed registry.
    const started = await h.inject({ method: 'POST', url: '/v2/acme/temp/app/blobs/uploads/' });
    assert.equal(started.statusCode, 202);
    const uploadId = String(started.headers['docker-upload-uuid']);
    const chunk = await h.inject({
      method: 'PATCH',
      url: `/v2/acme/temp/app/blobs/uploads/${uploadId}`,
      payload: randomBytes(50),
      headers: { 'content-type': 'application/octet-stream' },
    });
    assert.equal(chunk.statusCode, 202, chunk.body);
    assert.ok((await uploadDirs(h.dataDir)).includes(uploadId));

    assert.equal((await h.call('DELETE', '/api/v1/registries/acme/temp')).status, 204);
    assert.equal((await h.call('GET', '/api/v1/registries/acme/temp')).status, 404);
    assert.equal((await h.call('GET', '/api/v1/registries/acme/temp/artifacts')).status, 404);
    assert.equal((await h.inject({ method: 'GET', url: `/v2/acme/temp/app/manifests/v1` })).statusCode, 404);

    const files = await blobFiles(h.dataDir);
    assert.ok(!files.has(hex(digestOf(only))), 'unshared layer removed from disk');
    assert.ok(!files.has(hex(image.config.digest)), 'unshared config removed from disk');
    assert.ok(files.has(hex(digestOf(shared))), 'layer shared with acme/second stays on disk');
    assert.ok(files.has(hex(other.config.digest)));
    assert.ok(!(await uploadDirs(h.dataDir)).includes(uploadId), 'upload session storage removed');

    const pull = await h.inject({ method: 'GET', url: `/v2/acme/second/app/blobs/${digestOf(shared)}` });
    assert.equal(pull.statusCode, 200);
    assert.ok(pull.rawPayload.equals(shared));
    const second = await h.call<RegistryView>('GET', '/api/v1/registries/acme/second');
    assert.equal(second.json.artifactCount, 1);
    assert.equal(second.json.sizeBytes, other.size + other.config.size + shared.length);
  });
});
