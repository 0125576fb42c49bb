/**
 * Generic files in one process (SQLite, filesystem storage), through `inject()` and, for what
 * an injector would normalize or cannot send (raw `..`, a body shorter than its Content-Length,
 * a client hanging up mid-upload), through a real socket on 127.0.0.1: uploads with and without
 * a checksum, retries, the immutability of a version's files and the registry's overwrite
 * setting, ranges, ETag and 304, deletes of a file, a version and a package, bad input (each a
 * clear 4xx that stores nothing), concurrent uploads of one path, permissions, the descriptor in
 * the API, and the format's metrics. Upstream proxies: generic-upstream.test.ts.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { connect, type AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { dropTestSchema, testSchema, TEST_DATABASE_URL } from '../../src/metadata/test-databases.js';
import { blobFiles, startInProcess, type Harness } from '../helpers/inproc.js';

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const BASE = '/pkg/acme/files/generic';

describe('generic files (inject, SQLite)', () => {
  let h: Harness;
  let port: number;
  const creds = new Map<string, string>();

  const put = (url: string, payload: Buffer, headers: Record<string, string> = {}, authorization = h.auth.authorization) =>
    h.app.server.inject({ method: 'PUT', url, payload, headers: { authorization, 'content-type': 'application/octet-stream', ...headers } });
  const get = (url: string, headers: Record<string, string> = {}, authorization: string | null = h.auth.authorization ?? null) =>
    h.app.server.inject({ method: 'GET', url, headers: { ...(authorization ? { authorization } : {}), ...headers } });
  const del = (url: string, authorization = h.auth.authorization) => h.app.server.inject({ method: 'DELETE', url, headers: { authorization } });
  const files = async (registry: string, artifact: string, version: string) => {
    const reg = await h.app.services.store.findRegistry((await h.app.services.store.findSpace('acme'))!.id, registry);
    return (await h.app.services.packageFiles.list({ registryId: reg!.id, artifact, version })).map((f) => [f.path, f.digest, f.size]);
  };

  /** A raw HTTP/1.1 exchange on a socket: what the client sends, byte for byte; resolves to the status line's code. */
  function raw(head: string, body: Buffer = Buffer.alloc(0), hangUp = false): Promise<number | 'closed'> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      let got = '';
      socket.on('data', (d) => {
        got += d.toString('latin1');
        if (/\r\n\r\n/.test(got)) {
          socket.destroy();
          resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(got)?.[1]));
        }
      });
      socket.on('error', reject);
      socket.on('close', () => resolve('closed'));
      socket.write(head.replace(/\n/g, '\r\n') + '\r\n');
      socket.write(body);
      if (hangUp) setTimeout(() => socket.destroy(), 100);
    });
  }

  before(async () => {
    h = await startInProcess({ upstream: { allowedNetworks: '127.0.0.1/32' } });
    assert.equal((await h.call('POST', '/api/v1/spaces', { path: 'acme' })).status, 201);
    for (const [identifier, extra] of [['files', {}], ['pub', { public: true }], ['other', {}]] as const) {
      const res = await h.call('POST', '/api/v1/registries', { space: 'acme', identifier, packageType: 'generic', kind: 'local', ...extra });
      assert.equal(res.status, 201, res.text);
    }
    for (const role of ['reader', 'writer']) {
      const password = `${role}-${randomBytes(6).toString('hex')}`;
      assert.equal((await h.call('POST', '/api/v1/users', { username: `u-${role}`, password })).status, 201);
      assert.ok((await h.call('PUT', `/api/v1/spaces/acme/members/u-${role}`, { role })).status < 300);
      creds.set(role, basic(`u-${role}`, password));
    }
    const token = async (body: Record<string, unknown>): Promise<string> => {
      const res = await h.app.server.inject({ method: 'POST', url: '/api/v1/user/tokens', headers: { authorization: creds.get('writer')! }, payload: { expiresInDays: 1, ...body } });
      assert.equal(res.statusCode, 201, res.body);
      return `Bearer ${(res.json() as { token: string }).token}`;
    };
    creds.set('other-token', await token({ name: 'other-only', scopes: ['read', 'write', 'delete'], registry: 'acme/other' }));
    creds.set('push-token', await token({ name: 'no-delete', scopes: ['read', 'write'], space: 'acme' }));
    await h.app.server.listen({ port: 0, host: '127.0.0.1' });
    port = (h.app.server.server.address() as AddressInfo).port;
  });

  after(async () => {
    await h?.close();
  });

  it('stores a file, answers a retry with the same bytes 200, and refuses other bytes at the path with 409', async () => {
    const data = randomBytes(4096);
    const url = `${BASE}/tool/1.0.0/bin/tool-linux-amd64.tar.gz`;
    const first = await put(url, data);
    assert.equal(first.statusCode, 201, first.body);
    assert.deepEqual(first.json(), { package: 'tool', version: '1.0.0', path: 'bin/tool-linux-amd64.tar.gz', digest: `sha256:${sha256(data)}`, size: 4096 });
    assert.equal((await put(url, data)).statusCode, 200, 'a retry of the same bytes');
    assert.equal((await put(url, data, { 'x-checksum-sha256': sha256(data) })).statusCode, 200, 'a retry stating the checksum');
    const other = randomBytes(100);
    const conflict = await put(url, other);
    assert.equal(conflict.statusCode, 409, conflict.body);
    assert.match(conflict.body, /immutable/);
    assert.equal((await put(url, other, { 'x-checksum-sha256': sha256(other) })).statusCode, 409, 'refused before reading the body');
    const got = await get(url);
    assert.equal(got.statusCode, 200);
    assert.ok(got.rawPayload.equals(data), 'the first bytes stay');
    assert.equal(got.headers['content-type'], 'application/octet-stream');
    assert.equal(got.headers['x-content-type-options'], 'nosniff', 'never rendered by a browser');
    assert.equal(got.headers['content-disposition'], `attachment; filename="tool-linux-amd64.tar.gz"; filename*=UTF-8''tool-linux-amd64.tar.gz`);
    assert.equal(got.headers['content-length'], '4096');
    assert.deepEqual(await files('files', 'tool', '1.0.0'), [['bin/tool-linux-amd64.tar.gz', `sha256:${sha256(data)}`, 4096]], 'recorded as a package file');
    const second = await put(`${BASE}/tool/1.0.0/README`, Buffer.from('readme'));
    assert.equal(second.statusCode, 201, 'another file joins the version');
    assert.equal((await files('files', 'tool', '1.0.0')).length, 2);
    const empty = await put(`${BASE}/tool/1.0.0/empty`, Buffer.alloc(0));
    assert.equal(empty.statusCode, 201, empty.body);
    assert.equal((await get(`${BASE}/tool/1.0.0/empty`)).rawPayload.length, 0);
  });

  it('verifies X-Checksum-Sha256 and stores nothing when it does not match or is malformed', async () => {
    const data = Buffer.from('checked content\n');
    const url = `${BASE}/checked/1.0/file.txt`;
    const before = await blobFiles(h.dataDir);
    for (const header of [sha256(Buffer.from('other')), 'not-a-digest', sha256(data).slice(1), `md5:${sha256(data)}`]) {
      const res = await put(url, data, { 'x-checksum-sha256': header });
      assert.equal(res.statusCode, 400, `${header}: ${res.body}`);
    }
    assert.equal((await get(url)).statusCode, 404, 'nothing stored');
    assert.deepEqual(await blobFiles(h.dataDir), before, 'no blob stored');
    const ok = await put(url, data, { 'x-checksum-sha256': `sha256:${sha256(data).toUpperCase().replace('SHA256:', '')}` });
    assert.equal(ok.statusCode, 201, ok.body);
  });

  it('serves single ranges (206), refuses unsatisfiable ones (416), and answers HEAD, ETag, If-None-Match and If-Range', async () => {
    const data = randomBytes(1000);
    const url = `${BASE}/ranged/2.0/data.bin`;
    assert.equal((await put(url, data)).statusCode, 201);
    const etag = `"sha256:${sha256(data)}"`;
    const cases: Array<[string, number, number]> = [
      ['bytes=0-99', 0, 99],
      ['bytes=900-', 900, 999],
      ['bytes=-10', 990, 999],
      ['bytes=990-5000', 990, 999],
    ];
    for (const [range, start, end] of cases) {
      const res = await get(url, { range });
      assert.equal(res.statusCode, 206, range);
      assert.equal(res.headers['content-range'], `bytes ${start}-${end}/1000`, range);
      assert.equal(res.headers['content-length'], String(end - start + 1));
      assert.ok(res.rawPayload.equals(data.subarray(start, end + 1)), range);
    }
    for (const range of ['bytes=1000-', 'bytes=5-2', 'bytes=-0']) {
      const res = await get(url, { range });
      assert.equal(res.statusCode, 416, `${range}: ${res.body}`);
      assert.equal(res.headers['content-range'], 'bytes */1000', range);
    }
    // Another unit, or several ranges: ignored (RFC 9110 §14.2), the whole file.
    for (const range of ['bytes=0-1,5-6', 'items=0-1']) {
      const res = await get(url, { range });
      assert.equal(res.statusCode, 200, `${range}: ${res.body}`);
      assert.ok(res.rawPayload.equals(data), range);
    }
    const head = await h.app.server.inject({ method: 'HEAD', url, headers: h.auth });
    assert.equal(head.statusCode, 200);
    assert.equal(head.headers.etag, etag);
    assert.equal(head.headers['content-length'], '1000');
    assert.equal(head.headers['accept-ranges'], 'bytes');
    assert.equal(head.rawPayload.length, 0);
    const ranged = await h.app.server.inject({ method: 'HEAD', url, headers: { ...h.auth, range: 'bytes=0-9' } });
    assert.equal(ranged.statusCode, 206);
    assert.equal(ranged.headers['content-length'], '10');
    assert.equal((await get(url, { 'if-none-match': etag })).statusCode, 304);
    assert.equal((await get(url, { 'if-none-match': `"x", W/${etag}` })).statusCode, 304);
    assert.equal((await get(url, { 'if-none-match': '"sha256:other"' })).statusCode, 200);
    const stale = await get(url, { range: 'bytes=0-9', 'if-range': '"sha256:other"' });
    assert.equal(stale.statusCode, 200, 'a Range whose If-Range does not match gets the whole file');
    assert.equal((await get(url, { range: 'bytes=0-9', 'if-range': etag })).statusCode, 206);
  });

  it('deletes a file, a whole version and a whole package, leaving the rest', async () => {
    for (const path of ['1.0/a.txt', '1.0/dir/b.txt', '2.0/a.txt']) assert.equal((await put(`${BASE}/gone/${path}`, Buffer.from(path))).statusCode, 201);
    assert.equal((await del(`${BASE}/gone/1.0/a.txt`)).statusCode, 204);
    assert.equal((await get(`${BASE}/gone/1.0/a.txt`)).statusCode, 404);
    assert.equal((await get(`${BASE}/gone/1.0/dir/b.txt`)).statusCode, 200, 'the other file stays');
    assert.equal((await del(`${BASE}/gone/1.0/a.txt`)).statusCode, 404, 'a missing file');
    assert.equal((await del(`${BASE}/gone/1.0`)).statusCode, 204);
    assert.equal((await get(`${BASE}/gone/1.0/dir/b.txt`)).statusCode, 404);
    assert.equal((await del(`${BASE}/gone/1.0`)).statusCode, 404, 'a missing version');
    assert.equal((await get(`${BASE}/gone/2.0/a.txt`)).statusCode, 200, 'the other version stays');
    assert.equal((await del(`${BASE}/gone`)).statusCode, 204);
    assert.equal((await get(`${BASE}/gone/2.0/a.txt`)).statusCode, 404);
    assert.equal((await del(`${BASE}/gone`)).statusCode, 404, 'a missing package');
    assert.equal((await put(`${BASE}/gone/1.0/a.txt`, Buffer.from('other bytes now'))).statusCode, 201, 'a deleted path takes new bytes');
  });

  it('lets exactly one of concurrent uploads of one path with different bytes win; the others get 409', async () => {
    const bodies = Array.from({ length: 6 }, () => randomBytes(64 * 1024));
    const url = `${BASE}/race/1.0/file.bin`;
    const results = await Promise.all(bodies.map((b) => put(url, b)));
    const statuses = results.map((r) => r.statusCode).sort();
    assert.deepEqual(statuses, [201, 409, 409, 409, 409, 409], results.map((r) => r.body).join('\n'));
    const winner = bodies[results.findIndex((r) => r.statusCode === 201)]!;
    assert.ok((await get(url)).rawPayload.equals(winner), 'the winner is served');
  });

  it('refuses bad names and paths on the raw URL with 400, before storing anything', async () => {
    const before = await blobFiles(h.dataDir);
    const long = 'x'.repeat(256);
    const paths = [
      'pkg/1.0/../../files/evil',
      'pkg/1.0/./a',
      'pkg/1.0/a/..',
      'pkg/1.0/a//b',
      'pkg/1.0/a/',
      'pkg//1.0/a',
      'pkg/1.0/%2e%2e/a',
      'pkg/1.0/%2E./a',
      'pkg/1.0/a%2Fb',
      'pkg/1.0/a%5Cb',
      'pkg/1.0/a%00b',
      'pkg/1.0/a%0Ab',
      'pkg/1.0/a%7Fb',
      'pkg/1.0/a%zz',
      'pkg/1.0/a%ed%a0%80',
      `pkg/1.0/${long}`,
      `pkg/1.0/${Array.from({ length: 9 }, () => 'y'.repeat(120)).join('/')}`,
      '.hidden/1.0/a',
      '-pkg/1.0/a',
      'pk%20g/1.0/a',
      'pkg/1.0%2F2/a',
      'pkg/_1/a',
      `${'p'.repeat(256)}/1.0/a`,
      `pkg/${'1'.repeat(129)}/a`,
      'pkg/1.0',
      'pkg',
      '',
    ];
    for (const path of paths) {
      const status = await raw(`PUT ${BASE}/${path} HTTP/1.1\nHost: x\nAuthorization: ${h.auth.authorization}\nContent-Length: 5\nConnection: close\n`, Buffer.from('hello'));
      assert.equal(status, 400, `PUT ${path}`);
      const read = await raw(`GET ${BASE}/${path} HTTP/1.1\nHost: x\nAuthorization: ${h.auth.authorization}\nConnection: close\n`);
      assert.equal(read, 400, `GET ${path}`);
    }
    const ok = `pkg/1.0+build.7_x-y/${'z'.repeat(255)}/caf%C3%A9%20menu.txt`;
    assert.equal(await raw(`PUT ${BASE}/${ok} HTTP/1.1\nHost: x\nAuthorization: ${h.auth.authorization}\nContent-Length: 5\nConnection: close\n`, Buffer.from('hello')), 201, 'names at the limits are taken');
    const named = await get(`${BASE}/${ok}`);
    assert.equal(named.body, 'hello');
    assert.equal(named.headers['content-disposition'], `attachment; filename="caf_ menu.txt"; filename*=UTF-8''caf%C3%A9%20menu.txt`);
    const stored = [...(await blobFiles(h.dataDir))].filter((d) => !before.has(d));
    assert.deepEqual(stored, [`sha256:${sha256(Buffer.from('hello'))}`], 'only the good upload stored a blob');
  });

  it('stores nothing when the body is shorter or longer than its Content-Length, or the client hangs up mid-upload', async () => {
    const before = await blobFiles(h.dataDir);
    const head = (path: string, length: number) => `PUT ${BASE}/${path} HTTP/1.1\nHost: x\nAuthorization: ${h.auth.authorization}\nContent-Length: ${length}\n`;
    assert.equal(await raw(head('cut/1.0/short.bin', 100_000), randomBytes(1000), true), 'closed', 'a short body ends with the connection');
    const chunked = `PUT ${BASE}/cut/1.0/chunked.bin HTTP/1.1\nHost: x\nAuthorization: ${h.auth.authorization}\nTransfer-Encoding: chunked\n`;
    assert.equal(await raw(chunked, Buffer.from('1000\r\n' + 'a'.repeat(100)), true), 'closed');
    // Bytes past the Content-Length are not the file: they are the next request (here a malformed one).
    await raw(head('cut/1.0/long.bin', 10), Buffer.from('0123456789 and more bytes that are not a request'));
    await sleep(200);
    for (const path of ['cut/1.0/short.bin', 'cut/1.0/chunked.bin']) assert.equal((await get(`${BASE}/${path}`)).statusCode, 404, path);
    const long = await get(`${BASE}/cut/1.0/long.bin`);
    assert.ok(long.statusCode === 404 || long.body === '0123456789', `${long.statusCode} ${long.body}`);
    const stored = [...(await blobFiles(h.dataDir))].filter((d) => !before.has(d));
    assert.deepEqual(stored, long.statusCode === 200 ? [`sha256:${sha256(Buffer.from('0123456789'))}`] : [], 'no partial blob');
    assert.deepEqual(await h.app.services.store.listStaleUploads(Date.now() + 3600_000), [], 'no upload session left open');
  });

  it('lets readers read but not upload or delete, anonymous callers read public registries, and a token only its registry', async () => {
    const data = Buffer.from('public bytes');
    assert.equal((await put('/pkg/acme/pub/generic/open/1.0/a.txt', data)).statusCode, 201);
    const anonymous = await get('/pkg/acme/pub/generic/open/1.0/a.txt', {}, null);
    assert.equal(anonymous.statusCode, 200);
    assert.ok(anonymous.rawPayload.equals(data));
    const anonPut = await h.app.server.inject({ method: 'PUT', url: '/pkg/acme/pub/generic/open/1.0/b.txt', payload: data });
    assert.equal(anonPut.statusCode, 401);
    assert.match(String(anonPut.headers['www-authenticate']), /^Basic realm="Pallet Generic repository"/);
    assert.equal((await get(`${BASE}/tool/1.0.0/README`, {}, null)).statusCode, 401, 'a private registry');

    const reader = creds.get('reader')!;
    assert.equal((await get(`${BASE}/tool/1.0.0/README`, {}, reader)).statusCode, 200);
    assert.equal((await put(`${BASE}/tool/1.0.0/by-reader`, data, {}, reader)).statusCode, 403);
    assert.equal((await del(`${BASE}/tool/1.0.0/README`, reader)).statusCode, 403);
    assert.equal((await del(`${BASE}/tool/1.0.0`, reader)).statusCode, 403);
    assert.equal((await get(`${BASE}/tool/1.0.0/README`)).statusCode, 200, 'still there');

    const limited = creds.get('other-token')!;
    assert.equal((await put(`${BASE}/tool/9.0/x`, data, {}, limited)).statusCode, 403, 'a token limited to another registry');
    assert.equal((await get(`${BASE}/tool/1.0.0/README`, {}, limited)).statusCode, 403);
    assert.equal((await put('/pkg/acme/other/generic/tool/9.0/x', data, {}, limited)).statusCode, 201, 'its own registry');
  });

  it('replaces a file only when the registry allows overwrite and the caller may delete', async () => {
    const url = '/pkg/acme/other/generic/mutable/1.0/latest.txt';
    assert.equal((await put(url, Buffer.from('v1'))).statusCode, 201);
    assert.equal((await put(url, Buffer.from('v2'))).statusCode, 409, 'not by default');
    const patched = await h.call('PATCH', '/api/v1/registries/acme/other', { settings: { allowOverwrite: true } });
    assert.equal(patched.status, 200, patched.text);
    assert.equal((await put(url, Buffer.from('v2'), {}, creds.get('push-token'))).statusCode, 409, 'a caller who may not delete');
    const replaced = await put(url, Buffer.from('v2'));
    assert.equal(replaced.statusCode, 201, replaced.body);
    assert.equal((await get(url)).body, 'v2');
    assert.equal((await put(url, Buffer.from('v2'))).statusCode, 200, 'the same bytes again');
  });

  it('refuses uploads to an upstream proxy with 405', async () => {
    const proxy = await h.call('POST', '/api/v1/registries', { space: 'acme', identifier: 'mirror', packageType: 'generic', kind: 'upstream', upstream: { source: 'custom', url: 'http://127.0.0.1:9/files' } });
    assert.equal(proxy.status, 201, proxy.text);
    const res = await put('/pkg/acme/mirror/generic/tool/1.0/a', Buffer.from('x'));
    assert.equal(res.statusCode, 405, res.body);
  });

  it('is listed by the management API as packages, versions and files, which it deletes through the format', async () => {
    const api = '/api/v1/registries/acme/files/artifacts';
    for (const path of ['1.0/a.bin', '1.0/docs/b.txt', '2.0/a.bin']) assert.equal((await put(`${BASE}/listed/${path}`, Buffer.from(`listed ${path}`))).statusCode, 201);
    const artifacts = await h.call<{ items: Array<{ name: string; versionCount: number }> }>('GET', api);
    assert.equal(artifacts.status, 200, artifacts.text);
    assert.deepEqual(artifacts.json.items.find((a) => a.name === 'listed')?.versionCount, 2);
    const version = await h.call<{ files: Array<{ path: string; digest: string; size: number }> }>('GET', `${api}/listed/versions/1.0`);
    assert.equal(version.status, 200, version.text);
    const body = Buffer.from('listed 1.0/docs/b.txt');
    assert.deepEqual(version.json.files.map((f) => [f.path, f.size]), [['a.bin', 'listed 1.0/a.bin'.length], ['docs/b.txt', body.length]]);
    assert.equal(version.json.files[1]?.digest, `sha256:${sha256(body)}`);
    assert.equal((await h.call('DELETE', `${api}/listed/versions/1.0`)).status, 204);
    assert.equal((await get(`${BASE}/listed/1.0/a.bin`)).statusCode, 404, 'the version is gone');
    assert.equal((await get(`${BASE}/listed/2.0/a.bin`)).statusCode, 200, 'the other version stays');
    assert.equal((await h.call('DELETE', `${api}/listed`)).status, 204);
    assert.equal((await get(`${BASE}/listed/2.0/a.bin`)).statusCode, 404, 'the package is gone');
    assert.equal((await h.call('GET', `${api}/listed`)).status, 404);
  });

  it('records uploads and deletes in the audit log, failures too', async () => {
    const res = await h.call<{ items: Array<{ action: string; target: string; outcome: string }> }>('GET', '/api/v1/audit?size=500');
    assert.equal(res.status, 200, res.text);
    const has = (action: string, target: string, outcome: string) => res.json.items.some((e) => e.action === action && e.target === target && e.outcome === outcome);
    assert.ok(has('generic.upload', 'acme/files/tool/1.0.0/bin/tool-linux-amd64.tar.gz', 'success'), 'an upload names the file');
    assert.ok(has('generic.upload', 'acme/files/tool/1.0.0/bin/tool-linux-amd64.tar.gz', 'failure'), 'a conflict is recorded as a failure');
    assert.ok(has('generic.upload', 'acme/files', 'failure'), 'a refused upload is recorded against the registry');
    assert.ok(has('generic.delete', 'acme/files/gone/1.0/a.txt', 'success'));
    assert.ok(has('generic.delete', 'acme/files/gone/1.0', 'success'), 'a version delete names the version');
    assert.ok(has('generic.delete', 'acme/files/gone', 'failure'), 'deleting a missing package is a failure');
  });

  it('is described by the API (type, sources, settings, Setup Client) and counted in the metrics', async () => {
    const types = await h.call<{ items: Array<Record<string, unknown>> }>('GET', '/api/v1/package-types');
    const generic = types.json.items.find((t) => t.type === 'generic');
    assert.ok(generic, types.text);
    assert.equal(generic.label, 'Generic');
    assert.deepEqual((generic.sources as Array<{ id: string }>).map((s) => s.id), ['custom']);
    const setup = await h.call<{ steps: Array<{ title: string; commands: string[] }> }>('GET', '/api/v1/registries/acme/files/setup');
    const commands = setup.json.steps.flatMap((s) => s.commands).join('\n');
    assert.match(commands, /curl --fail -u <username>:<access token> -T <file> http:\/\/registry\.test\/pkg\/acme\/files\/generic\/<package>\/<version>\/<file>/);
    assert.match(commands, /curl --fail -u .* -O http:\/\/registry\.test\/pkg\/acme\/files\/generic\//);
    assert.match(commands, /wget --header "Authorization: Bearer <access token>" http:\/\/registry\.test\/pkg\/acme\/files\/generic\//);
    const metrics = (await get('/metrics')).body;
    assert.match(metrics, /pallet_generic_uploads_total\{outcome="created"\} [1-9]/);
    assert.match(metrics, /pallet_generic_uploads_total\{outcome="conflict"\} [1-9]/);
    assert.match(metrics, /pallet_generic_upload_bytes_total [1-9]/);
    assert.match(metrics, /pallet_generic_download_bytes_total [1-9]/);
  });
});


