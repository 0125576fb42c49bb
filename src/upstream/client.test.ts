/**
 * The upstream client against real HTTP servers on loopback: a tiny registry that challenges
 * like Distribution (Basic) or like Docker Hub (Bearer, with a token service on another
 * origin), and records every request it receives.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { digestOf } from '../base/digest.js';
import { isPalletError } from '../base/errors.js';
import { readLimited } from '../base/streams.js';
import { mayReceiveCredentials, redirectRefusal, RegistryClient, retryAfterSeconds, type RegistryClientOptions } from './client.js';
import { EgressPolicy } from './egress.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
}

async function listen(handler: Handler): Promise<{ server: Server; url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization });
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

const MANIFEST = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: {}, layers: [] }));
const BLOB = Buffer.from('layer bytes');
const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** Serves `manifests/*` and `blobs/*` of any repository once `authorized(req)` says so. */
function registry(authorized: (req: IncomingMessage) => boolean, challenge: (req: IncomingMessage) => string): Handler {
  return (req, res) => {
    if (!authorized(req)) {
      res.writeHead(401, { 'www-authenticate': challenge(req), 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      return;
    }
    const url = req.url ?? '';
    if (url === '/v2/') {
      res.writeHead(200).end('{}');
    } else if (/\/manifests\/(latest|sha256:)/.test(url)) {
      res.writeHead(200, {
        'content-type': 'application/vnd.oci.image.manifest.v1+json',
        'docker-content-digest': digestOf(MANIFEST),
        'content-length': MANIFEST.length,
        'ratelimit-remaining': '97;w=21600',
      });
      res.end(req.method === 'HEAD' ? undefined : MANIFEST);
    } else if (url.includes('/blobs/')) {
      res.writeHead(200, { 'content-length': BLOB.length }).end(req.method === 'HEAD' ? undefined : BLOB);
    } else {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}');
    }
  };
}

/** The upstreams here are on loopback: these tests opt in to it explicitly. */
const LOOPBACK = new EgressPolicy({ allowedNetworks: '127.0.0.1/32' });

function client(url: string, extra: Partial<RegistryClientOptions> = {}): RegistryClient {
  return new RegistryClient({ url, timeoutMs: 2_000, deadlineMs: 5_000, egress: LOOPBACK, ...extra });
}

describe('RegistryClient with a Bearer token service (Docker Hub style)', () => {
  let tokens: Awaited<ReturnType<typeof listen>>;
  let reg: Awaited<ReturnType<typeof listen>>;
  let expiresIn = 300;
  let issued = 0;
  const valid = new Map<string, string>(); // token → scope

  before(async () => {
    tokens = await listen((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (req.headers.authorization !== undefined && req.headers.authorization !== basic('robot', 's3cret')) {
        res.writeHead(401).end();
        return;
      }
      const scope = url.searchParams.get('scope') ?? '';
      const token = `t${++issued}`;
      valid.set(token, scope);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token, expires_in: expiresIn, issued_at: new Date().toISOString() }));
    });
    reg = await listen(
      registry(
        (req) => {
          const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
          const repo = /^\/v2\/(.+?)\/(manifests|blobs)\//.exec(req.url ?? '')?.[1];
          return token !== undefined && valid.get(token) === `repository:${repo}:pull`;
        },
        (req) => {
          const repo = /^\/v2\/(.+?)\/(manifests|blobs)\//.exec(req.url ?? '')?.[1];
          return `Bearer realm="${tokens.url}/token",service="test-registry"${repo ? `,scope="repository:${repo}:pull"` : ''}`;
        },
      ),
    );
  });

  after(async () => {
    await close(tokens.server);
    await close(reg.server);
  });

  beforeEach(() => {
    tokens.seen.length = 0;
    reg.seen.length = 0;
    expiresIn = 300;
  });

  it('answers the challenge with one token request, then reuses the token for the same scope', async () => {
    const c = client(reg.url);
    try {
      const first = await c.getManifest('team/app', 'latest', 1 << 20);
      assert.deepEqual(first?.body, MANIFEST);
      assert.equal(first?.digest, digestOf(MANIFEST));
      await c.headManifest('team/app', 'latest');
      await c.getBlob('team/app', digestOf(BLOB)).then((b) => b?.body.resume());
      assert.equal(tokens.seen.length, 1, 'one token for repository:team/app:pull');
      const tokenUrl = new URL(tokens.seen[0]!.url, 'http://x');
      assert.equal(tokenUrl.searchParams.get('service'), 'test-registry');
      assert.equal(tokenUrl.searchParams.get('scope'), 'repository:team/app:pull');
      assert.equal(tokens.seen[0]!.authorization, undefined, 'anonymous token without credentials');
      assert.equal(reg.seen.filter((r) => r.authorization === undefined).length, 1, 'only the first request went without a token');
    } finally {
      c.close();
    }
  });

  it('asks once per scope, even for concurrent requests, and sends credentials to the token service only', async () => {
    const c = client(reg.url, { credentials: { username: 'robot', password: 's3cret' } });
    try {
      await c.getManifest('first', 'latest', 1 << 20);
      const results = await Promise.all(Array.from({ length: 10 }, () => c.headManifest('second', 'latest')));
      assert.ok(results.every((r) => r?.digest === digestOf(MANIFEST)));
      const scopes = tokens.seen.map((r) => new URL(r.url, 'http://x').searchParams.get('scope'));
      assert.deepEqual(scopes, ['repository:first:pull', 'repository:second:pull']);
      assert.ok(tokens.seen.every((r) => r.authorization === basic('robot', 's3cret')));
      assert.ok(reg.seen.every((r) => r.authorization === undefined || r.authorization.startsWith('Bearer ')));
    } finally {
      c.close();
    }
  });

  it('sends credentials to a token realm only on the upstream\'s own host or an allow-listed one', async () => {
    const elsewhere = await listen(
      registry(
        (req) => /^Bearer t\d+$/.test(req.headers.authorization ?? ''),
        () => `Bearer realm="http://localhost:${new URL(tokens.url).port}/token",service="test-registry"`,
      ),
    );
    const credentials = { username: 'robot', password: 's3cret' };
    const strict = client(elsewhere.url, { credentials });
    const trusting = client(elsewhere.url, { credentials, tokenRealmHosts: ['localhost'] });
    try {
      await strict.getManifest('team/app', 'latest', 1 << 20);
      assert.equal(tokens.seen.length, 1);
      assert.equal(tokens.seen[0]!.authorization, undefined, 'a realm on another host gets no credentials');
      await trusting.getManifest('team/app', 'latest', 1 << 20);
      assert.equal(tokens.seen[1]!.authorization, basic('robot', 's3cret'), 'an allow-listed realm host does');
    } finally {
      strict.close();
      trusting.close();
      await close(elsewhere.server);
    }
  });

  it('never sends credentials from an https upstream to an http realm, nor to another host', () => {
    assert.equal(mayReceiveCredentials('https://registry.example.com', 'https://registry.example.com:8443/token', []), true);
    assert.equal(mayReceiveCredentials('http://registry.example.com', 'http://registry.example.com/token', []), true);
    assert.equal(mayReceiveCredentials('https://registry.example.com', 'http://registry.example.com/token', []), false);
    assert.equal(mayReceiveCredentials('https://registry.example.com', 'https://evil.example.net/token', []), false);
    assert.equal(mayReceiveCredentials('https://registry-1.docker.io', 'https://auth.docker.io/token', ['auth.docker.io']), true);
    assert.equal(mayReceiveCredentials('https://registry-1.docker.io', 'http://auth.docker.io/token', ['auth.docker.io']), false);
  });

  it('fetches a new token once the cached one expires', async () => {
    expiresIn = 1; // kept for half its life when shorter than the renewal margin
    const c = client(reg.url);
    try {
      await c.headManifest('short', 'latest');
      await c.headManifest('short', 'latest');
      assert.equal(tokens.seen.length, 1);
      await new Promise((resolve) => setTimeout(resolve, 700));
      await c.headManifest('short', 'latest');
      assert.equal(tokens.seen.length, 2);
    } finally {
      c.close();
    }
  });

  it('fails with DENIED when the token service refuses the credentials', async () => {
    const c = client(reg.url, { credentials: { username: 'robot', password: 'wrong' } });
    try {
      await assert.rejects(c.getManifest('team/app', 'latest', 1 << 20), (err) => isPalletError(err, 'DENIED') && /token request/.test(err.message));
    } finally {
      c.close();
    }
  });

  it('resolves a 404 to undefined and reports ratelimit-remaining', async () => {
    const remaining: number[] = [];
    const c = client(reg.url, { observer: { rateLimit: (n) => remaining.push(n) } });
    try {
      assert.equal(await c.getManifest('team/app', 'missing', 1 << 20), undefined);
      await c.headManifest('team/app', 'latest');
      assert.deepEqual(remaining, [97]);
    } finally {
      c.close();
    }
  });

  it('learns the scheme from GET /v2/ and maps one-segment names to library/ for Docker Hub', async () => {
    const c = client(reg.url, { dockerHub: true });
    try {
      const challenge = await c.ping();
      assert.equal(challenge?.scheme, 'bearer');
      assert.equal(challenge?.params.service, 'test-registry');
      await c.headManifest('alpine', 'latest');
      assert.ok(reg.seen.some((r) => r.url === '/v2/library/alpine/manifests/latest' && r.authorization?.startsWith('Bearer ')));
      // After the ping the token is fetched before the first request: no 401 round trip.
      assert.equal(reg.seen.filter((r) => r.url.includes('/manifests/') && r.authorization === undefined).length, 0);
      assert.equal(c.upstreamName('team/app'), 'team/app');
    } finally {
      c.close();
    }
  });
});

