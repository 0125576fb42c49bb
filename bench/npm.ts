/**
 * `npm run bench:npm`: npm installs through an upstream proxy, Pallet side by side with
 * Verdaccio proxying the same upstream, in one run:
 *   - an "origin" Verdaccio (no uplinks) seeded with a generated project of ~200 packages by
 *     `npm publish` (the seeded storage is kept in `.test-tools/` and reused by later runs);
 *   - Pallet (built, `node dist/main.js serve`, SQLite + filesystem, auth on) with an npm
 *     upstream proxy of the origin and a local npm registry listing it; the npm client uses an
 *     access token;
 *   - a second Verdaccio whose uplink is the origin (anonymous reads).
 * Each round, for each registry (order alternating between rounds), on a fresh proxy (a new
 * Pallet proxy + local registry; a Verdaccio with empty storage):
 *   1. `npm install --package-lock-only` (untimed: the lockfile, and the packuments cached);
 *   2. cold `npm ci` (tarballs not cached by the registry yet), then warm `npm ci` (cached), each
 *      with an empty npm cache and no node_modules;
 *   3. `wrk` (16 connections) on the abbreviated packument of one package: through the registry
 *      npm uses (Pallet: the local registry, which merges its own versions with the proxy's),
 *      and on the proxy itself (for Verdaccio both are the same server).
 * Three rounds; the table shows medians, ranges and Pallet ÷ Verdaccio.
 */
import { rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateTree, nerfDart, npmHome, publishTree, writeProject, type NpmHome } from '../test/helpers/npm-client.js';
import { startVerdaccio, type Verdaccio } from '../test/helpers/verdaccio.js';
import { intEnv } from './env.js';
import { saveReport } from './report.js';
import { startPallet, stopOnExit, type PalletServer } from './servers.js';
import { runWrk } from './wrk.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const PACKAGES = intEnv('BENCH_NPM_PACKAGES', 200);
const ROUNDS = intEnv('BENCH_NPM_ROUNDS', 3);
const WRK_SECONDS = intEnv('BENCH_WRK_SECONDS', 10);
const PAYLOAD = 16 * 1024;
const SEED_DIR = join(ROOT, `.test-tools/bench-npm-origin-${PACKAGES}-${PAYLOAD}`);

interface Target {
  name: 'Pallet' | 'Verdaccio';
  /**
   * Sets up a fresh proxy; resolves to the registry URL npm uses and the .npmrc lines to use
   * it, and the URL of the proxy itself (Pallet: the upstream proxy the local registry lists).
   */
  fresh(round: number): Promise<{ registry: string; proxy: string; npmrc: string[]; headers: Record<string, string> }>;
}

type Measure = 'cold' | 'warm' | 'rps' | 'proxyRps';
const results: Record<Target['name'], Record<Measure, number[]>> = {
  Pallet: { cold: [], warm: [], rps: [], proxyRps: [] },
  Verdaccio: { cold: [], warm: [], rps: [], proxyRps: [] },
};

const tree = generateTree(PACKAGES, { prefix: 'bench', scope: 'benchscope' });
const packumentName = tree[Math.floor(PACKAGES / 2)]!.name;

async function seedOrigin(): Promise<Verdaccio> {
  if (existsSync(SEED_DIR)) return startVerdaccio({ label: 'bench-origin', storageFrom: SEED_DIR });
  const origin = await startVerdaccio({ label: 'bench-origin' });
  const t = performance.now();
  process.stderr.write(`seeding the origin with ${PACKAGES} packages (npm publish; kept in ${SEED_DIR} for later runs)…\n`);
  await publishTree(origin.url, origin.publishToken, tree, { payloadBytes: PAYLOAD, concurrency: 4 });
  process.stderr.write(`seeded in ${((performance.now() - t) / 1000).toFixed(0)} s\n`);
  await origin.saveStorage(SEED_DIR);
  return origin;
}

