/**
 * npm upstream proxies and the ordered merge, in one process (SQLite + filesystem) against
 * small npm registries on 127.0.0.1 (`test/helpers/npm-origin.ts`), through `inject()`:
 * packuments cached for the TTL and revalidated after it, served stale while the upstream
 * fails (also after a restart), tarballs verified before they are kept (a corrupted one is
 * answered 502 and not cached), one upstream fetch for concurrent misses, the merged
 * packument of a local registry (own versions first, then each proxy in order, first wins per
 * version; dist-tags rule), tarballs through the proxy that supplied the version, audit
 * forwarding, and cached tarballs kept by GC past its grace. The stored packuments (migration
 * `npm_0002_upstream_packuments`) are checked across a restart on SQLite and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { blobFiles, startInProcess, type Harness } from '../../../../test/helpers/inproc.js';
import { integrityOf, startNpmOrigin, tarballOfName, type NpmOrigin } from '../../../../test/helpers/npm-origin.js';
import { digestOf } from '../../../base/digest.js';
import { dropTestSchema, testSchema, TEST_DATABASE_URL } from '../../../metadata/test-databases.js';

const ABBREVIATED = 'application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*';
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface PackumentBody {
  name: string;
  'dist-tags': Record<string, string>;
  versions: Record<string, { description?: string; dist: { tarball: string; integrity: string } }>;
}

describe('npm upstream proxies', () => {
  let h: Harness;
  let a: NpmOrigin;
  let b: NpmOrigin;

  const get = (url: string, accept = ABBREVIATED) => h.app.server.inject({ method: 'GET', url, headers: { ...h.auth, accept } });
  const packument = async (url: string, accept = ABBREVIATED): Promise<PackumentBody> => {
    const res = await get(url, accept);
    assert.equal(res.statusCode, 200, res.body);
    return JSON.parse(res.body) as PackumentBody;
  };
  const pathOf = (tarballUrl: string): string => new URL(tarballUrl).pathname;
  const proxy = (identifier: string, url: string, tagTtlSeconds = 3600) =>
    h.call('POST', '/api/v1/registries', { space: 'acme', identifier, packageType: 'npm', kind: 'upstream', upstream: { source: 'custom', url, tagTtlSeconds } });

  before(async () => {
    a = await startNpmOrigin();
    b = await startNpmOrigin();
    h = await startInProcess({ upstream: { allowedNetworks: '127.0.0.1/32' } });
    assert.equal((await h.call('POST', '/api/v1/spaces', { path: 'acme' })).status, 201);
    for (const [id, url, ttl] of [['up-a', a.url, 3600], ['up-b', b.url, 3600], ['short', a.url, 1]] as const) assert.equal((await proxy(id, url, ttl)).status, 201);
    const local = await h.call('POST', '/api/v1/registries', { space: 'acme', identifier: 'npm', packageType: 'npm', kind: 'local', upstreams: ['up-a', 'up-b'] });
    assert.equal(local.status, 201, local.text);
  });

  after(async () => {
    await h?.close();
    await a?.close();
    await b?.close();
  });

  it('serves the upstream packument with tarball URLs rewritten to the proxy, from the cache within the TTL', async () => {
    a.add('left-pad', '1.0.0');
    a.add('@acme/widget', '2.0.0');
    const doc = await packument('/pkg/acme/up-a/npm/left-pad');
    assert.equal(doc['dist-tags'].latest, '1.0.0');
    assert.equal(doc.versions['1.0.0']!.dist.tarball, 'http://registry.test/pkg/acme/up-a/npm/left-pad/-/left-pad-1.0.0.tgz');
    assert.equal(a.lastHeaders.accept, ABBREVIATED, 'the abbreviated form is asked of the upstream');
    await packument('/pkg/acme/up-a/npm/left-pad');
    assert.equal(a.count('packument left-pad'), 1, 'the second GET is answered from the cache');
    const scoped = await packument('/pkg/acme/up-a/npm/@acme%2fwidget');
    assert.equal(scoped.versions['2.0.0']!.dist.tarball, 'http://registry.test/pkg/acme/up-a/npm/@acme/widget/-/widget-2.0.0.tgz');
    assert.equal(a.count('packument @acme/widget'), 1, 'the scoped name reached the upstream as @acme%2fwidget');
    const missing = await get('/pkg/acme/up-a/npm/no-such-package');
    assert.equal(missing.statusCode, 404, missing.body);
  });

  it('revalidates after the TTL and serves the cached packument stale while the upstream fails', async () => {
    a.add('ttl-pkg', '1.0.0');
    await packument('/pkg/acme/short/npm/ttl-pkg');
    assert.equal(a.count('packument ttl-pkg'), 1);
    await sleep(1100);
    a.add('ttl-pkg', '1.1.0');
    const fresh = await packument('/pkg/acme/short/npm/ttl-pkg');
    assert.equal(a.count('packument ttl-pkg'), 2, 'asked again once the TTL passed');
    assert.ok(fresh.versions['1.1.0'], 'the new version shows');
    await sleep(1100);
    a.down = true;
    try {
      const stale = await packument('/pkg/acme/short/npm/ttl-pkg');
      assert.deepEqual(Object.keys(stale.versions).sort(), ['1.0.0', '1.1.0'], 'the cached copy is served while the upstream fails');
      assert.equal(a.count('packument ttl-pkg'), 2, 'the failing upstream was not counted as answering');
      const never = await get('/pkg/acme/short/npm/never-cached');
      assert.equal(never.statusCode, 503, 'nothing cached and the upstream down: a clear failure');
    } finally {
      a.down = false;
    }
  });

  it('does not keep a tarball that does not match dist.integrity, and answers 502', async () => {
    a.add('bad-bytes', '1.0.0');
    a.corrupt.add('bad-bytes-1.0.0.tgz');
    const doc = await packument('/pkg/acme/up-a/npm/bad-bytes');
    const url = pathOf(doc.versions['1.0.0']!.dist.tarball);
    const bad = await get(url, '*/*');
    assert.equal(bad.statusCode, 502, bad.body);
    assert.match(bad.body, /does not match/);
    a.corrupt.clear();
    const good = await get(url, '*/*');
    assert.equal(good.statusCode, 200, good.body);
    assert.equal(integrityOf(good.rawPayload), doc.versions['1.0.0']!.dist.integrity);
    assert.equal(a.count('tarball bad-bytes-1.0.0.tgz'), 2, 'the corrupted copy was not cached');
  });

  it('fetches a tarball once for concurrent misses and serves it from the cache afterwards', async () => {
    const version = a.add('popular', '3.1.4');
    const doc = await packument('/pkg/acme/up-a/npm/popular');
    const url = pathOf(doc.versions['3.1.4']!.dist.tarball);
    a.tarballDelayMs = 300;
    try {
      const answers = await Promise.all(Array.from({ length: 8 }, () => get(url, '*/*')));
      for (const res of answers) {
        assert.equal(res.statusCode, 200, res.body);
        assert.ok(res.rawPayload.equals(version.tarball));
      }
    } finally {
      a.tarballDelayMs = 0;
    }
    assert.equal(a.count('tarball popular-3.1.4.tgz'), 1, 'one upstream fetch for eight concurrent misses');
    a.down = true;
    try {
      const cached = await get(url, '*/*');
      assert.equal(cached.statusCode, 200, 'served from the cache while the upstream is down');
      assert.ok(cached.rawPayload.equals(version.tarball));
    } finally {
      a.down = false;
    }
  });

  it('merges a local registry: own versions first, then each proxy in order, the first one wins per version', async () => {
    a.add('merged', '1.0.0');
    const fromA = a.add('merged', '2.0.0', { manifest: { description: 'from a' } });
    b.add('merged', '2.0.0', { manifest: { description: 'from b' } });
    const fromB = b.add('merged', '3.0.0', { tag: 'next' });
    b.packages.get('merged')!.distTags.latest = '3.0.0';
    const doc = await packument('/pkg/acme/npm/npm/merged', 'application/json');
    assert.deepEqual(Object.keys(doc.versions), ['1.0.0', '2.0.0', '3.0.0']);
    assert.equal(doc.versions['2.0.0']!.description, 'from a', 'the first proxy in the list wins');
    assert.deepEqual(doc['dist-tags'], { latest: '2.0.0' }, 'dist-tags of the first registry that has the package');
    assert.equal(doc.versions['3.0.0']!.dist.tarball, 'http://registry.test/pkg/acme/npm/npm/merged/-/merged-3.0.0.tgz', 'tarballs through the local registry');

    const two = await get(pathOf(doc.versions['2.0.0']!.dist.tarball), '*/*');
    assert.ok(two.rawPayload.equals(fromA.tarball), 'a version comes through the proxy that supplied it');
    const three = await get(pathOf(doc.versions['3.0.0']!.dist.tarball), '*/*');
    assert.ok(three.rawPayload.equals(fromB.tarball));
    assert.equal(b.count('tarball merged-2.0.0.tgz'), 0);
  });

  it('puts the local registry\'s own versions and dist-tags first', async () => {
    a.add('forked', '1.0.0');
    a.add('forked', '2.0.0');
    const tarball = tarballOfName('forked', '2.0.0');
    const body = {
      _id: 'forked',
      name: 'forked',
      'dist-tags': { latest: '2.0.0' },
      versions: { '2.0.0': { name: 'forked', version: '2.0.0', description: 'our fork', dist: { integrity: integrityOf(tarball), shasum: createHash('sha1').update(tarball).digest('hex'), tarball: 'http://x/forked/-/forked-2.0.0.tgz' } } },
      _attachments: { 'forked-2.0.0.tgz': { content_type: 'application/octet-stream', data: tarball.toString('base64'), length: tarball.length } },
    };
    const put = await h.app.server.inject({ method: 'PUT', url: '/pkg/acme/npm/npm/forked', headers: { ...h.auth, 'content-type': 'application/json' }, payload: body });
    assert.ok(put.statusCode < 300, put.body);
    const doc = await packument('/pkg/acme/npm/npm/forked', 'application/json');
    assert.deepEqual(Object.keys(doc.versions), ['2.0.0', '1.0.0'], 'own versions first');
    assert.equal(doc.versions['2.0.0']!.description, 'our fork');
    assert.equal(doc['dist-tags'].latest, '2.0.0');
    const forWrite = await packument('/pkg/acme/npm/npm/forked?write=true', 'application/json');
    assert.deepEqual(Object.keys(forWrite.versions), ['2.0.0'], 'a read to write back gets the local document only');
    const own = await get(pathOf(doc.versions['2.0.0']!.dist.tarball), '*/*');
    assert.ok(own.rawPayload.equals(tarball), 'the own tarball, not the upstream one');
    assert.equal(a.count('tarball forked-2.0.0.tgz'), 0);
  });

  it('leaves out a proxy that fails when merging, and forwards audits to the first upstream that answers', async () => {
    a.add('partial', '1.0.0');
    b.add('partial', '9.0.0');
    b.down = true;
    try {
      const doc = await packument('/pkg/acme/npm/npm/partial');
      assert.deepEqual(Object.keys(doc.versions), ['1.0.0']);
    } finally {
      b.down = false;
    }
    b.auditAnswer = { partial: [{ id: 1, severity: 'high' }] };
    const post = (url: string) => h.app.server.inject({ method: 'POST', url, headers: { ...h.auth, 'content-type': 'application/json' }, payload: { partial: ['1.0.0'] } });
    const forwarded = await post('/pkg/acme/npm/npm/-/npm/v1/security/advisories/bulk');
    assert.equal(forwarded.statusCode, 200, forwarded.body);
    assert.deepEqual(JSON.parse(forwarded.body), b.auditAnswer, 'a (404) was skipped, b answered');
    b.auditAnswer = undefined;
    const empty = await post('/pkg/acme/npm/npm/-/npm/v1/security/advisories/bulk');
    assert.equal(empty.statusCode, 200, empty.body);
    assert.deepEqual(JSON.parse(empty.body), {});
  });

  it('authenticates to the upstream with Basic credentials, or a Bearer token for username _authToken', async () => {
    const locked = await startNpmOrigin();
    try {
      const v = locked.add('private-pkg', '1.0.0');
      const upstream = (username: string, password: string) => ({ source: 'custom', url: locked.url, tagTtlSeconds: 3600, auth: { type: 'basic', username, password } });
      assert.equal((await h.call('POST', '/api/v1/registries', { space: 'acme', identifier: 'basic-up', packageType: 'npm', kind: 'upstream', upstream: upstream('reader', 's3cret') })).status, 201);
      assert.equal((await h.call('POST', '/api/v1/registries', { space: 'acme', identifier: 'token-up', packageType: 'npm', kind: 'upstream', upstream: upstream('_authToken', 'npm_tok') })).status, 201);
      locked.requiredAuth = `Basic ${Buffer.from('reader:s3cret').toString('base64')}`;
      const basicDoc = await packument('/pkg/acme/basic-up/npm/private-pkg');
      const basicTar = await get(pathOf(basicDoc.versions['1.0.0']!.dist.tarball), '*/*');
      assert.equal(basicTar.statusCode, 200, basicTar.body);
      assert.ok(basicTar.rawPayload.equals(v.tarball));
      assert.ok(locked.count('unauthorized') >= 1, 'Basic is sent once the upstream asks for it');
      locked.requiredAuth = 'Bearer npm_tok';
      const refused = locked.count('unauthorized');
      const tokenDoc = await packument('/pkg/acme/token-up/npm/private-pkg');
      assert.equal((await get(pathOf(tokenDoc.versions['1.0.0']!.dist.tarball), '*/*')).statusCode, 200);
      assert.equal(locked.count('unauthorized'), refused, 'the token goes with every request, asked for or not');
    } finally {
      await locked.close();
    }
  });

  it('keeps cached tarballs through a GC past its grace and serves them once the upstream is gone', async () => {
    const version = a.add('kept-by-gc', '1.0.0');
    const doc = await packument('/pkg/acme/up-a/npm/kept-by-gc');
    const url = pathOf(doc.versions['1.0.0']!.dist.tarball);
    assert.equal((await get(url, '*/*')).statusCode, 200);
    await sleep(5);
    assert.ok(await h.app.services.gc.run({ graceMs: 1 }));
    assert.ok((await blobFiles(h.dataDir)).has(digestOf(version.tarball)), 'the cached tarball is still stored');
    a.down = true;
    try {
      const again = await get(url, '*/*');
      assert.equal(again.statusCode, 200, again.body);
      assert.ok(again.rawPayload.equals(version.tarball));
    } finally {
      a.down = false;
    }
  });
});

