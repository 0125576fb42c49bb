/**
 * Upstreams that misbehave, through `inject()` over the real app (SQLite, filesystem storage)
 * and real HTTP upstreams on 127.0.0.1 (allow-listed explicitly): a body cut off mid-way is an
 * upstream failure (the next upstream is tried), not the client's fault.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildApp, type App } from '../../src/app.js';
import { digestOf } from '../../src/base/digest.js';
import { loadConfig } from '../../src/config/config.js';

const ADMIN_PASSWORD = 'faults-admin-password';
const ADMIN = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;
const BLOBS = [randomBytes(256 * 1024), randomBytes(256 * 1024)];
const byDigest = new Map(BLOBS.map((b) => [digestOf(b), b]));
const [DIGEST, OTHER] = [...byDigest.keys()] as [string, string];
const blobOf = (req: IncomingMessage): Buffer => byDigest.get(/blobs\/(sha256:[0-9a-f]+)/.exec(req.url ?? '')?.[1] ?? '') ?? Buffer.alloc(0);

interface Upstream {
  url: string;
  server: Server;
  blobGets: number;
}

async function upstream(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Upstream> {
  const state = { blobGets: 0 };
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url?.includes('/blobs/')) state.blobGets++;
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    get blobGets() {
      return state.blobGets;
    },
  };
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

describe('upstream faults', () => {
  let dataDir: string;
  let app: App;
  let cutter: Upstream;
  let good: Upstream;

  const call = async (method: 'GET' | 'POST', url: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await app.server.inject({ method, url, headers: { authorization: ADMIN, ...headers }, ...(body !== undefined ? { payload: body as Record<string, unknown> } : {}) });
    return { status: res.statusCode, text: res.body, raw: res.rawPayload };
  };

  before(async () => {
    // Sends half the blob, then drops the connection: chunked (no length) or with a length.
    cutter = await upstream((req, res) => {
      const chunked = req.url?.startsWith('/v2/chunked/');
      const blob = blobOf(req);
      res.writeHead(200, chunked ? {} : { 'content-length': blob.length });
      if (req.method === 'HEAD') return void res.end();
      res.write(blob.subarray(0, blob.length / 2), () => res.socket?.destroy());
    });
    good = await upstream((req, res) => {
      const blob = blobOf(req);
      res.writeHead(200, { 'content-length': blob.length });
      res.end(req.method === 'HEAD' ? undefined : blob);
    });
    dataDir = await mkdtemp(join(tmpdir(), 'pallet-faults-'));
    app = await buildApp(
      loadConfig({ env: {}, flags: { dataDir, logLevel: 'silent', adminPassword: ADMIN_PASSWORD, upstream: { allowedNetworks: '127.0.0.1/32', timeoutMs: 5000 } } }),
    );
    assert.equal((await call('POST', '/api/v1/spaces', { path: 'acme' })).status, 201);
    for (const [identifier, url] of [['cutter', cutter.url], ['good', good.url]] as const) {
      const res = await call('POST', '/api/v1/registries', { space: 'acme', identifier, packageType: 'docker', kind: 'upstream', upstream: { source: 'custom', url } });
      assert.equal(res.status, 201, res.text);
    }
    const local = await call('POST', '/api/v1/registries', { space: 'acme', identifier: 'local', packageType: 'docker', kind: 'local', upstreams: ['cutter', 'good'] });
    assert.equal(local.status, 201, local.text);
  });

  after(async () => {
    await app?.server.close();
    await close(cutter.server);
    await close(good.server);
    await rm(dataDir, { recursive: true, force: true });
  });

  it('treats a body the upstream cuts off as an upstream failure: not a 400, and nothing cached', async () => {
    const res = await call('GET', `/v2/acme/cutter/chunked/app/blobs/${DIGEST}`);
    assert.notEqual(res.status, 400, res.text);
    assert.doesNotMatch(res.text, /BLOB_UPLOAD_INVALID/);
    assert.match(res.text, /could not be fetched from the upstream/);
    const ranged = await call('GET', `/v2/acme/cutter/sized/app/blobs/${DIGEST}`, undefined, { range: 'bytes=0-9' });
    assert.notEqual(ranged.status, 400, ranged.text);
    assert.match(ranged.text, /could not be fetched from the upstream/);
  });

  it('tries the next upstream when one cuts the body off', async () => {
    const cases = [['chunked/one', DIGEST, {}], ['sized/two', OTHER, { range: 'bytes=0-' }]] as const;
    for (const [path, digest, headers] of cases) {
      const before = good.blobGets;
      const res = await call('GET', `/v2/acme/local/${path}/blobs/${digest}`, undefined, headers);
      assert.ok(res.status === 200 || res.status === 206, `${path}: ${res.status} ${res.text.slice(0, 300)}`);
      assert.equal(digestOf(res.raw), digest, path);
      assert.equal(good.blobGets, before + 1, `${path}: the second upstream was asked`);
    }
  });

  it('passes an upstream 429 on with its Retry-After', async () => {
    const limited = await upstream((_req, res) => res.writeHead(429, { 'retry-after': '17' }).end());
    try {
      const created = await call('POST', '/api/v1/registries', { space: 'acme', identifier: 'limited', packageType: 'docker', kind: 'upstream', upstream: { source: 'custom', url: limited.url } });
      assert.equal(created.status, 201, created.text);
      const res = await app.server.inject({ method: 'GET', url: '/v2/acme/limited/app/manifests/1', headers: { authorization: ADMIN } });
      assert.equal(res.statusCode, 429, res.body);
      assert.equal(res.headers['retry-after'], '17');
    } finally {
      await close(limited.server);
    }
  });
});
