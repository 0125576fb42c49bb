/**
 * Scale-out end to end: three `pallet serve` replicas share one PostgreSQL schema and one S3
 * bucket (s3rver on loopback, started here), as they would behind a load balancer. Pushes and
 * pulls go through different replicas, a chunked upload moves between all three, two replicas
 * race to push one tag, a replica is SIGKILLed in the middle of an upload, and `pallet gc` runs
 * against the shared state while the replicas serve.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { image, type BuiltImage } from '../fixtures/images.js';
import { createDockerRegistry, createRegistry } from '../helpers/api.js';
import { blobList, readLayout, refDescriptor } from '../helpers/layout.js';
import { DATABASE_URL, withClient } from '../helpers/postgres.js';
import { run } from '../helpers/run.js';
import { startS3, type S3Server } from '../helpers/s3.js';
import { REPO_ROOT, startServer, type PalletServer } from '../helpers/server.js';
import { Skopeo } from '../helpers/skopeo.js';
import { dropSchemaLocked } from '../../src/metadata/test-databases.js';

const SCHEMA = `pallet_scale_${randomBytes(6).toString('hex')}`;
const ADMIN_PASSWORD = `scale-${randomBytes(8).toString('hex')}`;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const REPO = 'acme/docker-local';
const MiB = 1024 * 1024;

const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const AUTH = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;

interface Reply {
  status: number;
  headers: Headers;
  body: Buffer;
}

async function http(server: PalletServer, method: string, path: string, body?: Buffer, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: AUTH, ...headers },
    ...(body ? { body: Uint8Array.from(body) } : {}),
  });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

async function pushBlob(server: PalletServer, repo: string, data: Buffer): Promise<string> {
  const digest = sha256(data);
  const res = await http(server, 'POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, data, { 'content-type': 'application/octet-stream' });
  assert.equal(res.status, 201, res.body.toString());
  return digest;
}

/** Pushes a one-layer image by tag through `server`; resolves to the manifest and its blobs. */
async function pushImage(server: PalletServer, repo: string, tag: string): Promise<{ digest: string; blobs: Map<string, Buffer> }> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed: randomBytes(6).toString('hex') }));
  const layer = randomBytes(64 * 1024);
  const blobs = new Map([[await pushBlob(server, repo, config), config], [await pushBlob(server, repo, layer), layer]]);
  const [configDigest, layerDigest] = [...blobs.keys()];
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layer.length }],
    }),
  );
  const res = await http(server, 'PUT', `/v2/${repo}/manifests/${tag}`, manifest, { 'content-type': OCI_MANIFEST });
  assert.equal(res.status, 201, res.body.toString());
  return { digest: sha256(manifest), blobs };
}

