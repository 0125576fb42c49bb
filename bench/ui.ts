/**
 * `npm run bench:ui`: how fast the web UI's big lists become usable in headless Chromium, and
 * how much JavaScript it ships. Starts a real `pallet serve`, creates 1,000 registries in one
 * space and one registry holding 10,000 versions (manifests pushed over the OCI API), then
 * times, in rounds, a cold page load until the registries table and the versions table show
 * their first page (rows rendered, pager filled). The lists are paged by the server, so the
 * time should not grow with the list. Prints medians and the gzip size of dist/ui's JS.
 *
 *   PALLET_BENCH_REGISTRIES=1000 PALLET_BENCH_VERSIONS=10000 PALLET_BENCH_ROUNDS=5 npm run bench:ui
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { createSpace } from '../test/helpers/api.js';
import { CHROMIUM } from '../test/helpers/browser.js';
import { REPO_ROOT, startServer, type PalletServer } from '../test/helpers/server.js';

const REGISTRIES = Number(process.env.PALLET_BENCH_REGISTRIES ?? 1000);
const VERSIONS = Number(process.env.PALLET_BENCH_VERSIONS ?? 10000);
const ROUNDS = Number(process.env.PALLET_BENCH_ROUNDS ?? 5);

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function pool<T>(items: T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

async function seed(server: PalletServer): Promise<void> {
  const basic = `Basic ${Buffer.from(`admin:${server.adminPassword}`).toString('base64')}`;
  const api = async (method: string, path: string, body?: unknown): Promise<void> => {
    const res = await fetch(`${server.url}/api/v1${path}`, {
      method,
      headers: { authorization: basic, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  };
  await createSpace(server, 'acme');
  const ids = Array.from({ length: REGISTRIES - 1 }, (_, i) => `reg-${String(i).padStart(4, '0')}`);
  await pool(ids, 16, (identifier) =>
    api('POST', '/registries', { space: 'acme', identifier, packageType: i2type(identifier), kind: 'local', description: `registry ${identifier}`, labels: ['bench'] }),
  );
  await api('POST', '/registries', { space: 'acme', identifier: 'big', packageType: 'docker', kind: 'local' });

  // One config and one layer; VERSIONS manifests that differ by an annotation, each tagged.
  const token = await (
    await fetch(`${server.url}/v2/token?service=pallet&scope=repository:acme/big/app:push,pull`, { headers: { authorization: basic } })
  ).json() as { token?: string; access_token?: string };
  const auth = token.token ?? token.access_token ? `Bearer ${token.token ?? token.access_token}` : basic;
  const blob = async (data: Buffer): Promise<string> => {
    const digest = sha(data);
    const res = await fetch(`${server.url}/v2/acme/big/app/blobs/uploads/?digest=${digest}`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/octet-stream', 'content-length': String(data.length) },
      body: new Uint8Array(data),
    });
    if (res.status !== 201) throw new Error(`blob upload: ${res.status} ${await res.text()}`);
    return digest;
  };
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const layer = Buffer.from('bench layer');
  const configDigest = await blob(config);
  const layerDigest = await blob(layer);
  const versions = Array.from({ length: VERSIONS }, (_, i) => i);
  await pool(versions, 16, async (i) => {
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }],
        annotations: { 'bench.version': String(i) },
      }),
    );
    const res = await fetch(`${server.url}/v2/acme/big/app/manifests/v${i}`, {
      method: 'PUT',
      headers: { authorization: auth, 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
      body: new Uint8Array(manifest),
    });
    if (res.status !== 201) throw new Error(`manifest ${i}: ${res.status} ${await res.text()}`);
  });
}

const i2type = (id: string): 'docker' | 'helm' => (Number(id.slice(-1)) % 4 === 0 ? 'helm' : 'docker');

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function main(): Promise<void> {
  const assets = join(REPO_ROOT, 'dist/ui/assets');
  const js = readdirSync(assets).filter((f) => f.endsWith('.js'));
  const css = readdirSync(assets).filter((f) => f.endsWith('.css'));
  const size = (files: string[]): { raw: number; gzip: number } =>
    files.reduce(
      (acc, f) => {
        const data = readFileSync(join(assets, f));
        return { raw: acc.raw + data.length, gzip: acc.gzip + gzipSync(data, { level: 9 }).length };
      },
      { raw: 0, gzip: 0 },
    );

  const server = await startServer({ label: 'bench-ui' });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const started = Date.now();
    await seed(server);
    process.stderr.write(`seeded ${REGISTRIES} registries and ${VERSIONS} versions in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    const timings = { registries: [] as number[], versions: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      const context = await browser.newContext({ viewport: { width: 1360, height: 860 } });
      const login = await context.request.post(`${server.url}/api/v1/auth/login`, { data: { username: 'admin', password: server.adminPassword } });
      if (!login.ok()) throw new Error(`login: ${login.status()}`);
      const page = await context.newPage();
      let t0 = performance.now();
      await page.goto(`${server.url}/?space=acme`);
      await page.getByRole('status').filter({ hasText: `of ${REGISTRIES.toLocaleString('en')} registries` }).waitFor();
      await page.locator('tbody tr').nth(49).waitFor();
      timings.registries.push(performance.now() - t0);
      t0 = performance.now();
      await page.goto(`${server.url}/registries/acme/big/artifacts/app`);
      await page.getByRole('status').filter({ hasText: `of ${VERSIONS.toLocaleString('en')} versions` }).waitFor();
      await page.locator('tbody tr').nth(49).waitFor();
      timings.versions.push(performance.now() - t0);
      await context.close();
    }
    const jsSize = size(js);
    const cssSize = size(css);
    const kb = (n: number): string => `${(n / 1024).toFixed(1)} KiB`;
    console.log(`web UI bench: ${REGISTRIES} registries, ${VERSIONS} versions, ${ROUNDS} cold loads each (median)`);
    console.log(`  registries table usable: ${median(timings.registries).toFixed(0)} ms  (all: ${timings.registries.map((t) => t.toFixed(0)).join(', ')})`);
    console.log(`  versions table usable:   ${median(timings.versions).toFixed(0)} ms  (all: ${timings.versions.map((t) => t.toFixed(0)).join(', ')})`);
    console.log(`  shipped JS: ${kb(jsSize.raw)} raw, ${kb(jsSize.gzip)} gzip; CSS: ${kb(cssSize.raw)} raw, ${kb(cssSize.gzip)} gzip`);
  } finally {
    await browser.close();
    await server.stop();
  }
}

await main();
