/**
 * A private PostgreSQL cluster that a test may stop and start at will (`initdb` + `pg_ctl` on a
 * free port, data under a temp dir), unlike the shared server on 5432. PostgreSQL refuses to run
 * as root, so when the tests run as root the cluster runs as the `postgres` user (which owns the
 * temp dir).
 */
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { freePort } from './server.js';
import { run } from './run.js';

export interface PgCluster {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  url: string;
  port: number;
  /** `pg_ctl stop -m <mode>`: `fast` disconnects clients cleanly, `immediate` is a crash. */
  stop(mode: 'fast' | 'immediate'): Promise<void>;
  start(): Promise<void>;
  /** Stops the cluster (if running) and removes its files. Idempotent. */
  destroy(): Promise<void>;
}

const BIN = process.env.PALLET_PG_BIN ?? '/usr/local/bin';
const OS_USER = 'postgres';

/** Runs a PostgreSQL tool, as the `postgres` user when we are root. */
function pgTool(tool: string, args: string[]): ReturnType<typeof run> {
  const path = join(BIN, tool);
  if (userInfo().uid !== 0) return run(path, args, { timeoutMs: 60_000 });
  return run('runuser', ['-u', OS_USER, '--', path, ...args], { timeoutMs: 60_000 });
}

async function ownerIds(): Promise<{ uid: number; gid: number } | undefined> {
  if (userInfo().uid !== 0) return undefined;
  const { stdout: uid } = await run('id', ['-u', OS_USER]);
  const { stdout: gid } = await run('id', ['-g', OS_USER]);
  return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
}

export async function startPgCluster(): Promise<PgCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'pallet-pgcluster-'));
  const owner = await ownerIds();
  if (owner) await chown(dir, owner.uid, owner.gid);
  const data = join(dir, 'data');
  const port = await freePort();
  await pgTool('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8']);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50`;
  let running = false;
  const start = async (): Promise<void> => {
    await pgTool('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-o', options, '-w', '-t', '60', 'start']);
    running = true;
  };
  const stop = async (mode: 'fast' | 'immediate'): Promise<void> => {
    await pgTool('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '60', 'stop']);
    running = false;
  };
  let destroyed = false;
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    start,
    stop,
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      if (running) await stop('immediate').catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
