/**
 * Verdaccio, a real npm registry, as the stand-in for npmjs in tests and as the peer in
 * `npm run bench:npm`. It is installed outside the project's dependencies by
 * `scripts/install-test-deps.sh` (into `.test-tools/verdaccio/`).
 *
 * `startVerdaccio()` runs it on a free 127.0.0.1 port with a generated config: storage and
 * htpasswd in a temp dir, no uplinks unless `uplink` names one (it must never reach the
 * internet), a large `max_body_size`, everyone may read and any logged-in user may publish.
 * `publishToken` is the token of a user the helper registers on first start. `stop()` and
 * `start()` stop and restart the same instance (same port, same storage) so a test can play an
 * upstream that is down; `close()` stops it and removes its temp dir.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, type WriteStream } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const VERDACCIO_BIN = join(REPO_ROOT, '.test-tools/verdaccio/node_modules/verdaccio/bin/verdaccio');

export interface VerdaccioOptions {
  /** Proxies this registry (an uplink for every package), e.g. another Verdaccio; none by default. */
  uplink?: string;
  /** Names the temp dir and the log. */
  label?: string;
  /** Starts from a copy of this storage dir (one `saveStorage` wrote). */
  storageFrom?: string;
}

export interface Verdaccio {
  /** `http://127.0.0.1:<port>` (no trailing slash). */
  url: string;
  port: number;
  dir: string;
  /** An npm token of a user that may publish. */
  publishToken: string;
  running(): boolean;
  /** Starts it again after `stop()` (same port and storage). */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Stops it and removes its temp dir. */
  close(): Promise<void>;
  logTail(lines?: number): Promise<string>;
  /** Copies its storage to `dest` (stopped first, so the copy is consistent; started again after). */
  saveStorage(dest: string): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => (port ? resolve(port) : reject(new Error('could not pick a free port'))));
    });
  });
}

function configYaml(dir: string, uplink: string | undefined): string {
  const proxy = uplink ? '\n    proxy: origin' : '';
  return [
    `storage: ${join(dir, 'storage')}`,
    'auth:',
    '  htpasswd:',
    `    file: ${join(dir, 'htpasswd')}`,
    '    max_users: 100',
    uplink ? `uplinks:\n  origin:\n    url: ${uplink}/\n    timeout: 30s\n    maxage: 2m\n    cache: true` : 'uplinks: {}',
    'packages:',
    "  '@*/*':",
    '    access: $all',
    `    publish: $authenticated${proxy}`,
    "  '**':",
    '    access: $all',
    `    publish: $authenticated${proxy}`,
    'server:',
    '  keepAliveTimeout: 60',
    'max_body_size: 200mb',
    'publish:',
    '  allow_offline: true',
    'web:',
    '  enable: false',
    'log: { type: stdout, format: json, level: warn }',
    '',
  ].join('\n');
}

async function waitReady(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`verdaccio exited with ${child.exitCode} before it was ready`);
    try {
      const res = await fetch(`${url}/-/ping`);
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`verdaccio did not answer /-/ping within ${timeoutMs} ms`);
}

/** Registers a user over the npm adduser API and returns its token. */
async function addUser(url: string): Promise<string> {
  const name = `seed${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  const res = await fetch(`${url}/-/user/org.couchdb.user:${name}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ _id: `org.couchdb.user:${name}`, name, password, type: 'user', roles: [], date: new Date().toISOString() }),
  });
  const body = (await res.json()) as { token?: string };
  if (!res.ok || !body.token) throw new Error(`verdaccio adduser answered ${res.status}: ${JSON.stringify(body)}`);
  return body.token;
}

export async function startVerdaccio(options: VerdaccioOptions = {}): Promise<Verdaccio> {
  if (!existsSync(VERDACCIO_BIN)) throw new Error(`verdaccio is not installed at ${VERDACCIO_BIN}: run scripts/install-test-deps.sh`);
  const dir = await mkdtemp(join(tmpdir(), `pallet-${options.label ?? 'verdaccio'}-`));
  const config = join(dir, 'config.yaml');
  await writeFile(config, configYaml(dir, options.uplink));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const logFile = join(dir, 'verdaccio.log');
  let child: ChildProcess | undefined;
  let log: WriteStream | undefined;

  const start = async (): Promise<void> => {
    if (child && child.exitCode === null) return;
    log = createWriteStream(logFile, { flags: 'a' });
    const proc = spawn(process.execPath, [VERDACCIO_BIN, '--config', config, '--listen', `127.0.0.1:${port}`], {
      env: { ...process.env, NODE_ENV: 'production' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.stdout?.pipe(log, { end: false });
    proc.stderr?.pipe(log, { end: false });
    child = proc;
    await waitReady(url, proc, 30_000);
  };
  const stop = async (): Promise<void> => {
    const proc = child;
    child = undefined;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    log?.end();
  };

  if (options.storageFrom) await cp(options.storageFrom, join(dir, 'storage'), { recursive: true });
  await start();
  let publishToken: string;
  try {
    publishToken = await addUser(url);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url,
    port,
    dir,
    publishToken,
    running: () => child !== undefined && child.exitCode === null,
    start,
    stop,
    close: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
    saveStorage: async (dest) => {
      await stop();
      await rm(dest, { recursive: true, force: true });
      await cp(join(dir, 'storage'), dest, { recursive: true });
      await start();
    },
    logTail: async (lines = 40) => {
      const text = await readFile(logFile, 'utf8').catch(() => '');
      return text.split('\n').slice(-lines).join('\n');
    },
  };
}
