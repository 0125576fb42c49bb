/**
 * Starts a real `pallet serve` child process for end-to-end tests: a free port, a fresh temp
 * data dir, output piped to `test-output/<label>-<port>.log`, ready once `/readyz` answers 200.
 *
 * `useServer()` wires this into node:test hooks for the enclosing suite: start in `before`,
 * print the log tail after any failed test, always stop (kill and remove the data dir) in
 * `after`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, afterEach, before } from 'node:test';
import { randomBytes } from 'node:crypto';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const OUTPUT_DIR = join(REPO_ROOT, 'test-output');

export interface ServerOptions {
  /** Names the log file; defaults to `pallet`. */
  label?: string;
  /** Extra environment for the child (`PALLET_DATABASE_URL`, `PALLET_STORAGE`, …). */
  env?: Record<string, string>;
  /** How long to wait for `/readyz`; 30 s by default. */
  readyTimeoutMs?: number;
  /** Use this data dir (e.g. a small mounted filesystem); the caller owns it, `stop()` leaves it. */
  dataDir?: string;
}

export interface PalletServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** `127.0.0.1:<port>`, as OCI clients name the registry. */
  host: string;
  dataDir: string;
  /** Password of the bootstrap `admin` user (set through `PALLET_ADMIN_PASSWORD`). */
  adminPassword: string;
  logFile: string;
  /** Sends `signal` to the server process (e.g. SIGKILL to crash it); `stop()` still cleans up. */
  kill(signal: NodeJS.Signals): void;
  /** The last `lines` lines of the server's output. */
  logTail(lines?: number): Promise<string>;
  /** Every JSON log line the server wrote so far, parsed (non-JSON lines are skipped). */
  logRecords(): Promise<Record<string, unknown>[]>;
  /** Stops the child (SIGTERM, then SIGKILL after 5 s) and removes the data dir it made. Idempotent. */
  stop(): Promise<void>;
}

/** A port that was free a moment ago: listen on port 0, read the port, close. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      if (address === null || typeof address === 'string') {
        probe.close();
        reject(new Error('could not read the probe port'));
        return;
      }
      probe.close(() => resolve(address.port));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

function closeLog(log: WriteStream): Promise<void> {
  return new Promise((resolve) => log.end(() => resolve()));
}

async function tail(file: string, lines: number): Promise<string> {
  try {
    const text = await readFile(file, 'utf8');
    return text.split('\n').slice(-lines - 1).join('\n');
  } catch {
    return '(no log)';
  }
}

export async function startServer(options: ServerOptions = {}): Promise<PalletServer> {
  const label = options.label ?? 'pallet';
  const port = await freePort();
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), `pallet-${label}-`)));
  mkdirSync(OUTPUT_DIR, { recursive: true });
  const logFile = join(OUTPUT_DIR, `${label}-${port}.log`);
  const log = createWriteStream(logFile);
  const adminPassword = `e2e-${randomBytes(8).toString('hex')}`;
  const url = `http://127.0.0.1:${port}`;

  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/main.ts', 'serve', '--host', '127.0.0.1', '--port', String(port), '--data-dir', dataDir],
    {
      cwd: REPO_ROOT,
      env: { ...process.env, PALLET_ADMIN_PASSWORD: adminPassword, PALLET_BASE_URL: url, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  // If the test process dies without running `after`, do not leave the server behind.
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.removeListener('exit', killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited(child);
      clearTimeout(timer);
    }
    await closeLog(log);
    if (options.dataDir === undefined) await rm(dataDir, { recursive: true, force: true });
  };

  const server: PalletServer = {
    url,
    host: `127.0.0.1:${port}`,
    dataDir,
    adminPassword,
    logFile,
    kill: (signal) => {
      child.kill(signal);
    },
    logTail: (lines = 40) => tail(logFile, lines),
    async logRecords() {
      const text = await readFile(logFile, 'utf8');
      const records: Record<string, unknown>[] = [];
      for (const line of text.split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          const parsed: unknown = JSON.parse(line);
          if (parsed !== null && typeof parsed === 'object') records.push(parsed as Record<string, unknown>);
        } catch {
          // a line cut short by a crash; not a record
        }
      }
      return records;
    },
    stop,
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  let lastProblem = 'no answer yet';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      lastProblem = `the server exited with ${child.exitCode ?? child.signalCode}`;
      break;
    }
    try {
      const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) });
      const body = await res.text();
      if (res.status === 200) return server;
      lastProblem = `/readyz answered ${res.status} ${body}`;
    } catch (err) {
      lastProblem = (err as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const logText = await tail(logFile, 60);
  await stop();
  throw new Error(`pallet serve did not become ready on ${url}: ${lastProblem}\n--- ${logFile} (tail) ---\n${logText}`);
}

/**
 * Registers hooks on the enclosing suite (or file) and returns a getter for its server. The
 * getter throws when called before `before` ran or after the start failed.
 */
export function useServer(options: ServerOptions = {}): () => PalletServer {
  let server: PalletServer | undefined;
  before(async () => {
    server = await startServer(options);
  });
  afterEach(async (t) => {
    if (server && 'passed' in t && t.passed === false) {
      process.stderr.write(`\n--- ${server.logFile} (tail, after "${t.name}" failed) ---\n${await server.logTail()}\n`);
    }
  });
  after(async () => {
    await server?.stop();
  });
  return () => {
    if (!server) throw new Error('the Pallet server is not running (did `before` fail?)');
    return server;
  };
}
