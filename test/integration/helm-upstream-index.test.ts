/**
 * Hostile and huge upstream Helm indexes through a real listening server (upstreams are
 * node:http servers on 127.0.0.1, allow-listed):
 * - a 60k-entry index.yaml (~50 MB, written like `helm repo index`) is served through a proxy
 *   and merged into a local registry's index while `monitorEventLoopDelay` stays under a
 *   generous bound (plus the idle baseline measured just before) and `/healthz` keeps
 *   answering; entries beyond `helm.maxIndexEntries` are left out;
 * - an index that changes into one over the read budget: the last good copy keeps being
 *   served, the refusal is counted, and the same bytes are not read again;
 * - chart URLs off the upstream's origin, or not http(s), are left out of the index and their
 *   downloads are 404 (never 500); an allowed file host on a refused address is refused by the
 *   egress policy without a connection.
 */
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { chart } from '../fixtures/charts.js';
import { helmIndexYaml } from '../fixtures/helm-index.js';
import { whileWatching } from '../helpers/event-loop.js';
import { startInProcess, type Harness } from '../helpers/inproc.js';

/** Generous: the target is ~50 ms; the old code stalled the loop for 35-100 s on this index. */
const MAX_DELAY_MS = 300;

interface Upstream {
  url: string;
  /** What `/index.yaml` answers (changeable). */
  index: Buffer;
  files: Map<string, Buffer>;
  gets: Map<string, number>;
  close(): Promise<void>;
}

async function serveUpstream(index: string): Promise<Upstream> {
  const up = { index: Buffer.from(index), files: new Map<string, Buffer>(), gets: new Map<string, number>() } as Upstream;
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    up.gets.set(path, (up.gets.get(path) ?? 0) + 1);
    const body = path === '/index.yaml' ? up.index : up.files.get(path);
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  up.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  up.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return up;
}

interface Answer {
  status: number;
  body: Buffer;
}

function get(url: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** How many chart versions an index document lists (Pallet writes one `  - {…}` line each). */
function versionsIn(index: Buffer): number {
  let n = 0;
  for (let i = index.indexOf('\n  - '); i >= 0; i = index.indexOf('\n  - ', i + 1)) n += 1;
  return n;
}

async function listen(h: Harness): Promise<string> {
  await h.app.server.listen({ host: '127.0.0.1', port: 0 });
  const address = h.app.server.server.address();
  assert.ok(address && typeof address === 'object');
  return `http://127.0.0.1:${address.port}`;
}

/** Runs `request` while watching the event loop (see helpers/event-loop.ts). */
function watch(base: string, label: string, request: () => Promise<Answer>) {
  return whileWatching(base, label, MAX_DELAY_MS, request, (res) => `, ${res.body.length} bytes`);
}

/** The sum of the samples matching `pattern` (its group 1 is the value). */
async function metric(base: string, auth: string, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`${base}/metrics`, { headers: { authorization: auth } })).text();
  let sum = 0;
  for (const m of text.matchAll(new RegExp(pattern.source, 'g'))) sum += Number(m[1]);
  return sum;
}