async function api(pallet: PalletServer, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${pallet.baseUrl}${path}`, {
    method,
    headers: { authorization: `Basic ${Buffer.from(`admin:${pallet.adminPassword}`).toString('base64')}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

async function timed(what: string, work: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  try {
    await work();
  } catch (err) {
    throw new Error(`${what}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return (performance.now() - t) / 1000;
}

async function measure(target: Target, round: number, home: NpmHome): Promise<void> {
  const { registry, proxy, npmrc, headers } = await target.fresh(round);
  const project = join(home.home, `project-${target.name}-${round}`);
  await writeProject(project, tree);
  await home.configure([`registry=${registry}/`, ...npmrc]);
  await home.clearCache();
  await timed(`${target.name}: npm install --package-lock-only`, () => home.npm(['install', '--package-lock-only', '--ignore-scripts'], { cwd: project }));
  for (const run of ['cold', 'warm'] as const) {
    await home.clearCache();
    await rm(join(project, 'node_modules'), { recursive: true, force: true });
    const seconds = await timed(`${target.name}: ${run} npm ci`, () => home.npm(['ci', '--ignore-scripts'], { cwd: project }));
    results[target.name][run].push(seconds);
  }
  const accept = 'application/vnd.npm.install-v1+json';
  for (const [key, base] of [['rps', registry], ['proxyRps', proxy]] as const) {
    const url = `${base}/${packumentName.replace('/', '%2f')}`;
    const check = await fetch(url, { headers: { ...headers, accept } });
    if (check.status !== 200) throw new Error(`${target.name}: GET ${url} answered ${check.status}: ${await check.text()}`);
    await check.arrayBuffer();
    const wrk = await runWrk({ url, seconds: WRK_SECONDS, connections: 16, threads: 2, headers: { ...headers, accept } });
    results[target.name][key].push(wrk.requestsPerSecond);
  }
  process.stderr.write(`round ${round} ${target.name}: cold ${results[target.name].cold.at(-1)!.toFixed(2)} s, warm ${results[target.name].warm.at(-1)!.toFixed(2)} s, ${results[target.name].rps.at(-1)!.toFixed(0)} / ${results[target.name].proxyRps.at(-1)!.toFixed(0)} req/s\n`);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const range = (xs: number[], digits: number): string => `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;

function table(): string {
  const rows: Array<[string, Measure, string, 'lower' | 'higher', number]> = [
    [`npm ci, cold (${PACKAGES} packages, registry cache empty)`, 'cold', 's', 'lower', 2],
    ['npm ci, warm (tarballs cached by the registry)', 'warm', 's', 'lower', 2],
    ['packument GET (abbreviated), wrk -c16: the registry npm uses', 'rps', 'req/s', 'higher', 0],
    ['packument GET (abbreviated), wrk -c16: the upstream proxy itself', 'proxyRps', 'req/s', 'higher', 0],
  ];
  const lines = ['| Workload | Unit | Pallet median (range) | Verdaccio median (range) | Pallet/Verdaccio |', '|---|---|--:|--:|--:|'];
  for (const [label, key, unit, better, digits] of rows) {
    const p = results.Pallet[key];
    const v = results.Verdaccio[key];
    lines.push(`| ${label} | ${unit} (${better} is better) | ${median(p).toFixed(digits)} (${range(p, digits)}) | ${median(v).toFixed(digits)} (${range(v, digits)}) | ${(median(p) / median(v)).toFixed(2)}× |`);
  }
  return lines.join('\n');
}

const mainJs = join(ROOT, 'dist/main.js');
if (!existsSync(mainJs)) throw new Error(`${mainJs} is missing: build first (npx tsc -p tsconfig.build.json)`);
const origin = await seedOrigin();
const pallet = await startPallet(mainJs, { PALLET_UPSTREAM_ALLOWED_NETWORKS: '127.0.0.1/32' });
const verdaccios: Verdaccio[] = [];
const home = await npmHome('bench');
stopOnExit([pallet]);
try {
  await api(pallet, 'POST', '/api/v1/spaces', { path: 'bench' });
  const { token } = (await api(pallet, 'POST', '/api/v1/user/tokens', { name: 'bench', expiresInDays: 1, scopes: ['read', 'write'] })) as { token: string };
  const targets: Target[] = [
    {
      name: 'Pallet',
      fresh: async (round) => {
        const proxy = `npmjs-${round}`;
        await api(pallet, 'POST', '/api/v1/registries', { space: 'bench', identifier: proxy, packageType: 'npm', kind: 'upstream', upstream: { source: 'custom', url: origin.url, tagTtlSeconds: 300 } });
        await api(pallet, 'POST', '/api/v1/registries', { space: 'bench', identifier: `npm-${round}`, packageType: 'npm', kind: 'local', upstreams: [proxy] });
        const registry = `${pallet.baseUrl}/pkg/bench/npm-${round}/npm`;
        const proxyUrl = `${pallet.baseUrl}/pkg/bench/${proxy}/npm`;
        return { registry, proxy: proxyUrl, npmrc: [`${nerfDart(registry)}:_authToken=${token}`], headers: { authorization: `Bearer ${token}` } };
      },
    },
    {
      name: 'Verdaccio',
      fresh: async () => {
        const proxy = await startVerdaccio({ label: 'bench-proxy', uplink: origin.url });
        verdaccios.push(proxy);
        return { registry: proxy.url, proxy: proxy.url, npmrc: [], headers: {} };
      },
    },
  ];
  for (let round = 1; round <= ROUNDS; round++) {
    const order = round % 2 === 1 ? targets : [...targets].reverse();
    for (const target of order) await measure(target, round, home);
    for (const v of verdaccios.splice(0)) await v.close();
  }
  const report = [
    '# npm through an upstream proxy: Pallet vs Verdaccio',
    '',
    `${PACKAGES} generated packages (${PAYLOAD / 1024} KiB payload each) on an origin Verdaccio 6.8.0; ${ROUNDS} interleaved rounds; npm ${(await home.npm(['--version'])).stdout.trim()}, Node ${process.version}.`,
    'Pallet: SQLite + filesystem, auth on (access token), a local npm registry listing an npm upstream proxy of the origin. Verdaccio: uplink to the origin.',
    '',
    table(),
    '',
  ].join('\n');
  process.stdout.write(report);
  process.stderr.write(`saved to ${saveReport('npm-', report)}\n`);
} catch (err) {
  process.stderr.write(`Pallet log:\n${pallet.logTail(40)}\n`);
  throw err;
} finally {
  for (const v of verdaccios) await v.close();
  await origin.close();
  await pallet.stop();
  await home.close();
}
