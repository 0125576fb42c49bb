/**
 * `npm run bench:generic`: generic files against the OCI blob path, on the same Pallet server in
 * the same run (`node dist/main.js serve`, SQLite + filesystem, auth on as shipped):
 *   - upload of a BENCH_BLOB_MIB (1024) MiB payload: OCI monolithic (POST, then one PUT
 *     ?digest=) vs generic `PUT …/generic/<package>/<version>/<file>` with X-Checksum-Sha256, and
 *     generic without it (the digest learned while streaming);
 *   - download of that payload: OCI `GET …/blobs/<digest>` vs generic `GET` of the file, the
 *     body read fully and discarded.
 * Three rounds (BENCH_ROUNDS), interleaved: each round runs every workload once, the order of
 * the OCI and generic runs alternating from round to round; every upload stores a payload of
 * its own (distinct seeds: nothing is deduplicated). Payload digests are computed before the
 * server starts, untimed. Each row is the median MB/s (10^6 bytes/s) with the range over the
 * rounds, and generic ÷ OCI of the medians (the target: within 10 %, i.e. ≥ 0.90×).
 */
import { dirname, join, resolve } from 'node:path';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { intEnv } from './env.js';
import { HttpClient } from './http-client.js';
import { OciClient } from './oci-client.js';
import { preparePallet, REGISTRY, SPACE } from './pallet-setup.js';
import { MiB, Payload } from './payload.js';
import { saveReport } from './report.js';
import { startPallet, stopOnExit, type Server } from './servers.js';
import { blobGet, monolithicUpload } from './workloads.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BYTES = intEnv('BENCH_BLOB_MIB', 1024) * MiB;
const ROUNDS = intEnv('BENCH_ROUNDS', 3);
const GENERIC = 'files';

const log = (message: string): void => void process.stderr.write(`[bench:generic] ${message}\n`);
const mbPerSecond = (bytes: number, ms: number): number => bytes / 1e6 / (ms / 1000);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

type Workload = 'ociUpload' | 'genericUpload' | 'genericLearned' | 'ociGet' | 'genericGet';

async function timed(work: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await work();
  return performance.now() - start;
}

/** PUT of the whole payload to a generic path (201), with or without its checksum; MB/s. */
async function genericUpload(http: HttpClient, path: string, payload: Payload, checksum: boolean): Promise<number> {
  const digest = await payload.digest();
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream', 'content-length': String(payload.bytes) };
  if (checksum) headers['x-checksum-sha256'] = digest.slice('sha256:'.length);
  const ms = await timed(async () => {
    const res = await http.expect(201, 'PUT', path, { headers, body: payload.stream() });
    const got = (JSON.parse(res.body.toString('utf8')) as { digest: string }).digest;
    if (got !== digest) throw new Error(`PUT ${path}: stored ${got}, expected ${digest}`);
  });
  return mbPerSecond(payload.bytes, ms);
}

/** GET of a generic file, body counted and discarded; throws unless every byte arrives. */
async function genericGet(http: HttpClient, path: string, payload: Payload): Promise<number> {
  const digest = await payload.digest();
  const ms = await timed(async () => {
    const res = await http.expect(200, 'GET', path, { discard: true });
    if (res.headers.etag !== `"${digest}"`) throw new Error(`GET ${path}: ETag ${String(res.headers.etag)}, expected "${digest}"`);
    if (res.bytes !== payload.bytes) throw new Error(`GET ${path}: received ${res.bytes} bytes, expected ${payload.bytes}`);
  });
  return mbPerSecond(payload.bytes, ms);
}

const servers: Server[] = [];
stopOnExit(servers, (signal) => log(`${signal}: stopping the server`));

log(`hashing ${ROUNDS * 3} payloads of ${BYTES / MiB} MiB (untimed)`);
const payloads = Array.from({ length: ROUNDS }, (_, round) => ({
  oci: new Payload(1000 + round, BYTES),
  generic: new Payload(2000 + round, BYTES),
  learned: new Payload(3000 + round, BYTES),
}));
for (const p of payloads) for (const payload of [p.oci, p.generic, p.learned]) await payload.digest();

const pallet = await startPallet(join(ROOT, 'dist', 'main.js'));
servers.push(pallet);
const results: Record<Workload, number[]> = { ociUpload: [], genericUpload: [], genericLearned: [], ociGet: [], genericGet: [] };
try {
  await preparePallet(pallet);
  const auth = { authorization: `Basic ${Buffer.from(`admin:${pallet.adminPassword}`).toString('base64')}` };
  const http = new HttpClient(pallet.baseUrl, auth);
  await http.expect(201, 'POST', '/api/v1/registries', {
    headers: { 'content-type': 'application/json' },
    body: Buffer.from(JSON.stringify({ space: SPACE, identifier: GENERIC, packageType: 'generic', kind: 'local' })),
  });
  const oci = new OciClient(http, `${SPACE}/${REGISTRY}/bench`);
  const path = (round: number, name: string) => `/pkg/${SPACE}/${GENERIC}/generic/bench/1.0.${round}/${name}.bin`;
  for (let round = 0; round < ROUNDS; round++) {
    const p = payloads[round]!;
    const runs: Array<[Workload, () => Promise<number>]> = [
      ['ociUpload', () => monolithicUpload(oci, p.oci)],
      ['genericUpload', () => genericUpload(http, path(round, 'checked'), p.generic, true)],
      ['genericLearned', () => genericUpload(http, path(round, 'learned'), p.learned, false)],
      ['ociGet', () => blobGet(oci, p.oci)],
      ['genericGet', () => genericGet(http, path(round, 'checked'), p.generic)],
    ];
    // Alternate which path goes first in each pair, round by round.
    const order = round % 2 === 0 ? runs : [runs[1]!, runs[2]!, runs[0]!, runs[4]!, runs[3]!];
    for (const [name, run] of order) {
      const mbs = await run();
      results[name].push(mbs);
      log(`round ${round + 1}/${ROUNDS} ${name}: ${mbs.toFixed(1)} MB/s`);
    }
  }
  http.close();
} finally {
  await pallet.stop();
}

const cell = (xs: number[]): string => `${median(xs).toFixed(0)} (${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)})`;
const ratio = (a: number[], b: number[]): string => `${(median(a) / median(b)).toFixed(2)}×`;
const rows = [
  `| ${BYTES / MiB} MiB upload | ${cell(results.ociUpload)} (monolithic PUT, digest given) | ${cell(results.genericUpload)} (PUT with X-Checksum-Sha256) | ${ratio(results.genericUpload, results.ociUpload)} |`,
  `| ${BYTES / MiB} MiB upload, digest learned | ${cell(results.ociUpload)} (monolithic PUT, digest given) | ${cell(results.genericLearned)} (PUT without checksum) | ${ratio(results.genericLearned, results.ociUpload)} |`,
  `| ${BYTES / MiB} MiB download | ${cell(results.ociGet)} (blob GET) | ${cell(results.genericGet)} (file GET) | ${ratio(results.genericGet, results.ociGet)} |`,
];
const report = [
  `# generic files vs the OCI blob path (${new Date().toISOString()})`,
  '',
  `node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, one Pallet (SQLite + filesystem, auth on), ${ROUNDS} interleaved rounds; MB/s = 10^6 bytes/s, median (min–max)`,
  '',
  '| Workload | OCI blob path, MB/s | Generic, MB/s | Generic/OCI (higher is better; target ≥ 0.90×) |',
  '|---|--:|--:|--:|',
  ...rows,
  '',
].join('\n');
process.stdout.write(report);
log(`saved ${saveReport('generic-', report)}`);
