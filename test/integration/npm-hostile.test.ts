/**
 * Hostile requests to an npm registry that the main suite (npm-format.test.ts) does not send:
 * search offsets past any integer, a client making up Host headers to multiply cached
 * packuments, repeated slashes in the prefix, and dist-tag names that are Object.prototype's.
 * Each answer is a clear 4xx (or the plain answer), never a 500, and nothing is half-changed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FormatCore } from '../../src/formats/format.js';
import { FORMATS } from '../../src/formats/index.js';
import { LocalPackages } from '../../src/formats/npm/local-packages.js';
import { SqlNpmStore } from '../../src/formats/npm/store/sql-npm-store.js';
import { startInProcess, type Harness } from '../helpers/inproc.js';
import { escapedName, publishDoc } from '../helpers/npm.js';

const BASE = '/pkg/acme/js/npm';

describe('npm registry API: hostile requests (in process)', () => {
  let h: Harness;
  let core: FormatCore | undefined;

  async function req(method: string, path: string, body?: unknown, auth: string | null = h.auth.authorization ?? null): Promise<{ status: number; body: string; json: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const res = await h.app.server.inject({
      method: method as 'GET',
      url: path.startsWith('/') ? path : `${BASE}/${path}`,
      headers: { ...(auth ? { authorization: auth } : {}), ...(payload !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(payload !== undefined ? { payload } : {}),
    });
    let json: unknown;
    try {
      json = res.body ? JSON.parse(res.body) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.statusCode, body: res.body, json };
  }

  before(async () => {
    // The npm format as served, with its core kept to build a second reader over the same rows.
    const formats = FORMATS.map((f) => (f.type === 'npm' ? { ...f, create: (c: FormatCore) => ((core = c), f.create!(c)) } : f));
    h = await startInProcess({ npm: { metadataBytes: 256 * 1024 } }, undefined, formats);
    assert.equal((await h.call('POST', '/api/v1/spaces', { path: 'acme' })).status, 201);
    assert.equal((await h.call('POST', '/api/v1/registries', { space: 'acme', identifier: 'js', packageType: 'npm', kind: 'local' })).status, 201);
    for (const name of ['one', 'two', '@sc/three']) assert.equal((await req('PUT', escapedName(name), publishDoc(name, '1.0.0'))).status, 201);
  });

  after(async () => {
    await h?.close();
  });

  it('answers a search offset past any integer with an empty page, not a 500', async () => {
    for (const from of ['99999999999999999999', `1${'0'.repeat(400)}`, String(2 ** 63)]) {
      const res = await req('GET', `-/v1/search?text=&from=${from}`);
      assert.equal(res.status, 200, `${from}: ${res.body}`);
      assert.deepEqual(res.json.objects, []);
      assert.equal(res.json.total, 3);
    }
  });

  it('keeps one built packument per package however many registry URLs (Host headers) ask for it', async () => {
    const { database, services } = core!;
    const registry = (await services.store.findRegistry((await services.store.findSpace('acme'))!.id, 'js'))!;
    const local = new LocalPackages({ npm: new SqlNpmStore(database.db, database.dialect), blobs: services.blobs }, 2);
    const first = await local.packument(registry, 'one', 'http://a.test/npm');
    await local.packument(registry, 'two', 'http://a.test/npm');
    for (let i = 0; i < 5; i++) {
      const url = `http://made-up-${i}.test/npm`;
      const doc = await local.packument(registry, 'two', url);
      assert.equal(doc!.versions['1.0.0']!.dist.tarball, `${url}/two/-/two-1.0.0.tgz`, 'each URL gets its own tarball links');
    }
    assert.equal(await local.packument(registry, 'one', 'http://a.test/npm'), first, 'the other package stayed cached');
  });

  it('reads the path after the prefix whatever slashes the router ignored in it', async () => {
    const got = await req('GET', '/pkg/acme//js/npm/one');
    assert.equal(got.status, 200, got.body);
    assert.equal(got.json.name, 'one');
    assert.equal((await req('GET', '//pkg/acme/js//npm/@sc%2fthree/1.0.0')).json?.name, '@sc/three');
    // Not the package "npm" at revision 1: the registry's own endpoint, which takes no DELETE.
    assert.equal((await req('DELETE', '/pkg/acme//js/npm/-rev/1')).status, 404);
  });

  it('parses JSON bodies within bounds: deep or value-heavy documents are refused, not parsed on the event loop', async () => {
    // An anonymous login with a MB of nested arrays: JSON.parse alone held the loop for about a second.
    const deep = await req('PUT', '-/user/org.couchdb.user:admin', `${'['.repeat(512 * 1024)}${']'.repeat(512 * 1024)}`, null);
    assert.equal(deep.status, 400);
    assert.match(deep.json.error, /nests deeper/);
    assert.equal((await req('PUT', '-/package/one/dist-tags/beta', `[${'0,'.repeat(5000)}0]`)).status, 400);
    // A publish whose metadata is mostly tiny values (limit: metadataBytes / 16 of them).
    const heavy = publishDoc('heavy', '1.0.0') as { versions: Record<string, Record<string, unknown>> };
    heavy.versions['1.0.0']!.keywords = new Array(40_000).fill(0);
    const res = await req('PUT', 'heavy', heavy);
    assert.equal(res.status, 400, res.body);
    assert.match(res.json.error, /more than \d+ values/);
    const proto = JSON.stringify(publishDoc('heavy', '1.0.0')).replace('"license":', '"__proto__":{"polluted":1},"license":');
    assert.equal((await req('PUT', 'heavy', proto)).status, 400);
    assert.equal((await req('GET', 'heavy')).status, 404, 'nothing stored');
  });

  it('refuses control characters in names, tags, user names and search text (a NUL was a 500 on PostgreSQL)', async () => {
    for (const [method, path, body] of [
      ['GET', 'a%00b'],
      ['GET', '-/package/a%00b/dist-tags'],
      ['GET', '-/v1/search?text=a%00b'],
      ['PUT', '-/package/one/dist-tags/x%00', '"1.0.0"'],
      ['PUT', '-/user/org.couchdb.user:a%00b', { name: 'a\u0000b', password: 'x' }],
      ['DELETE', 'a%00b/-rev/1-x'],
    ] as const) {
      const res = await req(method, path, body);
      assert.equal(res.status, 400, `${method} ${path}: ${res.body}`);
    }
    const doc = (await req('GET', 'one')).json;
    doc.versions['1.0.0'].deprecated = 'gone\u0000';
    assert.equal((await req('PUT', `one/-rev/${doc._rev}`, doc)).status, 400, 'a NUL in a deprecation message');
    assert.equal((await req('GET', 'one')).json.versions['1.0.0'].deprecated, undefined);
  });

  it('refuses a version with build metadata: no twin of a published version, no retired number back', async () => {
    const twin = await req('PUT', 'two', publishDoc('two', '1.0.0+evil'));
    assert.equal(twin.status, 400, twin.body);
    assert.deepEqual(Object.keys((await req('GET', 'two')).json.versions), ['1.0.0']);
    assert.equal((await req('GET', 'two/-/two-1.0.0+evil.tgz')).status, 404);
  });

  it('refuses __proto__ as a dist-tag and answers 404 for removing a tag the package does not have', async () => {
    assert.equal((await req('PUT', '-/package/one/dist-tags/__proto__', '"1.0.0"')).status, 400);
    const doc = publishDoc('one', '1.0.1');
    const res = await req('PUT', 'one', JSON.stringify(doc).replace('"dist-tags":{', '"dist-tags":{"__proto__":"1.0.1",'));
    assert.equal(res.status, 400, res.body);
    for (const tag of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) assert.equal((await req('DELETE', `-/package/one/dist-tags/${tag}`)).status, 404, tag);
    assert.deepEqual((await req('GET', '-/package/one/dist-tags')).json, { latest: '1.0.0' });
  });
});
