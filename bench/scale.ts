/**
 * Scale-out benchmarks (`npm run bench:scale`), reported as a markdown table on stdout and in
 * bench/results/scale-<time>.md:
 *   1. push and pull throughput through 1 vs 2 replicas on this machine (PostgreSQL metadata,
 *      one shared filesystem storage directory, clients spread round-robin over the replicas);
 *   2. GC time for 10,000 unreferenced blobs (SQLite and PostgreSQL, filesystem storage), dry
 *      run and real run;
 *   3. upload throughput of the S3 driver (against s3rver on loopback, a JavaScript fake that
 *      is itself the bottleneck: read the ratio as a floor) vs the filesystem driver, whole
 *      objects and chunked uploads (writeAt + move);
 *   4. what finishing a chunked upload on another replica costs: the re-hash of the upload.
 * Sizes: SCALE_BLOB_MIB (4), SCALE_PUSHES (64), SCALE_CONCURRENCY (8), SCALE_GC_BLOBS (10000),
 * SCALE_DRIVER_MIB (256). PostgreSQL at PALLET_E2E_DATABASE_URL (the tests' default otherwise).
 */
import { saveReport } from './report.js';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import pg from 'pg';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config/config.js';
import type { StorageDriver } from '../src/storage/driver.js';
import { FilesystemDriver } from '../src/storage/filesystem.js';
import { S3Driver } from '../src/storage/s3.js';
import { startS3, S3_ACCESS_KEY, S3_SECRET_KEY } from '../test/helpers/s3.js';
import { openTestServices } from '../test/helpers/services.js';
import { freePort, REPO_ROOT } from '../test/helpers/server.js';
import { dropSchemaLocked } from '../src/metadata/test-databases.js';

const MiB = 1024 * 1024;
const BLOB_MIB = Number(process.env.SCALE_BLOB_MIB ?? 4);
const PUSHES = Number(process.env.SCALE_PUSHES ?? 64);
const CONCURRENCY = Number(process.env.SCALE_CONCURRENCY ?? 8);
const GC_BLOBS = Number(process.env.SCALE_GC_BLOBS ?? 10_000);
const DRIVER_MIB = Number(process.env.SCALE_DRIVER_MIB ?? 256);
const DATABASE_URL = process.env.PALLET_E2E_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const ADMIN_PASSWORD = `bench-${randomBytes(6).toString('hex')}`;
const AUTH = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;

const rows: Array<[string, string, string]> = [];
const row = (workload: string, setup: string, result: string): void => {
  rows.push([workload, setup, result]);
  process.stderr.write(`bench:scale ${workload} | ${setup} | ${result}\n`);
};
const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const mibps = (bytes: number, ms: number): string => `${(bytes / MiB / (ms / 1000)).toFixed(1)} MiB/s`;

async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; result: T }> {
  const start = performance.now();
  const result = await work();
  return { ms: performance.now() - start, result };
}

async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    await dropSchemaLocked(client, schema);
  } finally {
    await client.end();
  }
}

// 1. Push/pull through 1 vs 2 replicas -------------------------------------------------------

interface Replica {
  url: string;
  child: ChildProcess;
}

async function startReplica(dataDir: string, schema: string): Promise<Replica> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve', '--port', String(port), '--data-dir', dataDir], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      PALLET_DATABASE_URL: DATABASE_URL,
      PALLET_DATABASE_SCHEMA: schema,
      PALLET_ADMIN_PASSWORD: ADMIN_PASSWORD,
      PALLET_BASE_URL: url,
      PALLET_LOG_LEVEL: 'warn',
    },
    stdio: 'ignore',
  });
  for (let i = 0; i < 300; i++) {
    const ok = await fetch(`${url}/readyz`).then((r) => r.ok, () => false);
    if (ok) return { url, child };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`replica on ${url} did not start`);
}

