import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { registryEndpoint } from './client.js';
import { indexUrlOf, parseUpstreamIndex } from './helm-upstream.js';

const HEX = 'a'.repeat(64);

describe('classic helm upstream index', () => {
  it('rewrites relative and absolute chart URLs to the proxy and keeps where the chart really is', () => {
    const body = Buffer.from(
      [
        'apiVersion: v1',
        'entries:',
        '  app:',
        `  - {name: app, version: 1.0.0, urls: [app-1.0.0.tgz], digest: ${HEX}}`,
        '  - {name: app, version: 0.9.0, urls: ["https://cdn.example/app-0.9.0.tgz"], digest: not-hex}',
        '  nourl:',
        '  - {name: nourl, version: 1.0.0}',
        'generated: "2026-01-01T00:00:00Z"',
      ].join('\n'),
    );
    const charts = parseUpstreamIndex(body, 'https://charts.example/stable/index.yaml');
    const v1 = charts.get('app\u00001.0.0');
    assert.equal(v1?.url, 'https://charts.example/stable/app-1.0.0.tgz');
    assert.equal(v1?.digest, `sha256:${HEX}`);
    assert.deepEqual(v1?.entry.fields.urls, ['charts/app-1.0.0.tgz']);
    const v09 = charts.get('app\u00000.9.0');
    assert.equal(v09?.url, 'https://cdn.example/app-0.9.0.tgz');
    assert.equal(v09?.digest, undefined, 'a digest that is not hex SHA-256 is computed instead');
    assert.equal(charts.has('nourl\u00001.0.0'), false);
  });

  it('verifies digests written in upper case or with a sha256: prefix', () => {
    const body = Buffer.from(
      [
        'entries:',
        '  app:',
        `  - {name: app, version: 1.0.0, urls: [app-1.0.0.tgz], digest: ${HEX.toUpperCase()}}`,
        `  - {name: app, version: 1.1.0, urls: [app-1.1.0.tgz], digest: "sha256:${HEX}"}`,
        `  - {name: app, version: 1.2.0, urls: [app-1.2.0.tgz], digest: "SHA256:${HEX.toUpperCase()}"}`,
      ].join('\n'),
    );
    const charts = parseUpstreamIndex(body, 'https://charts.example/index.yaml');
    for (const version of ['1.0.0', '1.1.0', '1.2.0']) assert.equal(charts.get(`app\u0000${version}`)?.digest, `sha256:${HEX}`, version);
  });

  it('skips entries whose chart name or version is not one Helm accepts', () => {
    const body = Buffer.from(
      [
        'entries:',
        '  ../../escape:',
        '  - {name: x, version: 1.0.0, urls: [x.tgz]}',
        '  "a/b":',
        '  - {name: a, version: 1.0.0, urls: [a.tgz]}',
        '  good:',
        '  - {name: good, version: 1.0.0, urls: [good-1.0.0.tgz]}',
        '  - {name: good, version: "../1", urls: [good-bad.tgz]}',
        '  - {name: good, version: "1.0.0/../../x", urls: [good-bad2.tgz]}',
      ].join('\n'),
    );
    const charts = parseUpstreamIndex(body, 'https://charts.example/index.yaml');
    assert.deepEqual([...charts.keys()], ['good\u00001.0.0']);
  });

  it('rejects a document that is not an index', () => {
    assert.throws(() => parseUpstreamIndex(Buffer.from('entries: [1, 2]'), 'http://x/index.yaml'), /not a chart repository index/);
  });

  it('finds the index of a repository URL', () => {
    assert.equal(indexUrlOf('https://charts.example/stable'), 'https://charts.example/stable/index.yaml');
    assert.equal(indexUrlOf('https://charts.example/stable/index.yaml'), 'https://charts.example/stable/index.yaml');
  });
});

describe('registryEndpoint', () => {
  it('maps oci:// URLs to the registry API base and a repository prefix', () => {
    assert.deepEqual(registryEndpoint('oci://ghcr.io/acme/charts'), { url: 'https://ghcr.io', namePrefix: 'acme/charts' });
    assert.deepEqual(registryEndpoint('oci://127.0.0.1:5000'), { url: 'http://127.0.0.1:5000' });
    assert.deepEqual(registryEndpoint('https://registry.example'), { url: 'https://registry.example' });
  });
});
