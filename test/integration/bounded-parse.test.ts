/**
 * Hostile documents through a real listening server: a ~100k-key Chart.yaml (under 1 MiB) by the
 * ChartMuseum upload and by an OCI helm push, a 4 MiB manifest of tiny objects, and a JSON API
 * body of tiny objects. Each must be refused with a 4xx while the event loop stays responsive:
 * `monitorEventLoopDelay` records the largest stall during the request (asserted under a
 * generous bound, printed for the report) and `/healthz` keeps answering.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { chart } from '../fixtures/charts.js';
import { whileWatching } from '../helpers/event-loop.js';
import { blob, pushBlob, startInProcess, type Harness } from '../helpers/inproc.js';

const HELM_CONFIG = 'application/vnd.cncf.helm.config.v1+json';
const HELM_CHART = 'application/vnd.cncf.helm.chart.content.v1.tar+gzip';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
/**
 * Generous: the target is ~50 ms. A loaded machine stalls even an idle loop, so the bound is this
 * plus the largest delay seen just before while only /healthz was polled (the old code stalled
 * for 10-30 s on these documents).
 */
const MAX_DELAY_MS = 200;

/** `name`/`version`, then `keys` more keys: ~10 bytes each, under 1 MiB for 100k keys. */
function hostileChartYaml(name: string, keys: number): string {
  const lines = [`apiVersion: v2`, `name: ${name}`, `version: 1.0.0`];
  for (let i = 0; i < keys; i += 1) lines.push(`k${String(i).padStart(5, '0')}: v`);
  return `${lines.join('\n')}\n`;
}

interface Answer {
  status: number;
  body: string;
}

/**
 * One request with a Buffer body over node:http: the body goes to the socket in one write, so
 * the client adds next to nothing to the event loop it shares with the server.
 */
function send(url: string, method: string, body: Buffer | string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = typeof body === 'string' ? Buffer.from(body) : body;
    const req = httpRequest(url, { method, headers: { ...headers, 'content-length': String(payload.length) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

describe('bounded parsing of untrusted documents', () => {
  let h: Harness;
  let base: string;

  before(async () => {
    h = await startInProcess();
    await h.app.server.listen({ host: '127.0.0.1', port: 0 });
    const address = h.app.server.server.address();
    assert.ok(address && typeof address === 'object');
    base = `http://127.0.0.1:${address.port}`;
    assert.equal((await h.call('POST', '/api/v1/spaces', { path: 'acme' })).status, 201);
    assert.equal((await h.call('POST', '/api/v1/registries', { space: 'acme', identifier: 'charts', packageType: 'helm', kind: 'local' })).status, 201);
    assert.equal((await h.call('POST', '/api/v1/registries', { space: 'acme', identifier: 'images', packageType: 'docker', kind: 'local' })).status, 201);
  });

  after(async () => {
    await h?.close();
  });

  /** Runs `request` while watching the event loop; the answer's body comes back as text. */
  async function watch(label: string, request: () => Promise<Answer>) {
    const watched = await whileWatching(base, label, MAX_DELAY_MS, request);
    return { ...watched, body: watched.res.body };
  }

  const auth = () => h.auth.authorization!;

  it('refuses a 100k-key Chart.yaml uploaded to the chart repository without stalling the event loop', async () => {
    const yaml = hostileChartYaml('hostile', 100_000);
    assert.ok(yaml.length < 1024 * 1024, `${yaml.length} bytes`);
    const archive = await chart('hostile', '1.0.0').chartYaml(yaml).build();
    const { res, body, maxDelayMs, healthy, boundMs } = await watch('chartmuseum upload', () =>
      send(`${base}/pkg/acme/charts/helm/api/charts`, 'POST', archive, { authorization: auth(), 'content-type': 'application/gzip' }),
    );
    assert.equal(res.status, 400, body);
    assert.match(body, /Chart\.yaml: the document has more than \d+ values/);
    assert.ok(maxDelayMs < boundMs, `event loop stalled for ${maxDelayMs} ms (bound ${boundMs} ms)`);
    assert.ok(healthy >= 1);
  });

  it('refuses a 100k-key Chart.yaml pushed over OCI without stalling the event loop', async () => {
    const archive = await chart('hostile', '1.0.0').chartYaml(hostileChartYaml('hostile', 100_000)).build();
    const config = blob(Buffer.from(JSON.stringify({ name: 'hostile', version: '1.0.0' })));
    const layer = blob(archive);
    for (const b of [config, layer]) assert.equal((await pushBlob(h, 'acme/charts/hostile', b)).status, 201);
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: HELM_CONFIG, digest: config.digest, size: config.size },
      layers: [{ mediaType: HELM_CHART, digest: layer.digest, size: layer.size }],
    });
    const { res, body, maxDelayMs, boundMs } = await watch('oci helm push', () =>
      send(`${base}/v2/acme/charts/hostile/manifests/1.0.0`, 'PUT', manifest, { authorization: auth(), 'content-type': OCI_MANIFEST }),
    );
    assert.equal(res.status, 400, body);
    assert.equal(JSON.parse(body).errors[0].code, 'MANIFEST_INVALID');
    assert.match(JSON.parse(body).errors[0].message, /Chart\.yaml: the document has more than \d+ values/);
    assert.ok(maxDelayMs < boundMs, `event loop stalled for ${maxDelayMs} ms (bound ${boundMs} ms)`);
  });

  it('refuses a 4 MiB manifest of tiny objects without stalling the event loop', async () => {
    const filler = `${'{},'.repeat(1_300_000)}{}`;
    const manifest = Buffer.from(`{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","annotations":{},"layers":[${filler}]}`);
    assert.ok(manifest.length <= 4 * 1024 * 1024, `${manifest.length} bytes`);
    const { res, body, maxDelayMs, boundMs } = await watch('4 MiB manifest', () =>
      send(`${base}/v2/acme/images/app/manifests/latest`, 'PUT', manifest, { authorization: auth(), 'content-type': OCI_MANIFEST }),
    );
    assert.equal(res.status, 400, body);
    assert.equal(JSON.parse(body).errors[0].code, 'MANIFEST_INVALID');
    assert.match(JSON.parse(body).errors[0].message, /more than \d+ values/);
    assert.ok(maxDelayMs < boundMs, `event loop stalled for ${maxDelayMs} ms (bound ${boundMs} ms)`);
  });

  it('refuses a JSON API body of tiny objects without stalling the event loop', async () => {
    const labels = `${'[],'.repeat(330_000)}[]`;
    const payload = Buffer.from(`{"space":"acme","identifier":"flood","packageType":"docker","kind":"local","labels":[${labels}]}`);
    assert.ok(payload.length < 1024 * 1024, `${payload.length} bytes`);
    const { res, body, maxDelayMs, boundMs } = await watch('api body', () =>
      send(`${base}/api/v1/registries`, 'POST', payload, { authorization: auth(), 'content-type': 'application/json' }),
    );
    assert.equal(res.status, 400, body);
    assert.match(JSON.parse(body).message, /more than \d+ values/);
    assert.ok(maxDelayMs < boundMs, `event loop stalled for ${maxDelayMs} ms (bound ${boundMs} ms)`);
  });

  it('still takes an ordinary chart and manifest after the hostile ones', async () => {
    const archive = await chart('fine', '1.0.0').build();
    const res = await send(`${base}/pkg/acme/charts/helm/api/charts`, 'POST', archive, { authorization: auth(), 'content-type': 'application/gzip' });
    assert.equal(res.status, 201, res.body);
  });
});
