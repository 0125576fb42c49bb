/**
 * The classic chart repository and Helm's OCI rules, through `inject()` on a real app (SQLite,
 * filesystem): uploads (raw and multipart), index.yaml with ETag, downloads, deletes, bad
 * archives, duplicates, charts pushed over OCI, and access checks.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { chart } from '../../../test/fixtures/charts.js';
import { blob, pushBlob, startInProcess, type Harness } from '../../../test/helpers/inproc.js';
import { OCI_MANIFEST } from '../../registry/media-types.js';
import { HELM_CHART_CONTENT, HELM_CONFIG } from './media-types.js';

interface Index {
  apiVersion: string;
  entries: Record<string, Array<{ name: string; version: string; urls: string[]; digest: string; appVersion?: string; created: string }>>;
}

const REPO = '/pkg/acme/charts/helm';

function multipart(fields: Record<string, Buffer>): { payload: Buffer; type: string } {
  const boundary = `----pallet${Date.now()}`;
  const parts: Buffer[] = [];
  for (const [name, data] of Object.entries(fields)) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${name}.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`), data, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(parts), type: `multipart/form-data; boundary=${boundary}` };
}

describe('helm registries', () => {
  let h: Harness;

  const upload = async (archive: Buffer, query = '') =>
    h.app.server.inject({ method: 'POST', url: `${REPO}/api/charts${query}`, payload: archive, headers: { ...h.auth, 'content-type': 'application/gzip' } });
  const index = async (): Promise<Index> => {
    const res = await h.app.server.inject({ method: 'GET', url: `${REPO}/index.yaml`, headers: h.auth });
    assert.equal(res.statusCode, 200, res.body);
    return parseYaml(res.body) as Index;
  };

  /** Pushes a chart over OCI the way `helm push` does; resolves to the manifest PUT's answer. */
  async function pushOci(repo: string, tag: string, archive: Buffer, configOverride?: { mediaType: string }) {
    const config = blob(Buffer.from(JSON.stringify({ name: 'x', version: tag })));
    const layer = blob(archive);
    for (const b of [config, layer]) assert.equal((await pushBlob(h, repo, b)).status, 201);
    const manifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: configOverride?.mediaType ?? HELM_CONFIG, digest: config.digest, size: config.size },
      layers: [{ mediaType: HELM_CHART_CONTENT, digest: layer.digest, size: layer.size }],
    };
    return h.app.server.inject({
      method: 'PUT',
      url: `/v2/${repo}/manifests/${tag}`,
      payload: JSON.stringify(manifest),
      headers: { ...h.auth, 'content-type': OCI_MANIFEST },
    });
  }

  before(async () => {
    h = await startInProcess();
    assert.equal((await h.call('POST', '/api/v1/spaces', { path: 'acme' })).status, 201);
    assert.equal((await h.call('POST', '/api/v1/registries', { space: 'acme', identifier: 'charts', packageType: 'helm', kind: 'local' })).status, 201);
    assert.equal((await h.call('POST', '/api/v1/registries', { space: 'acme', identifier: 'images', packageType: 'docker', kind: 'local' })).status, 201);
  });

  after(async () => {
    await h?.close();
  });

  it('serves an empty index for a new registry', async () => {
    const doc = await index();
    assert.equal(doc.apiVersion, 'v1');
    assert.deepEqual(doc.entries, {});
  });

  it('lists an uploaded chart in index.yaml and serves its archive', async () => {
    const archive = await chart('hello', '0.1.0').build();
    const res = await upload(archive);
    assert.equal(res.statusCode, 201, res.body);
    const doc = await index();
    const entry = doc.entries.hello?.[0];
    assert.ok(entry, JSON.stringify(doc));
    assert.equal(entry.version, '0.1.0');
    assert.equal(entry.appVersion, '1.0');
    assert.equal(entry.digest, createHash('sha256').update(archive).digest('hex'));
    assert.deepEqual(entry.urls, ['charts/hello-0.1.0.tgz']);
    const file = await h.app.server.inject({ method: 'GET', url: `${REPO}/charts/hello-0.1.0.tgz`, headers: h.auth });
    assert.equal(file.statusCode, 200);
    assert.deepEqual(file.rawPayload, archive);
  });

  it('answers HEAD on index.yaml and chart downloads with the GET headers and no body (404 before the /pkg dispatcher)', async () => {
    const archive = await chart('headed', '0.2.0').build();
    assert.equal((await upload(archive)).statusCode, 201);
    const get = await h.app.server.inject({ method: 'GET', url: `${REPO}/index.yaml`, headers: h.auth });
    const head = await h.app.server.inject({ method: 'HEAD', url: `${REPO}/index.yaml`, headers: h.auth });
    assert.equal(head.statusCode, 200);
    assert.equal(head.headers.etag, get.headers.etag);
    assert.equal(head.headers['content-length'], String(get.rawPayload.length));
    assert.equal(head.rawPayload.length, 0);
    const file = await h.app.server.inject({ method: 'HEAD', url: `${REPO}/charts/headed-0.2.0.tgz`, headers: h.auth });
    assert.equal(file.statusCode, 200);
    assert.equal(file.headers['content-length'], String(archive.length));
    assert.equal(file.rawPayload.length, 0);
    assert.equal((await h.app.server.inject({ method: 'HEAD', url: `${REPO}/index.yaml` })).statusCode, 401, 'HEAD is authorized like GET');
    assert.equal((await h.app.server.inject({ method: 'HEAD', url: `${REPO}/charts/absent-1.0.0.tgz`, headers: h.auth })).statusCode, 404);
  });

  it('answers 304 to a matching If-None-Match and a new ETag after a change', async () => {
    const first = await h.app.server.inject({ method: 'GET', url: `${REPO}/index.yaml`, headers: h.auth });
    const etag = first.headers.etag as string;
    assert.ok(etag);
    const again = await h.app.server.inject({ method: 'GET', url: `${REPO}/index.yaml`, headers: { ...h.auth, 'if-none-match': etag } });
    assert.equal(again.statusCode, 304);
    assert.equal((await upload(await chart('hello', '0.2.0').build())).statusCode, 201);
    const changed = await h.app.server.inject({ method: 'GET', url: `${REPO}/index.yaml`, headers: { ...h.auth, 'if-none-match': etag } });
    assert.equal(changed.statusCode, 200);
    assert.notEqual(changed.headers.etag, etag);
    const versions = (parseYaml(changed.body) as Index).entries.hello!.map((e) => e.version);
    assert.deepEqual(versions, ['0.2.0', '0.1.0'], 'newest version first');
  });

  it('refuses a duplicate version with 409 unless forced', async () => {
    const archive = await chart('hello', '0.1.0').file('values.yaml', 'replicas: 2\n').build();
    const dup = await upload(archive);
    assert.equal(dup.statusCode, 409, dup.body);
    assert.match(JSON.parse(dup.body).error, /already exists/);
    const forced = await upload(archive, '?force=true');
    assert.equal(forced.statusCode, 201, forced.body);
    const entry = (await index()).entries.hello!.find((e) => e.version === '0.1.0')!;
    assert.equal(entry.digest, createHash('sha256').update(archive).digest('hex'));
  });

  it('takes multipart uploads with a provenance file', async () => {
    const archive = await chart('signed', '1.0.0').build();
    const prov = Buffer.from('-----BEGIN PGP SIGNED MESSAGE-----\nfake\n');
    const body = multipart({ chart: archive, prov });
    const res = await h.app.server.inject({ method: 'POST', url: `${REPO}/api/charts`, payload: body.payload, headers: { ...h.auth, 'content-type': body.type } });
    assert.equal(res.statusCode, 201, res.body);
    const file = await h.app.server.inject({ method: 'GET', url: `${REPO}/charts/signed-1.0.0.tgz.prov`, headers: h.auth });
    assert.equal(file.statusCode, 200);
    assert.deepEqual(file.rawPayload, prov);
  });

  it('refuses archives that are not charts, with the reason', async () => {
    const cases: Array<[string, Buffer, RegExp]> = [
      ['not gzip', Buffer.from('plain text, not a tgz'), /cannot be read/],
      ['no Chart.yaml', await chart('empty', '1.0.0').without('Chart.yaml').build(), /no empty\/Chart.yaml/],
      ['path traversal', await chart('evil', '1.0.0').file('../../etc/passwd', 'x').build(), /leaves the chart directory/],
      ['absolute path', await chart('evil', '1.0.0').file('/etc/passwd', 'x').build(), /leaves the chart directory/],
      ['no version', await chart('nover', '1.0.0').chartYaml('name: nover\n').build(), /no valid SemVer version/],
      ['Chart.yaml not YAML', await chart('bad', '1.0.0').chartYaml('name: [unclosed\n').build(), /not valid YAML|not a map|no valid name/],
    ];
    for (const [what, archive, message] of cases) {
      const res = await upload(archive);
      assert.equal(res.statusCode, 400, `${what}: ${res.body}`);
      assert.match(JSON.parse(res.body).error, message, what);
    }
    assert.equal((await index()).entries.evil, undefined);
  });

  it('lists a chart pushed over OCI and records its metadata for the API', async () => {
    const archive = await chart('ocichart', '2.0.0').build();
    const res = await pushOci('acme/charts/ocichart', '2.0.0', archive);
    assert.equal(res.statusCode, 201, res.body);
    assert.ok((await index()).entries.ocichart?.some((e) => e.version === '2.0.0'));
    const detail = await h.call<{ chart: { name: string } | null }>('GET', '/api/v1/registries/acme/charts/artifacts/hello/versions/0.1.0');
    assert.equal(detail.status, 200, detail.text);
    assert.equal(detail.json.chart?.name, 'hello', 'an uploaded chart shows its Chart.yaml in the version detail');
  });

  it('makes an uploaded chart pullable over OCI by its version tag', async () => {
    const res = await h.app.server.inject({ method: 'GET', url: '/v2/acme/charts/hello/manifests/0.2.0', headers: h.auth });
    assert.equal(res.statusCode, 200, res.body);
    const manifest = JSON.parse(res.body) as { config: { mediaType: string }; layers: Array<{ mediaType: string }> };
    assert.equal(manifest.config.mediaType, HELM_CONFIG);
    assert.equal(manifest.layers[0]!.mediaType, HELM_CHART_CONTENT);
  });

  it('refuses OCI pushes to a helm registry that are not charts or disagree with their tag', async () => {
    const wrongTag = await pushOci('acme/charts/ocichart', '9.9.9', await chart('ocichart', '2.1.0').build());
    assert.equal(wrongTag.statusCode, 400);
    assert.match(wrongTag.body, /MANIFEST_INVALID.*version 2\.1\.0 but is pushed with tag 9\.9\.9/);
    const wrongName = await pushOci('acme/charts/other', '2.1.0', await chart('ocichart', '2.1.0').build());
    assert.equal(wrongName.statusCode, 400);
    assert.match(wrongName.body, /named ocichart but is pushed to repository other/);
    const image = await pushOci('acme/charts/ocichart', '2.1.0', await chart('ocichart', '2.1.0').build(), { mediaType: 'application/vnd.oci.image.config.v1+json' });
    assert.equal(image.statusCode, 400);
    assert.match(image.body, /MANIFEST_INVALID.*helm registry and holds Helm charts only/);
    const notChart = await pushOci('acme/charts/ocichart', '2.1.0', Buffer.from('layer bytes'));
    assert.equal(notChart.statusCode, 400);
    assert.match(notChart.body, /not a valid Helm chart/);
  });

  it('leaves docker registries free to store charts and anything else', async () => {
    const res = await pushOci('acme/images/anything', 'latest', Buffer.from('not a chart at all'));
    assert.equal(res.statusCode, 201, res.body);
  });

  it('deletes a chart version through the ChartMuseum API', async () => {
    const res = await h.app.server.inject({ method: 'DELETE', url: `${REPO}/api/charts/hello/0.2.0`, headers: h.auth });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual((await index()).entries.hello!.map((e) => e.version), ['0.1.0']);
    const gone = await h.app.server.inject({ method: 'GET', url: `${REPO}/charts/hello-0.2.0.tgz`, headers: h.auth });
    assert.equal(gone.statusCode, 404);
    const again = await h.app.server.inject({ method: 'DELETE', url: `${REPO}/api/charts/hello/0.2.0`, headers: h.auth });
    assert.equal(again.statusCode, 404);
  });

  it('records chart uploads and deletes in the audit log, failures too', async () => {
    const res = await h.call('GET', '/api/v1/audit?size=200');
    assert.equal(res.status, 200);
    const items = (res.json as { items: Array<{ action: string; target: string; outcome: string; actor: string | null }> }).items;
    const has = (action: string, target: string, outcome: string) => items.some((e) => e.action === action && e.target === target && e.outcome === outcome);
    assert.ok(has('chart.upload', 'acme/charts/hello/0.1.0', 'success'), 'an upload names the chart and version');
    assert.ok(has('chart.upload', 'acme/charts', 'failure'), 'a refused upload is recorded against the registry');
    assert.ok(has('chart.delete', 'acme/charts/hello/0.2.0', 'success'));
    assert.ok(has('chart.delete', 'acme/charts/hello/0.2.0', 'failure'), 'deleting a missing version is recorded as a failure');
  });

  it('drops a chart from the index when its OCI manifest is deleted', async () => {
    const m = await h.app.server.inject({ method: 'HEAD', url: '/v2/acme/charts/ocichart/manifests/2.0.0', headers: h.auth });
    const digest = m.headers['docker-content-digest'] as string;
    const del = await h.app.server.inject({ method: 'DELETE', url: `/v2/acme/charts/ocichart/manifests/${digest}`, headers: h.auth });
    assert.equal(del.statusCode, 202);
    assert.equal((await index()).entries.ocichart, undefined);
  });

  it('asks anonymous callers for basic credentials and hides the registry', async () => {
    const res = await h.app.server.inject({ method: 'GET', url: `${REPO}/index.yaml` });
    assert.equal(res.statusCode, 401);
    assert.match(String(res.headers['www-authenticate']), /^Basic /);
    const missing = await h.app.server.inject({ method: 'GET', url: '/pkg/acme/nothing/helm/index.yaml' });
    assert.equal(missing.statusCode, 401);
    const push = await h.app.server.inject({ method: 'POST', url: `${REPO}/api/charts`, payload: await chart('x', '1.0.0').build() });
    assert.equal(push.statusCode, 401);
  });

  it('is not a chart repository for a docker registry', async () => {
    const res = await h.app.server.inject({ method: 'GET', url: '/pkg/acme/images/helm/index.yaml', headers: h.auth });
    assert.equal(res.statusCode, 404);
  });
});
