/**
 * CNCF Distribution (Debian `docker-registry`) as an upstream for end-to-end tests: its own free
 * port and temp dir, filesystem storage, optional htpasswd (Basic) auth. It can be stopped and
 * started again on the same port with the same content, to simulate an outage. Output goes to
 * `test-output/distribution-<label>-<port>.log`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './run.js';
import { freePort, OUTPUT_DIR } from './server.js';

export const DISTRIBUTION_BIN = process.env.PALLET_TEST_DISTRIBUTION_BIN ?? '/usr/bin/docker-registry';

export interface DistributionOptions {
  label?: string;
  /** Turns on htpasswd (Basic) auth with this one user. */
  user?: { username: string; password: string };
}

export interface Distribution {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** `127.0.0.1:<port>` */
  host: string;
  logFile: string;
  /** Stops the process; the content stays for `start()`. */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same content. */
  start(): Promise<void>;
  /** Stops it and removes its content. Idempotent. */
  destroy(): Promise<void>;
  logTail(lines?: number): Promise<string>;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export async function startDistribution(options: DistributionOptions = {}): Promise<Distribution> {
  const label = options.label ?? 'upstream';
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), `pallet-distribution-${label}-`));
  mkdirSync(OUTPUT_DIR, { recursive: true });
  const logFile = join(OUTPUT_DIR, `distribution-${label}-${port}.log`);
  const log = createWriteStream(logFile, { flags: 'a' });
  const url = `http://127.0.0.1:${port}`;
  const lines = [
    'version: 0.1',
    'log:',
    '  level: info',
    '  accesslog:',
    '    disabled: false',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'data')}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
  ];
  if (options.user) {
    const { stdout } = await run('htpasswd', ['-nbB', options.user.username, options.user.password]);
    await writeFile(join(dir, 'htpasswd'), stdout.trim() + '\n');
    lines.push('auth:', '  htpasswd:', '    realm: pallet-test', `    path: ${join(dir, 'htpasswd')}`);
  }
  const config = join(dir, 'config.yml');
  await writeFile(config, lines.join('\n') + '\n');

  let child: ChildProcess | undefined;
  let destroyed = false;
  const killOnExit = (): void => {
    child?.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  const stop = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c) return;
    c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), 5_000);
    await exited(c);
    clearTimeout(timer);
  };

  const start = async (): Promise<void> => {
    if (child) return;
    const c = spawn(DISTRIBUTION_BIN, ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    c.stdout?.pipe(log, { end: false });
    c.stderr?.pipe(log, { end: false });
    const deadline = Date.now() + 20_000;
    let problem = 'no answer yet';
    while (Date.now() < deadline) {
      if (c.exitCode !== null || c.signalCode !== null) {
        problem = `exited with ${c.exitCode ?? c.signalCode}`;
        break;
      }
      try {
        const res = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1_000) });
        await res.arrayBuffer();
        if (res.status === 200 || res.status === 401) return;
        problem = `GET /v2/ answered ${res.status}`;
      } catch (err) {
        problem = (err as Error).message;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await stop();
    throw new Error(`docker-registry did not start on ${url}: ${problem}\n${await tail(logFile, 30)}`);
  };

  const distribution: Distribution = {
    url,
    host: `127.0.0.1:${port}`,
    logFile,
    stop,
    start,
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      process.removeListener('exit', killOnExit);
      await stop();
      await new Promise<void>((resolve) => log.end(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
    logTail: (n = 40) => tail(logFile, n),
  };
  try {
    await start();
  } catch (err) {
    await distribution.destroy();
    throw err;
  }
  return distribution;
}

async function tail(file: string, lines: number): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).split('\n').slice(-lines - 1).join('\n');
  } catch {
    return '(no log)';
  }
}
