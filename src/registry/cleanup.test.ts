/**
 * Registry cleanup policies, in one process (SQLite): set through PATCH, run on demand with a
 * dry run, keep-last-N and untagged-older-than rules with include/exclude patterns, index
 * children kept with their index, scheduled runs of enabled policies only, and GC reclaiming
 * the bytes afterwards.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { digestOf } from '../base/digest.js';
import {
  assertPullsCompletely,
  blobFiles,
  createDockerRegistry,
  OCI_MANIFEST,
  pushImage,
  startInProcess,
  type Harness,
  type PushedImage,
} from '../../test/helpers/inproc.js';
import { globToRegExp, type CleanupReport } from './cleanup.js';

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function putManifest(h: Harness, repo: string, reference: string, doc: unknown, mediaType: string): Promise<string> {
  const body = Buffer.from(JSON.stringify(doc));
  const res = await h.app.server.inject({ method: 'PUT', url: `/v2/${repo}/manifests/${reference}`, payload: body, headers: { ...h.auth, 'content-type': mediaType } });
  assert.equal(res.statusCode, 201, res.body);
  return digestOf(body);
}

async function manifestStatus(h: Harness, repo: string, reference: string): Promise<number> {
  const res = await h.app.server.inject({ method: 'GET', url: `/v2/${repo}/manifests/${reference}`, headers: { ...h.auth, accept: `${OCI_MANIFEST}, ${OCI_INDEX}` } });
  return res.statusCode;
}

describe('cleanup policies', () => {
  let h: Harness;
  before(async () => {
    h = await startInProcess();
    await createDockerRegistry(h, 'acme', 'apps');
  });
  after(async () => h.close());

  it('matches artifact names with *, ** and ?', () => {
    assert.ok(globToRegExp('team/*').test('team/app'));
    assert.ok(!globToRegExp('team/*').test('team/a/b'));
    assert.ok(globToRegExp('team/**').test('team/a/b'));
    assert.ok(globToRegExp('app-?').test('app-1'));
    assert.ok(!globToRegExp('app.x').test('appAx'));
  });

  it('validates the policy on PATCH and shows it on the registry', async () => {
    const bad = await h.call('PATCH', '/api/v1/registries/acme/apps', { cleanupPolicy: { keepLastVersions: 0 } });
    assert.equal(bad.status, 400, bad.text);
    const empty = await h.call('PATCH', '/api/v1/registries/acme/apps', { cleanupPolicy: { include: ['x'] } });
    assert.equal(empty.status, 400, 'a policy needs a rule');
    assert.equal((await h.call('PATCH', '/api/v1/registries/acme/apps', { cleanupPolicy: { keepLastVersions: 1, bogus: 1 } })).status, 400);
    const set = await h.call<{ cleanupPolicy: unknown }>('PATCH', '/api/v1/registries/acme/apps', {
      cleanupPolicy: { keepLastVersions: 2, exclude: ['keep/**'] },
    });
    assert.equal(set.status, 200, set.text);
    assert.deepEqual(set.json.cleanupPolicy, { enabled: true, keepLastVersions: 2, exclude: ['keep/**'] });
    assert.deepEqual((await h.call<{ cleanupPolicy: unknown }>('GET', '/api/v1/registries/acme/apps')).json.cleanupPolicy, set.json.cleanupPolicy);
  });

  it('keeps the last N versions per artifact: dry run reports, the run deletes, GC reclaims', async () => {
    const images: PushedImage[] = [];
    for (let i = 1; i <= 4; i++) {
      images.push(await pushImage(h, 'acme/apps/web', `v${i}`, [randomBytes(300)]));
      await sleep(3);
    }
    const kept = await pushImage(h, 'acme/apps/keep/db', 'v1', [randomBytes(300)]);
    await pushImage(h, 'acme/apps/keep/db', 'v2', [randomBytes(300)]);
    await pushImage(h, 'acme/apps/keep/db', 'v3', [randomBytes(300)]);

    const dry = await h.call<CleanupReport>('POST', '/api/v1/registries/acme/apps/cleanup?dryRun=true');
    assert.equal(dry.status, 200, dry.text);
    assert.deepEqual(dry.json.versions.map((v) => [v.artifact, v.tags]), [['web', ['v2']], ['web', ['v1']]]);
    assert.equal(await manifestStatus(h, 'acme/apps/web', 'v1'), 200, 'a dry run deletes nothing');

    const run = await h.call<CleanupReport>('POST', '/api/v1/registries/acme/apps/cleanup');
    assert.equal(run.json.deletedVersions, 2);
    assert.equal(await manifestStatus(h, 'acme/apps/web', 'v1'), 404);
    assert.equal(await manifestStatus(h, 'acme/apps/web', 'v2'), 404);
    await assertPullsCompletely(h, 'acme/apps/web', 'v3', images[2]!);
    await assertPullsCompletely(h, 'acme/apps/web', 'v4', images[3]!);
    await assertPullsCompletely(h, 'acme/apps/keep/db', 'v1', kept);

    await sleep(5);
    await h.app.services.gc.run({ graceMs: 1 });
    const files = await blobFiles(h.dataDir);
    for (const gone of [images[0]!, images[1]!]) for (const b of gone.blobs) assert.ok(!files.has(b.digest), 'GC reclaimed the deleted versions’ blobs');
    await assertPullsCompletely(h, 'acme/apps/web', 'v4', images[3]!);
  });

  it('deletes untagged versions older than D days but keeps the children of a kept index', async () => {
    await createDockerRegistry(h, 'acme', 'multi');
    const repo = 'acme/multi/app';
    const a = await pushImage(h, repo, 'tmp-a', [randomBytes(100)]);
    const b = await pushImage(h, repo, 'tmp-b', [randomBytes(100)]);
    // Two images become the children of an index (untagged), a third stays alone (untagged).
    const lone = await pushImage(h, repo, 'tmp-lone', [randomBytes(100)]);
    const store = h.app.services.store;
    const repository = await store.findRepository((await store.findRegistry((await store.findSpace('acme'))!.id, 'multi'))!.id, 'app');
    assert.ok(repository);
    for (const tag of ['tmp-a', 'tmp-b', 'tmp-lone']) await store.deleteTag(repository.id, tag);
    const aSize = (await store.findManifest(repository.id, a.digest))!.size;
    const bSize = (await store.findManifest(repository.id, b.digest))!.size;
    const indexDigest = await putManifest(
      h,
      repo,
      'multi',
      {
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          { mediaType: OCI_MANIFEST, digest: a.digest, size: aSize, platform: { os: 'linux', architecture: 'amd64' } },
          { mediaType: OCI_MANIFEST, digest: b.digest, size: bSize, platform: { os: 'linux', architecture: 'arm64' } },
        ],
      },
      OCI_INDEX,
    );
    await sleep(5);
    assert.equal((await h.call('PATCH', '/api/v1/registries/acme/multi', { cleanupPolicy: { deleteUntaggedOlderThanDays: 0 } })).status, 200);
    const run = await h.call<CleanupReport>('POST', '/api/v1/registries/acme/multi/cleanup');
    assert.equal(run.status, 200, run.text);
    assert.deepEqual(run.json.versions.map((v) => v.digest), [lone.digest]);
    assert.equal(await manifestStatus(h, repo, indexDigest), 200);
    assert.equal(await manifestStatus(h, repo, a.digest), 200, 'a child of the kept index stays');
    assert.equal(await manifestStatus(h, repo, b.digest), 200);
  });

  it('runs enabled policies on the schedule, and only those', async () => {
    await createDockerRegistry(h, 'acme', 'paused');
    await pushImage(h, 'acme/paused/app', 'v1', [randomBytes(50)]);
    await sleep(3);
    await pushImage(h, 'acme/paused/app', 'v2', [randomBytes(50)]);
    assert.equal((await h.call('PATCH', '/api/v1/registries/acme/paused', { cleanupPolicy: { keepLastVersions: 1, enabled: false } })).status, 200);
    const { cleanup } = h.app.services;
    await cleanup.runScheduled();
    assert.equal(await manifestStatus(h, 'acme/paused/app', 'v1'), 200, 'a disabled policy does not run on the schedule');
    assert.equal((await h.call('PATCH', '/api/v1/registries/acme/paused', { cleanupPolicy: { keepLastVersions: 1 } })).status, 200);
    await cleanup.runScheduled();
    assert.equal(await manifestStatus(h, 'acme/paused/app', 'v1'), 404);
    assert.equal(await manifestStatus(h, 'acme/paused/app', 'v2'), 200);
    assert.equal((await h.call('POST', '/api/v1/registries/acme/docker-none/cleanup')).status, 404);
  });
});
