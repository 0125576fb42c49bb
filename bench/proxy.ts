/**
 * Upstream proxy benchmark (`npm run bench:proxy`): pulling an image through a Pallet upstream
 * proxy, side by side with pulling it straight from the upstream (CNCF Distribution) and with
 * pulling it from a Pallet local registry, in one run on one machine.
 *
 * Order: generate the image (BENCH_PROXY_LAYERS layers of BENCH_PROXY_LAYER_MIB MiB from the
 * seeded PRNG, streamed) → start Distribution and Pallet (auth off: the data path is measured)
 * → push the image to Distribution and to a Pallet local registry → BENCH_PROXY_ROUNDS rounds of
 * four pulls, one after another, each preceded by `sync`:
 *   straight  Distribution directly;
 *   cold      a Pallet proxy with an empty cache (a fresh root space each round, since blobs
 *             are shared per root space), which fetches from Distribution, tees to the client
 *             and writes the cache;
 *   warm      the proxy of round 1 again, all from its cache;
 *   local     the Pallet local registry.
 * A pull is what a client does: GET the manifest by tag, GET the config and every layer
 * (BENCH_PROXY_PARALLEL at a time), reading and counting every byte. The medians go into the
 * table, with the ratios cold/straight (target ≤ 1.15) and warm/local (target ≤ 1.05) and the
 * peak RSS of Pallet during the cold pulls. Results also go to bench/results/.
 *
 * On loopback the upstream serves at memory speed, so the cold ratio mostly measures what the
 * proxy does per byte (hash, disk write, second socket) against Distribution copying a file. With
 * BENCH_PROXY_UPSTREAM_MBPS set, a relay (`throttle.ts`) caps the upstream's bandwidth for both
 * the straight and the proxied pulls, as a real upstream across a network would.
 */
import { saveReport } from './report.js';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { intEnv } from './env.js';
import { HttpClient } from './http-client.js';
import { OCI_CONFIG, OCI_MANIFEST, OciClient } from './oci-client.js';
import { MiB, Payload } from './payload.js';
import { withPeakRss } from './rss.js';
import { startThrottle, type Throttle } from './throttle.js';
import { startDistribution, startPallet, stopOnExit, type PalletServer, type Server } from './servers.js';
import { sha256 } from './workloads.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const LAYER_MEDIA_TYPE = 'application/vnd.oci.image.layer.v1.tar';
const IMAGE = 'bench/app';
const TAG = '1';

const settings = {
  layers: intEnv('BENCH_PROXY_LAYERS', 5),
  layerMiB: intEnv('BENCH_PROXY_LAYER_MIB', 100),
  rounds: intEnv('BENCH_PROXY_ROUNDS', 5),
  parallel: intEnv('BENCH_PROXY_PARALLEL', 1),
  /** Cap of the upstream's bandwidth in MB/s; 0: loopback speed. */
  upstreamMbps: process.env.BENCH_PROXY_UPSTREAM_MBPS ? intEnv('BENCH_PROXY_UPSTREAM_MBPS', 1) : 0,
  distributionBinary: process.env.BENCH_DISTRIBUTION_BIN ?? '/usr/bin/docker-registry',
};

function log(message: string): void {
  process.stderr.write(`[bench:proxy] ${message}\n`);
}

const servers: Server[] = [];
stopOnExit(servers);

interface Image {
  layers: Array<{ payload: Payload; digest: string }>;
  config: { data: Buffer; digest: string };
  manifest: Buffer;
  digest: string;
  bytes: number;
}

async function makeImage(): Promise<Image> {
  const layers = [];
  for (let i = 0; i < settings.layers; i++) {
    const payload = new Payload(100 + i, settings.layerMiB * MiB);
    layers.push({ payload, digest: await payload.digest() });
  }
  const configData = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } }),
  );
  const config = { data: configData, digest: sha256(configData) };
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: config.digest, size: configData.length },
      layers: layers.map((l) => ({ mediaType: LAYER_MEDIA_TYPE, digest: l.digest, size: l.payload.bytes })),
    }),
  );
  const bytes = configData.length + manifest.length + layers.reduce((n, l) => n + l.payload.bytes, 0);
  return { layers, config, manifest, digest: sha256(manifest), bytes };
}

