/**
 * Starts the two registries under test, each on a free port with its own temporary data
 * directory, and stops them again:
 * - Pallet: `node dist/main.js serve` spawned directly (so the pid is the server process), on its
 *   defaults (SQLite + filesystem) at log level warn, with a random bootstrap admin password;
 * - CNCF Distribution: `docker-registry serve <config.yml>` with filesystem storage, deletes
 *   enabled, the in-memory blob descriptor cache of its example config, and log level warn.
 * Both servers write their output to a log file in their temp dir; `logTail` shows it when a
 * workload fails. `stop` kills the process (SIGTERM, then SIGKILL) and removes the temp dir.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HttpClient } from './http-client.js';

export interface Server {
  name: string;
  pid: number;
  baseUrl: string;
  /** Where the server keeps its data (inside its temp dir). */
  dataDir: string;
  /** The last `lines` lines the server wrote. */
  logTail(lines?: number): string;
  /** Kills the server and removes its temp dir; safe to call twice, and synchronously safe at exit. */
  stop(): Promise<void>;
  stopNow(): void;
}

async function freePort(): Promise<number> {
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

function launch(name: string, command: string, args: string[], tempDir: string, env: NodeJS.ProcessEnv, baseUrl: string): Server {
  const dataDir = join(tempDir, 'data');
  const logFile = join(tempDir, 'server.log');
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(command, args, { env, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`);
  const pid = child.pid;
  let exited = false;
  const exitedPromise = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', () => (exited = true));
  let removed = false;
  const removeDir = () => {
    if (removed) return;
    removed = true;
    rmSync(tempDir, { recursive: true, force: true });
  };
  return {
    name,
    pid,
    baseUrl,
    dataDir,
    logTail(lines = 30) {
      try {
        return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
      } catch {
        return '(no log)';
      }
    },
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        const killed = await Promise.race([exitedPromise.then(() => true), sleep(5_000).then(() => false)]);
        if (!killed) {
          child.kill('SIGKILL');
          await exitedPromise;
        }
      }
      removeDir();
    },
    stopNow() {
      if (!exited) child.kill('SIGKILL');
      removeDir();
    },
  };
}

/** Polls GET /v2/ until the server answers (any status below 500), or fails after `timeoutMs`. */
async function waitReady(server: Server, timeoutMs = 30_000): Promise<void> {
  const client = new HttpClient(server.baseUrl);
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      try {
        const res = await client.request('GET', '/v2/');
        if (res.status < 500) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`${server.name} did not become ready in ${timeoutMs} ms; log:\n${server.logTail()}`);
      await sleep(100);
    }
  } finally {
    client.close();
  }
}

/**
 * Env without the caller's PALLET_* settings, so Pallet runs on its defaults (plus an admin
 * password) — except PALLET_AUTH_ENABLED, to measure with authentication off.
 */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('PALLET_') || key === 'PALLET_AUTH_ENABLED'));
}

/**
 * Kills every server in `servers` (removing its temp dir) when the process exits, and on SIGINT
 * or SIGTERM (after `onSignal`), then exits with 130.
 */
export function stopOnExit(servers: Server[], onSignal?: (signal: 'SIGINT' | 'SIGTERM') => void): void {
  process.once('exit', () => servers.forEach((s) => s.stopNow()));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      onSignal?.(signal);
      servers.forEach((s) => s.stopNow());
      process.exit(130);
    });
  }
}

export interface PalletServer extends Server {
  /** Password of the bootstrap `admin` user, for the REST API. */
  adminPassword: string;
}

/** `env`: extra settings on top of the defaults (e.g. `PALLET_AUTH_ENABLED`). */
export async function startPallet(mainJs: string, extraEnv: Record<string, string> = {}): Promise<PalletServer> {
  const port = await freePort();
  const adminPassword = `bench-${randomBytes(8).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'bench-pallet-'));
  const args = [mainJs, 'serve', '--host', '127.0.0.1', '--port', String(port), '--data-dir', join(dir, 'data'), '--log-level', 'warn'];
  const env = { ...cleanEnv(), PALLET_ADMIN_PASSWORD: adminPassword, ...extraEnv };
  const server = launch('Pallet', process.execPath, args, dir, env, `http://127.0.0.1:${port}`);
  try {
    await waitReady(server);
  } catch (err) {
    await server.stop();
    throw err;
  }
  return { ...server, adminPassword };
}

export async function startDistribution(binary: string): Promise<Server> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'bench-distribution-'));
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'data')}`,
      '  delete:',
      '    enabled: true',
      '  cache:',
      '    blobdescriptor: inmemory',
      '  maintenance:',
      '    uploadpurging:',
      '      enabled: false',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  );
  const server = launch('Distribution', binary, ['serve', config], dir, process.env, `http://127.0.0.1:${port}`);
  try {
    await waitReady(server);
  } catch (err) {
    await server.stop();
    throw err;
  }
  return server;
}