for (const database of ['sqlite', 'postgres'] as const) {
  describe(`npm upstream packuments across a restart (${database})`, () => {
    const schema = testSchema();
    let origin: NpmOrigin;
    let dataDir: string;

    before(async () => {
      origin = await startNpmOrigin();
      dataDir = await mkdtemp(join(tmpdir(), 'pallet-npm-restart-'));
    });

    after(async () => {
      await origin?.close();
      await rm(dataDir, { recursive: true, force: true });
      if (database === 'postgres') await dropTestSchema(schema);
    });

    it('serves the stored packument after a restart while the upstream is down', async () => {
      const flags = { dataDir, upstream: { allowedNetworks: '127.0.0.1/32' }, ...(database === 'postgres' ? { database: { url: TEST_DATABASE_URL, schema } } : {}) };
      origin.add('@acme/restart', '1.0.0');
      origin.add('@acme/restart', '1.1.0', { tag: 'next' });
      const first = await startInProcess(flags);
      // The admin was made with the first process's password; the second opens the same database.
      const auth = first.auth;
      let doc: string;
      try {
        assert.equal((await first.call('POST', '/api/v1/spaces', { path: 'acme' })).status, 201);
        const created = await first.call('POST', '/api/v1/registries', { space: 'acme', identifier: 'up', packageType: 'npm', kind: 'upstream', upstream: { source: 'custom', url: origin.url, tagTtlSeconds: 1 } });
        assert.equal(created.status, 201, created.text);
        const res = await first.app.server.inject({ method: 'GET', url: '/pkg/acme/up/npm/@acme%2frestart', headers: { ...first.auth, accept: ABBREVIATED } });
        assert.equal(res.statusCode, 200, res.body);
        doc = res.body;
      } finally {
        await first.app.server.close();
      }
      origin.down = true;
      await sleep(1100);
      const second = await startInProcess(flags);
      try {
        const res = await second.app.server.inject({ method: 'GET', url: '/pkg/acme/up/npm/@acme%2frestart', headers: { ...auth, accept: ABBREVIATED } });
        assert.equal(res.statusCode, 200, res.body);
        assert.deepEqual(JSON.parse(res.body), JSON.parse(doc), 'the same packument, from the stored copy');
      } finally {
        await second.app.server.close();
      }
    });
  });
}
