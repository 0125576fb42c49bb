/**
 * The upstream index reader: chart URLs rewritten and checked, digests, invalid names and
 * versions skipped, fields type-checked and capped, the entry cap, and the linear path giving
 * the same index as the whole-document parse.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { parse } from 'yaml';
import { chartName, helmIndexYaml, indexEntryYaml } from '../../../test/fixtures/helm-index.js';
import { readChartIndex, type IndexReadOptions } from './chart-index-reader.js';
import { fieldsAt, findInSource, refAt, renderSources, type IndexSource } from './chart-index.js';

const HEX = 'a'.repeat(64);
const OPTIONS: IndexReadOptions = { indexUrl: 'https://charts.example/stable/index.yaml', fileHosts: [], maxEntries: 1000 };

function read(lines: string[], options: Partial<IndexReadOptions> = {}) {
  return readChartIndex(lines.join('\n'), { ...OPTIONS, ...options });
}

function chart(source: IndexSource, name: string, version: string) {
  const at = findInSource(source, name, version);
  return at === undefined ? undefined : { ...refAt(source, at), fields: fieldsAt(source, at) };
}

describe('upstream chart index reader', () => {
  it('rewrites relative and absolute chart URLs to the proxy and keeps where the chart really is', () => {
    const r = read(
      [
        'apiVersion: v1',
        'entries:',
        '  app:',
        `  - {name: app, version: 1.0.0, urls: [app-1.0.0.tgz], digest: ${HEX}}`,
        '  - {name: app, version: 0.9.0, urls: ["https://cdn.example/app-0.9.0.tgz"], digest: not-hex}',
        '  nourl:',
        '  - {name: nourl, version: 1.0.0}',
        'generated: "2026-01-01T00:00:00Z"',
      ],
      { fileHosts: ['cdn.example'] },
    );
    const v1 = chart(r, 'app', '1.0.0');
    assert.equal(v1?.url, 'https://charts.example/stable/app-1.0.0.tgz');
    assert.equal(v1?.digest, HEX);
    assert.deepEqual(v1?.fields.urls, ['charts/app-1.0.0.tgz']);
    const v09 = chart(r, 'app', '0.9.0');
    assert.equal(v09?.url, 'https://cdn.example/app-0.9.0.tgz');
    assert.equal(v09?.digest, '', 'a digest that is not hex SHA-256 is computed instead');
    assert.equal(v09?.fields.digest, undefined);
    assert.equal(chart(r, 'nourl', '1.0.0'), undefined);
    assert.equal(r.count, 2);
  });

  it('verifies digests written in upper case or with a sha256: prefix', () => {
    const r = read([
      'entries:',
      '  app:',
      `  - {name: app, version: 1.0.0, urls: [app-1.0.0.tgz], digest: ${HEX.toUpperCase()}}`,
      `  - {name: app, version: 1.1.0, urls: [app-1.1.0.tgz], digest: "sha256:${HEX}"}`,
      `  - {name: app, version: 1.2.0, urls: [app-1.2.0.tgz], digest: "SHA256:${HEX.toUpperCase()}"}`,
    ]);
    for (const version of ['1.0.0', '1.1.0', '1.2.0']) assert.equal(chart(r, 'app', version)?.digest, HEX, version);
  });

  it('skips entries whose chart name or version is not one Helm accepts', () => {
    const r = read([
      'entries:',
      '  ../../escape:',
      '  - {name: x, version: 1.0.0, urls: [x.tgz]}',
      '  "a/b":',
      '  - {name: a, version: 1.0.0, urls: [a.tgz]}',
      '  good:',
      '  - {name: good, version: 1.0.0, urls: [good-1.0.0.tgz]}',
      '  - {name: good, version: "../1", urls: [good-bad.tgz]}',
      '  - {name: good, version: "1.0.0/../../x", urls: [good-bad2.tgz]}',
      '  - {name: good, version: 2.0, urls: [a-number.tgz]}',
    ]);
    assert.equal(r.count, 1);
    assert.deepEqual(refAt(r, 0), { name: 'good', version: '1.0.0', url: 'https://charts.example/stable/good-1.0.0.tgz', digest: '' });
    assert.equal(r.skipped.invalid, 5);
  });

  it('follows chart URLs only over http(s) to the upstream origin or an allowed file host', () => {
    const lines = [
      'entries:',
      '  app:',
      '  - {name: app, version: 1.0.0, urls: ["file:///etc/passwd"]}',
      '  - {name: app, version: 1.0.1, urls: ["ftp://charts.example/app.tgz"]}',
      '  - {name: app, version: 1.0.2, urls: ["http://169.254.169.254/latest/meta-data/"]}',
      '  - {name: app, version: 1.0.3, urls: ["http://charts.example/app-1.0.3.tgz"]}',
      '  - {name: app, version: 1.0.4, urls: ["https://charts.example:8443/app-1.0.4.tgz"]}',
      '  - {name: app, version: 1.0.5, urls: ["https://github.com/acme/charts/releases/download/app-1.0.5/app-1.0.5.tgz"]}',
      '  - {name: app, version: 1.0.6, urls: ["https://assets.cdn.example/app-1.0.6.tgz"]}',
      '  - {name: app, version: 1.0.7, urls: ["/other/app-1.0.7.tgz"]}',
      '  - {name: app, version: 1.0.8, urls: ["javascript:alert(1)"]}',
    ];
    const strict = read(lines);
    assert.deepEqual(
      Array.from({ length: strict.count }, (_, i) => refAt(strict, i).version),
      ['1.0.7'],
      'only the upstream origin (another scheme or port is another origin)',
    );
    assert.deepEqual(strict.skipped, { 'url-scheme': 3, 'url-host': 5 });
    const listed = read(lines, { fileHosts: ['GitHub.com', '*.cdn.example'] });
    assert.deepEqual(
      Array.from({ length: listed.count }, (_, i) => refAt(listed, i).version),
      ['1.0.7', '1.0.6', '1.0.5'],
    );
  });

  it('type-checks and caps the fields it serves', () => {
    const r = read([
      'entries:',
      '  app:',
      '  - name: app',
      '    version: 1.0.0',
      '    urls: [app-1.0.0.tgz]',
      '    home: [1, 2]',
      '    created: not a time',
      '    deprecated: "yes"',
      `    description: ${'d'.repeat(5000)}`,
      '    keywords: [a, 1, b]',
      '    maintainers: [{name: x, email: [bad]}, 7]',
      '    annotations: {a: b, n: 1}',
      '    unknownField: {deep: {er: 1}}',
      '    appVersion: "1.2"',
    ]);
    const fields = chart(r, 'app', '1.0.0')?.fields;
    assert.ok(fields);
    assert.equal(fields.home, undefined);
    assert.equal(fields.created, undefined);
    assert.equal(fields.deprecated, undefined);
    assert.equal((fields.description as string).length, 2048);
    assert.deepEqual(fields.keywords, ['a', 'b']);
    assert.deepEqual(fields.maintainers, [{ name: 'x' }]);
    assert.deepEqual(fields.annotations, { a: 'b' });
    assert.equal(fields.unknownField, undefined);
    assert.equal(fields.appVersion, '1.2');
  });

  it('keeps at most maxEntries chart versions and counts the rest', () => {
    const r = readChartIndex(helmIndexYaml({ charts: 10, versions: 10 }), { ...OPTIONS, maxEntries: 25 });
    assert.equal(r.count, 25);
    assert.equal(r.skipped['over-cap'], 75);
  });

  it('reads a helm repo index linearly into the same index as the whole-document parse', () => {
    const text = helmIndexYaml({ charts: 30, versions: 12 });
    const linear = readChartIndex(text, OPTIONS);
    // The same document in flow style is not laid out for the linear path: parsed whole.
    const whole = readChartIndex(JSON.stringify(parse(text)), OPTIONS);
    assert.equal(linear.count, 360);
    assert.deepEqual(linear.skipped, {});
    const generated = new Date(0);
    assert.equal(renderSources([linear], generated).toString(), renderSources([whole], generated).toString());
    const first = chart(linear, chartName(0), '1.0.11');
    assert.equal(first?.fields.description, `${chartName(0)} packaged for Kubernetes, a chart with a realistic description`);
    assert.deepEqual(first?.fields.dependencies, [{ name: 'common', version: '2.x.x', repository: 'oci://registry.example/charts', tags: ['common'] }]);
    assert.equal(refAt(linear, 0).version, '1.0.11', 'newest first');
  });

  it('reads go-yaml folded descriptions, comments, CRLF and its own rendered index', () => {
    const entry = indexEntryYaml('app', '1.0.0', { padding: 40 });
    const folded = entry.replace(/(description: .{60}\S*) /, '$1\n      ');
    assert.notEqual(folded, entry);
    const text = ['# a comment', '---', 'apiVersion: v1', 'entries:', '  app:', folded, '  # between', indexEntryYaml('app', '1.1.0'), 'serverInfo:', '  contextPath: /x', ''].join('\r\n');
    const r = readChartIndex(text, OPTIONS);
    assert.equal(r.count, 2);
    const whole = parse(text) as { entries: { app: Array<{ description: string }> } };
    assert.equal(chart(r, 'app', '1.0.0')?.fields.description, whole.entries.app[0]!.description);
    const again = readChartIndex(renderSources([r], new Date(0)).toString(), { ...OPTIONS, indexUrl: 'https://pallet.example/pkg/a/b/helm/index.yaml' });
    assert.equal(again.count, 2);
    assert.deepEqual(fieldsAt(again, 0), fieldsAt(r, 0));
  });

  it('rejects a document that is not an index', () => {
    assert.throws(() => readChartIndex('entries: [1, 2]', OPTIONS), /not a chart repository index/);
    assert.throws(() => readChartIndex(stringify([1, 2]), OPTIONS), /not a chart repository index/);
  });
});
