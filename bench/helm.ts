/**
 * `npm run bench:helm`: the classic chart repository at scale, in one process over HTTP
 * (SQLite + filesystem, auth off so the numbers are the repository's own cost):
 *   1. upload 1,000 charts through `POST …/api/charts` (8 at a time): total time, charts/s;
 *   2. fill the registry to 10,000 chart versions (the rest written through the Helm store, as
 *      an OCI push would record them) and time `GET index.yaml`: right after a change (the
 *      index is rendered), unchanged (served from the cache), and a 304 revalidation; bytes.
 * ChartMuseum, the anchor, rebuilds its index from storage and is reported by its users to take
 * minutes at a few thousand charts; it is not run here.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config/config.js';
import { openDatabase } from '../src/metadata/open.js';
import { formatMigrations } from '../src/formats/index.js';
import { SqlHelmStore } from '../src/formats/helm/store/sql-helm-store.js';
import { chart } from '../test/fixtures/charts.js';

const UPLOADS = Number(process.env.BENCH_HELM_UPLOADS ?? 1000);
const VERSIONS = Number(process.env.BENCH_HELM_VERSIONS ?? 10_000);
const ROUNDS = 7;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const dataDir = await mkdtemp(join(tmpdir(), 'pallet-bench-helm-'));
const app = await buildApp(loadConfig({ env: {}, flags: { dataDir, logLevel: 'silent', auth: { enabled: false } } }));
try {
  const base = await app.server.listen({ host: '127.0.0.1', port: 0 });
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  };
  await post('/api/v1/spaces', { path: 'bench' });
  await post('/api/v1/registries', { space: 'bench', identifier: 'charts', packageType: 'helm', kind: 'local' });
  const repo = `${base}/pkg/bench/charts/helm`;

  // 1. Uploads.
  const archives = await Promise.all(Array.from({ length: UPLOADS }, (_, i) => chart(`up${i % 50}`, `1.${Math.floor(i / 50)}.0`).build()));
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < archives.length) {
        const archive = archives[next++]!;
        const res = await fetch(`${repo}/api/charts`, { method: 'POST', body: new Uint8Array(archive) });
        if (res.status !== 201) throw new Error(`upload: ${res.status} ${await res.text()}`);
      }
    }),
  );
  const uploadMs = performance.now() - started;

  // 2. Fill to VERSIONS rows, as OCI pushes record them (metadata of a typical chart).
  const registry = (await app.services.registries.getRef('bench', 'charts')).registry;
  // A second connection to the same SQLite file, for the Helm store (the app's is private).
  const second = await openDatabase({ url: '', dataDir, migrations: formatMigrations() });
  const helm = new SqlHelmStore(second.db, second.dialect);
  for (let i = UPLOADS; i < VERSIONS; i++) {
    const name = `filled${i % 200}`;
    const repository = await app.services.store.ensureRepository(registry.id, name);
    const version = `2.${Math.floor(i / 200)}.0`;
    await helm.putChartVersion({
      registryId: registry.id,
      name,
      version,
      repositoryId: repository.id,
      manifestId: null,
      chartDigest: `sha256:${i.toString(16).padStart(64, '0')}`,
      chartSize: 4096,
      provDigest: null,
      metadata: { apiVersion: 'v2', name, version, appVersion: '1.16.0', description: 'A Helm chart for Kubernetes', type: 'application', keywords: ['bench', 'web'], maintainers: [{ name: 'Pallet', email: 'ops@example.com' }] },
    });
  }

  await second.metadata.close();

  const get = async (etag?: string) => {
    const t = performance.now();
    const res = await fetch(`${repo}/index.yaml`, etag ? { headers: { 'if-none-match': etag } } : {});
    const body = Buffer.from(await res.arrayBuffer());
    return { ms: performance.now() - t, status: res.status, bytes: body.length, etag: res.headers.get('etag') ?? '' };
  };
  const rendered: number[] = [];
  const cached: number[] = [];
  const revalidated: number[] = [];
  let bytes = 0;
  for (let round = 0; round < ROUNDS; round++) {
    // A change (one more upload) makes the next GET render the whole index again.
    const res = await fetch(`${repo}/api/charts`, { method: 'POST', body: new Uint8Array(await chart('churn', `0.0.${round}`).build()) });
    if (res.status !== 201) throw new Error(`upload: ${res.status}`);
    const first = await get();
    rendered.push(first.ms);
    bytes = first.bytes;
    cached.push((await get()).ms);
    const notModified = await get(first.etag);
    if (notModified.status !== 304) throw new Error(`expected 304, got ${notModified.status}`);
    revalidated.push(notModified.ms);
  }
  const rows = VERSIONS + ROUNDS;
  console.log(`helm bench (${new Date().toISOString()}, node ${process.version}, SQLite + filesystem, auth off)`);
  console.log(`upload ${UPLOADS} charts (8 concurrent): ${(uploadMs / 1000).toFixed(2)} s, ${((UPLOADS * 1000) / uploadMs).toFixed(0)} charts/s`);
  console.log(`index.yaml with ${rows} chart versions: ${(bytes / 1024 / 1024).toFixed(2)} MiB`);
  console.log(`  after a change (rendered): median ${median(rendered).toFixed(1)} ms over ${ROUNDS} rounds`);
  console.log(`  unchanged (cached):        median ${median(cached).toFixed(1)} ms`);
  console.log(`  If-None-Match (304):       median ${median(revalidated).toFixed(1)} ms`);
} finally {
  await app.server.close();
  await rm(dataDir, { recursive: true, force: true });
}