describe('RegistryClient with Basic authentication (Distribution htpasswd style)', () => {
  let reg: Awaited<ReturnType<typeof listen>>;

  before(async () => {
    reg = await listen(registry((req) => req.headers.authorization === basic('alice', 'pw'), () => 'Basic realm="Registry Realm"'));
  });
  after(() => close(reg.server));
  beforeEach(() => {
    reg.seen.length = 0;
  });

  it('retries with Basic credentials once, then sends them up front', async () => {
    const c = client(reg.url, { credentials: { username: 'alice', password: 'pw' } });
    try {
      await c.headManifest('app', 'latest');
      await c.headManifest('app', 'latest');
      await c.headBlob('app', digestOf(BLOB));
      assert.deepEqual(
        reg.seen.map((r) => r.authorization === undefined),
        [true, false, false, false],
      );
    } finally {
      c.close();
    }
  });

  it('fails with DENIED without credentials or with wrong ones', async () => {
    for (const extra of [{}, { credentials: { username: 'alice', password: 'nope' } }]) {
      const c = client(reg.url, extra);
      try {
        await assert.rejects(c.headManifest('app', 'latest'), (err) => isPalletError(err, 'DENIED'));
      } finally {
        c.close();
      }
    }
  });
});

describe('RegistryClient failures and redirects', () => {
  it('follows a blob redirect to an allow-listed origin without sending the credentials there, and says it came from there', async () => {
    const cdn = await listen((_req, res) => res.writeHead(200, { 'content-length': BLOB.length }).end(BLOB));
    const reg = await listen((req, res) => {
      if (req.headers.authorization !== basic('alice', 'pw')) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end();
        return;
      }
      res.writeHead(307, { location: `${cdn.url}/signed/blob?sig=1` }).end();
    });
    const c = client(reg.url, { credentials: { username: 'alice', password: 'pw' }, redirectHosts: [`127.0.0.1:${new URL(cdn.url).port}`] });
    const unlisted = client(reg.url, { credentials: { username: 'alice', password: 'pw' }, redirectHosts: ['127.0.0.1:1', '*.example.com'] });
    try {
      await assert.rejects(unlisted.getBlob('app', digestOf(BLOB)), (err) => isPalletError(err, 'UNAVAILABLE') && err.detail?.reason === 'REDIRECT_REFUSED' && /upstream\.redirectHosts/.test(err.message));
      assert.equal(cdn.seen.length, 0);
      const blob = await c.getBlob('app', digestOf(BLOB));
      assert.equal(blob?.size, BLOB.length);
      assert.equal(blob?.crossOrigin, true);
      const chunks: Buffer[] = [];
      for await (const chunk of blob!.body) chunks.push(chunk as Buffer);
      assert.deepEqual(Buffer.concat(chunks), BLOB);
      assert.deepEqual(cdn.seen, [{ method: 'GET', url: '/signed/blob?sig=1', authorization: undefined }]);
    } finally {
      c.close();
      unlisted.close();
      await close(cdn.server);
      await close(reg.server);
    }
  });

  it('exchanges a file with the caller\'s headers and body: a Bearer token up front, never to another origin', async () => {
    const other = await listen((_req, res) => res.writeHead(200).end('elsewhere'));
    const reg = await listen((req, res) => {
      if (req.url === '/moved') return void res.writeHead(307, { location: `${other.url}/there` }).end();
      if (req.headers.authorization !== 'Bearer tok') return void res.writeHead(401).end();
      if (req.headers['if-none-match'] === '"v1"') return void res.writeHead(304).end();
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => res.writeHead(200, { etag: '"v1"' }).end(`${req.method} ${Buffer.concat(chunks).toString()}`));
    });
    const c = client(reg.url, { credentials: { username: '_authToken', password: 'tok' }, redirectHosts: [`127.0.0.1:${new URL(other.url).port}`] });
    const anonymous = client(reg.url);
    try {
      const got = await c.exchangeFile('POST', `${reg.url}/doc`, { body: Buffer.from('{"a":1}'), headers: { 'content-type': 'application/json' }, bearer: true });
      assert.equal(got.status, 200);
      assert.equal((await readLimited(got.body, 1024)).toString(), 'POST {"a":1}');
      assert.equal(reg.seen.length, 1, 'the token went with the first request');
      const again = await c.exchangeFile('GET', `${reg.url}/doc`, { headers: { 'if-none-match': '"v1"' }, bearer: true });
      assert.equal(again.status, 304);
      again.body.resume();
      const moved = await c.exchangeFile('GET', `${reg.url}/moved`, { bearer: true });
      moved.body.resume();
      assert.equal(moved.crossOrigin, true);
      assert.deepEqual(other.seen, [{ method: 'GET', url: '/there', authorization: undefined }]);
      await assert.rejects(anonymous.exchangeFile('GET', `${reg.url}/doc`), (err) => isPalletError(err, 'DENIED'));
    } finally {
      c.close();
      anonymous.close();
      await close(other.server);
      await close(reg.server);
    }
  });

  it('follows redirects only over http(s), never from https to http, and to other origins only when listed', () => {
    const origin = 'https://registry.example.com';
    const from = new URL(`${origin}/v2/app/blobs/x`);
    const to = (href: string, hosts: string[] = []) => redirectRefusal(origin, from, new URL(href), hosts);
    assert.equal(to(`${origin}/other`), undefined);
    assert.match(to('file:///etc/passwd') ?? '', /file:/);
    assert.match(to('ftp://registry.example.com/x') ?? '', /only http and https/);
    assert.match(to('http://registry.example.com/x') ?? '', /plain http/);
    assert.match(to('https://cdn.example.net/x') ?? '', /redirectHosts/);
    assert.equal(to('https://cdn.example.net/x', ['cdn.example.net']), undefined);
    assert.equal(to('https://cdn.example.net:8443/x', ['cdn.example.net']), undefined);
    assert.match(to('https://cdn.example.net:8443/x', ['cdn.example.net:443']) ?? '', /redirectHosts/);
    assert.equal(to('https://a.b.cloudfront.net/x', ['*.cloudfront.net']), undefined);
    assert.match(to('https://cloudfront.net.evil.com/x', ['*.cloudfront.net']) ?? '', /redirectHosts/);
    assert.match(to('https://evilcloudfront.net/x', ['*.cloudfront.net']) ?? '', /redirectHosts/);
    assert.equal(to('https://anything.example.org/x', ['*']), undefined);
    assert.match(to('http://anything.example.org/x', ['*']) ?? '', /plain http/);
  });

  it('gives up on headers or a small body trickled past the deadline, though the socket is never idle', async () => {
    const sockets = new Set<import('node:net').Socket>();
    const timers = new Set<NodeJS.Timeout>();
    // Headers: a line every 50 ms, never finished. Manifests and tokens: a body byte every 50 ms.
    const reg = await listen((req, res) => {
      sockets.add(req.socket);
      const t = setInterval(() => {
        if (req.socket.destroyed) return clearInterval(t);
        if (req.url?.includes('/headers/')) req.socket.write('x-slow: .\r\n');
        else res.write('{');
      }, 50);
      timers.add(t);
      if (req.url?.includes('/headers/')) req.socket.write('HTTP/1.1 200 OK\r\n');
      else if (req.url?.startsWith('/token')) res.writeHead(200, { 'content-type': 'application/json' });
      else if (req.url?.includes('/bearer/')) {
        clearInterval(t);
        res.writeHead(401, { 'www-authenticate': `Bearer realm="${reg.url}/token",service="s"` }).end();
      } else res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
    });
    const c = client(reg.url, { timeoutMs: 2_000, deadlineMs: 400 });
    const late = (err: unknown) => isPalletError(err, 'UNAVAILABLE') && /upstream\.deadlineMs/.test(err.message);
    try {
      await assert.rejects(c.headManifest('headers/app', 'latest'), late);
      await assert.rejects(c.getBlob('headers/app', digestOf(BLOB)), late);
      await assert.rejects(c.getManifest('body/app', 'latest', 1024 * 1024), late);
      await assert.rejects(c.getFile(`${reg.url}/index.yaml`).then((f) => f && readLimited(f.body, 1024 * 1024)), /upstream\.deadlineMs/);
      await assert.rejects(c.getManifest('bearer/app', 'latest', 1024 * 1024), late);
    } finally {
      for (const t of timers) clearInterval(t);
      for (const s of sockets) s.destroy();
      c.close();
      await close(reg.server);
    }
  });

  it('maps 429 to TOOMANYREQUESTS, 5xx to UNAVAILABLE, and names the upstream', async () => {
    let status = 429;
    const reg = await listen((_req, res) => res.writeHead(status).end());
    const c = client(reg.url);
    try {
      await assert.rejects(c.headManifest('app', 'latest'), (err) => isPalletError(err, 'TOOMANYREQUESTS') && err.message.includes(reg.url));
      status = 503;
      await assert.rejects(c.getBlob('app', digestOf(BLOB)), (err) => isPalletError(err, 'UNAVAILABLE') && /\(503\)/.test(err.message));
    } finally {
      c.close();
      await close(reg.server);
    }
  });

  it('fails with UNAVAILABLE when the upstream refuses connections or does not answer in time', async () => {
    const silent = await listen(() => undefined);
    const down = await listen(() => undefined);
    const downUrl = down.url;
    await close(down.server);
    const slow = client(silent.url, { timeoutMs: 300 });
    const refused = client(downUrl);
    try {
      const started = Date.now();
      await assert.rejects(slow.headManifest('app', 'latest'), (err) => isPalletError(err, 'UNAVAILABLE') && /300 ms/.test(err.message));
      assert.ok(Date.now() - started < 2_000);
      await assert.rejects(refused.getManifest('app', 'latest', 1024), (err) => isPalletError(err, 'UNAVAILABLE') && /ECONNREFUSED/.test(err.message));
    } finally {
      slow.close();
      refused.close();
      await close(silent.server);
    }
  });

  it('refuses a manifest larger than the limit', async () => {
    const reg = await listen(registry(() => true, () => ''));
    const c = client(reg.url);
    try {
      await assert.rejects(c.getManifest('app', 'latest', 10), (err) => isPalletError(err, 'UNAVAILABLE') && /exceeds the limit/.test(err.message));
    } finally {
      c.close();
      await close(reg.server);
    }
  });

  it('refuses upstreams, redirects and token realms on non-public addresses, without connecting', async () => {
    const reg = await listen((req, res) => {
      if (req.url?.startsWith('/v2/redirect/')) res.writeHead(307, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
      else if (req.url?.startsWith('/v2/mapped/')) res.writeHead(302, { location: 'http://[::ffff:10.0.0.1]/' }).end();
      else res.writeHead(401, { 'www-authenticate': 'Bearer realm="http://10.0.0.1/token",service="s"' }).end();
    });
    const connections = { count: 0 };
    reg.server.on('connection', () => connections.count++);
    const port = new URL(reg.url).port;
    const refusedAt = (what: RegExp) => (err: unknown) => isPalletError(err, 'UNAVAILABLE') && err.detail?.reason === 'EGRESS_REFUSED' && what.test(err.message);
    const strict = new EgressPolicy();
    const clients = [
      client(reg.url, { egress: strict }),
      client(`http://localhost:${port}`, { egress: strict }),
      client(`http://[::ffff:127.0.0.1]:${port}`, { egress: strict }),
      client(reg.url, { credentials: { username: 'robot', password: 'pw' }, redirectHosts: ['*'] }),
    ];
    const [literal, name, mapped, allowed] = clients as [RegistryClient, RegistryClient, RegistryClient, RegistryClient];
    try {
      await assert.rejects(literal.getManifest('app', 'latest', 1024), refusedAt(/127\.0\.0\.1 is a loopback address/));
      await assert.rejects(name.getManifest('app', 'latest', 1024), refusedAt(/localhost resolves to 127\.0\.0\.1/));
      await assert.rejects(mapped.getManifest('app', 'latest', 1024), refusedAt(/IPv6 form of a loopback/));
      assert.equal(connections.count, 0, 'nothing connected to the upstream');

      // Allowed upstream, forbidden hops: redirects and the token realm go through the same check.
      await assert.rejects(allowed.getBlob('redirect/app', digestOf(BLOB)), refusedAt(/169\.254\.169\.254 is a link-local/));
      await assert.rejects(allowed.getBlob('mapped/app', digestOf(BLOB)), refusedAt(/IPv6 form of a private/));
      await assert.rejects(allowed.getManifest('app', 'latest', 1024), refusedAt(/10\.0\.0\.1 is a private/));
    } finally {
      for (const c of clients) c.close();
      await close(reg.server);
    }
  });

  it('reads Retry-After as seconds or as an HTTP date, bounded, and ignores garbage', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    assert.equal(retryAfterSeconds('17', now), 17);
    assert.equal(retryAfterSeconds('Thu, 01 Jan 2026 00:01:00 GMT', now), 60);
    assert.equal(retryAfterSeconds('Wed, 31 Dec 2025 00:00:00 GMT', now), 0);
    assert.equal(retryAfterSeconds('99999999', now), 24 * 3600);
    assert.equal(retryAfterSeconds('soon', now), undefined);
    assert.equal(retryAfterSeconds(undefined, now), undefined);
  });
});
