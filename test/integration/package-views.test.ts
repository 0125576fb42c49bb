/**
 * Artifacts → versions → files in the management API for a format not served over OCI, and
 * per-registry format settings, through `inject()` over the real app: the test-only demo format
 * (`test/fixtures/demo-format.ts`) records package files and has a `packages` part (tags,
 * detail, deletion) and declared settings; a second throw-away format has no `packages` part.
 * Listing, paging, sorting and `q`; versions with tags, files and the format's detail; the
 * cached view of a local registry's upstream proxies; deletion through the format (package
 * files gone, so GC may take the bytes); settings on create and PATCH with their checks and
 * defaults; and who may do what.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { PackageFormat } from '../../src/formats/format.js';
import { FORMATS } from '../../src/formats/index.js';
import { demoFormat } from '../fixtures/demo-format.js';
import { startInProcess, type Harness } from '../helpers/inproc.js';

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** A format with package files but no `packages` part: listed, but not deletable through the API. */
const bareFormat: PackageFormat = {
  type: 'bare',
  label: 'Bare',
  description: 'Package files without a management part',
  icon: 'box',
  ociBased: false,
  sources: [{ id: 'custom', label: 'Custom' }],
  urlSchemes: ['https:'],
  urlHint: 'anything',
  setup: () => [],
};

interface Page<T> {
  items: T[];
  total: number;
  page: number;
  size: number;
}
interface Artifact {
  name: string;
  versionCount: number;
  latestVersion: string | null;
  sizeBytes: number;
  downloadCount: number;
  cached: boolean;
}
interface Version {
  version: string;
  digest: string;
  tags: string[];
  size: number;
  mediaType: string;
  manifestSize: number;
  files: Array<{ path: string; digest: string; size: number }>;
}
type Detail = Version & Record<string, unknown>;
interface Registry {
  settings: Record<string, unknown>;
  artifactCount: number;
}

const API = '/api/v1/registries/acme';

