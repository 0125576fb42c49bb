/**
 * GC claims across processes, end to end: a `pallet serve` replica and `pallet gc` child
 * processes share one PostgreSQL schema and one S3 bucket (s3rver, in this process). The S3
 * server holds the sweep's first blob DELETE until the test lets it go, which stops the sweep
 * deterministically between claiming blobs and deleting their bytes; meanwhile the replica
 * re-pushes the claimed blobs, or the sweep is killed with SIGKILL.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import FilesystemStore from 's3rver/lib/stores/filesystem.js';
import { createDockerRegistry } from '../helpers/api.js';
import { DATABASE_URL, withClient } from '../helpers/postgres.js';
import { startS3, type S3Server } from '../helpers/s3.js';
import { REPO_ROOT, startServer, type PalletServer } from '../helpers/server.js';
import { dropSchemaLocked } from '../../src/metadata/test-databases.js';

const SCHEMA = `pallet_gcfence_${randomBytes(6).toString('hex')}`;
const ADMIN_PASSWORD = `fence-${randomBytes(8).toString('hex')}`;
const AUTH = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const REPO = 'acme/docker-local';
const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Holds the first blob DELETE that reaches the S3 server once armed, until `release()`. */
class DeleteGate {
  #armed = false;
  #reached: () => void = () => {};
  #go: () => void = () => {};
  reached: Promise<void> = Promise.resolve();
  /** Resolves when the held DELETE has been carried out. */
  done: Promise<void> = Promise.resolve();
  #done: () => void = () => {};

  constructor() {
    const original = FilesystemStore.prototype.deleteObject;
    const gate = this;
    FilesystemStore.prototype.deleteObject = async function deleteObject(this: FilesystemStore, bucket: string, key: string) {
      if (gate.#armed && key.startsWith('blobs/')) {
        gate.#armed = false;
        const go = new Promise<void>((resolve) => (gate.#go = resolve));
        gate.#reached();
        await go;
        await original.call(this, bucket, key);
        gate.#done();
        return;
      }
      await original.call(this, bucket, key);
    };
  }

  arm(): void {
    this.reached = new Promise((resolve) => (this.#reached = resolve));
    this.done = new Promise((resolve) => (this.#done = resolve));
    this.#armed = true;
  }

  release(): void {
    this.#go();
  }
}

interface Reply {
  status: number;
  body: Buffer;
}

async function http(server: PalletServer, method: string, path: string, body?: Buffer, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: AUTH, ...headers },
    ...(body ? { body: Uint8Array.from(body) } : {}),
  });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

async function pushBlob(server: PalletServer, repo: string, data: Buffer): Promise<Reply> {
  return http(server, 'POST', `/v2/${repo}/blobs/uploads/?digest=${sha256(data)}`, data, { 'content-type': 'application/octet-stream' });
}

interface Image {
  manifest: Buffer;
  blobs: Buffer[];
}

function image(): Image {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed: randomBytes(6).toString('hex') }));
  const layer = randomBytes(32 * 1024);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: layer.length }],
    }),
  );
  return { manifest, blobs: [config, layer] };
}

/** Pushes the image's blobs, then its manifest; throws with the status of the first failure. */
async function pushImage(server: PalletServer, repo: string, tag: string, img: Image): Promise<void> {
  for (const data of img.blobs) {
    const res = await pushBlob(server, repo, data);
    if (res.status !== 201) throw new Error(`blob push: ${res.status} ${res.body.toString()}`);
  }
  const res = await http(server, 'PUT', `/v2/${repo}/manifests/${tag}`, img.manifest, { 'content-type': OCI_MANIFEST });
  if (res.status !== 201) throw new Error(`manifest push: ${res.status} ${res.body.toString()}`);
}

async function assertPulls(server: PalletServer, repo: string, tag: string, img: Image): Promise<void> {
  const res = await http(server, 'GET', `/v2/${repo}/manifests/${tag}`, undefined, { accept: OCI_MANIFEST });
  assert.equal(res.status, 200);
  assert.ok(res.body.equals(img.manifest));
  for (const data of img.blobs) {
    const got = await http(server, 'GET', `/v2/${repo}/blobs/${sha256(data)}`);
    assert.equal(got.status, 200, `blob ${sha256(data)} of ${repo}:${tag}: ${got.body.toString()}`);
    assert.ok(got.body.equals(data), `blob ${sha256(data)} has the pushed bytes`);
  }
}

