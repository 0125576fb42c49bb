/**
 * Upstreams that are slow on purpose or never stop, through `inject()` over the real app
 * (SQLite, filesystem storage) and real upstreams on 127.0.0.1 (allow-listed explicitly):
 * - headers (or a manifest body) trickled byte by byte hit `upstream.deadlineMs`: a cached tag
 *   is served stale and a registry's next upstream is tried;
 * - a blob trickled below `upstream.minBytesPerSecond` is cut off; it blocks neither another
 *   proxy's pull of the same digest nor (past `upstream.flightWaitMs`) a second pull through
 *   the same proxy, which falls through to the next upstream;
 * - an endless body stops at `upstream.maxBlobBytes`, at a registry's quota, or once nobody
 *   waits for it any more.
 * Every trickling or flooding server stops when its test ends; floods are bounded in size.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildApp, type App } from '../../src/app.js';
import { digestOf } from '../../src/base/digest.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { every, flood, headerTrickler, hostile, refOf, stop, type Hostile } from '../helpers/hostile-upstream.js';

const ADMIN_PASSWORD = 'slow-admin-password';
const ADMIN = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;
const MIB = 1024 * 1024;

const LAYER = randomBytes(4 * MIB);
const LAYER_DIGEST = digestOf(LAYER);
const MANIFEST = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: LAYER_DIGEST, size: LAYER.length },
    layers: [],
  }),
);
const MANIFEST_DIGEST = digestOf(MANIFEST);

/** Serves MANIFEST for any tag and LAYER by digest. */
const good = (): Promise<Hostile> =>
  hostile((req, res) => {
    if (req.url?.includes('/manifests/')) {
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': MANIFEST_DIGEST, 'content-length': MANIFEST.length });
      return void res.end(req.method === 'HEAD' ? undefined : MANIFEST);
    }
    if (refOf(req) !== LAYER_DIGEST) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': LAYER.length }).end(req.method === 'HEAD' ? undefined : LAYER);
  });

interface Harness {
  app: App;
  dataDir: string;
  servers: Hostile[];
  call(method: 'GET' | 'POST' | 'PATCH', url: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; text: string; raw: Buffer }>;
  proxy(identifier: string, url: string, extra?: Record<string, unknown>): Promise<void>;
  local(identifier: string, upstreams: string[]): Promise<void>;
  close(): Promise<void>;
}

async function harness(upstream: Partial<Config['upstream']>): Promise<Harness> {
  const dataDir = await mkdtemp(join(tmpdir(), 'pallet-slow-'));
  const app = await buildApp(
    loadConfig({ env: {}, flags: { dataDir, logLevel: 'silent', adminPassword: ADMIN_PASSWORD, upstream: { allowedNetworks: '127.0.0.1/32', ...upstream } } }),
  );
  const servers: Hostile[] = [];
  const call: Harness['call'] = async (method, url, body, headers = {}) => {
    const res = await app.server.inject({ method, url, headers: { authorization: ADMIN, ...headers }, ...(body !== undefined ? { payload: body as Record<string, unknown> } : {}) });
    return { status: res.statusCode, text: res.body, raw: res.rawPayload };
  };
  assert.equal((await call('POST', '/api/v1/spaces', { path: 'acme' })).status, 201);
  return {
    app,
    dataDir,
    servers,
    call,
    proxy: async (identifier, url, extra = {}) => {
      const res = await call('POST', '/api/v1/registries', { space: 'acme', identifier, packageType: 'docker', kind: 'upstream', upstream: { source: 'custom', url, ...extra } });
      assert.equal(res.status, 201, res.text);
    },
    local: async (identifier, upstreams) => {
      const res = await call('POST', '/api/v1/registries', { space: 'acme', identifier, packageType: 'docker', kind: 'local', upstreams });
      assert.equal(res.status, 201, res.text);
    },
    close: async () => {
      await app.server.close();
      for (const s of servers) await s.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Bytes under the data directory (the cache and upload sessions). */
async function diskBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name))).size;
  }
  return total;
}