describe('huge and hostile upstream helm indexes', () => {
  const ENTRIES = 60_000;
  const CAP = 50_000;
  let h: Harness;
  let base: string;
  let up: Upstream;
  const auth = () => h.auth.authorization!;

  before(async () => {
    up = await serveUpstream(helmIndexYaml({ charts: ENTRIES / 50, versions: 50 }));
    h = await startInProcess({ upstream: { allowedNetworks: '127.0.0.1/32' }, helm: { maxIndexEntries: CAP } });
    base = await listen(h);
    assert.equal((await h.call('POST', '/api/v1/spaces', { path: 'acme' })).status, 201);
    const proxy = { space: 'acme', identifier: 'big', packageType: 'helm', kind: 'upstream', upstream: { source: 'custom', url: up.url, tagTtlSeconds: 3600 } };
    assert.equal((await h.call('POST', '/api/v1/registries', proxy)).status, 201);
    assert.equal((await h.call('POST', '/api/v1/registries', { space: 'acme', identifier: 'hub', packageType: 'helm', kind: 'local', upstreams: ['big'] })).status, 201);
  });

  after(async () => {
    await h?.close();
    await up?.close();
  });

  it('serves a 60k-entry upstream index capped to helm.maxIndexEntries without stalling the event loop', async () => {
    console.log(`# upstream index: ${ENTRIES} chart versions, ${up.index.length} bytes`);
    const { res, maxDelayMs, healthy, boundMs } = await watch(base, 'proxy index.yaml (first read)', () => get(`${base}/pkg/acme/big/helm/index.yaml`, { authorization: auth() }));
    assert.equal(res.status, 200, res.body.subarray(0, 500).toString());
    assert.equal(versionsIn(res.body), CAP);
    assert.ok(maxDelayMs < boundMs, `event loop stalled for ${maxDelayMs} ms (bound ${boundMs} ms)`);
    assert.ok(healthy >= 1);
    assert.equal(await metric(base, auth(), /pallet_helm_upstream_index_skipped_total\{upstream="acme\/big",reason="over-cap"\} (\d+)/), ENTRIES - CAP);
  });

  it('merges it into a local registry index without stalling the event loop, and reads it once', async () => {
    const archive = await chart('local-only', '1.0.0').build();
    const posted = await fetch(`${base}/pkg/acme/hub/helm/api/charts`, { method: 'POST', headers: { authorization: auth() }, body: new Uint8Array(archive) });
    assert.equal(posted.status, 201, await posted.text());
    const { res, maxDelayMs, boundMs } = await watch(base, 'merged index.yaml', () => get(`${base}/pkg/acme/hub/helm/index.yaml`, { authorization: auth() }));
    assert.equal(res.status, 200);
    assert.equal(versionsIn(res.body), CAP + 1);
    assert.ok(res.body.includes('"local-only"'), 'the local chart is listed');
    assert.ok(maxDelayMs < boundMs, `event loop stalled for ${maxDelayMs} ms (bound ${boundMs} ms)`);
    assert.equal(up.gets.get('/index.yaml'), 1, 'fetched once (TTL)');
    assert.equal(await metric(base, auth(), /pallet_helm_upstream_index_reads_total\{upstream="acme\/big",outcome="ok"\} (\d+)/), 1, 'read once');
  });

  it('downloads a chart listed deep in the huge index, and none beyond the cap', async () => {
    // The fixture's digests are of the file names: these bytes match the index.
    up.files.set('/chart-00999-1.0.0.tgz', Buffer.from('chart-00999-1.0.0.tgz'));
    up.files.set('/chart-01000-1.0.0.tgz', Buffer.from('chart-01000-1.0.0.tgz'));
    const res = await get(`${base}/pkg/acme/big/helm/charts/chart-00999-1.0.0.tgz`, { authorization: auth() });
    assert.equal(res.status, 200, res.body.toString());
    assert.equal(res.body.toString(), 'chart-00999-1.0.0.tgz');
    const beyond = await get(`${base}/pkg/acme/big/helm/charts/chart-01000-1.0.0.tgz`, { authorization: auth() });
    assert.equal(beyond.status, 404, 'entry 50,001 was left out');
    assert.equal(up.gets.get('/chart-01000-1.0.0.tgz'), undefined);
  });
});

describe('an upstream index over its read budget', () => {
  let h: Harness;
  let base: string;
  let up: Upstream;
  const auth = () => h.auth.authorization!;
  const good = helmIndexYaml({ charts: 3, versions: 2 });

  before(async () => {
    up = await serveUpstream(good);
    h = await startInProcess({ upstream: { allowedNetworks: '127.0.0.1/32' }, helm: { indexReadSeconds: 1 } });
    base = await listen(h);
    assert.equal((await h.call('POST', '/api/v1/spaces', { path: 'acme' })).status, 201);
    const proxy = { space: 'acme', identifier: 'flaky', packageType: 'helm', kind: 'upstream', upstream: { source: 'custom', url: up.url, tagTtlSeconds: 0 } };
    assert.equal((await h.call('POST', '/api/v1/registries', proxy)).status, 201);
  });

  after(async () => {
    await h?.close();
    await up?.close();
  });

  it('keeps serving the last good copy, counts the refusal and does not read the same bytes again', async () => {
    const first = await get(`${base}/pkg/acme/flaky/helm/index.yaml`, { authorization: auth() });
    assert.equal(first.status, 200);
    assert.equal(versionsIn(first.body), 6);
    // The same kind of index in flow style (~6 MB): not laid out for the linear reader, so it is
    // parsed whole, which takes well over the 1 s budget.
    up.index = Buffer.from(JSON.stringify({ apiVersion: 'v1', entries: { hostile: Array.from({ length: 40_000 }, (_, i) => ({ name: 'hostile', version: `1.0.${i}`, urls: [`h-${i}.tgz`], description: 'x'.repeat(100) })) } }));
    const { res, maxDelayMs, boundMs } = await watch(base, 'index over budget', () => get(`${base}/pkg/acme/flaky/helm/index.yaml`, { authorization: auth() }));
    assert.equal(res.status, 200);
    assert.equal(versionsIn(res.body), 6, 'the last good copy');
    assert.doesNotMatch(res.body.toString(), /hostile/);
    assert.ok(maxDelayMs < boundMs, `event loop stalled for ${maxDelayMs} ms (bound ${boundMs} ms)`);
    const refused = /pallet_helm_upstream_index_reads_total\{upstream="acme\/flaky",outcome="refused"\} (\d+)/;
    for (let i = 0; i < 100 && (await metric(base, auth(), refused)) === 0; i += 1) await new Promise((r) => setTimeout(r, 100));
    assert.equal(await metric(base, auth(), refused), 1);
    // While it was read (the 1 s grace) or after it was refused (the 1 s budget), whichever came first.
    assert.ok((await metric(base, auth(), /pallet_helm_upstream_index_last_good_serves_total\{upstream="acme\/flaky",reason="\w+"\} (\d+)/)) >= 1);
    const fetches = up.gets.get('/index.yaml') ?? 0;
    await new Promise((r) => setTimeout(r, 5_100)); // past the failure back-off
    const again = await get(`${base}/pkg/acme/flaky/helm/index.yaml`, { authorization: auth() });
    assert.equal(again.status, 200);
    assert.equal(versionsIn(again.body), 6);
    assert.ok((up.gets.get('/index.yaml') ?? 0) > fetches, 'the upstream was asked again');
    assert.equal(await metric(base, auth(), refused), 1, 'the same bytes were not read again');
    up.index = Buffer.from(helmIndexYaml({ charts: 4, versions: 2 }));
    // Once the back-off of the last refusal is over (5 s from when that read ended, which on a
    // busy machine is later than the request that started it returned), the good index wins.
    let versions = 0;
    for (let i = 0; i < 30 && versions !== 8; i += 1) {
      await new Promise((r) => setTimeout(r, 1_000));
      versions = versionsIn((await get(`${base}/pkg/acme/flaky/helm/index.yaml`, { authorization: auth() })).body);
    }
    assert.equal(versions, 8, 'a good index replaces the last good copy');
  });
});

