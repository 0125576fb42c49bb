/**
 * `GET /api/v1/package-types` and the OpenAPI enums that come from the format list: the served
 * formats with their sources, URL rules, setup steps and pull commands for a placeholder
 * registry, readable by anyone; the document's package types and upstream sources are the
 * list's, and a list with one more format documents (and validates) one more.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildApp, type App } from '../app.js';
import { loadConfig } from '../config/config.js';
import { FORMATS } from '../formats/index.js';
import type { PackageFormat } from '../formats/format.js';
import { openApiDocument } from './openapi.js';
import { packageTypeViews, type PackageTypeView } from './package-types.js';
import { formatEnums } from './schemas.js';

const BASE_URL = 'http://pallet.test:5000';

/** A format only this test knows: one public source beside custom, its own URL schemes. */
const tinyFormat: PackageFormat = {
  type: 'tiny',
  label: 'Tiny',
  description: 'Tiny test packages',
  icon: 'tiny-icon',
  ociBased: false,
  pkgPath: 'tiny',
  sources: [
    { id: 'tinyhub', label: 'Tiny Hub', defaultUrl: 'https://tiny.example.org' },
    { id: 'custom', label: 'Custom' },
  ],
  defaultSource: 'tinyhub',
  urlSchemes: ['tiny:'],
  urlHint: 'a tiny index (tiny://tiny.example.com/index)',
  setup: (ctx) => [{ title: 'Fetch', commands: [`tiny get ${ctx.baseUrl}/pkg/${ctx.rootPath}/${ctx.identifier}/tiny/<name>`] }],
  pullCommand: (ctx, artifact, version) => `tiny get ${ctx.host}/${ctx.rootPath}/${ctx.identifier}/${artifact} ${'tag' in version ? version.tag : version.digest}`,
};

type Json = Record<string, unknown>;
const at = (doc: Json, path: string[]): Json => path.reduce<Json>((node, key) => node[key] as Json, doc);