describe('package views and format settings', () => {
  let h: Harness;
  const files = new Map<string, Buffer>();

  async function put(registry: string, name: string, version: string, file: string, tag?: string): Promise<number> {
    const data = Buffer.from(`${name} ${version} ${file}\n`);
    files.set(`${name}/${version}/${file}`, data);
    const res = await h.app.server.inject({
      method: 'PUT',
      url: `/pkg/acme/${registry}/demo/packages/${name}/${version}/${file}`,
      payload: data,
      headers: { ...h.auth, 'content-type': 'application/octet-stream', 'x-checksum-sha256': sha256(data), ...(tag ? { 'x-tag': tag } : {}) },
    });
    return res.statusCode;
  }

  /** Stores a version straight through the services (an upstream proxy's cache, a bare format). */
  async function record(registry: string, name: string, version: string, data: Buffer): Promise<void> {
    const { services } = h.app;
    const ref = await services.registries.getRef('acme', registry);
    const repo = await services.store.ensureRepository(ref.registry.id, name);
    const blob = await services.blobs.putBlob({ rootSpaceId: ref.root.id, repositoryId: repo.id }, `sha256:${sha256(data)}`, Readable.from([data]), { length: data.length });
    await services.packageFiles.record({ registryId: ref.registry.id, artifact: name, version, repositoryId: repo.id, manifestId: null, files: [{ path: `${name}-${version}.tgz`, digest: blob.digest, size: blob.size }] });
  }

  async function as(authorization: string, method: 'GET' | 'DELETE', url: string): Promise<number> {
    return (await h.app.server.inject({ method, url, headers: { authorization } })).statusCode;
  }

  const size = (name: string, version: string, file: string): number => files.get(`${name}/${version}/${file}`)!.length;

  before(async () => {
    h = await startInProcess({}, undefined, [...FORMATS, demoFormat, bareFormat]);
    assert.equal((await h.call('POST', '/api/v1/spaces', { path: 'acme' })).status, 201);
    const proxy = await h.call('POST', '/api/v1/registries', { space: 'acme', identifier: 'remote', packageType: 'demo', kind: 'upstream', upstream: { source: 'custom', url: 'https://demo.example.com/files' } });
    assert.equal(proxy.status, 201, proxy.text);
    const local = await h.call('POST', '/api/v1/registries', { space: 'acme', identifier: 'pkgs', packageType: 'demo', upstreams: ['remote'], settings: { maxFiles: 5 } });
    assert.equal(local.status, 201, local.text);
    assert.equal(await put('pkgs', 'hello', '1.0.0', 'hello-1.0.0.tgz', 'latest'), 201);
    assert.equal(await put('pkgs', 'hello', '1.0.0', 'README.md'), 201);
    assert.equal(await put('pkgs', 'hello', '2.0.0', 'hello-2.0.0.tgz', 'next'), 201);
    assert.equal(await put('pkgs', 'world', '0.1.0', 'world-0.1.0.tgz'), 201);
    await record('remote', 'cachedpkg', '3.0.0', Buffer.from('cached bytes\n'));
    await record('remote', 'hello', '9.9.9', Buffer.from('a cached hello that the own one hides\n'));
  });

  after(async () => {
    await h?.close();
  });

  it('lists package artifacts with versions, sizes and the latest version, then the cached ones', async () => {
    const res = await h.call<Page<Artifact>>('GET', `${API}/pkgs/artifacts`);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(
      res.json.items.map((a) => [a.name, a.versionCount, a.latestVersion, a.sizeBytes, a.downloadCount, a.cached]),
      [
        ['cachedpkg', 1, '3.0.0', 13, 0, true],
        ['hello', 2, '1.0.0', size('hello', '1.0.0', 'hello-1.0.0.tgz') + size('hello', '1.0.0', 'README.md') + size('hello', '2.0.0', 'hello-2.0.0.tgz'), 0, false],
        ['world', 1, '0.1.0', size('world', '0.1.0', 'world-0.1.0.tgz'), 0, false],
      ],
      'the version tagged latest wins over the newest; the own hello hides the cached one',
    );
    const registry = await h.call<Registry>('GET', `${API}/pkgs`);
    assert.equal(registry.json.artifactCount, 2, 'package artifacts count in the registry stats');
    const proxy = await h.call<Page<Artifact>>('GET', `${API}/remote/artifacts`);
    assert.deepEqual(proxy.json.items.map((a) => [a.name, a.cached]), [
      ['cachedpkg', true],
      ['hello', true],
    ]);
  });

  it('pages, sorts and filters package artifacts', async () => {
    const second = await h.call<Page<Artifact>>('GET', `${API}/pkgs/artifacts?size=1&page=2`);
    assert.deepEqual([second.json.items.map((a) => a.name), second.json.total, second.json.page, second.json.size], [['hello'], 3, 2, 1]);
    const bySize = await h.call<Page<Artifact>>('GET', `${API}/pkgs/artifacts?sort=sizeBytes&order=desc`);
    assert.deepEqual(bySize.json.items.map((a) => a.name), ['hello', 'world', 'cachedpkg']);
    const q = await h.call<Page<Artifact>>('GET', `${API}/pkgs/artifacts?q=WOR`);
    assert.deepEqual(q.json.items.map((a) => a.name), ['world']);
    const one = await h.call<Artifact>('GET', `${API}/pkgs/artifacts/hello`);
    assert.equal(one.status, 200, one.text);
    assert.equal(one.json.latestVersion, '1.0.0');
    assert.equal((await h.call('GET', `${API}/pkgs/artifacts/nothing`)).status, 404);
  });

  it('lists versions newest first with tags and files, filtered and sorted', async () => {
    const res = await h.call<Page<Version>>('GET', `${API}/pkgs/artifacts/hello/versions`);
    assert.equal(res.status, 200, res.text);
    const [v2, v1] = res.json.items;
    assert.deepEqual([v2?.version, v2?.tags, v1?.version, v1?.tags], ['2.0.0', ['next'], '1.0.0', ['latest']]);
    const readme = files.get('hello/1.0.0/README.md')!;
    const tgz = files.get('hello/1.0.0/hello-1.0.0.tgz')!;
    assert.deepEqual(v1?.files, [
      { path: 'README.md', digest: `sha256:${sha256(readme)}`, size: readme.length },
      { path: 'hello-1.0.0.tgz', digest: `sha256:${sha256(tgz)}`, size: tgz.length },
    ]);
    assert.equal(v1?.digest, `sha256:${sha256(readme)}`, 'the digest of the first file by path');
    assert.deepEqual([v1?.size, v1?.mediaType, v1?.manifestSize], [readme.length + tgz.length, '', 0]);
    const q = await h.call<Page<Version>>('GET', `${API}/pkgs/artifacts/hello/versions?q=nex`);
    assert.deepEqual(q.json.items.map((v) => v.version), ['2.0.0'], 'q matches tags');
    const asc = await h.call<Page<Version>>('GET', `${API}/pkgs/artifacts/hello/versions?sort=version&order=asc&size=1`);
    assert.deepEqual([asc.json.items.map((v) => v.version), asc.json.total], [['1.0.0'], 2]);
    const cached = await h.call<Page<Version>>('GET', `${API}/pkgs/artifacts/cachedpkg/versions`);
    assert.deepEqual(cached.json.items.map((v) => [v.version, v.files.map((f) => f.path)]), [['3.0.0', ['cachedpkg-3.0.0.tgz']]]);
  });

  it("shows a version's files and the format's detail under its field", async () => {
    const res = await h.call<Detail>('GET', `${API}/pkgs/artifacts/hello/versions/1.0.0`);
    assert.equal(res.status, 200, res.text);
    const d = res.json;
    assert.deepEqual([d.name, d.version, d.tags, d.files.map((f) => f.path)], ['hello', '1.0.0', ['latest'], ['README.md', 'hello-1.0.0.tgz']]);
    assert.deepEqual(d.demo, { flavor: 'plain', fileCount: 2, dependencies: [{ name: 'left-pad', range: '^1.0.0' }] });
    assert.deepEqual([d.manifest, d.config, d.layers, d.platforms, d.annotations, d.subject, d.chart], [null, null, [], null, null, null, null]);
    assert.equal((await h.call('GET', `${API}/pkgs/artifacts/hello/versions/7.7.7`)).status, 404);
    assert.equal((await h.call('GET', `${API}/pkgs/artifacts/nothing/versions/1.0.0`)).status, 404);
  });

  it('takes settings on create and PATCH, checks them, merges PATCHes and shows defaults', async () => {
    const types = await h.call<{ items: Array<{ type: string; settings: Record<string, unknown>; versionDetail?: unknown }> }>('GET', '/api/v1/package-types');
    const demo = types.json.items.find((t) => t.type === 'demo')!;
    assert.deepEqual(demo.settings, JSON.parse(JSON.stringify(demoFormat.settings)));
    assert.deepEqual(demo.versionDetail, { field: 'demo', description: 'The demo detail of a package version' });
    assert.deepEqual(types.json.items.find((t) => t.type === 'docker')?.settings, {});

    const created = await h.call<Registry>('POST', '/api/v1/registries', { space: 'acme', identifier: 'set', packageType: 'demo', settings: { allowOverwrite: true } });
    assert.equal(created.status, 201, created.text);
    assert.deepEqual(created.json.settings, { allowOverwrite: true, flavor: 'plain', maxFiles: 3 });
    const patched = await h.call<Registry>('PATCH', `${API}/set`, { settings: { flavor: 'fancy', maxFiles: 1 } });
    assert.equal(patched.status, 200, patched.text);
    assert.deepEqual(patched.json.settings, { allowOverwrite: true, flavor: 'fancy', maxFiles: 1 }, 'a PATCH merges its keys');
    const reset = await h.call<Registry>('PATCH', `${API}/set`, { settings: { allowOverwrite: null } });
    assert.deepEqual(reset.json.settings, { allowOverwrite: false, flavor: 'fancy', maxFiles: 1 }, 'null puts a key back to its default');

    const refusals: Array<[unknown, RegExp]> = [
      [{ bogus: 1 }, /settings\.bogus is not a setting of demo registries; demo registries take allowOverwrite, flavor, maxFiles/],
      [{ allowOverwrite: 'true' }, /settings\.allowOverwrite must be true or false/],
      [{ flavor: 'sour' }, /settings\.flavor must be one of plain, fancy/],
      [{ maxFiles: 0 }, /settings\.maxFiles must be at least 1/],
      [{ maxFiles: 101 }, /settings\.maxFiles must be at most 100/],
      [{ maxFiles: 1.5 }, /settings\.maxFiles must be an integer/],
      [['x'], /settings must be (an )?object/],
    ];
    for (const [settings, message] of refusals) {
      const res = await h.call<{ code: string; message: string; details: { field: string } }>('PATCH', `${API}/set`, { settings });
      assert.equal(res.status, 400, `${JSON.stringify(settings)}: ${res.text}`);
      assert.equal(res.json.code, 'INVALID_ARGUMENT');
      assert.match(res.json.message, message);
    }
    // A hostile value or key is not echoed back whole (nor into the logs).
    for (const settings of [{ allowOverwrite: 'x'.repeat(200_000) }, { flavor: 'y'.repeat(200_000) }, { maxFiles: { deep: 'z'.repeat(200_000) } }, { ['k'.repeat(200_000)]: true }]) {
      const res = await h.call<{ code: string; message: string; details: { field: string } }>('PATCH', `${API}/set`, { settings });
      assert.equal(res.status, 400);
      assert.ok(res.text.length < 2_000, `${res.text.length} bytes of error for ${JSON.stringify(settings).length} bytes of settings`);
      assert.match(res.json.details.field, /^settings\./);
    }
    const onCreate = await h.call<{ message: string; details: { field: string } }>('POST', '/api/v1/registries', { space: 'acme', identifier: 'bad', packageType: 'demo', settings: { flavor: 3 } });
    assert.equal(onCreate.status, 400, onCreate.text);
    assert.equal(onCreate.json.details.field, 'settings.flavor');
    assert.equal((await h.call('GET', `${API}/bad`)).status, 404, 'nothing created');
    const docker = await h.call<{ message: string }>('POST', '/api/v1/registries', { space: 'acme', identifier: 'img', packageType: 'docker', settings: { allowOverwrite: true } });
    assert.equal(docker.status, 400);
    assert.match(docker.json.message, /docker registries have no settings/);
    assert.deepEqual((await h.call<Registry>('GET', `${API}/set`)).json.settings, { allowOverwrite: false, flavor: 'fancy', maxFiles: 1 }, 'refused PATCHes change nothing');
  });

  it("the format reads the registry's settings", async () => {
    assert.equal(await put('set', 'one', '1.0.0', 'a.txt'), 201);
    assert.equal(await put('set', 'one', '1.0.0', 'a.txt'), 409, 'allowOverwrite is false');
    assert.equal(await put('set', 'one', '1.0.0', 'b.txt'), 400, 'maxFiles is 1');
    assert.equal((await h.call('PATCH', `${API}/set`, { settings: { allowOverwrite: true } })).status, 200);
    assert.equal(await put('set', 'one', '1.0.0', 'a.txt'), 201);
    const detail = await h.call<Detail>('GET', `${API}/set/artifacts/one/versions/1.0.0`);
    assert.deepEqual(detail.json.demo, { flavor: 'fancy', fileCount: 1, dependencies: [{ name: 'left-pad', range: '^1.0.0' }] });
  });

  it('sorts package versions by version as numbers, not as text', async () => {
    for (const v of ['2.0.0', '10.0.0', '9.1.0', '10.0.0-rc.1']) assert.equal(await put('set', 'numbers', v, 'n.tgz'), 201);
    const asc = await h.call<Page<Version>>('GET', `${API}/set/artifacts/numbers/versions?sort=version&order=asc`);
    assert.deepEqual(asc.json.items.map((v) => v.version), ['2.0.0', '9.1.0', '10.0.0', '10.0.0-rc.1']);
    const desc = await h.call<Page<Version>>('GET', `${API}/set/artifacts/numbers/versions?sort=version&order=desc&size=1`);
    assert.deepEqual(desc.json.items.map((v) => v.version), ['10.0.0-rc.1']);
  });

  it('refuses readers and tokens of another registry', async () => {
    for (const [name, role] of [['u-reader', 'reader']] as const) {
      assert.equal((await h.call('POST', '/api/v1/users', { username: name, password: `${name}-password-1` })).status, 201);
      assert.equal((await h.call('PUT', `/api/v1/spaces/acme/members/${name}`, { role })).status, 200);
    }
    const reader = `Basic ${Buffer.from('u-reader:u-reader-password-1').toString('base64')}`;
    assert.equal(await as(reader, 'GET', `${API}/pkgs/artifacts/hello/versions/1.0.0`), 200);
    assert.equal(await as(reader, 'DELETE', `${API}/pkgs/artifacts/hello/versions/1.0.0`), 403);
    assert.equal(await as(reader, 'DELETE', `${API}/pkgs/artifacts/hello`), 403);
    const token = await h.call<{ token: string }>('POST', '/api/v1/user/tokens', { name: 'other', expiresInDays: 1, scopes: ['read', 'write', 'delete'], registry: 'acme/set' });
    assert.equal(token.status, 201, token.text);
    const bearer = `Bearer ${token.json.token}`;
    assert.equal(await as(bearer, 'GET', `${API}/set/artifacts`), 200);
    assert.equal(await as(bearer, 'GET', `${API}/pkgs/artifacts`), 403);
    assert.equal(await as(bearer, 'DELETE', `${API}/pkgs/artifacts/hello/versions/1.0.0`), 403);
    assert.equal((await h.call<Page<Version>>('GET', `${API}/pkgs/artifacts/hello/versions`)).json.total, 2, 'nothing deleted');
  });

  it('deletes a version and an artifact through the format; their package files go', async () => {
    const { services } = h.app;
    const pkgs = (await services.registries.getRef('acme', 'pkgs')).registry;
    assert.equal((await h.call('DELETE', `${API}/pkgs/artifacts/hello/versions/2.0.0`)).status, 204);
    assert.deepEqual(await services.packageFiles.list({ registryId: pkgs.id, artifact: 'hello', version: '2.0.0' }), []);
    assert.equal((await h.call('DELETE', `${API}/pkgs/artifacts/hello/versions/2.0.0`)).status, 404);
    const hello = await h.call<Artifact>('GET', `${API}/pkgs/artifacts/hello`);
    assert.deepEqual([hello.json.versionCount, hello.json.latestVersion], [1, '1.0.0']);

    assert.equal((await h.call('DELETE', `${API}/pkgs/artifacts/world`)).status, 204);
    assert.deepEqual(await services.packageFiles.versions(pkgs.id, 'world'), []);
    assert.equal((await h.call('GET', `${API}/pkgs/artifacts/world`)).status, 404);
    assert.equal((await h.call('DELETE', `${API}/pkgs/artifacts/world`)).status, 404);

    assert.equal((await h.call('DELETE', `${API}/pkgs/artifacts/cachedpkg`)).status, 404, "a local registry's cached view is read-only");
    assert.equal((await h.call('DELETE', `${API}/remote/artifacts/cachedpkg/versions/3.0.0`)).status, 204, 'the proxy itself deletes it');
    assert.deepEqual((await h.call<Page<Artifact>>('GET', `${API}/pkgs/artifacts`)).json.items.map((a) => a.name), ['hello']);
  });

  it('keeps a registry of a format this build does not serve manageable (PATCH, artifacts)', async () => {
    const { services } = h.app;
    const space = await services.store.findSpace('acme');
    await services.store.createRegistry({ spaceId: space!.id, identifier: 'gone', packageType: 'retired', kind: 'local', description: '', labels: [], public: false, upstream: null, settings: { old: true } });
    const patched = await h.call<Registry & { description: string }>('PATCH', `${API}/gone`, { description: 'kept for its data' });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.json.description, 'kept for its data');
    assert.deepEqual(patched.json.settings, {});
    const settings = await h.call<{ code: string }>('PATCH', `${API}/gone`, { settings: { old: false } });
    assert.equal(settings.status, 400, 'settings of a format not served cannot be checked');
    const list = await h.call<Page<Artifact>>('GET', `${API}/gone/artifacts`);
    assert.equal(list.status, 200, list.text);
    assert.deepEqual(list.json.items, []);
  });

  it("counts package artifacts only where the artifact list shows them (not an OCI format's package files)", async () => {
    // Helm records its chart versions as package files too; a classic proxy's cached charts have
    // no OCI manifest, so its artifact list (the OCI view) does not show them.
    assert.equal((await h.call('POST', '/api/v1/registries', { space: 'acme', identifier: 'charts', packageType: 'helm' })).status, 201);
    await record('charts', 'mychart', '1.0.0', Buffer.from('not really a chart\n'));
    const list = await h.call<Page<Artifact>>('GET', `${API}/charts/artifacts`);
    const one = await h.call<Registry>('GET', `${API}/charts`);
    const all = await h.call<{ items: Array<Registry & { identifier: string }> }>('GET', '/api/v1/registries?space=acme');
    assert.equal(one.json.artifactCount, list.json.total, 'the registry counts what its artifact list shows');
    assert.equal(all.json.items.find((r) => r.identifier === 'charts')?.artifactCount, list.json.total);
    const remote = await h.call<Page<Artifact>>('GET', `${API}/remote/artifacts`);
    assert.ok(remote.json.total > 0);
    assert.equal(all.json.items.find((r) => r.identifier === 'remote')?.artifactCount, remote.json.total, 'a proxy of a package format counts its cached packages');
  });

  it('lists a format without a management part, and refuses its deletions clearly', async () => {
    assert.equal((await h.call('POST', '/api/v1/registries', { space: 'acme', identifier: 'bare', packageType: 'bare' })).status, 201);
    await record('bare', 'thing', '1', Buffer.from('bare bytes\n'));
    const versions = await h.call<Page<Version>>('GET', `${API}/bare/artifacts/thing/versions`);
    assert.deepEqual(versions.json.items.map((v) => [v.version, v.tags]), [['1', []]]);
    const detail = await h.call<Detail>('GET', `${API}/bare/artifacts/thing/versions/1`);
    assert.equal(detail.json.demo, null);
    const refused = await h.call<{ code: string; message: string }>('DELETE', `${API}/bare/artifacts/thing/versions/1`);
    assert.equal(refused.status, 409, refused.text);
    assert.match(refused.json.message, /Bare registries do not support deleting/);
    assert.equal((await h.call('DELETE', `${API}/bare/artifacts/thing`)).status, 409);
  });
});
