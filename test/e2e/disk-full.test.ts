/**
 * A full disk, for real: `pallet serve` keeps its data dir (SQLite and the filesystem storage)
 * on a small tmpfs with a 4 MiB headroom, and the test fills the rest of the disk. Pushes must
 * be refused with 507 and a clear message, /readyz and /metrics must say so, pulls must keep
 * working, and deleting a tag and a manifest then `pallet gc` must work (the headroom keeps room
 * for SQLite's writes) and free enough space for pushes to resume. Needs root (mount).
 */
import assert from 'node:assert/strict';
import { mkdtemp, open, rm, statfs, unlink } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createDockerRegistry } from '../helpers/api.js';
import { OCI_MANIFEST, PushFailed, pushImage, send } from '../helpers/oci-push.js';
import { run } from '../helpers/run.js';
import { REPO_ROOT, startServer, type PalletServer } from '../helpers/server.js';

const MiB = 1024 * 1024;
const HEADROOM = 4 * MiB;
const REPO = 'acme/docker-local';

async function freeBytes(dir: string): Promise<number> {
  const info = await statfs(dir);
  return info.bavail * info.bsize;
}

/** Writes zeros to `file` until the filesystem has about `leave` bytes free. */
async function fillUntil(file: string, dir: string, leave: number): Promise<void> {
  const handle = await open(file, 'a');
  try {
    const chunk = Buffer.alloc(256 * 1024);
    for (let free = await freeBytes(dir); free > leave; free = await freeBytes(dir)) {
      await handle.write(chunk, 0, Math.min(chunk.length, free - leave));
    }
  } finally {
    await handle.close();
  }
}

describe('a full disk', { skip: userInfo().uid !== 0 ? 'mounting a tmpfs needs root' : false }, () => {
  let dir: string;
  let mounted = false;
  let server: PalletServer;
  let big: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pallet-diskfull-'));
    await run('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', dir]);
    mounted = true;
    server = await startServer({ label: 'e2e-disk-full', dataDir: join(dir, 'data'), env: { PALLET_LIMITS_DISK_HEADROOM_BYTES: String(HEADROOM) } });
    await createDockerRegistry(server, 'acme', 'docker-local');
    await pushImage(server, `${REPO}/keep`, 'v1');
    big = await pushImage(server, `${REPO}/big`, 'v1', { layerBytes: 6 * MiB });
  });

  after(async () => {
    await server?.stop();
    if (mounted) await run('umount', [dir]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('refuses pushes with 507 and says so in /readyz and /metrics, while pulls still work', async () => {
    await fillUntil(join(dir, 'filler'), dir, HEADROOM / 2);
    let refused: PushFailed | undefined;
    try {
      await pushImage(server, `${REPO}/new`, 'v1');
    } catch (err) {
      if (!(err instanceof PushFailed)) throw err;
      refused = err;
    }
    assert.ok(refused, 'the push is refused');
    assert.equal(refused.answer.status, 507, refused.message);
    const body = JSON.parse(refused.answer.body.toString()) as { errors: Array<{ code: string; message: string }> };
    assert.equal(body.errors[0]?.code, 'UNAVAILABLE');
    assert.match(body.errors[0]?.message ?? '', /storage is nearly full: .* free, less than the 4\.0 MiB kept for deletes/);

    const ready = await fetch(`${server.url}/readyz`);
    const readiness = (await ready.json()) as { status: string; checks: Record<string, string> };
    assert.equal(ready.status, 200, 'a replica that can still serve pulls stays in rotation');
    assert.equal(readiness.status, 'degraded');
    assert.match(readiness.checks.storage ?? '', /^insufficient storage: .* below the 4\.0 MiB headroom/);

    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const free = Number(/^pallet_storage_free_bytes (\d+)$/m.exec(metrics)?.[1]);
    assert.ok(free < HEADROOM, `pallet_storage_free_bytes ${free} is below the headroom`);
    assert.match(metrics, /^pallet_storage_headroom_bytes 4194304$/m);
    const full = Number(/^pallet_dependency_faults_total\{dependency="storage",fault="full"\} (\d+)$/m.exec(metrics)?.[1]);
    assert.ok(full >= 1, `the refusal is counted (${full})`);

    const pulled = await send(server, 'GET', `/v2/${REPO}/keep/manifests/v1`, undefined, { accept: OCI_MANIFEST });
    assert.equal(pulled.status, 200, 'pulls still work');
  });

  it('still deletes a tag and a manifest, and pallet gc frees the space so pushes resume', async () => {
    const before = await freeBytes(dir);
    assert.ok(before < HEADROOM, 'the disk is still below the headroom');
    const untagged = await send(server, 'DELETE', `/v2/${REPO}/big/manifests/v1`);
    assert.equal(untagged.status, 202, untagged.body.toString());
    const deleted = await send(server, 'DELETE', `/v2/${REPO}/big/manifests/${big}`);
    assert.ok(deleted.status === 202 || deleted.status === 404, `${deleted.status} ${deleted.body.toString()}`);
    const gc = await run(process.execPath, ['--import', 'tsx', 'src/main.ts', 'gc', '--grace', '0', '--data-dir', join(dir, 'data')], {
      cwd: REPO_ROOT,
      env: { ...process.env, PALLET_LOG_LEVEL: 'warn' },
    });
    const report = JSON.parse(gc.stdout) as { blobs: { count: number; bytes: number } };
    assert.ok(report.blobs.bytes >= 6 * MiB, `gc removed the big layer: ${gc.stdout}`);
    assert.ok((await freeBytes(dir)) >= HEADROOM, 'gc freed the space');

    // One upload may not eat the reserve: a layer larger than the room above half the headroom
    // is stopped while it streams, with the same 507, and its bytes are given back.
    const room = (await freeBytes(dir)) - HEADROOM / 2;
    const tooBig = await pushImage(server, `${REPO}/huge`, 'v1', { layerBytes: room + MiB }).then(
      () => undefined,
      (err: unknown) => err,
    );
    assert.ok(tooBig instanceof PushFailed, `the oversized push is refused with an answer: ${String(tooBig)}`);
    assert.equal(tooBig.answer.status, 507, tooBig.message);
    assert.ok((await freeBytes(dir)) >= HEADROOM, 'the refused upload gave its space back');

    await pushImage(server, `${REPO}/new`, 'v1');
    const ready = (await (await fetch(`${server.url}/readyz`)).json()) as { status: string };
    assert.equal(ready.status, 'ok');
    await unlink(join(dir, 'filler'));
  });
});