describe('GET /api/v1/package-types', () => {
  let app: App;
  let dataDir: string;
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pallet-ptypes-'));
    app = await buildApp(loadConfig({ env: {}, flags: { dataDir, logLevel: 'silent', baseUrl: BASE_URL, adminPassword: 'package-types-admin' } }));
  });
  after(async () => {
    await app.server.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('lists the served formats to anonymous callers, setup and pull written for a placeholder registry', async () => {
    const res = await app.server.inject({ method: 'GET', url: '/api/v1/package-types' });
    assert.equal(res.statusCode, 200, res.body);
    const items = (res.json() as { items: PackageTypeView[] }).items;
    assert.deepEqual(
      items.map((t) => t.type),
      FORMATS.map((f) => f.type),
    );
    for (const [i, item] of items.entries()) {
      const format = FORMATS[i]!;
      assert.equal(item.label, format.label);
      assert.equal(item.icon, format.icon);
      assert.equal(item.ociBased, format.ociBased);
      // What a source is (id, label, fixed URL); the hosts its clients may reach stay internal.
      assert.deepEqual(item.sources, format.sources.map((s) => ({ id: s.id, label: s.label, ...(s.defaultUrl !== undefined ? { defaultUrl: s.defaultUrl } : {}) })));
      assert.deepEqual(item.urlSchemes, [...format.urlSchemes]);
      assert.equal(item.urlHint, format.urlHint);
      assert.ok(item.setup.length > 0, `${item.type} has setup steps`);
      const commands = item.setup.flatMap((s) => s.commands).join('\n');
      assert.match(commands, /pallet\.test:5000/, `${item.type}: the server's host`);
      assert.match(commands, /<root>\/<registry>/, `${item.type}: the placeholder registry`);
      if (item.pull && format.ociBased) {
        assert.match(item.pull.byTag, /<root>\/<registry>\/<artifact>.*<tag>/);
        assert.match(item.pull.byDigest, /<root>\/<registry>\/<artifact>.*<digest>/);
      } else if (item.pull) {
        // Formats not served over OCI name the registry and the artifact in their own syntax.
        for (const [command, reference] of [[item.pull.byTag, /<tag>/], [item.pull.byDigest, /<digest>/]] as const) {
          assert.match(command, /<root>\/<registry>/, `${item.type}: ${command}`);
          assert.match(command, /<artifact>/, `${item.type}: ${command}`);
          assert.match(command, reference, `${item.type}: ${command}`);
        }
      }
    }
    // The server's plain-HTTP base URL: the formats' plain-HTTP advice is in the steps.
    assert.ok(items.some((t) => t.setup.some((s) => /insecure|plain/i.test(`${s.note ?? ''} ${s.commands.join(' ')}`))));
  });

  it('answers bad credentials with 401 rather than ignoring them', async () => {
    const res = await app.server.inject({ method: 'GET', url: '/api/v1/package-types', headers: { authorization: `Basic ${Buffer.from('admin:wrong').toString('base64')}` } });
    assert.equal(res.statusCode, 401);
  });

  it('documents the route as open to anonymous callers, and the enums as the served formats', async () => {
    const doc = (await app.server.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json() as Json;
    const op = at(doc, ['paths', '/package-types', 'get']);
    assert.deepEqual((op.security as unknown[])[0], {});
    assert.equal(at(op, ['responses'])['403'], undefined);
    const registry = at(doc, ['components', 'schemas', 'Registry', 'properties']);
    assert.deepEqual(at(registry, ['packageType']).enum, FORMATS.map((f) => f.type));
    const sources = [...new Set(FORMATS.flatMap((f) => f.sources.map((s) => s.id)))];
    assert.deepEqual(at(registry, ['upstream', 'properties', 'source']).enum, sources);
    const create = at(doc, ['paths', '/registries', 'post', 'requestBody', 'content', 'application/json', 'schema', 'properties']);
    assert.deepEqual(at(create, ['packageType']).enum, FORMATS.map((f) => f.type));
    assert.deepEqual(at(create, ['upstream', 'properties', 'source']).enum, sources);
  });
});

describe('a server built with one more format', () => {
  let app: App;
  let dataDir: string;
  const admin = `Basic ${Buffer.from('admin:tiny-admin-password').toString('base64')}`;
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pallet-ptypes-'));
    const config = loadConfig({ env: {}, flags: { dataDir, logLevel: 'silent', baseUrl: 'https://pallet.example.com', adminPassword: 'tiny-admin-password' } });
    app = await buildApp(config, undefined, [...FORMATS, tinyFormat]);
  });
  after(async () => {
    await app.server.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  const call = (method: 'GET' | 'POST', url: string, payload?: Record<string, unknown>) =>
    app.server.inject({ method, url, headers: { authorization: admin }, ...(payload ? { payload } : {}) });

  it('lists it, documents it and accepts registries and proxies of it, with its URL rules', async () => {
    const items = ((await call('GET', '/api/v1/package-types')).json() as { items: PackageTypeView[] }).items;
    assert.deepEqual(items.at(-1)?.type, 'tiny');
    assert.deepEqual(items.at(-1)?.sources.map((s) => s.id), ['tinyhub', 'custom']);
    const doc = (await call('GET', '/api/v1/openapi.json')).json() as Json;
    assert.deepEqual(at(doc, ['components', 'schemas', 'Registry', 'properties', 'packageType']).enum, [...FORMATS.map((f) => f.type), 'tiny']);

    assert.equal((await call('POST', '/api/v1/spaces', { path: 'acme' })).statusCode, 201);
    const local = await call('POST', '/api/v1/registries', { space: 'acme', identifier: 'tiny-local', packageType: 'tiny' });
    assert.equal(local.statusCode, 201, local.body);
    // Its default source has a fixed URL: no url needed.
    const hub = await call('POST', '/api/v1/registries', { space: 'acme', identifier: 'tiny-hub', packageType: 'tiny', kind: 'upstream', upstream: {} });
    assert.equal(hub.statusCode, 201, hub.body);
    assert.deepEqual((hub.json() as { upstream: { source: string; url: string } }).upstream.source, 'tinyhub');
    assert.equal((hub.json() as { upstream: { url: string } }).upstream.url, 'https://tiny.example.org');
    // A custom URL must use its schemes.
    const wrong = await call('POST', '/api/v1/registries', { space: 'acme', identifier: 'tiny-web', packageType: 'tiny', kind: 'upstream', upstream: { source: 'custom', url: 'https://tiny.example.com/index' } });
    assert.equal(wrong.statusCode, 400, wrong.body);
    // Another format's source is not one of its sources.
    const foreign = await call('POST', '/api/v1/registries', { space: 'acme', identifier: 'tiny-x', packageType: 'tiny', kind: 'upstream', upstream: { source: FORMATS[0]!.sources[0]!.id } });
    assert.equal(foreign.statusCode, 400, foreign.body);
    const setup = (await call('GET', '/api/v1/registries/acme/tiny-local/setup')).json() as { steps: Array<{ commands: string[] }> };
    assert.deepEqual(setup.steps[0]?.commands, ['tiny get https://pallet.example.com/pkg/acme/tiny-local/tiny/<name>']);
  });
});

describe('package types from the format list', () => {
  it('one more format is one more type, source and enum value', () => {
    const views = packageTypeViews([...FORMATS, tinyFormat], 'https://pallet.example.com');
    const tiny = views.at(-1)!;
    assert.deepEqual(tiny, {
      type: 'tiny',
      label: 'Tiny',
      description: 'Tiny test packages',
      icon: 'tiny-icon',
      ociBased: false,
      pkgPath: 'tiny',
      sources: [
        { id: 'tinyhub', label: 'Tiny Hub', defaultUrl: 'https://tiny.example.org' },
        { id: 'custom', label: 'Custom' },
      ],
      defaultSource: 'tinyhub',
      urlSchemes: ['tiny:'],
      urlHint: 'a tiny index (tiny://tiny.example.com/index)',
      setup: [{ title: 'Fetch', commands: ['tiny get https://pallet.example.com/pkg/<root>/<registry>/tiny/<name>'] }],
      pull: { byTag: 'tiny get pallet.example.com/<root>/<registry>/<artifact> <tag>', byDigest: 'tiny get pallet.example.com/<root>/<registry>/<artifact> <digest>' },
      settings: {},
    });
    const doc = openApiDocument(formatEnums([...FORMATS, tinyFormat]));
    const registry = at(doc, ['components', 'schemas', 'Registry', 'properties']);
    assert.deepEqual(at(registry, ['packageType']).enum, [...FORMATS.map((f) => f.type), 'tiny']);
    assert.ok((at(registry, ['upstream', 'properties', 'source']).enum as string[]).includes('tinyhub'));
  });

  it('without a format list the document has open strings, for clients that learn formats at run time', () => {
    const doc = openApiDocument();
    const registry = at(doc, ['components', 'schemas', 'Registry', 'properties']);
    assert.equal(at(registry, ['packageType']).enum, undefined);
    assert.equal(at(registry, ['upstream', 'properties', 'source']).enum, undefined);
    assert.equal(at(registry, ['packageType']).type, 'string');
  });
});