async function call(url: string, method: string, path: string, body?: Buffer, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}${path}`, { method, headers: { authorization: AUTH, ...headers }, ...(body ? { body: Uint8Array.from(body) } : {}) });
}

async function pool<T>(items: T[], concurrency: number, work: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < items.length; i = next++) await work(items[i]!, i);
    }),
  );
}

async function replicaThroughput(replicas: number): Promise<void> {
  const schema = `pallet_bench_${randomBytes(5).toString('hex')}`;
  const dataDir = await mkdtemp(join(tmpdir(), 'pallet-bench-scale-'));
  const started: Replica[] = [];
  try {
    started.push(await startReplica(dataDir, schema)); // the first one migrates
    for (let i = 1; i < replicas; i++) started.push(await startReplica(dataDir, schema));
    const first = started[0]!.url;
    await call(first, 'POST', '/api/v1/spaces', Buffer.from(JSON.stringify({ path: 'bench' })), { 'content-type': 'application/json' });
    await call(first, 'POST', '/api/v1/registries', Buffer.from(JSON.stringify({ space: 'bench', identifier: 'r', packageType: 'docker', kind: 'local' })), {
      'content-type': 'application/json',
    });
    // Warm every replica up (JIT, connection pools) untimed, and flush dirty pages so that the
    // previous workload's writeback does not bleed into this one.
    await pool(Array.from({ length: 4 * replicas }, () => randomBytes(BLOB_MIB * MiB)), CONCURRENCY, async (data, i) => {
      await (await call(started[i % replicas]!.url, 'POST', `/v2/bench/r/warm/blobs/uploads/?digest=${sha256(data)}`, data, {
        'content-type': 'application/octet-stream',
      })).arrayBuffer();
    });
    const blobs = Array.from({ length: PUSHES }, () => randomBytes(BLOB_MIB * MiB));
    const digests = blobs.map(sha256);
    const total = blobs.length * BLOB_MIB * MiB;
    spawnSync('sync');
    const push = await timed(() =>
      pool(blobs, CONCURRENCY, async (data, i) => {
        const res = await call(started[i % replicas]!.url, 'POST', `/v2/bench/r/app${i % 8}/blobs/uploads/?digest=${digests[i]}`, data, {
          'content-type': 'application/octet-stream',
        });
        await res.arrayBuffer();
        if (res.status !== 201) throw new Error(`push answered ${res.status}`);
      }),
    );
    spawnSync('sync');
    const pull = await timed(() =>
      pool(blobs, CONCURRENCY, async (_data, i) => {
        const res = await call(started[(i + 1) % replicas]!.url, 'GET', `/v2/bench/r/app${i % 8}/blobs/${digests[i]}`);
        const bytes = Buffer.from(await res.arrayBuffer());
        if (res.status !== 200 || bytes.length !== BLOB_MIB * MiB) throw new Error(`pull answered ${res.status}`);
      }),
    );
    const setup = `${replicas} replica${replicas > 1 ? 's' : ''}, PostgreSQL + shared filesystem, ${CONCURRENCY} clients`;
    row(`push ${PUSHES} × ${BLOB_MIB} MiB`, setup, mibps(total, push.ms));
    row(`pull ${PUSHES} × ${BLOB_MIB} MiB`, setup, mibps(total, pull.ms));
  } finally {
    for (const r of started) r.child.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
    await dropSchema(schema);
  }
}

// 2. GC of 10,000 blobs -----------------------------------------------------------------------

async function gcTime(database: 'sqlite' | 'postgres'): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'pallet-bench-gc-'));
  const schema = `pallet_bench_${randomBytes(5).toString('hex')}`;
  const flags: Record<string, unknown> = { dataDir, logLevel: 'silent', adminPassword: ADMIN_PASSWORD, baseUrl: 'http://bench.test' };
  if (database === 'postgres') flags.database = { url: DATABASE_URL, schema };
  const app = await buildApp(loadConfig({ env: {}, flags }));
  try {
    const { services } = app;
    const space = await services.store.createSpace({ path: 'bench', parentId: null, description: '' });
    const registry = await services.store.createRegistry({
      spaceId: space.id, identifier: 'r', packageType: 'docker', kind: 'local', description: '', labels: [], public: false, upstream: null,
    });
    const repo = await services.store.ensureRepository(registry.id, 'garbage');
    const loc = { rootSpaceId: space.id, repositoryId: repo.id };
    await pool(Array.from({ length: GC_BLOBS }), 8, async (_x, i) => {
      const data = Buffer.concat([Buffer.from(`blob ${i} `), randomBytes(1024)]);
      await services.blobs.putBlob(loc, sha256(data), Readable.from([data]));
    });
    await new Promise((resolve) => setTimeout(resolve, 20)); // past the 10 ms grace
    const gc = services.gc;
    if (!gc) throw new Error('no GC');
    const dry = await timed(() => gc.run({ dryRun: true, graceMs: 10 }));
    const real = await timed(() => gc.run({ graceMs: 10 }));
    if (real.result?.blobs.count !== GC_BLOBS) throw new Error(`GC removed ${real.result?.blobs.count} of ${GC_BLOBS}`);
    const setup = `${database === 'sqlite' ? 'SQLite' : 'PostgreSQL'} + filesystem, ${GC_BLOBS} unreferenced blobs`;
    row('GC dry run', setup, `${(dry.ms / 1000).toFixed(2)} s`);
    row('GC run (links, rows, bytes)', setup, `${(real.ms / 1000).toFixed(2)} s (${Math.round(GC_BLOBS / (real.ms / 1000))} blobs/s)`);
  } finally {
    await app.server.close();
    await rm(dataDir, { recursive: true, force: true });
    if (database === 'postgres') await dropSchema(schema);
  }
}

// 3 and 4. Drivers: whole and chunked uploads; re-hash on another replica ---------------------

function stream(data: Buffer, chunk = MiB): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < data.length; i += chunk) yield data.subarray(i, i + chunk);
    })(),
  );
}

async function driverThroughput(name: string, driver: StorageDriver): Promise<void> {
  const objects = Math.max(1, Math.round(DRIVER_MIB / 64));
  const data = randomBytes(64 * MiB);
  spawnSync('sync');
  const whole = await timed(async () => {
    for (let i = 0; i < objects; i++) await driver.write(`bench/whole/${i}`, stream(data));
  });
  row('driver write (whole objects)', `${name}, ${objects} × 64 MiB`, mibps(objects * data.length, whole.ms));
  const chunked = await timed(async () => {
    for (let i = 0; i < objects; i++) {
      for (let offset = 0; offset < data.length; offset += 16 * MiB) {
        await driver.writeAt(`uploads/u${i}/data`, offset, stream(data.subarray(offset, offset + 16 * MiB)));
      }
      await driver.move(`uploads/u${i}/data`, `bench/moved/${i}`);
    }
  });
  row('driver chunked upload (4 × writeAt + move)', `${name}, ${objects} × 64 MiB`, mibps(objects * data.length, chunked.ms));
  await driver.deletePrefix('bench');
}

async function rehashCost(name: string, driver: StorageDriver): Promise<void> {
  // The blob services of two replicas over one database and driver. Only the process that
  // received every chunk has the running hash.
  const t = await openTestServices({}, { driver });
  try {
    const store = t.services.store;
    const space = await store.createSpace({ path: 'bench', parentId: null, description: '' });
    const registry = await store.createRegistry({
      spaceId: space.id, identifier: 'r', packageType: 'docker', kind: 'local', description: '', labels: [], public: false, upstream: null,
    });
    const loc = { rootSpaceId: space.id, repositoryId: (await store.ensureRepository(registry.id, 'app')).id };
    const a = t.services.blobs;
    const b = (await t.replica()).blobs;
    const size = 64 * MiB;
    for (const [label, finisher] of [['same replica', a], ['another replica (re-hash)', b]] as const) {
      const data = randomBytes(size);
      let upload = await a.startUpload(loc);
      for (let offset = 0; offset < size; offset += 16 * MiB) {
        upload = await a.writeChunk(upload, stream(data.subarray(offset, offset + 16 * MiB)));
      }
      const finish = await timed(() => finisher.finishUpload(loc, upload, sha256(data)));
      row('finish a 64 MiB chunked upload', `${name}, ${label}`, `${finish.ms.toFixed(0)} ms`);
    }
  } finally {
    await t.close();
  }
}

async function main(): Promise<void> {
  // 2 first, then 1, then 2 again: the order must not decide the comparison.
  await replicaThroughput(2);
  await replicaThroughput(1);
  await replicaThroughput(2);
  await gcTime('sqlite');
  await gcTime('postgres');

  const fsRoot = await mkdtemp(join(tmpdir(), 'pallet-bench-fs-'));
  const s3 = await startS3();
  try {
    const fs = new FilesystemDriver(fsRoot);
    const s3Driver = new S3Driver({
      endpoint: s3.endpoint, bucket: await s3.bucket('bench'), region: 'us-east-1',
      accessKeyId: S3_ACCESS_KEY, secretAccessKey: S3_SECRET_KEY, forcePathStyle: true,
    });
    await driverThroughput('filesystem', fs);
    await driverThroughput('s3 (s3rver on loopback)', s3Driver);
    await rehashCost('filesystem', fs);
    await rehashCost('s3 (s3rver on loopback)', s3Driver);
    await s3Driver.close();
  } finally {
    await s3.stop();
    await rm(fsRoot, { recursive: true, force: true });
  }

  const table = ['| workload | setup | result |', '| --- | --- | --- |', ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
  const text = `# Pallet scale-out bench, ${new Date().toISOString()}\n\n${table}\n`;
  process.stdout.write(text);
  saveReport('scale-', text);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
