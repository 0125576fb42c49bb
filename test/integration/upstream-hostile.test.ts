/**
 * Upstreams that lie, through `inject()` over the real app (SQLite, filesystem storage) and real
 * HTTP upstreams on 127.0.0.x (allow-listed with `upstream.allowedNetworks: 127.0.0.0/8`):
 * - an upstream that answers HEAD 200 for every digest gets no link to a blob the root space
 *   already stores (a project admin cannot read a private registry of the same root space);
 * - redirects go only to the upstream's own origin or `upstream.redirectHosts`, only over
 *   http(s), and bytes from a redirected origin reach no client before they are verified;
 * - a small blob with wrong bytes is answered with an error, not with most of the wrong bytes.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildApp, type App } from '../../src/app.js';
import { digestOf } from '../../src/base/digest.js';
import { loadConfig } from '../../src/config/config.js';
import { hostile, refOf, type Hostile } from '../helpers/hostile-upstream.js';

const ADMIN_PASSWORD = 'hostile-admin-password';
const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const ADMIN = basic('admin', ADMIN_PASSWORD);
const MALLORY = basic('mallory', 'mallory-password-123');

const SECRET = randomBytes(64 * 1024);
const SECRET_DIGEST = digestOf(SECRET);
const BIG = randomBytes(3 * 1024 * 1024);
const BIG_DIGEST = digestOf(BIG);
const SMALL = randomBytes(512 * 1024);
const SMALL_DIGEST = digestOf(SMALL);
const blobs = new Map([
  [BIG_DIGEST, BIG],
  [SMALL_DIGEST, SMALL],
]);

describe('upstreams that lie', () => {
  let dataDir: string;
  let app: App;
  const servers: Hostile[] = [];
  let cdn: Hostile;
  let elsewhere: Hostile;

  const call = async (method: 'GET' | 'HEAD' | 'POST' | 'PUT', url: string, body?: unknown, auth = ADMIN, headers: Record<string, string> = {}) => {
    const payload = body === undefined ? {} : Buffer.isBuffer(body) ? { payload: body } : { payload: body as Record<string, unknown> };
    const res = await app.server.inject({ method, url, headers: { authorization: auth, ...headers }, ...payload });
    return { status: res.statusCode, text: res.body, raw: res.rawPayload };
  };
  const serve = async (handler: Parameters<typeof hostile>[0], host?: string): Promise<Hostile> => {
    const h = await hostile(handler, host);
    servers.push(h);
    return h;
  };
  const proxy = async (identifier: string, url: string, space = 'acme', auth = ADMIN): Promise<void> => {
    const res = await call('POST', '/api/v1/registries', { space, identifier, packageType: 'docker', kind: 'upstream', upstream: { source: 'custom', url } }, auth);
    assert.equal(res.status, 201, res.text);
  };

  before(async () => {
    // The CDN an operator allow-listed: serves the right bytes for BIG, wrong ones for SMALL.
    cdn = await serve((req, res) => {
      const digest = refOf(req);
      const body = digest === SMALL_DIGEST ? randomBytes(SMALL.length) : blobs.get(digest);
      if (!body) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-length': body.length }).end(body);
    }, '127.0.0.3');
    // Another origin nobody allow-listed (a private service behind the proxy, say).
    elsewhere = await serve((_req, res) => res.writeHead(200, { 'content-length': 6 }).end('secret'), '127.0.0.2');
    dataDir = await mkdtemp(join(tmpdir(), 'pallet-hostile-'));
    app = await buildApp(
      loadConfig({
        env: {},
        flags: {
          dataDir,
          logLevel: 'silent',
          adminPassword: ADMIN_PASSWORD,
          upstream: { allowedNetworks: '127.0.0.0/8', redirectHosts: '127.0.0.3', timeoutMs: 5000 },
        },
      }),
    );
    for (const path of ['acme', 'acme/proj']) assert.equal((await call('POST', '/api/v1/spaces', { path })).status, 201);
    assert.equal((await call('POST', '/api/v1/registries', { space: 'acme', identifier: 'secret', packageType: 'docker', kind: 'local' })).status, 201);
    const pushed = await call('POST', `/v2/acme/secret/app/blobs/uploads/?digest=${SECRET_DIGEST}`, SECRET, ADMIN, { 'content-type': 'application/octet-stream' });
    assert.equal(pushed.status, 201, pushed.text);
    assert.equal((await call('POST', '/api/v1/users', { username: 'mallory', password: 'mallory-password-123' })).status, 201);
    assert.equal((await call('PUT', '/api/v1/spaces/acme%2Fproj/members/mallory', { role: 'admin' })).status, 200);
  });

  after(async () => {
    await app?.server.close();
    for (const s of servers) await s.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('gives a project admin no private blob of the root space through an upstream that answers HEAD 200 to everything', async () => {
    assert.equal((await call('GET', `/v2/acme/secret/app/blobs/${SECRET_DIGEST}`, undefined, MALLORY)).status, 403, 'mallory cannot read acme/secret');
    // Two liars: one without Content-Length, one that knows the size. GET: 404 or garbage.
    const liars = [
      await serve((req, res) => (req.method === 'HEAD' ? res.writeHead(200).end() : res.writeHead(404).end())),
      await serve((req, res) => {
        if (req.method === 'HEAD') return void res.writeHead(200, { 'content-length': SECRET.length }).end();
        res.writeHead(200, { 'content-length': SECRET.length }).end(randomBytes(SECRET.length));
      }),
    ];
    for (const [i, liar] of liars.entries()) {
      await proxy(`liar${i}`, liar.url, 'acme/proj', MALLORY);
      const head = await call('HEAD', `/v2/acme/liar${i}/x/blobs/${SECRET_DIGEST}`, undefined, MALLORY);
      const get = await call('GET', `/v2/acme/liar${i}/x/blobs/${SECRET_DIGEST}`, undefined, MALLORY);
      assert.notEqual(get.status, 200, `liar${i}: ${get.status}`);
      assert.equal(get.raw.includes(SECRET.subarray(0, 4096)), false, `liar${i} served the secret`);
      const again = await call('GET', `/v2/acme/liar${i}/x/blobs/${SECRET_DIGEST}`, undefined, MALLORY);
      assert.notEqual(again.status, 200, `liar${i} after HEAD ${head.status}: ${again.status}`);
    }
  });

  it('still links a blob fetched and verified from the same proxy into another of its repositories', async () => {
    const good = await serve((req, res) => {
      const body = blobs.get(refOf(req));
      if (!body) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-length': body.length }).end(req.method === 'HEAD' ? undefined : body);
    });
    await proxy('good', good.url);
    const first = await call('GET', `/v2/acme/good/one/blobs/${BIG_DIGEST}`);
    assert.equal(first.status, 200, first.text.slice(0, 300));
    assert.equal(digestOf(first.raw), BIG_DIGEST);
    const gets = good.seen.filter((s) => s.startsWith('GET')).length;
    const second = await call('GET', `/v2/acme/good/two/blobs/${BIG_DIGEST}`);
    assert.equal(second.status, 200);
    assert.equal(digestOf(second.raw), BIG_DIGEST);
    assert.equal(good.seen.filter((s) => s.startsWith('GET')).length, gets, 'no second download within the same proxy');
  });

  it('follows a redirect to another origin only when redirectHosts lists it, and never to file://', async () => {
    const redirector = await serve((req, res) => {
      const digest = refOf(req);
      const to = req.url?.includes('/file/') ? 'file:///etc/passwd' : req.url?.includes('/cdn/') ? `${cdn.url}/cdn/blobs/${digest}` : `${elsewhere.url}/b/${digest}`;
      res.writeHead(307, { location: to }).end();
    });
    await proxy('redirector', redirector.url);
    const refused = await call('GET', `/v2/acme/redirector/elsewhere/blobs/${BIG_DIGEST}`);
    assert.notEqual(refused.status, 200, refused.text);
    assert.equal(elsewhere.seen.length, 0, `127.0.0.2 was asked: ${elsewhere.seen.join(', ')}`);
    assert.match(refused.text, /redirect/i);
    const file = await call('GET', `/v2/acme/redirector/file/blobs/${BIG_DIGEST}`);
    assert.ok(file.status < 500, `file:// gives ${file.status}: ${file.text}`);
    assert.match(file.text, /file:/);
    const ok = await call('GET', `/v2/acme/redirector/cdn/blobs/${BIG_DIGEST}`);
    assert.equal(ok.status, 200, ok.text.slice(0, 300));
    assert.equal(digestOf(ok.raw), BIG_DIGEST);
  });

  it('verifies a blob from a redirected origin before a client gets a byte of it', async () => {
    const big = randomBytes(2 * 1024 * 1024);
    const digest = digestOf(big);
    // The allow-listed CDN serves wrong bytes of the right length for this digest.
    const liarCdn = await serve((_req, res) => res.writeHead(200, { 'content-length': big.length }).end(randomBytes(big.length)), '127.0.0.3');
    const redirector = await serve((req, res) => res.writeHead(302, { location: `${liarCdn.url}/b/${refOf(req)}` }).end());
    await proxy('to-cdn', redirector.url);
    const res = await call('GET', `/v2/acme/to-cdn/app/blobs/${digest}`);
    assert.notEqual(res.status, 200, 'the client was answered 200 before the bytes were verified');
    assert.equal(res.raw.length < 4096, true, `the client got ${res.raw.length} bytes`);
  });

  it('answers a small blob with wrong bytes with an error, not with the wrong bytes', async () => {
    const liar = await serve((_req, res) => res.writeHead(200, { 'content-length': SMALL.length }).end(randomBytes(SMALL.length)));
    await proxy('small-liar', liar.url);
    const res = await call('GET', `/v2/acme/small-liar/app/blobs/${SMALL_DIGEST}`);
    assert.notEqual(res.status, 200, `answered 200 with ${res.raw.length} bytes`);
    assert.match(res.text, /does not match/);
  });
});
