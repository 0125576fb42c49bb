/**
 * npm upstream proxies end to end: Verdaccio 6.8.0 (a real npm registry, installed by
 * scripts/install-test-deps.sh) plays npmjs, seeded by the real `npm publish` with a generated
 * tree of 24 packages with dependencies between them; a counting proxy in front of it counts
 * tarball GETs and can corrupt one. A real `pallet serve` has an npm upstream proxy of it and a
 * local npm registry listing the proxy; the npm CLI (the one on PATH, in a temporary HOME,
 * authenticating with a Pallet access token) installs through the local registry:
 *   - `npm ci` of a project with 24 direct dependencies (lockfile integrity checked by npm);
 *   - a second `npm ci` with a fresh npm cache fetches no tarball from Verdaccio;
 *   - with Verdaccio stopped, `npm ci` still succeeds from Pallet's cache;
 *   - a corrupted tarball fails the install (npm gets an error, not the bytes) and is not
 *     cached: once the upstream serves it right, the install succeeds.
 */
import assert from 'node:assert/strict';
import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startCountingProxy, type CountingProxy } from '../helpers/counting-proxy.js';
import { generateTree, nerfDart, npmHome, publishTree, writeProject, type GeneratedPackage, type NpmHome } from '../helpers/npm-client.js';
import { CommandError } from '../helpers/run.js';
import { useServer } from '../helpers/server.js';
import { startVerdaccio, type Verdaccio } from '../helpers/verdaccio.js';

const TARBALL = /\/-\/[^/]+\.tgz$/;

describe('npm upstream proxy of a real npm registry (Verdaccio 6.8.0, npm CLI)', () => {
  const server = useServer({ label: 'e2e-npm-upstream', env: { PALLET_UPSTREAM_ALLOWED_NETWORKS: '127.0.0.1/32' } });
  let verdaccio: Verdaccio;
  let upstream: CountingProxy;
  let home: NpmHome;
  let tree: GeneratedPackage[];
  let project: string;
  let registryUrl: string;

  const api = async (method: string, path: string, body?: unknown): Promise<Record<string, unknown>> => {
    const res = await fetch(`${server().url}/api/v1${path}`, {
      method,
      headers: { authorization: `Basic ${Buffer.from(`admin:${server().adminPassword}`).toString('base64')}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    assert.ok(res.ok, `${method} ${path}: ${res.status} ${text}`);
    return JSON.parse(text) as Record<string, unknown>;
  };

  /** `npm ci` from scratch: no node_modules, an empty npm cache. */
  const freshCi = async (dir = project) => {
    await rm(join(dir, 'node_modules'), { recursive: true, force: true });
    await home.clearCache();
    return home.npm(['ci', '--ignore-scripts'], { cwd: dir });
  };

  before(async () => {
    verdaccio = await startVerdaccio({ label: 'e2e-npm-origin' });
    tree = generateTree(24, { prefix: 'e2e', scope: 'e2escope' });
    await publishTree(verdaccio.url, verdaccio.publishToken, tree);
    // Host kept: Verdaccio's tarball URLs then point back through the counting proxy.
    upstream = await startCountingProxy(verdaccio.url, { keepHost: true });
    await api('POST', '/spaces', { path: 'acme' });
    await api('POST', '/registries', { space: 'acme', identifier: 'npmjs', packageType: 'npm', kind: 'upstream', upstream: { source: 'custom', url: upstream.url, tagTtlSeconds: 3600 } });
    await api('POST', '/registries', { space: 'acme', identifier: 'npm', packageType: 'npm', kind: 'local', upstreams: ['npmjs'] });
    const { token } = (await api('POST', '/user/tokens', { name: 'e2e-npm', scopes: ['read', 'write'] })) as { token: string };
    registryUrl = `${server().url}/pkg/acme/npm/npm/`;
    home = await npmHome('e2e-npm-upstream');
    await home.configure([`registry=${registryUrl}`, `${nerfDart(registryUrl)}:_authToken=${token}`]);
    project = join(home.home, 'project');
    await writeProject(project, tree, { allDirect: true });
    await home.npm(['install', '--package-lock-only', '--ignore-scripts'], { cwd: project });
  });

  after(async () => {
    await upstream?.close();
    await verdaccio?.close();
    await home?.close();
  });

  it('installs a project of 24 packages with npm ci through Pallet, every lockfile integrity checked by npm', async () => {
    const lock = JSON.parse(await readFile(join(project, 'package-lock.json'), 'utf8')) as { packages: Record<string, { resolved?: string; integrity?: string }> };
    const entries = Object.entries(lock.packages).filter(([path]) => path !== '');
    assert.equal(entries.length, tree.length, 'every generated package is in the lockfile');
    for (const [path, entry] of entries) {
      assert.ok(entry.resolved?.startsWith(registryUrl), `${path} resolves through Pallet: ${entry.resolved}`);
      assert.match(entry.integrity ?? '', /^sha512-/, `${path} has an integrity`);
    }
    upstream.reset();
    await freshCi();
    const installed = await readdir(join(project, 'node_modules'));
    assert.ok(installed.includes('e2e-23') && installed.includes('@e2escope'), installed.join(' '));
    const pkg = JSON.parse(await readFile(join(project, 'node_modules/@e2escope/e2e-4/package.json'), 'utf8')) as { version: string };
    assert.equal(pkg.version, '1.0.0');
    assert.equal(upstream.count('GET', TARBALL), tree.length, 'each tarball fetched from the upstream once');
  });

  it('does not reach the upstream for tarballs on a second npm ci with a fresh npm cache', async () => {
    upstream.reset();
    await freshCi();
    assert.equal(upstream.count('GET', TARBALL), 0);
  });

  it('installs from the cache while the upstream is stopped', async () => {
    await verdaccio.stop();
    try {
      await freshCi();
      assert.ok((await readdir(join(project, 'node_modules'))).includes('e2e-0'));
      const view = await home.npm(['view', 'e2e-7', 'version'], { cwd: project });
      assert.equal(view.stdout.trim(), '1.1.0', 'packuments are served from the cache too (e2e-7 has 1.0.0 and 1.1.0)');
    } finally {
      await verdaccio.start();
    }
  });

  it('does not cache a corrupted tarball: npm gets an error, and a later install gets the right bytes', async () => {
    const extra = generateTree(1, { prefix: 'corrupt' });
    await publishTree(verdaccio.url, verdaccio.publishToken, extra);
    const dir = join(home.home, 'corrupt-project');
    await writeProject(dir, extra);
    upstream.reset();
    upstream.corruptPath(/corrupt-0-1\.0\.0\.tgz$/);
    try {
      await assert.rejects(home.npm(['install', '--ignore-scripts'], { cwd: dir }), (err: unknown) => {
        assert.ok(err instanceof CommandError);
        assert.match(err.stderr, /502|does not match/, err.stderr);
        return true;
      });
    } finally {
      upstream.corruptPath(undefined);
    }
    await home.clearCache();
    await home.npm(['install', '--ignore-scripts'], { cwd: dir });
    assert.equal(upstream.count('GET', /corrupt-0-1\.0\.0\.tgz$/), 2, 'the corrupted copy was not cached');
    const installed = await readFile(join(dir, 'node_modules/corrupt-0/package.json'), 'utf8');
    assert.match(installed, /"version": "1.0.0"/);
  });
});