interface GcChild {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

/** `pallet gc --grace 1` as a child process; `skewMs` shifts its clock (negative: behind). */
function startGc(env: Record<string, string>, skewMs = 0): GcChild {
  const preload = skewMs === 0 ? [] : ['--import', './test/helpers/clock-skew.ts'];
  const child = spawn(process.execPath, ['--import', 'tsx', ...preload, 'src/main.ts', 'gc', '--grace', '1'], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env, PALLET_TEST_CLOCK_SKEW_MS: String(skewMs) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, exited };
}

async function claimedRows(): Promise<number> {
  return withClient(async (client) => {
    const { rows } = await client.query<{ n: string }>(`select count(*) as n from "${SCHEMA}".blobs where deleting = 1`);
    return Number(rows[0]?.n ?? 0);
  });
}

describe('GC claims across processes (PostgreSQL, S3)', () => {
  let s3: S3Server;
  let env: Record<string, string>;
  let a: PalletServer;
  const gate = new DeleteGate();

  before(async () => {
    s3 = await startS3();
    env = {
      ...s3.env(await s3.bucket('fence')),
      PALLET_DATABASE_URL: DATABASE_URL,
      PALLET_DATABASE_SCHEMA: SCHEMA,
      PALLET_ADMIN_PASSWORD: ADMIN_PASSWORD,
    };
    a = await startServer({ label: 'e2e-gcfence', env });
    await createDockerRegistry({ url: a.url, adminPassword: ADMIN_PASSWORD }, 'acme', 'docker-local');
  });

  after(async () => {
    await a?.stop();
    await s3?.stop();
    await withClient((client) => dropSchemaLocked(client, SCHEMA));
  });

  it('a stalled sweep whose clock is 11 minutes behind keeps its claims: a re-push waits, and pulls completely', async () => {
    const repo = `${REPO}/stalled`;
    const img = image();
    await pushImage(a, repo, 'v1', img);
    assert.equal((await http(a, 'DELETE', `/v2/${repo}/manifests/${sha256(img.manifest)}`)).status, 202);
    for (const data of img.blobs) assert.equal((await http(a, 'DELETE', `/v2/${repo}/blobs/${sha256(data)}`)).status, 202);

    gate.arm();
    const gc = startGc(env, -11 * 60_000);
    await Promise.race([gate.reached, gc.exited.then((r) => assert.fail(`gc exited before deleting: ${r.stderr}`))]);
    // The sweep claimed the image's blobs and stalls on deleting the first one's bytes. The
    // replica pushes the image again; the sweep resumes once that push is answered, or after
    // a while if the push waits for it.
    const pushing = pushImage(a, repo, 'v1', img);
    await Promise.race([pushing.catch(() => undefined), sleep(5_000)]);
    gate.release();
    const done = await gc.exited;
    assert.equal(done.code, 0, done.stderr);
    const pushed = await pushing.then(
      () => undefined,
      (err: unknown) => err,
    );
    if (pushed !== undefined) {
      assert.match(String(pushed), /503|UNAVAILABLE/, 'a refused push is retryable');
      await pushImage(a, repo, 'v1', img);
    }
    await assertPulls(a, repo, 'v1', img);
  });

  it('claims of a sweep killed with SIGKILL stop blocking re-pushes, and the next run finishes them', async () => {
    const repo = `${REPO}/killed`;
    const lone = Array.from({ length: 120 }, () => randomBytes(512));
    for (const data of lone) assert.equal((await pushBlob(a, repo, data)).status, 201);
    for (const data of lone) assert.equal((await http(a, 'DELETE', `/v2/${repo}/blobs/${sha256(data)}`)).status, 202);

    gate.arm();
    const gc = startGc(env);
    await Promise.race([gate.reached, gc.exited.then((r) => assert.fail(`gc exited before deleting: ${r.stderr}`))]);
    const claimed = await claimedRows();
    assert.ok(claimed >= lone.length, `the sweep claimed the ${lone.length} blobs (${claimed} claimed)`);
    gc.child.kill('SIGKILL');
    await gc.exited;
    gate.release(); // the dead sweep's last request still lands
    await gate.done;

    // A re-push of a blob the dead sweep claimed is not held up by its claim.
    const again = lone[lone.length - 1]!;
    const res = await pushBlob(a, repo, again);
    assert.equal(res.status, 201, res.body.toString());
    const back = await http(a, 'GET', `/v2/${repo}/blobs/${sha256(again)}`);
    assert.equal(back.status, 200);
    assert.ok(back.body.equals(again));

    // The next run finishes the rest of the dead run's claims.
    const next = await startGc(env).exited;
    assert.equal(next.code, 0, next.stderr);
    assert.equal(await claimedRows(), 0, 'no claim is left behind');
    for (const data of lone.slice(0, -1)) {
      assert.equal((await http(a, 'HEAD', `/v2/${repo}/blobs/${sha256(data)}`)).status, 404);
    }
  });
});