async function push(oci: OciClient, image: Image): Promise<void> {
  await oci.pushMonolithic(image.config.digest, image.config.data.length, image.config.data);
  for (const layer of image.layers) await oci.pushMonolithic(layer.digest, layer.payload.bytes, () => layer.payload.stream());
  await oci.putManifest(TAG, image.manifest, image.digest);
}

/** A client's pull: manifest by tag, then config and layers; resolves to milliseconds. */
async function pull(oci: OciClient, image: Image): Promise<number> {
  const start = performance.now();
  const res = await oci.getManifest(TAG);
  if (!res.body.equals(image.manifest)) throw new Error(`GET ${oci.repository}:${TAG}: the manifest differs from the one pushed`);
  const blobs = [
    { digest: image.config.digest, size: image.config.data.length },
    ...image.layers.map((l) => ({ digest: l.digest, size: l.payload.bytes })),
  ];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < blobs.length) {
      const blob = blobs[next++]!;
      await oci.pullBlob(blob.digest, blob.size);
    }
  };
  await Promise.all(Array.from({ length: Math.min(settings.parallel, blobs.length) }, worker));
  return performance.now() - start;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function api(server: PalletServer, method: string, path: string, body: unknown): Promise<void> {
  const http = new HttpClient(server.baseUrl);
  try {
    await http.expect(201, method, `/api/v1/${path}`, {
      headers: {
        'content-type': 'application/json',
        authorization: `Basic ${Buffer.from(`admin:${server.adminPassword}`).toString('base64')}`,
      },
      body: Buffer.from(JSON.stringify(body)),
    });
  } finally {
    http.close();
  }
}

function describeEnvironment(): string {
  const commit = (() => {
    try {
      return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return 'unknown';
    }
  })();
  const cpu = cpus();
  return [
    `- Date: ${new Date().toISOString()}`,
    `- Pallet: commit ${commit}, Node ${process.version}, SQLite + filesystem, auth off, log level warn`,
    `- Upstream: ${settings.distributionBinary} (CNCF Distribution), filesystem storage, on loopback` +
      (settings.upstreamMbps ? `, behind a relay capping it at ${settings.upstreamMbps} MB/s per connection` : ' at full speed'),
    `- Machine: ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}`,
    `- Image: ${settings.layers} layers × ${settings.layerMiB} MiB (incompressible) + config; ${settings.rounds} rounds; ${settings.parallel} blob(s) at a time; medians`,
  ].join('\n');
}

