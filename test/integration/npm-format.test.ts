/**
 * The npm registry API in process (`inject()`, SQLite, filesystem storage): every route as the
 * npm CLI calls it, the bad-input table (each a 4xx with nothing stored), concurrent publishes
 * of one version (also on PostgreSQL), unpublish keeping version numbers retired, GC, permissions
 * per action, and what the management API gets from the format (package files, detail, tags,
 * deletes).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, type AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { dropTestSchema, testSchema, TEST_DATABASE_URL } from '../../src/metadata/test-databases.js';
import { blobFiles, startInProcess, type Harness } from '../helpers/inproc.js';
import { describeTarball, escapedName, publishDoc, tarball } from '../helpers/npm.js';

const BASE = '/pkg/acme/js/npm';
const basic = (user: string, pw: string): string => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;

interface Answer {
  status: number;
  headers: Record<string, unknown>;
  body: string;
  raw: Buffer;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- npm documents are loose JSON
}

describe('npm registry API (in process)', () => {
  let h: Harness;
  const readerPw = 'reader-password-1';

  async function req(method: string, path: string, options: { body?: unknown; headers?: Record<string, string>; auth?: string | null } = {}): Promise<Answer> {
    const auth = options.auth === undefined ? h.auth.authorization : options.auth;
    const payload = options.body === undefined ? undefined : typeof options.body === 'string' || Buffer.isBuffer(options.body) ? options.body : JSON.stringify(options.body);
    const res = await h.app.server.inject({
      method: method as 'GET',
      url: path.startsWith('/') ? path : `${BASE}/${path}`,
      headers: { ...(auth ? { authorization: auth } : {}), ...(payload !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers },
      ...(payload !== undefined ? { payload } : {}),
    });
    let json: unknown;
    try {
      json = res.body ? JSON.parse(res.body) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.statusCode, headers: res.headers, body: res.body, raw: res.rawPayload, json };
  }

  const publish = (name: string, version: string, doc = publishDoc(name, version), auth?: string) => req('PUT', escapedName(name), { body: doc, ...(auth ? { auth } : {}) });
  const files = (name: string, version: string) => h.app.services.packageFiles.list({ registryId: registryId(), artifact: name, version });
  let registry: { id: string } | undefined;
  const registryId = () => registry!.id;

  before(async () => {
    h = await startInProcess({ npm: { publishBytes: 512 * 1024, metadataBytes: 64 * 1024 } });
    assert.equal((await h.call('POST', '/api/v1/spaces', { path: 'acme' })).status, 201);
    assert.equal((await h.call('POST', '/api/v1/registries', { space: 'acme', identifier: 'js', packageType: 'npm', kind: 'local' })).status, 201);
    assert.equal((await h.call('POST', '/api/v1/registries', { space: 'acme', identifier: 'pub', packageType: 'npm', kind: 'local', public: true })).status, 201);
    assert.equal((await h.call('POST', '/api/v1/registries', { space: 'acme', identifier: 'js2', packageType: 'npm', kind: 'local' })).status, 201);
    assert.equal((await h.call('POST', '/api/v1/users', { username: 'reader', password: readerPw })).status, 201);
    assert.equal((await h.call('PUT', '/api/v1/spaces/acme/members/reader', { role: 'reader' })).status < 300, true);
    const root = await h.app.services.store.findSpace('acme');
    registry = await h.app.services.store.findRegistry(root!.id, 'js');
  });

  after(async () => {
    await h?.close();
  });

  it('publishes a package and serves its full packument with tarball URLs pointing at Pallet', async () => {
    const tgz = tarball('app-1');
    const put = await publish('app', '1.0.0', publishDoc('app', '1.0.0', tgz));
    assert.equal(put.status, 201, put.body);
    const got = await req('GET', 'app');
    assert.equal(got.status, 200, got.body);
    assert.match(String(got.headers['content-type']), /application\/json/);
    const doc = got.json;
    assert.equal(doc.name, 'app');
    assert.deepEqual(doc['dist-tags'], { latest: '1.0.0' });
    assert.equal(doc.description, 'the app package');
    assert.equal(doc.readme, '# app');
    assert.match(doc._rev, /^\d+-[0-9a-f]+$/);
    assert.ok(doc.time.created && doc.time.modified && doc.time['1.0.0']);
    const v = doc.versions['1.0.0'];
    assert.equal(v.dist.tarball, 'http://registry.test/pkg/acme/js/npm/app/-/app-1.0.0.tgz');
    assert.equal(v.dist.integrity, tgz.integrity);
    assert.equal(v.dist.shasum, tgz.shasum);
    assert.equal(v._npmUser.name, 'admin');
    assert.deepEqual(v.dependencies, { lodash: '^4.17.0' });
    const tar = await req('GET', 'app/-/app-1.0.0.tgz');
    assert.equal(tar.status, 200);
    assert.deepEqual(tar.raw, tgz.bytes);
    assert.match(String(tar.headers.etag), /^"sha256:[0-9a-f]{64}"$/);
    assert.equal((await req('GET', 'app/-/app-1.0.0.tgz', { headers: { 'if-none-match': String(tar.headers.etag) } })).status, 304);
    const head = await req('HEAD', 'app/-/app-1.0.0.tgz');
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(tgz.bytes.length));
    const one = await req('GET', 'app/latest');
    assert.equal(one.status, 200);
    assert.equal(one.json.version, '1.0.0');
    assert.equal((await req('GET', 'app/1.0.0')).json.dist.integrity, tgz.integrity);
    assert.equal((await req('GET', 'app/9.9.9')).status, 404);
    assert.equal((await req('GET', 'app/constructor')).status, 404);
    const recorded = await files('app', '1.0.0');
    assert.deepEqual(
      recorded.map((f) => [f.path, f.size]),
      [['app-1.0.0.tgz', tgz.bytes.length]],
    );
  });

  it('serves the abbreviated packument to installs, with ETag revalidation', async () => {
    const accept = 'application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*';
    const got = await req('GET', 'app', { headers: { accept } });
    assert.equal(got.status, 200);
    assert.match(String(got.headers['content-type']), /application\/vnd\.npm\.install-v1\+json/);
    assert.deepEqual(Object.keys(got.json).sort(), ['dist-tags', 'modified', 'name', 'versions']);
    const v = got.json.versions['1.0.0'];
    assert.equal(v.hasInstallScript, true);
    assert.equal(v.readme, undefined);
    assert.equal(v.description, undefined);
    assert.ok(v.dist.integrity);
    const etag = String(got.headers.etag);
    assert.equal((await req('GET', 'app', { headers: { accept, 'if-none-match': etag } })).status, 304);
    const full = await req('GET', 'app');
    assert.notEqual(full.headers.etag, etag, 'the two forms have their own ETags');
    await publish('app', '1.1.0');
    assert.equal((await req('GET', 'app', { headers: { accept, 'if-none-match': etag } })).status, 200, 'a publish changes the ETag');
  });

  it('publishes scoped packages, served under @scope%2fname and @scope/name', async () => {
    const tgz = tarball('scoped');
    assert.equal((await publish('@acme/util', '0.1.0', publishDoc('@acme/util', '0.1.0', tgz))).status, 201);
    for (const path of ['@acme%2futil', '@acme%2Futil', '@acme/util']) {
      const got = await req('GET', path);
      assert.equal(got.status, 200, `${path}: ${got.body}`);
      assert.equal(got.json.versions['0.1.0'].dist.tarball, 'http://registry.test/pkg/acme/js/npm/@acme/util/-/util-0.1.0.tgz');
    }
    assert.deepEqual((await req('GET', '@acme/util/-/util-0.1.0.tgz')).raw, tgz.bytes);
    assert.equal((await req('GET', '@acme/util/-/other-0.1.0.tgz')).status, 404);
  });

  it('refuses a second publish of a version with 409, and keeps the first', async () => {
    const again = await publish('app', '1.0.0', publishDoc('app', '1.0.0', tarball('different')));
    assert.equal(again.status, 409, again.body);
    assert.match(again.json.error, /previously published/);
    assert.equal((await req('GET', 'app')).json.versions['1.0.0'].dist.integrity, tarball('app-1').integrity);
  });

  it('lets exactly one of two concurrent publishes of a version win, with its files recorded', async () => {
    const a = tarball('race-a');
    const b = tarball('race-b');
    const results = await Promise.all([publish('race', '1.0.0', publishDoc('race', '1.0.0', a)), publish('race', '1.0.0', publishDoc('race', '1.0.0', b))]);
    assert.deepEqual(results.map((r) => r.status).sort(), [201, 409]);
    const doc = (await req('GET', 'race')).json;
    assert.deepEqual(Object.keys(doc.versions), ['1.0.0']);
    const winner = doc.versions['1.0.0'].dist.integrity === a.integrity ? a : b;
    assert.deepEqual((await req('GET', 'race/-/race-1.0.0.tgz')).raw, winner.bytes);
    const [file] = await files('race', '1.0.0');
    assert.equal(file?.size, winner.bytes.length);
    const tar = await req('GET', 'race/-/race-1.0.0.tgz');
    assert.equal(`"${file?.digest}"`, tar.headers.etag, 'the package files name the tarball that is served');
  });

  describe('refuses bad publishes with a 4xx and stores nothing', () => {
    const good = () => publishDoc('bad', '1.0.0');
    const notGzip = describeTarball(Buffer.from('PK\u0003\u0004 this is a zip, not a gzip tarball'));
    const cases: Array<[string, string, unknown, number, RegExp]> = [
      ['a body that is not JSON', 'bad', '{"versions": {', 400, /malformed|JSON/],
      ['a body that is a JSON array', 'bad', '[1,2]', 400, /not a JSON object/],
      ['trailing garbage after the document', 'bad', `${JSON.stringify(good())} {}`, 400, /after the document/],
      ['an integrity that does not match', 'bad', { ...good(), versions: { '1.0.0': { ...(good().versions as any)['1.0.0'], dist: { integrity: tarball('x').integrity } } } }, 400, /integrity/],
      ['a shasum that does not match', 'bad', { ...good(), versions: { '1.0.0': { ...(good().versions as any)['1.0.0'], dist: { shasum: 'f'.repeat(40) } } } }, 400, /shasum/],
      ['a length that does not match', 'bad', { ...good(), _attachments: { 'bad-1.0.0.tgz': { ...(good()._attachments as any)['bad-1.0.0.tgz'], length: 3 } } }, 400, /length/],
      ['a tarball that is not gzip', 'bad', publishDoc('bad', '1.0.0', notGzip), 400, /gzip/],
      ['attachment data that is not base64', 'bad', { ...good(), _attachments: { 'bad-1.0.0.tgz': { data: 'H4sI!!!!', length: 6 } } }, 400, /base64/],
      ['a version that is not semver', 'bad', publishDoc('bad', '1.0'), 400, /semantic version/],
      ['a package.json naming another package', 'bad', { ...good(), versions: { '1.0.0': { ...(good().versions as any)['1.0.0'], name: 'other' } } }, 400, /names "other"/],
      ['a document naming another package', 'bad', publishDoc('other', '1.0.0'), 400, /names package/],
      ['a scope the URL does not name', '@acme/x', publishDoc('@evil/x', '1.0.0'), 400, /names package/],
      ['two versions at once', 'bad', { ...good(), versions: { ...(good().versions as any), '2.0.0': {} } }, 400, /exactly one version/],
      ['an attachment under another name', 'bad', { ...good(), _attachments: { 'evil-1.0.0.tgz': (good()._attachments as any)['bad-1.0.0.tgz'] } }, 400, /attachment/],
      ['a tag on another version', 'bad', { ...good(), 'dist-tags': { latest: '9.9.9' } }, 400, /only tag/],
      ['a tag that looks like a version', 'bad', { ...good(), 'dist-tags': { 'v1.2': '1.0.0' } }, 400, /dist-tag/],
      ['an upper-case name', 'Bad', publishDoc('Bad', '1.0.0'), 400, /upper-case/],
      ['a name with ..', 'a..b', publishDoc('a..b', '1.0.0'), 400, /\.\./],
      ['a name with a leading dot', '.hidden', publishDoc('.hidden', '1.0.0'), 400, /period/],
      ['a name with a leading underscore', '_private', publishDoc('_private', '1.0.0'), 400, /underscore/],
      ['a name over 214 characters', 'n'.repeat(215), publishDoc('n'.repeat(215), '1.0.0'), 400, /214/],
      ['a name with URL-unsafe characters', 'a b', publishDoc('a b', '1.0.0'), 400, /URL-safe/],
      ['metadata over the limit', 'bad', { ...good(), readme: 'x'.repeat(70 * 1024) }, 413, /metadata/],
      ['a document nested too deep', 'bad', `{"a":${'['.repeat(200)}${']'.repeat(200)}}`, 400, /nests deeper/],
      ['a body over the limit', 'bad', publishDoc('bad', '1.0.0', describeTarball(gzipSync(randomBytes(600 * 1024)))), 413, /limit/],
    ];
    for (const [what, name, body, status, message] of cases) {
      it(what, async () => {
        const res = await req('PUT', escapedName(name), { body });
        assert.equal(res.status, status, res.body);
        assert.match(res.json?.error ?? '', message);
        const pkgName = typeof body === 'object' && body !== null && typeof (body as { name?: unknown }).name === 'string' ? (body as { name: string }).name : name;
        for (const n of new Set([name, pkgName])) assert.equal((await req('GET', escapedName(n))).status, 404, `${n} must not exist`);
        assert.deepEqual(await files(name, '1.0.0'), []);
        assert.deepEqual(await h.app.services.store.listStaleUploads(Date.now() + 3_600_000), [], 'no upload session is left behind');
      });
    }
  });

  it('leaves nothing behind when the client goes away in the middle of a publish', async () => {
    await h.app.server.listen({ port: 0, host: '127.0.0.1' });
    const { port } = h.app.server.server.address() as AddressInfo;
    const body = Buffer.from(JSON.stringify(publishDoc('cut', '1.0.0', tarball('cut', 200_000))));
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write(`PUT ${BASE}/cut HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${h.auth.authorization}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
    socket.write(body.subarray(0, Math.floor(body.length / 2)));
    await new Promise((resolve) => setTimeout(resolve, 200));
    socket.destroy();
    for (let i = 0; i < 50 && (await h.app.services.store.listStaleUploads(Date.now() + 3_600_000)).length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(await h.app.services.store.listStaleUploads(Date.now() + 3_600_000), [], 'the staged tarball is discarded');
    assert.equal((await req('GET', 'cut')).status, 404);
    assert.deepEqual(await files('cut', '1.0.0'), []);
  });

  it('manages dist-tags: list, add, move, remove; latest stays', async () => {
    assert.deepEqual((await req('GET', '-/package/app/dist-tags')).json, { latest: '1.1.0' });
    const add = await req('PUT', '-/package/app/dist-tags/stable', { body: '"1.0.0"' });
    assert.equal(add.status, 201, add.body);
    assert.equal((await req('POST', '-/package/app/dist-tags/next', { body: '"1.1.0"' })).status, 201);
    assert.deepEqual((await req('GET', '-/package/app/dist-tags')).json, { latest: '1.1.0', stable: '1.0.0', next: '1.1.0' });
    assert.equal((await req('DELETE', '-/package/app/dist-tags/next')).status, 200);
    assert.equal((await req('DELETE', '-/package/app/dist-tags/latest')).status, 400);
    assert.equal((await req('DELETE', '-/package/app/dist-tags/nope')).status, 404);
    assert.equal((await req('PUT', '-/package/app/dist-tags/x', { body: '"7.7.7"' })).status, 404);
    assert.equal((await req('PUT', '-/package/app/dist-tags/1.0', { body: '"1.0.0"' })).status, 400);
    assert.equal((await req('PUT', '-/package/app/dist-tags/x', { body: '{"not":"a string"}' })).status, 400);
    assert.deepEqual((await req('GET', '-/package/@acme%2futil/dist-tags')).json, { latest: '0.1.0' });
    assert.deepEqual((await req('GET', 'app')).json['dist-tags'], { latest: '1.1.0', stable: '1.0.0' });
  });

  it('deprecates and un-deprecates through a packument PUT, refusing content changes and stale revs', async () => {
    const doc = (await req('GET', 'app?write=true')).json;
    doc.versions['1.0.0'].deprecated = 'use 1.1';
    const put = await req('PUT', `app/-rev/${doc._rev}`, { body: doc });
    assert.equal(put.status, 200, put.body);
    assert.equal((await req('GET', 'app')).json.versions['1.0.0'].deprecated, 'use 1.1');
    assert.equal((await req('GET', 'app', { headers: { accept: 'application/vnd.npm.install-v1+json' } })).json.versions['1.0.0'].deprecated, 'use 1.1');
    assert.equal((await req('PUT', `app/-rev/${doc._rev}`, { body: doc })).status, 409, 'a stale rev is a conflict');
    const fresh = (await req('GET', 'app?write=true')).json;
    const tampered = structuredClone(fresh);
    tampered.versions['1.0.0'].dist.integrity = tarball('evil').integrity;
    assert.equal((await req('PUT', `app/-rev/${fresh._rev}`, { body: tampered })).status, 400);
    const added = structuredClone(fresh);
    added.versions['3.0.0'] = { ...fresh.versions['1.0.0'], version: '3.0.0' };
    assert.equal((await req('PUT', `app/-rev/${fresh._rev}`, { body: added })).status, 400);
    fresh.versions['1.0.0'].deprecated = '';
    assert.equal((await req('PUT', `app/-rev/${fresh._rev}`, { body: fresh })).status, 200);
    assert.equal((await req('GET', 'app')).json.versions['1.0.0'].deprecated, undefined);
  });

  it('unpublishes one version as npm does; the number stays retired and its files go', async () => {
    assert.equal((await publish('app', '1.2.0')).status, 201);
    const doc = (await req('GET', 'app?write=true')).json;
    const dist = doc.versions['1.2.0'].dist;
    delete doc.versions['1.2.0'];
    doc['dist-tags'].latest = '1.1.0';
    assert.equal((await req('PUT', `app/-rev/${doc._rev}`, { body: doc })).status, 200);
    const { _rev } = (await req('GET', 'app?write=true')).json;
    const tarballPath = new URL(dist.tarball).pathname;
    assert.equal((await req('DELETE', `${tarballPath}/-rev/${_rev}`)).status, 200);
    const after = (await req('GET', 'app')).json;
    assert.deepEqual(Object.keys(after.versions).sort(), ['1.0.0', '1.1.0']);
    assert.equal(after['dist-tags'].latest, '1.1.0');
    assert.equal((await req('GET', 'app/-/app-1.2.0.tgz')).status, 404);
    assert.deepEqual(await files('app', '1.2.0'), []);
    assert.equal((await publish('app', '1.2.0')).status, 409, 'an unpublished number cannot be reused');
  });

  it('unpublishes a whole package with its rev; its numbers stay retired', async () => {
    assert.equal((await publish('gone', '1.0.0')).status, 201);
    const { _rev } = (await req('GET', 'gone?write=true')).json;
    assert.equal((await req('DELETE', 'gone/-rev/0-0')).status, 409);
    assert.equal((await req('DELETE', `gone/-rev/${_rev}`)).status, 200);
    assert.equal((await req('GET', 'gone')).status, 404);
    assert.deepEqual(await files('gone', '1.0.0'), []);
    assert.equal((await publish('gone', '1.0.0')).status, 409);
    assert.equal((await publish('gone', '1.0.1')).status, 201, 'a new number may be published');
  });

  it('answers search, whoami, ping, web login (404) and audit (empty)', async () => {
    const found = await req('GET', '-/v1/search?text=app&size=5');
    assert.equal(found.status, 200);
    assert.deepEqual(
      found.json.objects.map((o: { package: { name: string } }) => o.package.name),
      ['app'],
    );
    assert.equal(found.json.objects[0].package.version, '1.1.0');
    assert.equal(found.json.total, 1);
    assert.equal((await req('GET', '-/v1/search?text=&size=2&from=1')).json.objects.length, 2);
    assert.deepEqual((await req('GET', '-/whoami')).json, { username: 'admin' });
    assert.equal((await req('GET', '-/ping')).status, 200);
    assert.equal((await req('POST', '-/v1/login', { body: {} })).status, 404);
    for (const path of ['-/npm/v1/security/advisories/bulk', '-/npm/v1/security/audits/quick']) {
      const audit = await req('POST', path, { body: { app: ['1.0.0'] } });
      assert.equal(audit.status, 200);
      assert.deepEqual(audit.json, {});
    }
    assert.equal((await req('GET', '-/nothing-here')).status, 404);
  });

  it('logs in with the legacy flow, answering an access token that works as _authToken', async () => {
    const bad = await req('PUT', '-/user/org.couchdb.user:reader', { body: { name: 'reader', password: 'wrong' }, auth: null });
    assert.equal(bad.status, 401);
    assert.equal((await req('PUT', '-/user/org.couchdb.user:admin', { body: { name: 'reader', password: readerPw }, auth: null })).status, 400);
    const ok = await req('PUT', '-/user/org.couchdb.user:reader', { body: { _id: 'org.couchdb.user:reader', name: 'reader', password: readerPw, type: 'user' }, auth: null });
    assert.equal(ok.status, 201, ok.body);
    assert.equal(ok.json.ok, true);
    assert.match(ok.json.token, /^pallet_/);
    const bearer = `Bearer ${ok.json.token}`;
    assert.deepEqual((await req('GET', '-/whoami', { auth: bearer })).json, { username: 'reader' });
    assert.equal((await req('GET', 'app', { auth: bearer })).status, 200);
    assert.equal((await req('GET', '/pkg/acme/js2/npm/-/ping', { auth: basic('reader', readerPw) })).status, 200);
    assert.equal((await req('GET', '/pkg/acme/js2/npm/-/ping', { auth: bearer })).status, 403, 'the token is limited to the registry it was made for');
  });

  it('enforces pull, push and delete: anonymous 401, a reader 403, public reads open', async () => {
    const anonymous = await req('GET', 'app', { auth: null });
    assert.equal(anonymous.status, 401);
    assert.match(String(anonymous.headers['www-authenticate']), /^Basic /);
    const reader = basic('reader', readerPw);
    assert.equal((await req('GET', 'app', { auth: reader })).status, 200);
    assert.equal((await publish('readers-pkg', '1.0.0', publishDoc('readers-pkg', '1.0.0'), reader)).status, 403);
    assert.equal((await req('GET', 'readers-pkg')).status, 404);
    assert.equal((await req('PUT', '-/package/app/dist-tags/x', { body: '"1.0.0"', auth: reader })).status, 403);
    assert.equal((await req('DELETE', 'app/-rev/1-0', { auth: reader })).status, 403);
    const doc = (await req('GET', 'app?write=true')).json;
    delete doc.versions['1.0.0'];
    assert.equal((await req('PUT', `app/-rev/${doc._rev}`, { body: doc, auth: reader })).status, 403);
    assert.equal((await req('GET', 'app')).json.versions['1.0.0'] !== undefined, true);
    assert.equal((await req('PUT', '/pkg/acme/pub/npm/open', { body: publishDoc('open', '1.0.0') })).status, 201);
    const open = await req('GET', '/pkg/acme/pub/npm/open', { auth: null });
    assert.equal(open.status, 200);
    assert.equal((await req('GET', new URL(open.json.versions['1.0.0'].dist.tarball).pathname, { auth: null })).status, 200);
    assert.equal((await req('PUT', '/pkg/acme/pub/npm/open2', { body: publishDoc('open2', '1.0.0'), auth: null })).status, 401);
  });

  it('keeps published tarballs through GC and reclaims unpublished ones', async () => {
    const kept = tarball('gc-kept');
    const dropped = tarball('gc-dropped');
    const digest = (t: { bytes: Buffer }) => `sha256:${createHash('sha256').update(t.bytes).digest('hex')}`;
    assert.equal((await publish('gc-me', '1.0.0', publishDoc('gc-me', '1.0.0', kept))).status, 201);
    assert.equal((await publish('gc-me', '1.0.1', publishDoc('gc-me', '1.0.1', dropped))).status, 201);
    await new Promise((resolve) => setTimeout(resolve, 5));
    await h.app.services.gc.run({ graceMs: 1 });
    let stored = await blobFiles(h.dataDir);
    assert.ok(stored.has(digest(kept)) && stored.has(digest(dropped)), 'published tarballs are live');
    const doc = (await req('GET', 'gc-me?write=true')).json;
    delete doc.versions['1.0.1'];
    assert.equal((await req('PUT', `gc-me/-rev/${doc._rev}`, { body: doc })).status, 200);
    await new Promise((resolve) => setTimeout(resolve, 5));
    await h.app.services.gc.run({ graceMs: 1 });
    stored = await blobFiles(h.dataDir);
    assert.ok(stored.has(digest(kept)), 'the version left keeps its tarball');
    assert.ok(!stored.has(digest(dropped)), 'an unpublished tarball is reclaimed');
    assert.deepEqual((await req('GET', 'gc-me/-/gc-me-1.0.0.tgz')).raw, kept.bytes);
  });

  it('writes Setup Client steps with the .npmrc lines, publish and install', async () => {
    const setup = await h.call<{ steps: Array<{ title: string; commands: string[] }> }>('GET', '/api/v1/registries/acme/js/setup');
    assert.equal(setup.status, 200, setup.text);
    const commands = setup.json.steps.flatMap((s) => s.commands).join('\n');
    assert.match(commands, /^registry=http:\/\/registry\.test\/pkg\/acme\/js\/npm\/$/m);
    assert.match(commands, /^\/\/registry\.test\/pkg\/acme\/js\/npm\/:_authToken=<access token>$/m);
    assert.match(commands, /npm publish/);
    assert.match(commands, /npm install <package>/);
  });

  it('counts publishes by outcome and tarball downloads', async () => {
    const text = await h.app.services.metrics.metrics();
    const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? 0);
    assert.ok(value(/pallet_npm_publishes_total\{registry="acme\/js",outcome="published"\} (\d+)/) >= 7);
    assert.ok(value(/pallet_npm_publishes_total\{registry="acme\/js",outcome="conflict"\} (\d+)/) >= 3);
    assert.ok(value(/pallet_npm_publishes_total\{registry="acme\/js",outcome="invalid"\} (\d+)/) >= 20);
    assert.ok(value(/pallet_npm_tarball_downloads_total\{registry="acme\/js"\} (\d+)/) >= 3);
  });

  it('shows npm packages in the management API: artifacts, versions with dist-tags and the npm detail', async () => {
    const API = '/api/v1/registries/acme/js/artifacts';
    const list = await h.call<{ items: Array<{ name: string; latestVersion: string }> }>('GET', API);
    assert.equal(list.status, 200, list.text);
    const names = list.json.items.map((a) => a.name);
    assert.ok(names.includes('app') && names.includes('@acme/util'), names.join(','));
    const versions = await h.call<{ items: Array<{ version: string; tags: string[]; files: Array<{ path: string }> }> }>('GET', `${API}/app/versions`);
    assert.equal(versions.status, 200, versions.text);
    const v100 = versions.json.items.find((v) => v.version === '1.0.0');
    assert.deepEqual(v100?.tags, ['stable']);
    assert.deepEqual(v100?.files.map((f) => f.path), ['app-1.0.0.tgz']);
    const detail = await h.call<{ npm: { integrity: string; dependencies: Record<string, string>; distTags: string[] } }>('GET', `${API}/app/versions/1.0.0`);
    assert.equal(detail.status, 200, detail.text);
    assert.equal(detail.json.npm.integrity, tarball('app-1').integrity);
    assert.deepEqual(detail.json.npm.dependencies, { lodash: '^4.17.0' });
    const scoped = await h.call('GET', `${API}/${encodeURIComponent('@acme/util')}/versions/0.1.0`);
    assert.equal(scoped.status, 200, scoped.text);
    const deleted = await h.call('DELETE', `${API}/gc-me/versions/1.0.0`);
    assert.ok(deleted.status < 300, deleted.text);
    assert.equal((await req('GET', 'gc-me')).status, 404, 'its last version gone, the package is gone');
    assert.equal((await publish('gc-me', '1.0.0')).status, 409, 'a version deleted through the API stays retired');
  });

  it('gives the management API detail, tags and deletes', async () => {
    const parts = h.app.services.formats.get('npm')!.packages!;
    const reg = await h.app.services.store.findRegistry((await h.app.services.store.findSpace('acme'))!.id, 'js');
    const detail = await parts.detail!(reg!, 'app', '1.0.0');
    assert.deepEqual(detail?.dependencies, { lodash: '^4.17.0' });
    assert.deepEqual(detail?.distTags, ['stable']);
    assert.equal(detail?.integrity, tarball('app-1').integrity);
    assert.equal(await parts.detail!(reg!, 'app', '9.9.9'), null);
    assert.deepEqual(Object.fromEntries(await parts.tags!(reg!, 'app')), { '1.1.0': ['latest'], '1.0.0': ['stable'] });
    await parts.deleteVersion(reg!, 'app', '1.1.0', h.app.log);
    const after = (await req('GET', 'app')).json;
    assert.deepEqual(Object.keys(after.versions), ['1.0.0']);
    assert.equal(after['dist-tags'].latest, '1.0.0', 'latest moves to the highest version left');
    await assert.rejects(parts.deleteVersion(reg!, 'app', '1.1.0', h.app.log), /no version/);
    await parts.deleteArtifact(reg!, '@acme/util', h.app.log);
    assert.equal((await req('GET', '@acme%2futil')).status, 404);
    assert.deepEqual(await files('@acme/util', '0.1.0'), []);
  });
});

describe('npm publishes on PostgreSQL (in process)', () => {
  let h: Harness;
  const schema = testSchema();

  before(async () => {
    h = await startInProcess({ database: { url: TEST_DATABASE_URL, schema } });
    assert.equal((await h.call('POST', '/api/v1/spaces', { path: 'acme' })).status, 201);
    assert.equal((await h.call('POST', '/api/v1/registries', { space: 'acme', identifier: 'js', packageType: 'npm', kind: 'local' })).status, 201);
  });

  after(async () => {
    await h?.close();
    await dropTestSchema(schema);
  });

  const put = (name: string, doc: Record<string, unknown>) =>
    h.app.server.inject({ method: 'PUT', url: `${BASE}/${escapedName(name)}`, payload: JSON.stringify(doc), headers: { ...h.auth, 'content-type': 'application/json' } });

  it('lets exactly one of many concurrent publishes of a version win, and serves the winner', async () => {
    const tarballs = Array.from({ length: 6 }, (_, i) => tarball(`pg-race-${i}`));
    const results = await Promise.all(tarballs.map((t) => put('@acme/race', publishDoc('@acme/race', '1.0.0', t))));
    assert.deepEqual(
      results.map((r) => r.statusCode).sort(),
      [201, 409, 409, 409, 409, 409],
    );
    const doc = JSON.parse((await h.app.server.inject({ method: 'GET', url: `${BASE}/@acme%2frace`, headers: h.auth })).body);
    const winner = tarballs.find((t) => t.integrity === doc.versions['1.0.0'].dist.integrity)!;
    const served = await h.app.server.inject({ method: 'GET', url: `${BASE}/@acme/race/-/race-1.0.0.tgz`, headers: h.auth });
    assert.deepEqual(served.rawPayload, winner.bytes);
    const root = await h.app.services.store.findSpace('acme');
    const registry = await h.app.services.store.findRegistry(root!.id, 'js');
    const [file] = await h.app.services.packageFiles.list({ registryId: registry!.id, artifact: '@acme/race', version: '1.0.0' });
    assert.equal(`"${file?.digest}"`, served.headers.etag, 'the package files name the tarball that is served');
  });

  it('lets one of concurrent publishes through two processes win, with the winner’s files recorded', async () => {
    // A second app over the same database and storage: another Pallet process.
    const other = await startInProcess({ dataDir: h.dataDir, database: { url: TEST_DATABASE_URL, schema } });
    try {
      const apps = [h.app, other.app];
      const tarballs = Array.from({ length: 6 }, (_, i) => tarball(`two-process-${i}`));
      const results = await Promise.all(
        tarballs.map((t, i) =>
          apps[i % 2]!.server.inject({ method: 'PUT', url: `${BASE}/twoproc`, payload: JSON.stringify(publishDoc('twoproc', '1.0.0', t)), headers: { ...h.auth, 'content-type': 'application/json' } }),
        ),
      );
      assert.deepEqual(
        results.map((r) => r.statusCode).sort(),
        [201, 409, 409, 409, 409, 409],
        results.map((r) => r.body).join('\n'),
      );
      const served = await other.app.server.inject({ method: 'GET', url: `${BASE}/twoproc/-/twoproc-1.0.0.tgz`, headers: h.auth });
      const root = await h.app.services.store.findSpace('acme');
      const registry = await h.app.services.store.findRegistry(root!.id, 'js');
      const [file] = await h.app.services.packageFiles.list({ registryId: registry!.id, artifact: 'twoproc', version: '1.0.0' });
      assert.equal(`"${file?.digest}"`, served.headers.etag, 'the package files name the tarball that is served');
    } finally {
      await other.app.server.close();
    }
  });

  it('publishes concurrent versions of one package without losing any', async () => {
    const versions = ['1.0.0', '1.1.0', '1.2.0', '2.0.0', '2.1.0'];
    const results = await Promise.all(versions.map((v) => put('many', publishDoc('many', v))));
    assert.deepEqual(results.map((r) => r.statusCode), versions.map(() => 201));
    const doc = JSON.parse((await h.app.server.inject({ method: 'GET', url: `${BASE}/many`, headers: h.auth })).body);
    assert.deepEqual(Object.keys(doc.versions).sort(), versions);
  });
});
