/**
 * Pallet vs CNCF Distribution, side by side in one run (see bench/README.md).
 *
 * Order: build the payloads and hash them (one streamed pass, before any timed run) → start both
 * servers → create Pallet's space and registry → run each workload against Pallet, then against
 * Distribution, never both at once → print the Markdown table and save it under bench/results/.
 * Both servers are killed and their temp dirs removed at the end, on failure and on Ctrl-C.
 *
 * Sizes come from the environment: BENCH_BLOB_MIB (1024), BENCH_CHUNK_MIB (64),
 * BENCH_SMALL_COUNT (1000), BENCH_WRK_SECONDS (10).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { intEnv } from './env.js';
import { HttpClient } from './http-client.js';
import { OciClient } from './oci-client.js';
import { preparePallet, REGISTRY, SPACE } from './pallet-setup.js';
import { MiB, Payload } from './payload.js';
import { renderTable, saveReport, type Row } from './report.js';
import { rssKiB, withPeakRss } from './rss.js';
import { startDistribution, startPallet, stopOnExit, type Server } from './servers.js';
import {
  blobGet,
  chunkedUpload,
  makeImage,
  manifestGetLoad,
  monolithicUpload,
  pushImage,
  sha256,
  smallUploads,
  type SmallBlob,
} from './workloads.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SMALL_BLOB_BYTES = 4096;
const TAG = 'latest';

const settings = {
  blobMiB: intEnv('BENCH_BLOB_MIB', 1024),
  chunkMiB: intEnv('BENCH_CHUNK_MIB', 64),
  smallCount: intEnv('BENCH_SMALL_COUNT', 1000),
  wrkSeconds: intEnv('BENCH_WRK_SECONDS', 10),
  distributionBinary: process.env.BENCH_DISTRIBUTION_BIN ?? '/usr/bin/docker-registry',
};

function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

// Every started server, so that any exit path can kill it and remove its temp dir.
const servers: Server[] = [];
stopOnExit(servers, (signal) => log(`${signal}: stopping the servers`));

interface Target {
  server: Server;
  http: HttpClient;
  repo(image: string): OciClient;
}

function target(server: Server): Target {
  // Pallet authenticates every request (basic, as the bootstrap admin); Distribution has no auth.
  const adminPassword = 'adminPassword' in server ? String(server.adminPassword) : undefined;
  const headers: Record<string, string> = adminPassword ? { authorization: `Basic ${Buffer.from(`admin:${adminPassword}`).toString('base64')}` } : {};
  const http = new HttpClient(server.baseUrl, headers);
  return { server, http, repo: (image) => new OciClient(http, `${SPACE}/${REGISTRY}/${image}`) };
}

function smallBlobs(count: number): SmallBlob[] {
  return Array.from({ length: count }, () => {
    const data = randomBytes(SMALL_BLOB_BYTES);
    return { data, digest: sha256(data) };
  });
}

function describeEnvironment(): string {
  const git = (args: string[]) => {
    try {
      return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
    } catch {
      return '';
    }
  };
  const commit = git(['rev-parse', '--short', 'HEAD']) || 'unknown';
  const dirty = git(['status', '--porcelain', '--', 'src']) ? ' (src has uncommitted changes)' : '';
  let distribution = 'unknown';
  try {
    distribution = execFileSync(settings.distributionBinary, ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    // leave unknown
  }
  const cpu = cpus();
  return [
    `- Date: ${new Date().toISOString()}`,
    `- Pallet: commit ${commit}${dirty}, Node ${process.version}, SQLite + filesystem, log level warn, ` +
      (process.env.PALLET_AUTH_ENABLED === 'false' ? 'authentication off (PALLET_AUTH_ENABLED=false)' : 'authentication on (basic credentials on every request)'),
    `- Distribution: ${distribution}, filesystem storage, in-memory blob descriptor cache, log level warn`,
    `- Machine: ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}`,
    `- Sizes: blob ${settings.blobMiB} MiB, PATCH chunk ${settings.chunkMiB} MiB, ${settings.smallCount} small blobs of ${SMALL_BLOB_BYTES / 1024} KiB, wrk ${settings.wrkSeconds} s`,
  ].join('\n');
}

async function main(): Promise<void> {
  const mainJs = join(ROOT, 'dist', 'main.js');
  if (!existsSync(mainJs)) throw new Error(`${mainJs} is missing: run npm run build first (bench/run.sh does)`);
  const bytes = settings.blobMiB * MiB;
  const chunkBytes = settings.chunkMiB * MiB;

  // Inputs, identical for both registries. Two big payloads so the chunked upload is a new
  // blob rather than a second copy of the monolithic one.
  const monolithic = new Payload(1, bytes);
  const chunked = new Payload(2, bytes);
  log(`hashing two ${settings.blobMiB} MiB payloads (streamed, untimed)`);
  await monolithic.digest();
  await chunked.digest();
  const smallSerial = smallBlobs(settings.smallCount);
  const smallParallel = smallBlobs(settings.smallCount);
  const image = makeImage(randomBytes(SMALL_BLOB_BYTES));

  log('starting Pallet and Distribution');
  const pallet = await startPallet(mainJs);
  servers.push(pallet);
  const distribution = await startDistribution(settings.distributionBinary);
  servers.push(distribution);
  await preparePallet(pallet);
  log(`Pallet (pid ${pallet.pid}) at ${pallet.baseUrl}, space ${SPACE} and registry ${REGISTRY} created`);
  log(`Distribution (pid ${distribution.pid}) at ${distribution.baseUrl}`);
  const targets = [target(pallet), target(distribution)];

  const rows: Row[] = [];
  const row = (workload: string, unit: string, better: Row['better'], digits: number): Row => {
    const r: Row = { workload, unit, better, digits, pallet: undefined, distribution: undefined };
    rows.push(r);
    return r;
  };
  const record = (r: Row, t: Target, value: number) => {
    if (t.server === pallet) r.pallet = value;
    else r.distribution = value;
  };
  /** Runs `work` against each registry in turn, naming the registry and its log on failure. */
  const each = async (label: string, work: (t: Target) => Promise<void>) => {
    for (const t of targets) {
      log(`${label}: ${t.server.name}`);
      // Flush dirty pages first, so writeback left by the previous workload (often the other
      // registry's) does not land inside this one's timing.
      execFileSync('sync');
      try {
        await work(t);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        throw new Error(`${label} failed on ${t.server.name}: ${message}\n--- ${t.server.name} log (tail) ---\n${t.server.logTail()}`, {
          cause: err,
        });
      }
    }
  };

  const idle = row('RSS at idle, after start', 'MiB', 'lower', 1);
  for (const t of targets) record(idle, t, (rssKiB(t.server.pid) ?? Number.NaN) / 1024);

  const size = `${settings.blobMiB} MiB`;
  const mono = row(`${size} blob, monolithic upload (POST + PUT)`, 'MB/s', 'higher', 1);
  const monoRss = row(`Peak RSS during the monolithic upload`, 'MiB', 'lower', 1);
  await each('monolithic upload', async (t) => {
    const { result, peakMiB } = await withPeakRss(t.server.pid, () => monolithicUpload(t.repo('big'), monolithic));
    record(mono, t, result);
    record(monoRss, t, peakMiB);
  });

  const chunk = row(`${size} blob, chunked upload (${settings.chunkMiB} MiB PATCHes + PUT)`, 'MB/s', 'higher', 1);
  const chunkRss = row(`Peak RSS during the chunked upload`, 'MiB', 'lower', 1);
  await each('chunked upload', async (t) => {
    const { result, peakMiB } = await withPeakRss(t.server.pid, () => chunkedUpload(t.repo('big'), chunked, chunkBytes));
    record(chunk, t, result);
    record(chunkRss, t, peakMiB);
  });

  const get = row(`${size} blob GET`, 'MB/s', 'higher', 1);
  const getRss = row(`Peak RSS during the blob GET`, 'MiB', 'lower', 1);
  await each('blob GET', async (t) => {
    const { result, peakMiB } = await withPeakRss(t.server.pid, () => blobGet(t.repo('big'), monolithic));
    record(get, t, result);
    record(getRss, t, peakMiB);
  });

  for (const [concurrency, blobs] of [
    [1, smallSerial],
    [16, smallParallel],
  ] as const) {
    const r = row(`${settings.smallCount} × 4 KiB blob uploads (POST + PUT), concurrency ${concurrency}`, 'uploads/s', 'higher', 0);
    await each(`small uploads, concurrency ${concurrency}`, async (t) => {
      record(r, t, await smallUploads(t.repo(`small-c${concurrency}`), blobs, concurrency));
    });
  }

  const rps = row(`Manifest GET by tag, wrk 16 connections, ${settings.wrkSeconds} s`, 'req/s', 'higher', 0);
  const p99 = row('Manifest GET by tag, p99 latency', 'ms', 'lower', 2);
  await each('manifest GET load', async (t) => {
    const oci = t.repo('app');
    await pushImage(oci, image, TAG);
    const result = await manifestGetLoad(oci, TAG, settings.wrkSeconds);
    record(rps, t, result.requestsPerSecond);
    if (result.p99Ms !== undefined) record(p99, t, result.p99Ms);
  });

  for (const t of targets) t.http.close();

  const report = `# Pallet vs Distribution\n\n${describeEnvironment()}\n\n${renderTable(rows)}\n`;
  process.stdout.write(`\n${report}`);
  const file = saveReport('', report);
  log(`saved ${file}`);
}

try {
  await main();
} catch (err) {
  process.exitCode = 1;
  console.error(`\nbench failed: ${err instanceof Error ? err.message : String(err)}`);
} finally {
  log('stopping the servers');
  await Promise.all(servers.map((s) => s.stop()));
  servers.length = 0;
}