async function main(): Promise<void> {
  const mainJs = join(ROOT, 'dist', 'main.js');
  if (!existsSync(mainJs)) throw new Error(`${mainJs} is missing: run npm run build first (bench/proxy.sh does)`);
  log(`generating ${settings.layers} × ${settings.layerMiB} MiB layers (streamed, hashed once, untimed)`);
  const image = await makeImage();

  const distribution = await startDistribution(settings.distributionBinary);
  servers.push(distribution);
  // The upstream (and the relay) run on loopback, which Pallet refuses unless allow-listed.
  const pallet = await startPallet(mainJs, { PALLET_AUTH_ENABLED: 'false', PALLET_UPSTREAM_ALLOWED_NETWORKS: '127.0.0.1/32' });
  servers.push(pallet);
  log(`Distribution at ${distribution.baseUrl}, Pallet (pid ${pallet.pid}) at ${pallet.baseUrl}`);
  let throttle: Throttle | undefined;
  if (settings.upstreamMbps) {
    throttle = await startThrottle(new URL(distribution.baseUrl), settings.upstreamMbps);
    log(`upstream capped at ${settings.upstreamMbps} MB/s through ${throttle.url}`);
  }
  const upstreamUrl = throttle?.url ?? distribution.baseUrl;

  const pushHttp = new HttpClient(distribution.baseUrl);
  const upstreamHttp = new HttpClient(upstreamUrl);
  const palletHttp = new HttpClient(pallet.baseUrl);
  const straight = new OciClient(upstreamHttp, IMAGE);
  const local = new OciClient(palletHttp, `bench/docker-local/${IMAGE}`);
  const proxied = (round: number) => new OciClient(palletHttp, `cold${round}/upstream/${IMAGE}`);

  await api(pallet, 'POST', 'spaces', { path: 'bench' });
  await api(pallet, 'POST', 'registries', { space: 'bench', identifier: 'docker-local', packageType: 'docker', kind: 'local' });
  for (let round = 1; round <= settings.rounds; round++) {
    await api(pallet, 'POST', 'spaces', { path: `cold${round}` });
    await api(pallet, 'POST', 'registries', {
      space: `cold${round}`,
      identifier: 'upstream',
      packageType: 'docker',
      kind: 'upstream',
      upstream: { source: 'custom', url: upstreamUrl, tagTtlSeconds: 3600 },
    });
  }
  log('pushing the image to Distribution and to the Pallet local registry');
  await push(new OciClient(pushHttp, IMAGE), image);
  pushHttp.close();
  await push(local, image);

  const times = { straight: [] as number[], cold: [] as number[], warm: [] as number[], local: [] as number[] };
  let coldPeak = 0;
  const timed = async (label: keyof typeof times, work: () => Promise<number>): Promise<void> => {
    execFileSync('sync');
    const ms = await work();
    times[label].push(ms);
    log(`${label}: ${(ms / 1000).toFixed(2)} s, ${(image.bytes / 1e6 / (ms / 1000)).toFixed(0)} MB/s`);
  };
  for (let round = 1; round <= settings.rounds; round++) {
    log(`round ${round}`);
    await timed('straight', () => pull(straight, image));
    await timed('cold', async () => {
      const { result, peakMiB } = await withPeakRss(pallet.pid, () => pull(proxied(round), image));
      coldPeak = Math.max(coldPeak, peakMiB);
      return result;
    });
    await timed('warm', () => pull(proxied(1), image));
    await timed('local', () => pull(local, image));
  }
  upstreamHttp.close();
  palletHttp.close();
  await throttle?.close();

  const mb = image.bytes / 1e6;
  const row = (name: string, ms: number, baseline?: number, target?: string): string =>
    `| ${name} | ${(ms / 1000).toFixed(2)} | ${(mb / (ms / 1000)).toFixed(0)} | ${baseline === undefined ? '' : `${(ms / baseline).toFixed(2)}×`} | ${target ?? ''} |`;
  const m = { straight: median(times.straight), cold: median(times.cold), warm: median(times.warm), local: median(times.local) };
  const table = [
    '| Pull of the whole image | Seconds (median) | MB/s | Ratio | Target |',
    '|---|--:|--:|--:|--:|',
    row('Straight from the upstream (Distribution)', m.straight),
    row('Cold, through the Pallet proxy (fetch + tee + cache write)', m.cold, m.straight, '≤ 1.15× straight'),
    row('Local registry in Pallet', m.local),
    row('Warm, through the Pallet proxy (from its cache)', m.warm, m.local, '≤ 1.05× local'),
    '',
    `Peak RSS of Pallet during the cold pulls: ${coldPeak.toFixed(1)} MiB (image: ${(image.bytes / MiB).toFixed(0)} MiB).`,
  ].join('\n');
  const report = `# Pallet upstream proxy: cold and warm pulls\n\n${describeEnvironment()}\n\n${table}\n`;
  process.stdout.write(`\n${report}`);
  const file = saveReport('proxy-', report);
  log(`saved ${file}`);
}

try {
  await main();
} catch (err) {
  process.exitCode = 1;
  console.error(`\nbench:proxy failed: ${err instanceof Error ? err.message : String(err)}`);
  for (const s of servers) console.error(`--- ${s.name} log (tail) ---\n${s.logTail()}`);
} finally {
  await Promise.all(servers.map((s) => s.stop()));
  servers.length = 0;
}