describe('scale-out: replicas on PostgreSQL and S3', () => {
  let s3: S3Server;
  let env: Record<string, string>;
  let a: PalletServer;
  let b: PalletServer;
  let c: PalletServer;
  let work: string;
  let skopeo: Skopeo;
  let app: BuiltImage;

  before(async () => {
    s3 = await startS3();
    const bucket = await s3.bucket('scale');
    env = {
      ...s3.env(bucket),
      PALLET_DATABASE_URL: DATABASE_URL,
      PALLET_DATABASE_SCHEMA: SCHEMA,
      PALLET_ADMIN_PASSWORD: ADMIN_PASSWORD,
      PALLET_UPLOADS_LEASE_SECONDS: '2',
    };
    // Started together: they race to migrate the empty schema, as a rolling deploy would.
    const started = await Promise.all(['a', 'b', 'c'].map((name) => startServer({ label: `e2e-scale-${name}`, env })));
    [a, b, c] = started as [PalletServer, PalletServer, PalletServer];
    work = await mkdtemp(join(tmpdir(), 'pallet-e2e-scale-'));
    skopeo = new Skopeo({ username: 'admin', password: ADMIN_PASSWORD });
    await createDockerRegistry({ url: a.url, adminPassword: ADMIN_PASSWORD }, 'acme', 'docker-local');
    app = await image().file('/hello.txt', 'hello from a replica\n').randomFile('/data.bin', 512 * 1024).build(join(work, 'app'), '1');
  });

  after(async () => {
    await Promise.all([a, b, c].map((s) => s?.stop()));
    await s3?.stop();
    if (work) await rm(work, { recursive: true, force: true });
    await withClient((client) => dropSchemaLocked(client, SCHEMA));
  });

  it('skopeo pushes through one replica and pulls an identical image through another', async () => {
    await skopeo.copy(app.ref, Skopeo.ref(a.host, `${REPO}/app`, '1'), { preserveDigests: true });
    const pulledDir = join(work, 'pulled');
    await skopeo.copy(Skopeo.ref(b.host, `${REPO}/app`, '1'), `oci:${pulledDir}:1`);
    const pulled = await readLayout(pulledDir);
    assert.equal(refDescriptor(pulled, '1').digest, app.digest);
    assert.deepEqual(blobList(pulled), blobList(await readLayout(app.layout)));
  });

  it('finishes a chunked upload that moved across three replicas', async () => {
    const data = randomBytes(3 * MiB + 17);
    const digest = sha256(data);
    const started = await http(a, 'POST', `/v2/${REPO}/chunked/blobs/uploads/`);
    assert.equal(started.status, 202);
    const location = started.headers.get('location');
    assert.ok(location);
    const first = data.subarray(0, 2 * MiB);
    const second = data.subarray(2 * MiB);
    const p1 = await http(a, 'PATCH', location, first, { 'content-type': 'application/octet-stream', 'content-range': `0-${first.length - 1}` });
    assert.equal(p1.status, 202, p1.body.toString());
    const p2 = await http(b, 'PATCH', location, second, {
      'content-type': 'application/octet-stream',
      'content-range': `${first.length}-${data.length - 1}`,
    });
    assert.equal(p2.status, 202, p2.body.toString());
    assert.equal(p2.headers.get('range'), `0-${data.length - 1}`);
    const done = await http(c, 'PUT', `${location}?digest=${digest}`);
    assert.equal(done.status, 201, done.body.toString());
    const back = await http(b, 'GET', `/v2/${REPO}/chunked/blobs/${digest}`);
    assert.equal(back.status, 200);
    assert.ok(back.body.equals(data), 'the blob read through another replica has the uploaded bytes');
  });

  it('leaves one consistent tag when two replicas push it at once', async () => {
    for (let round = 0; round < 4; round++) {
      const tag = `race-${round}`;
      const pushed = await Promise.all([pushImage(a, `${REPO}/race`, tag), pushImage(b, `${REPO}/race`, tag)]);
      const seen = await Promise.all(
        [a, b, c].map(async (s) => {
          const res = await http(s, 'GET', `/v2/${REPO}/race/manifests/${tag}`, undefined, { accept: OCI_MANIFEST });
          assert.equal(res.status, 200);
          return sha256(res.body);
        }),
      );
      assert.equal(new Set(seen).size, 1, `every replica serves the same manifest for ${tag}`);
      const winner = pushed.find((p) => p.digest === seen[0]);
      assert.ok(winner, 'the tag points at one of the two pushed manifests');
      for (const [digest, bytes] of winner.blobs) {
        const res = await http(c, 'GET', `/v2/${REPO}/race/blobs/${digest}`);
        assert.equal(res.status, 200);
        assert.ok(res.body.equals(bytes));
      }
    }
  });

  it('keeps usage within a quota when 10 pushes through three replicas together exceed it', async () => {
    await createRegistry({ url: a.url, adminPassword: ADMIN_PASSWORD }, { space: 'acme', identifier: 'quota', packageType: 'docker', kind: 'local' });
    const patched = await http(b, 'PATCH', '/api/v1/registries/acme/quota', Buffer.from(JSON.stringify({ quotaBytes: 5 * 66 * 1024 })), {
      'content-type': 'application/json',
    });
    assert.equal(patched.status, 200, patched.body.toString());
    const replicas = [a, b, c];
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => pushImage(replicas[i % 3]!, `acme/quota/app${i}`, 'v1')));
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    assert.ok(ok >= 1 && ok < 10, `${ok} of 10 pushes went through`);
    for (const r of results) if (r.status === 'rejected') assert.match(String(r.reason), /quota exceeded/);
    const view = JSON.parse((await http(c, 'GET', '/api/v1/registries/acme/quota')).body.toString()) as { sizeBytes: number; quotaBytes: number };
    assert.ok(view.sizeBytes <= view.quotaBytes, `usage ${view.sizeBytes} <= quota ${view.quotaBytes}`);
  });

  it('runs pallet gc against the shared database and bucket while the replicas serve', async () => {
    const lone = randomBytes(4096);
    const loneDigest = await pushBlob(b, `${REPO}/gc`, lone);
    const kept = await pushImage(a, `${REPO}/gc`, 'kept');
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const gcEnv = { ...process.env, ...env };
    const dry = await run(process.execPath, ['--import', 'tsx', 'src/main.ts', 'gc', '--dry-run', '--grace', '1'], { cwd: REPO_ROOT, env: gcEnv });
    const dryReport = JSON.parse(dry.stdout) as { blobs: { count: number; bytes: number } };
    assert.ok(dryReport.blobs.count >= 1, dry.stderr);
    assert.match(dry.stderr, /pallet gc: blobs: would remove/);
    const real = await run(process.execPath, ['--import', 'tsx', 'src/main.ts', 'gc', '--grace', '1'], { cwd: REPO_ROOT, env: gcEnv });
    const report = JSON.parse(real.stdout) as { blobs: { count: number; bytes: number } };
    assert.deepEqual(report.blobs, dryReport.blobs, 'the run removes what the dry run reported');
    assert.equal((await http(c, 'GET', `/v2/${REPO}/gc/blobs/${loneDigest}`)).status, 404);
    for (const [digest, bytes] of kept.blobs) {
      const res = await http(c, 'GET', `/v2/${REPO}/gc/blobs/${digest}`);
      assert.equal(res.status, 200);
      assert.ok(res.body.equals(bytes));
    }
    const pulledDir = join(work, 'pulled-after-gc');
    await skopeo.copy(Skopeo.ref(c.host, `${REPO}/app`, '1'), `oci:${pulledDir}:1`);
    assert.equal(refDescriptor(await readLayout(pulledDir), '1').digest, app.digest);
  });

  it('a replica killed mid-upload serves no partial blob; the upload resumes on another replica', async () => {
    const data = randomBytes(2 * MiB);
    const digest = sha256(data);
    const started = await http(c, 'POST', `/v2/${REPO}/crash/blobs/uploads/`);
    const location = started.headers.get('location');
    assert.ok(location);
    const half = MiB;
    const p1 = await http(c, 'PATCH', location, data.subarray(0, half), { 'content-type': 'application/octet-stream', 'content-range': `0-${half - 1}` });
    assert.equal(p1.status, 202);

    // The second chunk stalls after 256 KiB; the replica dies while receiving it.
    let stalled = (): void => {};
    const stalledNow = new Promise<void>((resolve) => (stalled = resolve));
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(data.subarray(half, half + 256 * 1024));
        stalled();
      },
    });
    const dying = fetch(`${c.url}${location}`, {
      method: 'PATCH',
      headers: { authorization: AUTH, 'content-type': 'application/octet-stream', 'content-range': `${half}-${data.length - 1}` },
      body,
      duplex: 'half',
    } as RequestInit).catch((err: unknown) => err);
    await stalledNow;
    await new Promise((resolve) => setTimeout(resolve, 300));
    c.kill('SIGKILL');
    assert.ok((await dying) instanceof Error, 'the client sees the connection die');

    assert.equal((await http(a, 'GET', `/v2/${REPO}/crash/blobs/${digest}`)).status, 404, 'no partial blob is served');
    const status = await http(a, 'GET', location);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), `0-${half - 1}`, 'the session resumes at the last complete chunk');
    // The dead replica's hold on the session lapses after uploads.leaseSeconds (2 here); until
    // then another writer is refused (and nothing of its body is stored).
    let p2: Reply;
    for (let attempt = 0; ; attempt++) {
      p2 = await http(a, 'PATCH', location, data.subarray(half), {
        'content-type': 'application/octet-stream',
        'content-range': `${half}-${data.length - 1}`,
      });
      if (p2.status !== 400 || attempt >= 40) break;
      assert.match(p2.body.toString(), /another request is writing to this upload session/);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.equal(p2.status, 202, p2.body.toString());
    const done = await http(b, 'PUT', `${location}?digest=${digest}`);
    assert.equal(done.status, 201, done.body.toString());
    const back = await http(a, 'GET', `/v2/${REPO}/crash/blobs/${digest}`);
    assert.equal(back.status, 200);
    assert.ok(back.body.equals(data));
  });
});
