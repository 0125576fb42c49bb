/**
 * Where upstream proxies may send Pallet, through `inject()` over the real app (SQLite,
 * filesystem storage) and real HTTP upstreams on 127.0.0.1:
 * - a proxy URL naming a loopback or other non-public address is a 400 at create and PATCH
 *   unless `upstream.allowedNetworks` lists it, and one stored before is refused at connect
 *   time (no connection is made);
 * - a redirect from an allowed upstream to a forbidden address is refused;
 * - moving a proxy to another origin drops its stored credentials, so a space admin cannot
 *   collect them with a server of their own.
 * Loopback upstreams are allowed only where a test opts in with `allowedNetworks`.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildApp, type App } from '../../src/app.js';
import { digestOf } from '../../src/base/digest.js';
import { loadConfig } from '../../src/config/config.js';

const ADMIN_PASSWORD = 'egress-admin-password';
const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const ADMIN = basic('admin', ADMIN_PASSWORD);
const LOOPBACK = '127.0.0.1/32';

interface Upstream {
  url: string;
  /** Every request received, with its Authorization header. */
  seen: Array<{ method: string; url: string; authorization: string | undefined }>;
  /** TCP connections accepted. */
  connections: number;
  close(): Promise<void>;
}

async function upstream(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Upstream> {
  const seen: Upstream['seen'] = [];
  const server: Server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization });
    handler(req, res);
  });
  const state = { connections: 0 };
  server.on('connection', () => state.connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    get connections() {
      return state.connections;
    },
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Answers every request with a Basic challenge: what a server collecting credentials does. */
const capture = (): Promise<Upstream> =>
  upstream((_req, res) => res.writeHead(401, { 'www-authenticate': 'Basic realm="give me your password"' }).end());

async function start(dataDir: string, allowedNetworks?: string, extra: Record<string, unknown> = {}): Promise<App> {
  const upstreamSection = allowedNetworks === undefined ? {} : { upstream: { allowedNetworks, ...extra } };
  return buildApp(loadConfig({ env: {}, flags: { dataDir, logLevel: 'silent', adminPassword: ADMIN_PASSWORD, ...upstreamSection } }));
}

async function call(app: App, method: 'GET' | 'POST' | 'PATCH' | 'PUT', url: string, body?: unknown, auth = ADMIN) {
  const res = await app.server.inject({ method, url, headers: { authorization: auth }, ...(body !== undefined ? { payload: body as Record<string, unknown> } : {}) });
  return { status: res.statusCode, text: res.body, json: (res.body ? JSON.parse(res.body) : undefined) as Record<string, unknown> & { message?: string } };
}

const proxy = (identifier: string, url: string, extra: Record<string, unknown> = {}) => ({
  space: 'acme',
  identifier,
  packageType: 'docker',
  kind: 'upstream',
  upstream: { source: 'custom', url, ...extra },
});

describe('upstream egress: proxies may reach only public addresses unless allow-listed', () => {
  let dataDir: string;
  let app: App | undefined;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pallet-egress-'));
  });

  after(async () => {
    await app?.server.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('refuses to create or move a proxy to loopback, private or link-local addresses (400 naming upstream.allowedNetworks)', async () => {
    app = await start(dataDir);
    assert.equal((await call(app, 'POST', '/api/v1/spaces', { path: 'acme' })).status, 201);
    for (const url of ['http://127.0.0.1:5000', 'http://localhost:5000', 'http://[::ffff:127.0.0.1]:5000', 'http://[::1]', 'http://169.254.169.254', 'http://10.1.2.3', 'http://0x7f.1']) {
      const res = await call(app, 'POST', '/api/v1/registries', proxy('bad', url));
      assert.equal(res.status, 400, `${url}: ${res.text}`);
      assert.match(res.json.message ?? '', /upstream\.allowedNetworks/, url);
    }
    const helm = await call(app, 'POST', '/api/v1/registries', { ...proxy('bad-helm', 'oci://127.0.0.1:5000/charts'), packageType: 'helm' });
    assert.equal(helm.status, 400, helm.text);

    assert.equal((await call(app, 'POST', '/api/v1/registries', proxy('mirror', 'https://mirror.invalid'))).status, 201);
    const moved = await call(app, 'PATCH', '/api/v1/registries/acme/mirror', { upstream: { url: 'http://192.168.1.1' } });
    assert.equal(moved.status, 400, moved.text);
    const kept = await call(app, 'GET', '/api/v1/registries/acme/mirror');
    assert.equal((kept.json.upstream as { url: string }).url, 'https://mirror.invalid', 'a refused PATCH changes nothing');
    await app.server.close();
    app = undefined;
  });

  it('refuses at connect time a loopback proxy stored while allow-listed, once the allow-list is gone', async () => {
    const target = await upstream((_req, res) => res.writeHead(200).end('{}'));
    try {
      app = await start(dataDir, LOOPBACK);
      const created = await call(app, 'POST', '/api/v1/registries', proxy('was-allowed', target.url));
      assert.equal(created.status, 201, created.text);
      await app.server.close();

      app = await start(dataDir);
      const pull = await call(app, 'GET', '/v2/acme/was-allowed/team/app/manifests/1');
      assert.equal(pull.status, 404, pull.text);
      assert.match(pull.text, /refused: 127\.0\.0\.1 is a loopback address/);
      assert.equal(target.connections, 0, 'no connection reached the upstream');
      const metrics = await app.server.inject({ method: 'GET', url: '/metrics' });
      assert.match(metrics.body, /pallet_upstream_errors_total\{upstream="acme\/was-allowed",format="docker",reason="address-refused"\} 1/);
    } finally {
      await app?.server.close();
      app = undefined;
      await target.close();
    }
  });

  it('refuses a redirect from an allowed upstream to a forbidden address, even when redirectHosts allows any host', async () => {
    const blob = Buffer.from('layer');
    const digest = digestOf(blob);
    const targets = ['http://169.254.169.254/latest/meta-data/', 'http://[::ffff:169.254.169.254]/', 'http://10.0.0.1/'];
    const redirecting = await upstream((req, res) => {
      const hop = Number(/\/r(\d)\//.exec(req.url ?? '')?.[1] ?? 0);
      res.writeHead(307, { location: targets[hop] }).end();
    });
    try {
      app = await start(dataDir, LOOPBACK, { redirectHosts: '*' });
      for (const [hop, target] of targets.entries()) {
        const id = `redirect-${hop}`;
        assert.equal((await call(app, 'POST', '/api/v1/registries', proxy(id, redirecting.url))).status, 201);
        const pull = await call(app, 'GET', `/v2/acme/${id}/r${hop}/app/blobs/${digest}`);
        assert.equal(pull.status, 404, `${target}: ${pull.text}`);
        assert.match(pull.text, /refused: .*(link-local|private)/, target);
      }
    } finally {
      await app?.server.close();
      app = undefined;
      await redirecting.close();
    }
  });

  it('drops the stored credentials when a space admin moves the proxy to another origin', async () => {
    const original = await capture();
    const attacker = await capture();
    try {
      app = await start(dataDir, LOOPBACK);
      const created = await call(app, 'POST', '/api/v1/registries', proxy('creds', original.url, { auth: { type: 'basic', username: 'robot', password: 'the-secret' } }));
      assert.equal(created.status, 201, created.text);
      assert.equal((await call(app, 'POST', '/api/v1/users', { username: 'spaceadmin', password: 'spaceadmin-password' })).status, 201);
      assert.equal((await call(app, 'PUT', '/api/v1/spaces/acme/members/spaceadmin', { role: 'admin' })).status < 300, true);
      const asSpaceAdmin = basic('spaceadmin', 'spaceadmin-password');

      // Naming the username again without the password is not enough on another origin.
      const partial = await call(app, 'PATCH', '/api/v1/registries/acme/creds', { upstream: { url: attacker.url, auth: { type: 'basic', username: 'robot' } } }, asSpaceAdmin);
      assert.equal(partial.status, 400, partial.text);
      assert.match(partial.json.message ?? '', /password/);

      const moved = await call(app, 'PATCH', '/api/v1/registries/acme/creds', { upstream: { url: attacker.url } }, asSpaceAdmin);
      assert.equal(moved.status, 200, moved.text);
      assert.deepEqual((moved.json.upstream as { auth: unknown }).auth, { type: 'anonymous' });
      await call(app, 'GET', '/v2/acme/creds/team/app/manifests/1');
      assert.ok(attacker.seen.length > 0, 'the proxy asked the new upstream');
      assert.deepEqual(attacker.seen.map((r) => r.authorization), attacker.seen.map(() => undefined), 'no Authorization reached the new origin');

      // Back to the original origin: the secret is gone for good, it has to be given again.
      const back = await call(app, 'PATCH', '/api/v1/registries/acme/creds', { upstream: { url: original.url } });
      assert.deepEqual((back.json.upstream as { auth: unknown }).auth, { type: 'anonymous' });
      await call(app, 'GET', '/v2/acme/creds/team/app/manifests/2');
      assert.ok(original.seen.every((r) => r.authorization === undefined), JSON.stringify(original.seen));
    } finally {
      await app?.server.close();
      app = undefined;
      await original.close();
      await attacker.close();
    }
  });

  it('keeps the credentials when the origin stays (path or TTL change) or when the request gives them again', async () => {
    const first = await capture();
    const second = await capture();
    try {
      app = await start(dataDir, LOOPBACK);
      const auth = { type: 'basic', username: 'robot', password: 'the-secret' };
      assert.equal((await call(app, 'POST', '/api/v1/registries', proxy('keep', first.url, { auth }))).status, 201);
      const samePath = await call(app, 'PATCH', '/api/v1/registries/acme/keep', { upstream: { url: `${first.url}/mirror`, tagTtlSeconds: 60 } });
      assert.equal(samePath.status, 200, samePath.text);
      assert.deepEqual((samePath.json.upstream as { auth: unknown }).auth, { type: 'basic', username: 'robot' });
      await call(app, 'GET', '/v2/acme/keep/team/app/manifests/1');
      assert.ok(first.seen.some((r) => r.authorization === basic('robot', 'the-secret')), 'the same origin still gets the secret');

      const resupplied = await call(app, 'PATCH', '/api/v1/registries/acme/keep', { upstream: { url: second.url, auth: { ...auth, password: 'second-secret' } } });
      assert.equal(resupplied.status, 200, resupplied.text);
      await call(app, 'GET', '/v2/acme/keep/team/app/manifests/2');
      assert.ok(second.seen.some((r) => r.authorization === basic('robot', 'second-secret')), JSON.stringify(second.seen));
      assert.ok(second.seen.every((r) => r.authorization !== basic('robot', 'the-secret')), 'the old secret never went to the new origin');
    } finally {
      await app?.server.close();
      app = undefined;
      await first.close();
      await second.close();
    }
  });
});
