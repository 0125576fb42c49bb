/**
 * The format seam, proved with a format that exists only in this test (`test/fixtures/demo-format.ts`):
 * registered by adding it to the list, it gets its table, config section, routes under the one
 * `/pkg` dispatcher (HEAD included), registries and upstream proxies with its own sources and URL
 * rules, Setup Client steps, a place in `GET /package-types`, the core's auth and disclosure rule,
 * the core's fetch-and-cache path in the resolution order, and GC liveness of its files — with no
 * line outside its module naming it. A build without it refuses its type and still opens the
 * database its migration touched.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { FORMATS } from '../../src/formats/index.js';
import { demoFormat } from '../fixtures/demo-format.js';
import { blobFiles, startInProcess, type Harness } from '../helpers/inproc.js';

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** A directory of files over HTTP on 127.0.0.1; `gets` counts requests per path. */
async function serveFiles(files: Map<string, Buffer>): Promise<{ url: string; gets: Map<string, number>; close(): Promise<void> }> {
  const gets = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    gets.set(path, (gets.get(path) ?? 0) + 1);
    const body = files.get(path);
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/files`,
    gets,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe('a format registered only in a test build', () => {
  let h: Harness;
  let up: Awaited<ReturnType<typeof serveFiles>>;
  const upstreamFile = Buffer.from('a file only the upstream has\n');
  const localFile = Buffer.from('a file pushed to the local registry\n');

  before(async () => {
    up = await serveFiles(new Map([['/files/remote.txt', upstreamFile]]));
    h = await startInProcess({ upstream: { allowedNetworks: '127.0.0.1/32' }, demo: { maxFileBytes: 4096 } }, undefined, [...FORMATS, demoFormat]);
    assert.equal((await h.call('POST', '/api/v1/spaces', { path: 'acme' })).status, 201);
  });

  after(async () => {
    await h?.close();
    await up?.close();
  });

  it('is listed by GET /package-types with its sources, URL rules and setup steps', async () => {
    const res = await h.app.server.inject({ method: 'GET', url: '/api/v1/package-types' });
    const demo = (res.json() as { items: Array<Record<string, unknown>> }).items.find((t) => t.type === 'demo');
    assert.ok(demo, res.body);
    assert.deepEqual(demo.sources, demoFormat.sources);
    assert.deepEqual(demo.urlSchemes, ['http:', 'https:']);
    assert.ok(JSON.stringify(demo.setup).includes('/demo/files/'));
  });

  it('takes registries and upstream proxies of its type, with its own sources and URL rules', async () => {
    const proxy = await h.call('POST', '/api/v1/registries', { space: 'acme', identifier: 'demo-remote', packageType: 'demo', kind: 'upstream', upstream: { source: 'custom', url: up.url } });
    assert.equal(proxy.status, 201, proxy.text);
    const hub = await h.call<{ upstream: { url: string } }>('POST', '/api/v1/registries', { space: 'acme', identifier: 'demo-hub', packageType: 'demo', kind: 'upstream', upstream: { source: 'demohub' } });
    assert.equal(hub.status, 201, hub.text);
    assert.equal(hub.json.upstream.url, 'https://demo.invalid/files', "a well-known source gets the format's default URL");
    const wrong = await h.call<{ message: string }>('POST', '/api/v1/registries', { space: 'acme', identifier: 'demo-bad', packageType: 'demo', kind: 'upstream', upstream: { source: 'dockerhub' } });
    assert.equal(wrong.status, 400);
    assert.match(wrong.json.message, /demohub or custom/);
    const scheme = await h.call<{ message: string }>('POST', '/api/v1/registries', { space: 'acme', identifier: 'demo-bad', packageType: 'demo', kind: 'upstream', upstream: { source: 'custom', url: 'oci://example.com' } });
    assert.equal(scheme.status, 400);
    assert.match(scheme.json.message, /http:\/\/, https:\/\//);
    const local = await h.call('POST', '/api/v1/registries', { space: 'acme', identifier: 'demo-local', packageType: 'demo', kind: 'local', upstreams: ['demo-remote'] });
    assert.equal(local.status, 201, local.text);
    const setup = await h.call<{ steps: Array<{ commands: string[] }> }>('GET', '/api/v1/registries/acme/demo-local/setup');
    assert.equal(setup.status, 200);
    assert.match(setup.json.steps[0]!.commands[0]!, /^curl -T <file> .*\/pkg\/acme\/demo-local\/demo\/files\/<file>$/);
  });

  it('serves its routes under /pkg with HEAD, the core auth, and a clear refusal of bad input', async () => {
    const url = '/pkg/acme/demo-local/demo/files/local.txt';
    const bad = await h.app.server.inject({ method: 'PUT', url, payload: localFile, headers: { ...h.auth, 'content-type': 'application/octet-stream', 'x-checksum-sha256': sha256(Buffer.from('other')) } });
    assert.equal(bad.statusCode, 400, bad.body);
    assert.equal((await h.app.server.inject({ method: 'GET', url, headers: h.auth })).statusCode, 404, 'a refused upload stores nothing');
    const put = await h.app.server.inject({ method: 'PUT', url, payload: localFile, headers: { ...h.auth, 'content-type': 'application/octet-stream', 'x-checksum-sha256': sha256(localFile) } });
    assert.equal(put.statusCode, 201, put.body);
    const get = await h.app.server.inject({ method: 'GET', url, headers: h.auth });
    assert.equal(get.statusCode, 200);
    assert.ok(get.rawPayload.equals(localFile));
    const head = await h.app.server.inject({ method: 'HEAD', url, headers: h.auth });
    assert.equal(head.statusCode, 200);
    assert.equal(head.headers['content-length'], String(localFile.length));
    assert.equal(head.headers.etag, `"sha256:${sha256(localFile)}"`);
    assert.equal(head.rawPayload.length, 0);

    const anonymous = await h.app.server.inject({ method: 'GET', url });
    const unknown = await h.app.server.inject({ method: 'GET', url: '/pkg/acme/demo-nothing/demo/files/local.txt' });
    assert.equal(anonymous.statusCode, 401);
    assert.match(String(anonymous.headers['www-authenticate']), /^Basic realm="Pallet Demo repository"/);
    assert.equal(unknown.statusCode, anonymous.statusCode, 'an unknown registry is refused like a private one');
    assert.equal(unknown.body.replace('demo-nothing', 'demo-local'), anonymous.body);

    const nowhere = await h.app.server.inject({ method: 'GET', url: '/pkg/acme/demo-local/demo/nothing/here', headers: h.auth });
    assert.equal(nowhere.statusCode, 404);
    assert.match(nowhere.body, /no package endpoint GET \/pkg\/acme\/demo-local\/demo\/nothing\/here/);
    const oci = await h.app.server.inject({ method: 'GET', url: '/v2/acme/demo-local/local.txt/manifests/latest', headers: h.auth });
    assert.equal(oci.statusCode, 404, 'a format not served over OCI has no OCI repositories');
    assert.match(oci.body, /NAME_UNKNOWN/);
  });

  it('resolves own files, then its upstream proxies through the fetch-and-cache core, and GC keeps what it cached', async () => {
    const url = '/pkg/acme/demo-local/demo/files/remote.txt';
    const [first, second] = await Promise.all([
      h.app.server.inject({ method: 'GET', url, headers: h.auth }),
      h.app.server.inject({ method: 'GET', url, headers: h.auth }),
    ]);
    assert.equal(first.statusCode, 200, first.body);
    assert.ok(first.rawPayload.equals(upstreamFile) && second.rawPayload.equals(upstreamFile));
    assert.equal(up.gets.get('/files/remote.txt'), 1, 'two concurrent misses share one upstream fetch');
    const missing = await h.app.server.inject({ method: 'GET', url: '/pkg/acme/demo-local/demo/files/absent.txt', headers: h.auth });
    assert.equal(missing.statusCode, 404, missing.body);

    await up.close(); // from now on only the cache can answer
    await new Promise((r) => setTimeout(r, 5));
    await h.app.services.gc.run({ graceMs: 1 });
    const stored = await blobFiles(h.dataDir);
    assert.ok(stored.has(`sha256:${sha256(upstreamFile)}`) && stored.has(`sha256:${sha256(localFile)}`), "GC keeps the format's files");
    const cached = await h.app.server.inject({ method: 'GET', url, headers: h.auth });
    assert.equal(cached.statusCode, 200, cached.body);
    assert.ok(cached.rawPayload.equals(upstreamFile), 'served from the cache while the upstream is down');
  });

  it('is refused by a build without it, which still opens the database its migration touched', async () => {
    const dataDir = h.dataDir;
    await h.app.server.close();
    const bare = await startInProcess({ dataDir });
    try {
      // The admin and its password are the first build's (the database is the same).
      const res = await bare.app.server.inject({ method: 'POST', url: '/api/v1/registries', headers: h.auth, payload: { space: 'acme', identifier: 'demo-two', packageType: 'demo', kind: 'local' } });
      assert.equal(res.statusCode, 400, res.body);
      assert.match((res.json() as { message: string }).message, /packageType must be one of docker, helm/);
      const kept = await bare.app.server.inject({ method: 'GET', url: '/api/v1/registries/acme/demo-local', headers: h.auth });
      assert.equal(kept.statusCode, 200, 'its registries are still listed');
    } finally {
      await bare.app.server.close();
    }
  });
});
