/**
 * Helm upstream proxies of classic chart repositories, end to end: charts made by helm 3.6.2
 * (`helm create` + `helm package`), indexed with `helm repo index`, served by a plain static
 * node:http server on loopback (a chart repository on a static web host). Two proxies — one
 * whose index has relative chart URLs, one with absolute URLs (`--url`) — and a local helm
 * registry listing both, driven with `helm repo add/update/search/pull` through a real
 * `pallet serve`. And an `oci://` helm proxy of a CNCF Distribution holding a chart in the
 * Helm OCI layout, pulled through Pallet with skopeo.
 */
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createRegistry, createSpace } from '../helpers/api.js';
import { startDistribution } from '../helpers/distribution.js';
import { runHelm, sha256, writeHelmLayout } from '../helpers/helm.js';
import { useServer } from '../helpers/server.js';
import { Skopeo } from '../helpers/skopeo.js';

/** A static file server over a folder, counting GETs per path; it can be stopped. */
interface StaticRepo {
  url: string;
  gets: Map<string, number>;
  stop(): Promise<void>;
}

async function serveFolder(dir: string): Promise<StaticRepo> {
  const gets = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    gets.set(path, (gets.get(path) ?? 0) + 1);
    const file = normalize(join(dir, path));
    if (!file.startsWith(dir)) {
      res.writeHead(403).end();
      return;
    }
    stat(file).then(
      (s) => {
        if (!s.isFile()) throw new Error('not a file');
        res.writeHead(200, { 'content-length': s.size, 'content-type': file.endsWith('.yaml') ? 'text/yaml' : 'application/gzip' });
        createReadStream(file).pipe(res);
      },
      () => res.writeHead(404).end('not found'),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    gets,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe('helm upstream proxies of classic chart repositories (helm 3.6.2, static HTTP upstreams)', () => {
  // The chart repositories run on loopback, which Pallet refuses unless allow-listed.
  // `localhost` stands for a release-asset host (github.com for a GitHub Pages repository).
  const server = useServer({ label: 'e2e-helm-upstream', env: { PALLET_UPSTREAM_ALLOWED_NETWORKS: '127.0.0.1/32, ::1/128', PALLET_UPSTREAM_FILE_HOSTS: 'localhost' } });
  let home: string;
  let one: StaticRepo;
  let two: StaticRepo;
  const basic = (): string => `Basic ${Buffer.from(`admin:${server().adminPassword}`).toString('base64')}`;
  const repoUrl = (registry: string) => `${server().url}/pkg/acme/${registry}/helm`;
  const folder = (name: string) => join(home, name);

  const helm = (args: string[]) => runHelm(home, args, { repositories: true });

  /** `helm create` + `helm package` into `into`, with a description that says where it is from. */
  async function packageChart(name: string, version: string, into: string, description: string): Promise<Buffer> {
    const src = join(home, 'src', `${name}-${version}-${description.replace(/\W/g, '')}`);
    await mkdir(join(home, 'src'), { recursive: true });
    await helm(['create', src]);
    const chartYaml = join(src, 'Chart.yaml');
    const text = (await readFile(chartYaml, 'utf8')).replace(/^name: .*$/m, `name: ${name}`).replace(/^description: .*$/m, `description: ${description}`);
    await writeFile(chartYaml, text);
    await helm(['package', src, '--version', version, '--destination', into]);
    return readFile(join(into, `${name}-${version}.tgz`));
  }

  async function api(method: string, path: string): Promise<unknown> {
    const res = await fetch(`${server().url}/api/v1${path}`, { method, headers: { authorization: basic() } });
    const text = await res.text();
    assert.ok(res.ok, `${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  }

  const archives = new Map<string, Buffer>();

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'pallet-e2e-helm-upstream-'));
    await mkdir(folder('one'));
    await mkdir(folder('two'));
    await mkdir(folder('pulled'));
    await mkdir(folder('pages'));
    await mkdir(folder('assets'));
    one = await serveFolder(folder('one'));
    two = await serveFolder(folder('two'));
    archives.set('one/alpha', await packageChart('alpha', '0.1.0', folder('one'), 'alpha from one'));
    archives.set('one/shared', await packageChart('shared', '1.0.0', folder('one'), 'shared from one'));
    archives.set('two/shared', await packageChart('shared', '1.0.0', folder('two'), 'shared from two'));
    archives.set('two/beta', await packageChart('beta', '0.2.0', folder('two'), 'beta from two'));
    await packageChart('broken', '0.1.0', folder('two'), 'broken');
    // One: relative chart URLs. Two: absolute URLs, and one archive corrupted after indexing.
    await helm(['repo', 'index', folder('one')]);
    await helm(['repo', 'index', folder('two'), '--url', two.url]);
    const broken = await readFile(join(folder('two'), 'broken-0.1.0.tgz'));
    broken.writeUInt8(broken.readUInt8(broken.length - 10) ^ 0xff, broken.length - 10);
    await writeFile(join(folder('two'), 'broken-0.1.0.tgz'), broken);

    const admin = { username: 'admin', password: server().adminPassword };
    await createSpace(server(), 'acme');
    await createRegistry(server(), { space: 'acme', identifier: 'up-one', packageType: 'helm', kind: 'upstream', upstream: { source: 'custom', url: one.url, tagTtlSeconds: 0 } });
    await createRegistry(server(), {
      space: 'acme',
      identifier: 'up-two',
      packageType: 'helm',
      kind: 'upstream',
      upstream: { source: 'custom', url: `${two.url}/index.yaml`, tagTtlSeconds: 300 },
    });
    await createRegistry(server(), { space: 'acme', identifier: 'hub', packageType: 'helm', kind: 'local', upstreams: ['up-one', 'up-two'] });
    await helm(['repo', 'add', 'one', repoUrl('up-one'), '--username', admin.username, '--password', admin.password]);
    await helm(['repo', 'add', 'hub', repoUrl('hub'), '--username', admin.username, '--password', admin.password]);
  });

  it('follows chart URLs to an allowed file host (release assets) and leaves out other hosts', async () => {
    // A "pages" repository whose index points at charts on another server, as GitHub Pages
    // repositories point at github.com release assets.
    const pages = await serveFolder(folder('pages'));
    const assets = await serveFolder(folder('assets'));
    try {
      const archive = await packageChart('gamma', '0.3.0', folder('assets'), 'gamma from assets');
      await packageChart('delta', '0.4.0', folder('assets'), 'delta elsewhere');
      await helm(['repo', 'index', folder('assets'), '--url', `http://localhost:${new URL(assets.url).port}`]);
      const index = (await readFile(join(folder('assets'), 'index.yaml'), 'utf8')).replace(
        `http://localhost:${new URL(assets.url).port}/delta-0.4.0.tgz`,
        `${assets.url}/delta-0.4.0.tgz`,
      );
      await writeFile(join(folder('pages'), 'index.yaml'), index);
      await createRegistry(server(), { space: 'acme', identifier: 'pages', packageType: 'helm', kind: 'upstream', upstream: { source: 'custom', url: pages.url } });
      await helm(['repo', 'add', 'pages', repoUrl('pages'), '--username', 'admin', '--password', server().adminPassword]);
      const search = await helm(['search', 'repo', 'pages/']);
      assert.match(search.stdout, /pages\/gamma\s+0\.3\.0/);
      assert.doesNotMatch(search.stdout, /delta/, 'a chart URL on a host that is neither the upstream nor listed is left out');
      await helm(['pull', 'pages/gamma', '--version', '0.3.0', '--destination', folder('pulled')]);
      assert.equal(sha256(await readFile(join(folder('pulled'), 'gamma-0.3.0.tgz'))), sha256(archive));
      assert.equal(assets.gets.get('/gamma-0.3.0.tgz'), 1);
      assert.equal(assets.gets.get('/delta-0.4.0.tgz'), undefined);
    } finally {
      await pages.stop();
      await assets.stop();
    }
  });

  after(async () => {
    await one?.stop();
    await two?.stop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('pulls a chart through a proxy with helm, byte for byte, fetching it from the upstream once', async () => {
    const search = await helm(['search', 'repo', 'one/alpha']);
    assert.match(search.stdout, /one\/alpha\s+0\.1\.0/);
    await helm(['pull', 'one/alpha', '--version', '0.1.0', '--destination', folder('pulled')]);
    assert.equal(sha256(await readFile(join(folder('pulled'), 'alpha-0.1.0.tgz'))), sha256(archives.get('one/alpha')!));
    await rm(join(folder('pulled'), 'alpha-0.1.0.tgz'));
    await helm(['pull', 'one/alpha', '--version', '0.1.0', '--destination', folder('pulled')]);
    assert.equal(one.gets.get('/alpha-0.1.0.tgz'), 1, 'the second pull is served from the cache');

    const artifacts = (await api('GET', '/registries/acme/up-one/artifacts')) as { items: Array<{ name: string; cached: boolean }> };
    assert.deepEqual(
      artifacts.items.filter((a) => a.name === 'alpha').map((a) => a.cached),
      [true],
      'the cached chart is a version of the proxy',
    );
    const detail = (await api('GET', '/registries/acme/up-one/artifacts/alpha/versions/0.1.0')) as { chart: { description?: string } | null };
    assert.equal(detail.chart?.description, 'alpha from one', 'Chart.yaml was read from the cached archive');
  });

  it('serves a merged index from a local registry: its upstreams in order, first wins for the same version', async () => {
    const search = await helm(['search', 'repo', 'hub/', '--versions']);
    assert.match(search.stdout, /hub\/alpha\s+0\.1\.0/);
    assert.match(search.stdout, /hub\/beta\s+0\.2\.0/);
    assert.match(search.stdout, /hub\/shared\s+1\.0\.0\s+\S+\s+shared from one/);
    assert.doesNotMatch(search.stdout, /shared from two/);
    await helm(['pull', 'hub/shared', '--version', '1.0.0', '--destination', folder('pulled')]);
    assert.equal(sha256(await readFile(join(folder('pulled'), 'shared-1.0.0.tgz'))), sha256(archives.get('one/shared')!));
    // An absolute chart URL in the second upstream's index goes through Pallet too.
    await helm(['pull', 'hub/beta', '--version', '0.2.0', '--destination', folder('pulled')]);
    assert.equal(sha256(await readFile(join(folder('pulled'), 'beta-0.2.0.tgz'))), sha256(archives.get('two/beta')!));
    const index = await (await fetch(`${repoUrl('hub')}/index.yaml`, { headers: { authorization: basic() } })).text();
    assert.doesNotMatch(index, new RegExp(two.url.replace(/[.:/]/g, '\\$&')), 'no upstream URL leaks into the index');
  });

  it('changes the merged index ETag when a local chart is added', async () => {
    const before = (await fetch(`${repoUrl('hub')}/index.yaml`, { headers: { authorization: basic() } })).headers.get('etag');
    const archive = await packageChart('local', '0.0.1', folder('pulled'), 'local');
    const up = await fetch(`${repoUrl('hub')}/api/charts`, { method: 'POST', headers: { authorization: basic() }, body: new Uint8Array(archive) });
    assert.equal(up.status, 201, await up.text());
    const res = await fetch(`${repoUrl('hub')}/index.yaml`, { headers: { authorization: basic(), 'if-none-match': before ?? '' } });
    assert.equal(res.status, 200);
    assert.notEqual(res.headers.get('etag'), before);
  });

  it('does not cache a chart whose bytes do not match the index digest', async () => {
    const first = await fetch(`${repoUrl('up-two')}/charts/broken-0.1.0.tgz`, { headers: { authorization: basic() } });
    await assert.rejects(async () => {
      if (!first.ok) throw new Error(`status ${first.status}`);
      await first.arrayBuffer();
    });
    const artifacts = (await api('GET', '/registries/acme/up-two/artifacts')) as { items: Array<{ name: string }> };
    assert.ok(!artifacts.items.some((a) => a.name === 'broken'), 'nothing was cached');
    const again = await fetch(`${repoUrl('up-two')}/charts/broken-0.1.0.tgz`, { headers: { authorization: basic() } });
    await again.arrayBuffer().catch(() => undefined);
    assert.equal(two.gets.get('/broken-0.1.0.tgz'), 2, 'the next download asks the upstream again');
  });

  it('keeps serving the cached index and cached charts when the upstream is down', async () => {
    await one.stop();
    await helm(['repo', 'update']);
    const search = await helm(['search', 'repo', 'one/alpha']);
    assert.match(search.stdout, /one\/alpha\s+0\.1\.0/, 'the cached index is served');
    await rm(join(folder('pulled'), 'alpha-0.1.0.tgz'), { force: true });
    await helm(['pull', 'one/alpha', '--version', '0.1.0', '--destination', folder('pulled')]);
    assert.equal(sha256(await readFile(join(folder('pulled'), 'alpha-0.1.0.tgz'))), sha256(archives.get('one/alpha')!));
    await rm(join(folder('pulled'), 'alpha-0.1.0.tgz'));
    await helm(['pull', 'hub/alpha', '--version', '0.1.0', '--destination', folder('pulled')]);
    assert.equal(sha256(await readFile(join(folder('pulled'), 'alpha-0.1.0.tgz'))), sha256(archives.get('one/alpha')!));
    const metrics = await (await fetch(`${server().url}/metrics`, { headers: { authorization: basic() } })).text();
    assert.match(metrics, /pallet_upstream_stale_serves_total\{upstream="acme\/up-one",format="helm"\} [1-9]/);
  });

  it('pulls a chart through an oci:// helm proxy (the OCI pull-through path) with skopeo', async () => {
    const registry = await startDistribution({ label: 'helm-oci' });
    try {
      const archive = archives.get('two/beta')!;
      const layout = folder('layout');
      await writeHelmLayout(layout, archive, { name: 'beta', version: '0.2.0', description: 'beta from two' });
      await new Skopeo().copy(`oci:${layout}:0.2.0`, Skopeo.ref(registry.host, 'helm/beta', '0.2.0'), { preserveDigests: true });
      await createRegistry(server(), {
        space: 'acme',
        identifier: 'oci-up',
        packageType: 'helm',
        kind: 'upstream',
        upstream: { source: 'custom', url: `oci://${registry.host}/helm` },
      });
      const skopeo = new Skopeo({ username: 'admin', password: server().adminPassword });
      await skopeo.copy(Skopeo.ref(server().host, 'acme/oci-up/beta', '0.2.0'), `oci:${folder('back')}:0.2.0`);
      assert.equal(sha256(await readFile(join(folder('back'), 'blobs', 'sha256', sha256(archive)))), sha256(archive));
      const detail = (await api('GET', '/registries/acme/oci-up/artifacts/beta/versions/0.2.0')) as { chart: { name: string } | null };
      assert.equal(detail.chart?.name, 'beta');
    } finally {
      await registry.destroy();
    }
  });
});