describe('generic files over the size limit (generic.maxFileBytes)', () => {
  let h: Harness;
  before(async () => {
    h = await startInProcess({ generic: { maxFileBytes: 1000 } });
    assert.equal((await h.call('POST', '/api/v1/spaces', { path: 'acme' })).status, 201);
    assert.equal((await h.call('POST', '/api/v1/registries', { space: 'acme', identifier: 'files', packageType: 'generic', kind: 'local' })).status, 201);
  });
  after(async () => {
    await h?.close();
  });

  it('refuses a file over the limit with 413, by its Content-Length or while a chunked body streams, and stores nothing', async () => {
    const url = `${BASE}/big/1.0/big.bin`;
    const declared = await h.app.server.inject({ method: 'PUT', url, payload: randomBytes(1001), headers: { ...h.auth, 'content-type': 'application/octet-stream' } });
    assert.equal(declared.statusCode, 413, declared.body);
    const chunks = [randomBytes(600), randomBytes(600)];
    const streamed = await h.app.server.inject({ method: 'PUT', url, payload: Readable.from(chunks), headers: { ...h.auth, 'content-type': 'application/octet-stream' } });
    assert.equal(streamed.statusCode, 413, streamed.body);
    assert.equal((await h.app.server.inject({ method: 'GET', url, headers: h.auth })).statusCode, 404);
    assert.equal((await blobFiles(h.dataDir)).size, 0, 'no blob stored');
    const fits = await h.app.server.inject({ method: 'PUT', url, payload: Readable.from([randomBytes(500), randomBytes(500)]), headers: { ...h.auth, 'content-type': 'application/octet-stream' } });
    assert.equal(fits.statusCode, 201, fits.body);
  });
});

