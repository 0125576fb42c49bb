/**
 * Generic upstream proxies in one process (filesystem storage; SQLite, then PostgreSQL in a
 * schema of its own), with two small file servers on 127.0.0.1 as upstreams (one behind basic
 * auth), counting the requests they get: a local registry resolves its own files, then its
 * proxies in order; a proxy caches what it fetched (the second GET does not reach the upstream,
 * concurrent misses share one fetch, a 404 is remembered), serves ranges of a miss from the
 * verified copy, keeps serving cached files when its upstream is down, and GC past its grace
 * keeps them, while a deleted file's bytes are reclaimed.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { dropTestSchema, testSchema, TEST_DATABASE_URL } from '../../src/metadata/test-databases.js';
import { blobFiles, startInProcess, type Harness } from '../helpers/inproc.js';

const digestOf = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface FileServer {
  url: string;
  files: Map<string, Buffer>;
  /** GET requests per path (401s included). */
  gets: Map<string, number>;
  /** When set, every request gets a 503. */
  down: boolean;
  close(): Promise<void>;
}

/** Files over HTTP on 127.0.0.1 under `/files/`; with `credentials`, only for basic auth. */
async function serveFiles(credentials?: string): Promise<FileServer> {
  const state = { files: new Map<string, Buffer>(), gets: new Map<string, number>(), down: false };
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    state.gets.set(path, (state.gets.get(path) ?? 0) + 1);
    if (state.down) return void res.writeHead(503).end();
    if (credentials && req.headers.authorization !== `Basic ${Buffer.from(credentials).toString('base64')}`) {
      return void res.writeHead(401, { 'www-authenticate': 'Basic realm="files"' }).end();
    }
    const body = state.files.get(path);
    if (!body) return void res.writeHead(404).end();
    // Slow enough that concurrent misses overlap.
    setTimeout(() => res.writeHead(200, { 'content-length': body.length }).end(body), 50);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(state, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/files`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  });
}

for (const database of ['sqlite', 'postgres'] as const) {
  describe(`generic upstream proxies (${database})`, () => {
    let h: Harness;
    let a: FileServer;
    let b: FileServer;
    const schema = testSchema();
    const get = (url: string, headers: Record<string, string> = {}) => h.app.server.inject({ method: 'GET', url, headers: { ...h.auth, ...headers } });
    const put = (url: string, payload: Buffer) => h.app.server.inject({ method: 'PUT', url, payload, headers: { ...h.auth, 'content-type': 'application/octet-stream' } });
    const COMBO = '/pkg/acme/combo/generic';

    before(async () => {
      a = await serveFiles('mirror-user:mirror-secret');
      b = await serveFiles();
      h = await startInProcess({
        upstream: { allowedNetworks: '127.0.0.1/32' },
        ...(database === 'postgres' ? { database: { url: TEST_DATABASE_URL, schema } } : {}),
      });
      assert.equal((await h.call('POST', '/api/v1/spaces', { path: 'acme' })).status, 201);
      const proxy = (identifier: string, url: string, auth?: Record<string, string>) =>
        h.call('POST', '/api/v1/registries', { space: 'acme', identifier, packageType: 'generic', kind: 'upstream', upstream: { source: 'custom', url, ...(auth ? { auth } : {}) } });
      assert.equal((await proxy('remote-a', a.url, { type: 'basic', username: 'mirror-user', password: 'mirror-secret' })).status, 201);
      assert.equal((await proxy('remote-b', b.url)).status, 201);
      const combo = await h.call('POST', '/api/v1/registries', { space: 'acme', identifier: 'combo', packageType: 'generic', kind: 'local', upstreams: ['remote-a', 'remote-b'] });
      assert.equal(combo.status, 201, combo.text);
    });

    after(async () => {
      await h?.close();
      await a?.close();
      await b?.close();
      if (database === 'postgres') await dropTestSchema(schema);
    });

    it('resolves its own files first, then its upstream proxies in order (the first with basic auth)', async () => {
      const [own, fromA, fromB, onlyB] = [randomBytes(100), randomBytes(200), randomBytes(300), randomBytes(400)];
      a.files.set('/files/both/1.0/f.bin', fromA);
      b.files.set('/files/both/1.0/f.bin', fromB);
      b.files.set('/files/only-b/1.0/dir/g.bin', onlyB);
      a.files.set('/files/mine/1.0/h.bin', randomBytes(10));
      assert.equal((await put(`${COMBO}/mine/1.0/h.bin`, own)).statusCode, 201);

      const mine = await get(`${COMBO}/mine/1.0/h.bin`);
      assert.ok(mine.rawPayload.equals(own), 'its own file');
      assert.equal(a.gets.get('/files/mine/1.0/h.bin'), undefined, 'no upstream asked for an own file');
      const both = await get(`${COMBO}/both/1.0/f.bin`);
      assert.equal(both.statusCode, 200, both.body);
      assert.ok(both.rawPayload.equals(fromA), 'the first proxy in order wins');
      const second = await get(`${COMBO}/only-b/1.0/dir/g.bin`);
      assert.equal(second.statusCode, 200, second.body);
      assert.ok(second.rawPayload.equals(onlyB), 'a miss on the first falls through to the second');
      const missing = await get(`${COMBO}/nowhere/1.0/x.bin`);
      assert.equal(missing.statusCode, 404, missing.body);
    });

    it('serves a cached file without asking the upstream, shares one fetch among concurrent misses, and remembers a 404', async () => {
      const data = randomBytes(256 * 1024);
      b.files.set('/files/popular/2.0/p.bin', data);
      const all = await Promise.all(Array.from({ length: 5 }, () => get(`${COMBO}/popular/2.0/p.bin`)));
      for (const res of all) assert.ok(res.statusCode === 200 && res.rawPayload.equals(data), `${res.statusCode} ${res.body.slice(0, 100)}`);
      assert.equal(b.gets.get('/files/popular/2.0/p.bin'), 1, 'one upstream fetch for concurrent misses');
      const again = await get(`${COMBO}/popular/2.0/p.bin`);
      assert.ok(again.rawPayload.equals(data));
      assert.equal(again.headers.etag, `"${digestOf(data)}"`, 'a cached file has its digest as ETag');
      assert.equal(b.gets.get('/files/popular/2.0/p.bin'), 1, 'the second GET is served from the cache');
      assert.equal((await get(`${COMBO}/popular/2.0/p.bin`, { 'if-none-match': `"${digestOf(data)}"` })).statusCode, 304);

      assert.equal((await get('/pkg/acme/remote-b/generic/absent/1.0/x')).statusCode, 404);
      assert.equal((await get('/pkg/acme/remote-b/generic/absent/1.0/x')).statusCode, 404);
      assert.equal(b.gets.get('/files/absent/1.0/x'), 1, 'a 404 is remembered');

      const proxy = await h.app.services.store.findRegistry((await h.app.services.store.findSpace('acme'))!.id, 'remote-b');
      const recorded = await h.app.services.packageFiles.list({ registryId: proxy!.id, artifact: 'popular', version: '2.0' });
      assert.deepEqual(recorded.map((f) => [f.path, f.digest, f.size]), [['p.bin', digestOf(data), data.length]], 'recorded as a package file of the proxy');
    });

    it('answers a Range or a HEAD on a miss from the verified cached copy', async () => {
      const data = randomBytes(10_000);
      a.files.set('/files/ranged/1.0/r.bin', data);
      const ranged = await get(`${COMBO}/ranged/1.0/r.bin`, { range: 'bytes=100-199' });
      assert.equal(ranged.statusCode, 206, ranged.body);
      assert.equal(ranged.headers['content-range'], 'bytes 100-199/10000');
      assert.ok(ranged.rawPayload.equals(data.subarray(100, 200)));
      a.files.set('/files/headed/1.0/h.bin', data);
      const head = await h.app.server.inject({ method: 'HEAD', url: '/pkg/acme/remote-a/generic/headed/1.0/h.bin', headers: h.auth });
      assert.equal(head.statusCode, 200);
      assert.equal(head.headers['content-length'], '10000');
      assert.equal(head.headers.etag, `"${digestOf(data)}"`);
      assert.equal(a.gets.get('/files/headed/1.0/h.bin'), 1);
    });

    it('keeps serving cached files when the upstream is down, keeps them through a GC past the grace, and reclaims a deleted file', async () => {
      const cached = randomBytes(5000);
      const uploaded = randomBytes(6000);
      const doomed = randomBytes(7000);
      a.files.set('/files/kept/1.0/k.bin', cached);
      assert.equal((await get(`${COMBO}/kept/1.0/k.bin`)).statusCode, 200);
      assert.equal((await put(`${COMBO}/kept/1.0/mine.bin`, uploaded)).statusCode, 201);
      assert.equal((await put(`${COMBO}/kept/1.0/doomed.bin`, doomed)).statusCode, 201);
      assert.equal((await h.app.server.inject({ method: 'DELETE', url: `${COMBO}/kept/1.0/doomed.bin`, headers: h.auth })).statusCode, 204);

      a.down = true;
      b.down = true;
      await sleep(5);
      await h.app.services.gc.run({ graceMs: 1 });
      const stored = await blobFiles(h.dataDir);
      assert.ok(stored.has(digestOf(cached)), 'the cached file survives GC');
      assert.ok(stored.has(digestOf(uploaded)), 'the uploaded file survives GC');
      assert.ok(!stored.has(digestOf(doomed)), "a deleted file's bytes are reclaimed");
      const fromCache = await get(`${COMBO}/kept/1.0/k.bin`);
      assert.equal(fromCache.statusCode, 200, fromCache.body);
      assert.ok(fromCache.rawPayload.equals(cached), 'served from the cache while the upstream is down');
      const down = await get(`${COMBO}/never-cached/1.0/x.bin`);
      assert.equal(down.statusCode, 503, down.body);
      a.down = false;
      b.down = false;
    });
  });
}
