/**
 * The real `npm` CLI in a temporary HOME (its own userconfig and cache, nothing from the
 * machine's), and generated npm packages published with it: a tree of packages with
 * dependencies between them (`generateTree`), published by `npm publish` (`publishTree`), and a
 * project depending on all of them (`writeProject`). Shared by the npm upstream tests and
 * `bench/npm.ts`.
 *
 * The tree: package i depends (with `^` ranges) on packages ⌊i/2⌋ and ⌊i/3⌋, so every package
 * is reachable from the upper half, which the project depends on directly, and the depth stays
 * logarithmic. Every fifth package is scoped. Every fourth has a second version (1.1.0), and
 * each carries `payloadBytes` of incompressible data so its tarball has a size.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, type RunResult } from './run.js';

export interface NpmHome {
  home: string;
  env: NodeJS.ProcessEnv;
  /** Writes `.npmrc` lines into the HOME's userconfig (replacing what was there). */
  configure(lines: readonly string[]): Promise<void>;
  /** Empties the npm cache (a "fresh npm cache" run). */
  clearCache(): Promise<void>;
  npm(args: readonly string[], options?: { cwd?: string; timeoutMs?: number }): Promise<RunResult>;
  close(): Promise<void>;
}

export async function npmHome(label = 'npm'): Promise<NpmHome> {
  const home = await mkdtemp(join(tmpdir(), `pallet-${label}-home-`));
  const userconfig = join(home, '.npmrc');
  const cache = join(home, 'cache');
  await writeFile(userconfig, '');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    npm_config_userconfig: userconfig,
    npm_config_globalconfig: join(home, 'npmrc-global'),
    npm_config_cache: cache,
    npm_config_update_notifier: 'false',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_loglevel: 'warn',
    npm_config_fetch_retries: '0',
  };
  return {
    home,
    env,
    configure: (lines) => writeFile(userconfig, lines.join('\n') + '\n'),
    clearCache: () => rm(cache, { recursive: true, force: true }),
    npm: (args, options = {}) => run('npm', args, { env, ...(options.cwd ? { cwd: options.cwd } : {}), timeoutMs: options.timeoutMs ?? 300_000 }),
    close: () => rm(home, { recursive: true, force: true }),
  };
}

/** `//host[:port]/path/:` — the prefix of a registry's `.npmrc` credential keys. */
export function nerfDart(registryUrl: string): string {
  const url = new URL(registryUrl.endsWith('/') ? registryUrl : `${registryUrl}/`);
  return `//${url.host}${url.pathname}`;
}

export interface GeneratedPackage {
  name: string;
  versions: string[];
  dependencies: Record<string, string>;
}

export interface TreeOptions {
  /** Names are `<prefix>-<i>`, or `@<scope>/<prefix>-<i>` for every fifth. */
  prefix?: string;
  scope?: string;
  payloadBytes?: number;
}

export function generateTree(count: number, options: TreeOptions = {}): GeneratedPackage[] {
  const prefix = options.prefix ?? 'seed';
  const scope = options.scope ?? 'seedscope';
  const name = (i: number): string => (i % 5 === 4 ? `@${scope}/${prefix}-${i}` : `${prefix}-${i}`);
  const out: GeneratedPackage[] = [];
  for (let i = 0; i < count; i++) {
    const dependencies: Record<string, string> = {};
    for (const j of new Set([Math.floor(i / 2), Math.floor(i / 3)])) if (j !== i) dependencies[name(j)] = '^1.0.0';
    out.push({ name: name(i), versions: i % 4 === 3 ? ['1.0.0', '1.1.0'] : ['1.0.0'], dependencies });
  }
  return out;
}

/** Deterministic incompressible bytes (so tarballs keep their size), as hex text. */
function payload(seed: string, bytes: number): string {
  const parts: string[] = [];
  let block = createHash('sha512').update(seed).digest();
  for (let n = 0; n < bytes / 2; n += block.length) {
    parts.push(block.toString('hex'));
    block = createHash('sha512').update(block).digest();
  }
  return parts.join('').slice(0, bytes);
}

async function writePackage(dir: string, pkg: GeneratedPackage, version: string, payloadBytes: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  const manifest = { name: pkg.name, version, description: `generated ${pkg.name}`, main: 'index.js', license: 'MIT', dependencies: pkg.dependencies };
  await writeFile(join(dir, 'package.json'), JSON.stringify(manifest, null, 2));
  const requires = Object.keys(pkg.dependencies).map((d) => `require(${JSON.stringify(d)})`);
  await writeFile(join(dir, 'index.js'), `module.exports = { name: ${JSON.stringify(pkg.name)}, version: ${JSON.stringify(version)}, deps: [${requires.join(', ')}].length };\n`);
  await writeFile(join(dir, 'payload.txt'), payload(`${pkg.name}@${version}`, payloadBytes));
}

/**
 * Publishes every version of `packages` to `registryUrl` with `npm publish` (a few packages at
 * once, the versions of one package in order), as the user of `token`.
 */
export async function publishTree(registryUrl: string, token: string, packages: readonly GeneratedPackage[], options: { payloadBytes?: number; concurrency?: number } = {}): Promise<void> {
  const home = await npmHome('publish');
  const work = await mkdtemp(join(tmpdir(), 'pallet-npm-packages-'));
  try {
    await home.configure([`registry=${registryUrl}`, `${nerfDart(registryUrl)}:_authToken=${token}`]);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < packages.length) {
        const pkg = packages[next++]!;
        for (const version of pkg.versions) {
          const dir = join(work, `${pkg.name.replace('/', '+')}-${version}`);
          await writePackage(dir, pkg, version, options.payloadBytes ?? 2048);
          await home.npm(['publish', '--registry', registryUrl, '--access', 'public', '--ignore-scripts'], { cwd: dir });
        }
      }
    };
    await Promise.all(Array.from({ length: options.concurrency ?? 4 }, worker));
  } finally {
    await rm(work, { recursive: true, force: true });
    await home.close();
  }
}

/**
 * Writes a project depending on the upper half of `packages` (so, through them, on all), or
 * directly on every one of them (`allDirect`).
 */
export async function writeProject(dir: string, packages: readonly GeneratedPackage[], options: { allDirect?: boolean } = {}): Promise<void> {
  const dependencies: Record<string, string> = {};
  for (const pkg of options.allDirect ? packages : packages.slice(Math.floor(packages.length / 2))) dependencies[pkg.name] = '^1.0.0';
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'generated-project', version: '1.0.0', private: true, dependencies }, null, 2));
}