describe('generic files on two replicas sharing one PostgreSQL and one storage', () => {
  const schema = testSchema();
  let one: Harness;
  let two: Harness;
  before(async () => {
    const database = { url: TEST_DATABASE_URL, schema };
    one = await startInProcess({ database });
    two = await startInProcess({ database, dataDir: one.dataDir });
    assert.equal((await one.call('POST', '/api/v1/spaces', { path: 'acme' })).status, 201);
    assert.equal((await one.call('POST', '/api/v1/registries', { space: 'acme', identifier: 'files', packageType: 'generic', kind: 'local' })).status, 201);
  });
  after(async () => {
    await two?.app.server.close();
    await one?.close();
    await dropTestSchema(schema);
  });

  it('lets exactly one of concurrent uploads of one path with different bytes win across the replicas', async () => {
    for (let attempt = 0; attempt < 3; attempt++) {
      const url = `${BASE}/race/${attempt}.0/file.bin`;
      const bodies = Array.from({ length: 6 }, () => randomBytes(256 * 1024));
      const results = await Promise.all(
        bodies.map((payload, i) => (i % 2 === 0 ? one : two).app.server.inject({ method: 'PUT', url, payload, headers: { ...one.auth, 'content-type': 'application/octet-stream' } })),
      );
      assert.deepEqual(results.map((r) => r.statusCode).sort(), [201, 409, 409, 409, 409, 409], results.map((r) => r.body).join('\n'));
      const winner = bodies[results.findIndex((r) => r.statusCode === 201)]!;
      for (const h of [one, two]) assert.ok((await h.app.server.inject({ method: 'GET', url, headers: one.auth })).rawPayload.equals(winner), 'both replicas serve the winner');
    }
  });
});
