/**
 * `npm run bench:auth`: what authentication costs on the hot path. Two Pallet servers side by
 * side (dist/main.js, SQLite + filesystem): one with auth on, receiving basic credentials on
 * every request as the bootstrap admin; one with PALLET_AUTH_ENABLED=false. Rounds alternate
 * which goes first, so the noise of a shared machine lands on both; medians are reported.
 * Per round and server: manifest GET by tag under wrk (16 connections, BENCH_AUTH_WRK_SECONDS,
 * default 2), a 64 MiB monolithic upload (POST + PUT) and its GET. BENCH_AUTH_ROUNDS (8).
 */
import { randomBytes } from 'node:crypto';
import { HttpClient } from './http-client.js';
import { OciClient } from './oci-client.js';
import { preparePallet, REGISTRY, SPACE } from './pallet-setup.js';
import { Payload } from './payload.js';
import { startPallet, type PalletServer } from './servers.js';
import { blobGet, makeImage, manifestGetLoad, monolithicUpload, pushImage } from './workloads.js';

const rounds = Number(process.env.BENCH_AUTH_ROUNDS ?? 8);
const wrkSeconds = Number(process.env.BENCH_AUTH_WRK_SECONDS ?? 2);
const MiB = 1024 * 1024;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const servers: PalletServer[] = [];
process.once('exit', () => servers.forEach((s) => s.stopNow()));

const on = await startPallet('dist/main.js');
servers.push(on);
const off = await startPallet('dist/main.js', { PALLET_AUTH_ENABLED: 'false' });
servers.push(off);
try {
  const targets = [];
  for (const [name, server] of [['auth on', on], ['auth off', off]] as const) {
    await preparePallet(server);
    const http = new HttpClient(server.baseUrl, { authorization: `Basic ${Buffer.from(`admin:${server.adminPassword}`).toString('base64')}` });
    targets.push({ name, http, repo: (image: string) => new OciClient(http, `${SPACE}/${REGISTRY}/${image}`), rps: [] as number[], up: [] as number[], get: [] as number[] });
  }
  const image = makeImage(randomBytes(4096));
  for (const t of targets) await pushImage(t.repo('app'), image, 'latest');
  for (let round = 0; round < rounds; round++) {
    for (const [i, t] of (round % 2 ? [...targets].reverse() : targets).entries()) {
      t.rps.push((await manifestGetLoad(t.repo('app'), 'latest', wrkSeconds)).requestsPerSecond);
      const payload = new Payload(100 + round * 2 + i, 64 * MiB);
      await payload.digest();
      t.up.push(await monolithicUpload(t.repo(`big${round}`), payload));
      t.get.push(await blobGet(t.repo(`big${round}`), payload));
    }
    process.stderr.write(`[bench:auth] round ${round + 1}/${rounds}\n`);
  }
  const [a, b] = targets as [(typeof targets)[0], (typeof targets)[0]];
  const line = (label: string, unit: string, x: number[], y: number[]) =>
    `| ${label} | ${unit} | ${median(x).toFixed(0)} | ${median(y).toFixed(0)} | ${(median(x) / median(y)).toFixed(2)}× |`;
  console.log(`\n${rounds} alternating rounds, medians (Node ${process.version})\n`);
  console.log('| Workload | Unit | Auth on | Auth off | On/Off |\n|---|---|--:|--:|--:|');
  console.log(line(`Manifest GET by tag, wrk 16 connections, ${wrkSeconds} s`, 'req/s', a.rps, b.rps));
  console.log(line('64 MiB blob, monolithic upload (POST + PUT)', 'MB/s', a.up, b.up));
  console.log(line('64 MiB blob GET', 'MB/s', a.get, b.get));
  for (const t of targets) t.http.close();
} finally {
  for (const s of servers) await s.stop();
}