describe('chart URLs of an upstream index', () => {
  let h: Harness;
  let base: string;
  let up: Upstream;
  const auth = () => h.auth.authorization!;

  before(async () => {
    up = await serveUpstream('entries: {}\n');
    const own = await chart('own', '1.0.0').build();
    up.files.set('/own-1.0.0.tgz', own);
    up.index = Buffer.from(
      [
        'apiVersion: v1',
        'entries:',
        '  own:',
        '  - {name: own, version: 1.0.0, urls: [own-1.0.0.tgz]}',
        '  passwd:',
        '  - {name: passwd, version: 1.0.0, urls: ["file:///etc/passwd"]}',
        '  metadata:',
        '  - {name: metadata, version: 1.0.0, urls: ["http://169.254.169.254/latest/meta-data/"]}',
        '  elsewhere:',
        '  - {name: elsewhere, version: 1.0.0, urls: ["http://127.0.0.2:9/x.tgz"]}',
        '  listed:',
        '  - {name: listed, version: 1.0.0, urls: ["http://127.0.0.3:9/listed-1.0.0.tgz"]}',
      ].join('\n'),
    );
    h = await startInProcess({ upstream: { allowedNetworks: '127.0.0.1/32', fileHosts: '127.0.0.3' } });
    base = await listen(h);
    assert.equal((await h.call('POST', '/api/v1/spaces', { path: 'acme' })).status, 201);
    const proxy = { space: 'acme', identifier: 'charts', packageType: 'helm', kind: 'upstream', upstream: { source: 'custom', url: up.url, tagTtlSeconds: 3600 } };
    assert.equal((await h.call('POST', '/api/v1/registries', proxy)).status, 201);
  });

  after(async () => {
    await h?.close();
    await up?.close();
  });

  it('lists and follows only http(s) URLs on the upstream origin or an allowed file host', async () => {
    const index = await get(`${base}/pkg/acme/charts/helm/index.yaml`, { authorization: auth() });
    assert.equal(index.status, 200);
    const text = index.body.toString();
    assert.match(text, /"own"/);
    assert.match(text, /"listed"/);
    for (const name of ['passwd', 'metadata', 'elsewhere']) assert.doesNotMatch(text, new RegExp(`"${name}"`), name);
    for (const name of ['passwd', 'metadata', 'elsewhere']) {
      const res = await get(`${base}/pkg/acme/charts/helm/charts/${name}-1.0.0.tgz`, { authorization: auth() });
      assert.equal(res.status, 404, `${name}: ${res.status} ${res.body.toString()}`);
    }
    const own = await get(`${base}/pkg/acme/charts/helm/charts/own-1.0.0.tgz`, { authorization: auth() });
    assert.equal(own.status, 200);
  });

  it('refuses an allowed file host whose address the egress policy refuses, without a 500', async () => {
    const res = await get(`${base}/pkg/acme/charts/helm/charts/listed-1.0.0.tgz`, { authorization: auth() });
    assert.ok(res.status === 502 || res.status === 503, `${res.status} ${res.body.toString()}`);
    assert.match(res.body.toString(), /127\.0\.0\.3/);
    assert.ok((await metric(base, auth(), /pallet_upstream_errors_total\{upstream="acme\/charts",format="helm",reason="address-refused"\} (\d+)/)) >= 1);
  });
});