describe('upstreams that are slow or never stop', () => {
  let h: Harness;

  before(async () => {
    // The idle timeout alone would never fire: every trickle below sends something every 100 ms.
    h = await harness({ timeoutMs: 3000, deadlineMs: 1500, minBytesPerSecond: 256 * 1024, flightWaitMs: 2000, maxBlobBytes: 16 * MIB });
  });

  after(async () => {
    await h?.close();
  });

  it('serves a cached tag stale, and falls through, when the upstream trickles its headers', { timeout: 20_000 }, async () => {
    let mode: 'good' | 'slow-headers' | 'slow-body' = 'good';
    const trickler = await headerTrickler(100);
    h.servers.push(trickler);
    const switching = await hostile((req, res) => {
      if (mode === 'good') {
        res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': MANIFEST_DIGEST, 'content-length': MANIFEST.length });
        return void res.end(req.method === 'HEAD' ? undefined : MANIFEST);
      }
      if (mode === 'slow-headers') {
        // Headers never complete: a header line every 100 ms.
        res.flushHeaders = () => undefined;
        const socket = res.socket!;
        socket.write('HTTP/1.1 200 OK\r\n');
        const t = every(100, () => (socket.destroyed ? stop(t) : socket.write('x-slow: .\r\n')));
        return;
      }
      // A manifest body, one byte every 100 ms (a HEAD answers at once with another digest).
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': `sha256:${'0'.repeat(64)}`, 'content-length': MANIFEST.length });
      if (req.method === 'HEAD') return void res.end();
      let i = 0;
      const t = every(100, () => (res.destroyed || i >= MANIFEST.length ? stop(t) : res.write(MANIFEST.subarray(i, ++i))));
    });
    h.servers.push(switching);
    await h.proxy('switching', switching.url, { tagTtlSeconds: 0 });
    const first = await h.call('GET', '/v2/acme/switching/app/manifests/1.0');
    assert.equal(first.status, 200, first.text);
    for (const m of ['slow-headers', 'slow-body'] as const) {
      mode = m;
      const stale = await h.call('GET', '/v2/acme/switching/app/manifests/1.0');
      assert.equal(stale.status, 200, `${m}: ${stale.text}`);
      assert.equal(digestOf(stale.raw), MANIFEST_DIGEST);
    }

    const fine = await good();
    h.servers.push(fine);
    await h.proxy('trickler', trickler.url);
    await h.proxy('fine', fine.url);
    await h.local('slow-first', ['trickler', 'fine']);
    const manifest = await h.call('GET', '/v2/acme/slow-first/app/manifests/1.0');
    assert.equal(manifest.status, 200, manifest.text);
    const blob = await h.call('GET', `/v2/acme/slow-first/app/blobs/${LAYER_DIGEST}`);
    assert.equal(blob.status, 200, blob.text.slice(0, 300));
    assert.equal(digestOf(blob.raw), LAYER_DIGEST);
    assert.ok(trickler.connections >= 2, 'the trickling upstream was asked first');
  });

  it('cuts off a trickled blob, and lets neither another proxy nor a second pull wait on it', { timeout: 30_000 }, async () => {
    // 1 KiB every 100 ms (10 KiB/s), far below the minimum rate; bounded at 4 MiB.
    const trickle = await hostile((req, res, self) => {
      res.writeHead(200, { 'content-length': LAYER.length });
      if (req.method === 'HEAD') return void res.end();
      flood(res, self, LAYER.subarray(0, 1024), LAYER.length, 100);
    });
    const fine = await good();
    h.servers.push(trickle, fine);
    await h.proxy('trickle', trickle.url);
    await h.proxy('healthy', fine.url);
    await h.local('trickle-first', ['trickle', 'healthy']);

    // The first pull starts the trickled fetch and streams from it.
    const first = h.call('GET', `/v2/acme/trickle-first/app/blobs/${LAYER_DIGEST}`).catch((err: unknown) => ({ status: 0, text: String(err), raw: Buffer.alloc(0) }));
    while (!trickle.seen.some((s) => s.startsWith('GET'))) await sleep(20);
    // Another proxy of the same root space: its own upstream, no waiting.
    const other = await h.call('GET', `/v2/acme/healthy/app/blobs/${LAYER_DIGEST}`);
    assert.equal(other.status, 200, other.text.slice(0, 300));
    assert.equal(digestOf(other.raw), LAYER_DIGEST);
    // A second pull through the same list: waits at most flightWaitMs, then the next upstream.
    const second = await h.call('GET', `/v2/acme/trickle-first/other/blobs/${LAYER_DIGEST}`);
    assert.equal(second.status, 200, second.text.slice(0, 300));
    assert.equal(digestOf(second.raw), LAYER_DIGEST);
    const res = await first;
    assert.notEqual(digestOf(res.raw), LAYER_DIGEST, 'the trickled body was cut off');
    assert.ok(trickle.sent < LAYER.length, `the trickle ran to its end (${trickle.sent} bytes)`);
  });

  it('stops an endless body at maxBlobBytes, and one with a larger Content-Length before reading it', { timeout: 30_000 }, async () => {
    const LIMIT = 96 * MIB;
    const endless = await hostile((req, res, self) => {
      const sized = req.url?.includes('/sized/');
      res.writeHead(200, sized ? { 'content-length': 64 * MIB } : {});
      if (req.method === 'HEAD') return void res.end();
      flood(res, self, randomBytes(256 * 1024), LIMIT);
    });
    h.servers.push(endless);
    await h.proxy('endless', endless.url);
    const res = await h.call('GET', `/v2/acme/endless/app/blobs/${LAYER_DIGEST}`);
    assert.notEqual(res.status, 200, res.text.slice(0, 300));
    assert.match(res.text, /maxBlobBytes/);
    assert.ok(endless.sent < 48 * MIB, `the upstream sent ${endless.sent} bytes before Pallet stopped reading`);
    const sentBefore = endless.sent;
    const sized = await h.call('GET', `/v2/acme/endless/sized/blobs/${LAYER_DIGEST}`);
    assert.notEqual(sized.status, 200);
    assert.match(sized.text, /maxBlobBytes/);
    assert.ok(endless.sent - sentBefore < 32 * MIB, `a too-large Content-Length was read: ${endless.sent - sentBefore} bytes`);
    assert.ok((await diskBytes(h.dataDir)) < 8 * MIB, 'nothing of the floods stays on disk');
  });

  it('stops a fetch nobody waits for once flightWaitMs has passed', { timeout: 30_000 }, async () => {
    // Fast enough for the minimum rate (1 MiB/s), endless enough to outlast every waiter.
    const LIMIT = 14 * MIB;
    const steady = await hostile((req, res, self) => {
      res.writeHead(200, {});
      if (req.method === 'HEAD') return void res.end();
      flood(res, self, randomBytes(100 * 1024), LIMIT, 100);
    });
    h.servers.push(steady);
    await h.proxy('steady', steady.url);
    // A ranged request waits for the cache; it gives up after flightWaitMs.
    const res = await h.call('GET', `/v2/acme/steady/app/blobs/${LAYER_DIGEST}`, undefined, { range: 'bytes=0-9' });
    assert.notEqual(res.status, 206);
    while (steady.cutOff === 0 && steady.sent < LIMIT) await sleep(100);
    assert.equal(steady.cutOff, 1, `the fetch went on to the end (${steady.sent} bytes) with nobody waiting`);
  });
});

describe('a quota stops an upstream body while it is written', () => {
  let h: Harness;

  before(async () => {
    h = await harness({ timeoutMs: 3000, deadlineMs: 1500 });
  });

  after(async () => {
    await h?.close();
  });

  it('cuts an endless body off at the proxy registry quota', { timeout: 30_000 }, async () => {
    const LIMIT = 96 * MIB;
    const endless = await hostile((req, res, self) => {
      res.writeHead(200, {});
      if (req.method === 'HEAD') return void res.end();
      flood(res, self, randomBytes(256 * 1024), LIMIT);
    });
    h.servers.push(endless);
    await h.proxy('quota-proxy', endless.url);
    const patched = await h.call('PATCH', '/api/v1/registries/acme/quota-proxy', { quotaBytes: 2 * MIB });
    assert.equal(patched.status, 200, patched.text);
    const res = await h.call('GET', `/v2/acme/quota-proxy/app/blobs/${LAYER_DIGEST}`);
    assert.notEqual(res.status, 200);
    assert.match(res.text, /quota/);
    assert.ok(endless.sent < 48 * MIB, `the upstream sent ${endless.sent} bytes before Pallet stopped reading`);
  });
});
