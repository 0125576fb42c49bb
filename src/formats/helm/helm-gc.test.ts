/**
 * Helm chart files and online GC, in one process (filesystem storage; SQLite, then PostgreSQL
 * in a schema of its own): chart files are live through the core's package files, not only
 * through OCI manifests. A chart cached from a classic upstream whose Chart.yaml disagrees with
 * the upstream index is recorded without a manifest; it must survive a GC past its grace and
 * keep being served after the upstream is gone. Deleting a chart version hands its files to GC.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { chart } from '../../../test/fixtures/charts.js';
import { blobFiles, startInProcess, type Harness } from '../../../test/helpers/inproc.js';
import { digestOf } from '../../base/digest.js';
import { dropTestSchema, testSchema, TEST_DATABASE_URL } from '../../metadata/test-databases.js';
import type { GarbageCollector } from '../../registry/gc.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Upstream {
  url: string;
  files: Map<string, Buffer>;
  close(): Promise<void>;
}

/** A classic chart repository on 127.0.0.1 serving `files` (path → bytes). */
async function serveUpstream(files: Map<string, Buffer>): Promise<Upstream> {
  const server: Server = createServer((req, res) => {
    const body = files.get(new URL(req.url ?? '/', 'http://x').pathname);
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    files,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function indexYaml(name: string, version: string, archive: Buffer): Buffer {
  const digest = createHash('sha256').update(archive).digest('hex');
  return Buffer.from(
    ['apiVersion: v1', 'entries:', `  ${name}:`, `  - apiVersion: v2`, `    name: ${name}`, `    version: ${version}`, `    digest: ${digest}`, `    urls:`, `    - ${name}-${version}.tgz`, 'generated: "2024-05-01T10:20:30Z"', ''].join('\n'),
  );
}

for (const database of ['sqlite', 'postgres'] as const) {
  describe(`helm chart files and GC (${database})`, () => {
    let h: Harness;
    let up: Upstream;
    const schema = testSchema();
    const gc = (): GarbageCollector => h.app.services.gc;
    const get = (url: string) => h.app.server.inject({ method: 'GET', url, headers: h.auth });

    before(async () => {
      up = await serveUpstream(new Map());
      h = await startInProcess({
        upstream: { allowedNetworks: '127.0.0.1/32' },
        ...(database === 'postgres' ? { database: { url: TEST_DATABASE_URL, schema } } : {}),
      });
      assert.equal((await h.call('POST', '/api/v1/spaces', { path: 'acme' })).status, 201);
      const proxy = { space: 'acme', identifier: 'classic', packageType: 'helm', kind: 'upstream', upstream: { source: 'custom', url: up.url, tagTtlSeconds: 3600 } };
      assert.equal((await h.call('POST', '/api/v1/registries', proxy)).status, 201);
      assert.equal((await h.call('POST', '/api/v1/registries', { space: 'acme', identifier: 'charts', packageType: 'helm', kind: 'local' })).status, 201);
    });

    after(async () => {
      await h?.close();
      await up?.close();
      if (database === 'postgres') await dropTestSchema(schema);
    });

    it('keeps a chart cached from a classic upstream without a manifest through a GC past its grace', async () => {
      // Chart.yaml says 9.9.9 while the index lists 1.0.0: cached, but recorded without a manifest.
      const archive = await chart('drifted', '9.9.9').build();
      up.files.set('/drifted-1.0.0.tgz', archive);
      up.files.set('/index.yaml', indexYaml('drifted', '1.0.0', archive));
      const first = await get('/pkg/acme/classic/helm/charts/drifted-1.0.0.tgz');
      assert.equal(first.statusCode, 200, first.body);
      assert.ok(first.rawPayload.equals(archive));
      const manifest = await h.app.server.inject({ method: 'HEAD', url: '/v2/acme/classic/drifted/manifests/1.0.0', headers: h.auth });
      assert.notEqual(manifest.statusCode, 200, 'the cached chart has no OCI manifest');

      await up.close(); // from now on only the cache can answer
      await sleep(5);
      const run = await gc().run({ graceMs: 1 });
      assert.ok(run);
      assert.ok((await blobFiles(h.dataDir)).has(digestOf(archive)), 'the chart bytes are still stored');
      const again = await get('/pkg/acme/classic/helm/charts/drifted-1.0.0.tgz');
      assert.equal(again.statusCode, 200, again.body);
      assert.ok(again.rawPayload.equals(archive), 'served from the cache, byte for byte');
    });

    it('keeps an uploaded chart and its provenance through GC, and reclaims them once the version is deleted', async () => {
      const archive = await chart('kept', '1.2.3').build();
      const prov = Buffer.from(`-----BEGIN PGP SIGNED MESSAGE-----\nkept ${randomBytes(8).toString('hex')}\n`);
      const boundary = `----pallet${Date.now()}`;
      const part = (name: string, data: Buffer) => [Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${name}.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`), data, Buffer.from('\r\n')];
      const payload = Buffer.concat([...part('chart', archive), ...part('prov', prov), Buffer.from(`--${boundary}--\r\n`)]);
      const posted = await h.app.server.inject({ method: 'POST', url: '/pkg/acme/charts/helm/api/charts', payload, headers: { ...h.auth, 'content-type': `multipart/form-data; boundary=${boundary}` } });
      assert.equal(posted.statusCode, 201, posted.body);

      await sleep(5);
      await gc().run({ graceMs: 1 });
      const files = await blobFiles(h.dataDir);
      assert.ok(files.has(digestOf(archive)) && files.has(digestOf(prov)), 'chart and provenance are live');
      assert.equal((await get('/pkg/acme/charts/helm/charts/kept-1.2.3.tgz')).statusCode, 200);
      const provRes = await get('/pkg/acme/charts/helm/charts/kept-1.2.3.tgz.prov');
      assert.equal(provRes.statusCode, 200, provRes.body);
      assert.ok(provRes.rawPayload.equals(prov));

      const deleted = await h.app.server.inject({ method: 'DELETE', url: '/pkg/acme/charts/helm/api/charts/kept/1.2.3', headers: h.auth });
      assert.equal(deleted.statusCode, 200, deleted.body);
      await sleep(5);
      await gc().run({ graceMs: 1 });
      const left = await blobFiles(h.dataDir);
      assert.ok(!left.has(digestOf(archive)) && !left.has(digestOf(prov)), 'a deleted version leaves its files to GC');
    });
  });
}
