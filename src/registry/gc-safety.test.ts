/**
 * GC, cleanup and quota races that a pause between two steps makes certain, in one process on
 * SQLite, then PostgreSQL: a second "replica" (its own BlobService or CleanupService over its
 * own connection to the same database and storage) whose real metadata store is wrapped so it
 * stops at a chosen step until the test lets it go, while the served app deletes, pushes and
 * collects. (Races across processes — a stalled or killed `pallet gc` — are in
 * test/e2e/gc-fencing.test.ts.)
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { digestOf } from '../base/digest.js';
import { silentLog } from '../base/log.js';
import { formatMigrations } from '../formats/index.js';
import { openDatabase, type OpenedDatabase } from '../metadata/open.js';
import { SqlCleanupStore } from '../metadata/sql-cleanup-store.js';
import { SqlGcStore } from '../metadata/sql-gc-store.js';
import { SqlQuotaStore } from '../metadata/sql-quota-store.js';
import type { MetadataStore } from '../metadata/store.js';
import { dropTestSchema, testSchema, TEST_DATABASE_URL } from '../metadata/test-databases.js';
import { FilesystemDriver } from '../storage/filesystem.js';
import {
  assertPullsCompletely,
  blob,
  createDockerRegistry,
  OCI_MANIFEST,
  pushBlob,
  pushImage,
  startInProcess,
  type Harness,
} from '../../test/helpers/inproc.js';
import { BlobService, type BlobLocation } from './blobs.js';
import { CleanupService } from './cleanup.js';
import { QuotaService } from './quotas.js';

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** One step of a wrapped store that stops until `release()`; `reached` resolves when it stops. */
class Pause {
  reached: Promise<void>;
  #arrive!: () => void;
  #go!: () => void;
  readonly #gate: Promise<void>;
  constructor() {
    this.reached = new Promise((resolve) => (this.#arrive = resolve));
    this.#gate = new Promise((resolve) => (this.#go = resolve));
  }
  async stop(): Promise<void> {
    this.#arrive();
    await this.#gate;
  }
  release(): void {
    this.#go();
  }
}

/**
 * The real store with one method stopping at `pause` (before it runs, or after with `after`)
 * the first time it is called; every other call goes straight through.
 */
function pausing(store: MetadataStore, method: keyof MetadataStore, pause: Pause, when: 'before' | 'after' = 'before'): MetadataStore {
  let armed = true;
  return new Proxy(store, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      const fn = value as (...args: unknown[]) => Promise<unknown>;
      if (prop !== method) return fn.bind(target);
      return async (...args: unknown[]) => {
        const first = armed;
        armed = false;
        if (first && when === 'before') await pause.stop();
        const result = await fn.apply(target, args);
        if (first && when === 'after') await pause.stop();
        return result;
      };
    },
  });
}

interface Where {
  loc: BlobLocation;
  registryId: string;
}

for (const database of ['sqlite', 'postgres'] as const) {
  describe(`GC, cleanup and quota races (${database})`, () => {
    let h: Harness;
    let db: OpenedDatabase;
    const schema = testSchema();
    let driver: FilesystemDriver;

    before(async () => {
      h = await startInProcess(database === 'postgres' ? { database: { url: TEST_DATABASE_URL, schema } } : {});
      // The app's database, with the formats' migrations it has applied.
      const migrations = formatMigrations();
      db = await openDatabase(database === 'postgres' ? { url: TEST_DATABASE_URL, dataDir: '', schema, migrations } : { url: '', dataDir: h.dataDir, migrations });
      driver = new FilesystemDriver(join(h.dataDir, 'storage'));
      await createDockerRegistry(h, 'acme', 'races');
    });
    after(async () => {
      await db.metadata.close();
      await h.close();
      if (database === 'postgres') await dropTestSchema(schema);
    });

    /** Where `repo` (under acme/races, created if new) lives. */
    async function where(repo: string): Promise<Where> {
      const store = h.app.services.store;
      const root = (await store.findSpace('acme'))!;
      const registry = (await store.findRegistry(root.id, 'races'))!;
      const repository = await store.ensureRepository(registry.id, repo);
      return { loc: { rootSpaceId: root.id, repositoryId: repository.id }, registryId: registry.id };
    }

    /** A replica's blob service over `store` (the real one, maybe wrapped), with GC rows and quotas. */
    function replicaBlobs(store: MetadataStore): BlobService {
      return new BlobService(store, driver, {
        gc: new SqlGcStore(db.db, db.dialect),
        quotas: new QuotaService(store, new SqlQuotaStore(db.db, db.dialect)),
      });
    }

    async function status(method: 'GET' | 'HEAD', url: string): Promise<number> {
      return (await h.app.server.inject({ method, url, headers: { ...h.auth, accept: `${OCI_MANIFEST}, ${OCI_INDEX}` } })).statusCode;
    }

    it('a mount racing a sweep of its blob either falls back to an upload or links bytes that are there', async () => {
      const data = blob(randomBytes(3000));
      assert.equal((await pushBlob(h, 'acme/races/mount-src', data)).status, 201);
      const src = await where('mount-src');
      const dst = await where('mount-dst');
      const pause = new Pause();
      const mounting = replicaBlobs(pausing(db.metadata, 'commitBlob', pause)).mount(dst.loc, src.loc.repositoryId, data.digest);
      await pause.reached; // the replica read the source link and is about to link
      const unlinked = await h.app.server.inject({ method: 'DELETE', url: `/v2/acme/races/mount-src/blobs/${data.digest}`, headers: h.auth });
      assert.equal(unlinked.statusCode, 202);
      await h.app.services.gc.run({ graceMs: 60_000 });
      pause.release();
      const mounted = await mounting;
      if (mounted) {
        const res = await h.app.server.inject({ method: 'GET', url: `/v2/acme/races/mount-dst/blobs/${data.digest}`, headers: h.auth });
        assert.equal(res.statusCode, 200, `a mount answered 201 serves its blob: ${res.body}`);
        assert.ok(res.rawPayload.equals(data.data));
      }
    });

    it('a push of a digest the registry holds stays counted when that copy is unlinked before it commits', async () => {
      await createDockerRegistry(h, 'acme', 'quota');
      assert.equal((await h.call('PATCH', '/api/v1/registries/acme/quota', { quotaBytes: 500_000 })).status, 200);
      const shared = blob(randomBytes(200_000));
      assert.equal((await pushBlob(h, 'acme/quota/first', shared)).status, 201);
      const store = h.app.services.store;
      const root = (await store.findSpace('acme'))!;
      const registry = (await store.findRegistry(root.id, 'quota'))!;
      const second = await store.ensureRepository(registry.id, 'second');
      const loc = { rootSpaceId: root.id, repositoryId: second.id };
      const pause = new Pause();
      const replica = replicaBlobs(pausing(db.metadata, 'commitBlob', pause));
      const upload = await replica.startUpload(loc);
      const pushing = replica.finishUpload(loc, upload, shared.digest, Readable.from([shared.data]));
      await pause.reached; // admitted against the quota, about to link
      const unlinked = await h.app.server.inject({ method: 'DELETE', url: `/v2/acme/quota/first/blobs/${shared.digest}`, headers: h.auth });
      assert.equal(unlinked.statusCode, 202);
      const others = [];
      for (const size of [300_000, 200_000]) others.push((await pushBlob(h, 'acme/quota/other', blob(randomBytes(size)))).status);
      pause.release();
      await pushing;
      const view = await h.call<{ sizeBytes: number; quotaBytes: number }>('GET', '/api/v1/registries/acme/quota');
      assert.ok(view.json.sizeBytes <= 500_000, `usage ${view.json.sizeBytes} stays within the quota of 500000 (other pushes: ${others.join(', ')})`);
    });

    it('a cleanup run keeps a version tagged or listed by an index pushed while it runs', async () => {
      await createDockerRegistry(h, 'acme', 'tidy');
      const repo = 'acme/tidy/app';
      const child = await pushImage(h, repo, 'tmp-child', [randomBytes(100)]);
      const old = await pushImage(h, repo, 'tmp-old', [randomBytes(100)]);
      const store = h.app.services.store;
      const registry = (await store.findRegistry((await store.findSpace('acme'))!.id, 'tidy'))!;
      const repository = (await store.findRepository(registry.id, 'app'))!;
      for (const tag of ['tmp-child', 'tmp-old']) await store.deleteTag(repository.id, tag);
      assert.equal((await h.call('PATCH', '/api/v1/registries/acme/tidy', { cleanupPolicy: { deleteUntaggedOlderThanDays: 0 } })).status, 200);
      await sleep(5);

      const pause = new Pause();
      const cleanup = new CleanupService(pausing(db.metadata, 'listVersions', pause, 'after'), new SqlCleanupStore(db.db, db.dialect), new SqlGcStore(db.db, db.dialect), silentLog);
      const running = cleanup.run(registry, 'acme/tidy', false, silentLog);
      await pause.reached; // the policy has its snapshot: both versions untagged and old
      const childSize = (await store.findManifest(repository.id, child.digest))!.size;
      const index = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_INDEX,
          manifests: [{ mediaType: OCI_MANIFEST, digest: child.digest, size: childSize, platform: { os: 'linux', architecture: 'amd64' } }],
        }),
      );
      const pushed = await h.app.server.inject({ method: 'PUT', url: `/v2/${repo}/manifests/multi`, payload: index, headers: { ...h.auth, 'content-type': OCI_INDEX } });
      assert.equal(pushed.statusCode, 201, pushed.body);
      const manifest = await store.findManifest(repository.id, old.digest);
      const retag = await h.app.server.inject({
        method: 'PUT',
        url: `/v2/${repo}/manifests/promoted`,
        payload: manifest!.payload,
        headers: { ...h.auth, 'content-type': OCI_MANIFEST },
      });
      assert.equal(retag.statusCode, 201, retag.body);
      pause.release();
      await running;
      assert.equal(await status('GET', `/v2/${repo}/manifests/${digestOf(index)}`), 200);
      assert.equal(await status('GET', `/v2/${repo}/manifests/${child.digest}`), 200, 'the child of the index pushed during the run stays');
      assert.equal(await status('GET', `/v2/${repo}/manifests/promoted`), 200, 'the tag pushed during the run stays');
      await assertPullsCompletely(h, repo, 'promoted', old);
    });

    it('keepLastVersions counts a version from its latest tag: a re-tagged old version is recent', async () => {
      await createDockerRegistry(h, 'acme', 'promo');
      const repo = 'acme/promo/app';
      const v1 = await pushImage(h, repo, 'v1', [randomBytes(100)]);
      await sleep(5);
      await pushImage(h, repo, 'v2', [randomBytes(100)]);
      await sleep(5);
      const store = h.app.services.store;
      const registry = (await store.findRegistry((await store.findSpace('acme'))!.id, 'promo'))!;
      const repository = (await store.findRepository(registry.id, 'app'))!;
      const payload = (await store.findManifest(repository.id, v1.digest))!.payload;
      const promoted = await h.app.server.inject({ method: 'PUT', url: `/v2/${repo}/manifests/stable`, payload, headers: { ...h.auth, 'content-type': OCI_MANIFEST } });
      assert.equal(promoted.statusCode, 201, promoted.body);
      assert.equal((await h.call('PATCH', '/api/v1/registries/acme/promo', { cleanupPolicy: { keepLastVersions: 1 } })).status, 200);
      const run = await h.call<{ versions: Array<{ tags: string[] }> }>('POST', '/api/v1/registries/acme/promo/cleanup');
      assert.equal(run.status, 200, run.text);
      assert.deepEqual(run.json.versions.map((v) => v.tags), [['v2']], 'the version not tagged since goes');
      await assertPullsCompletely(h, repo, 'stable', v1);
    });

    it("a pusher's HEAD restarts the grace of a link no manifest references yet", async () => {
      const repo = 'acme/races/head';
      const config = blob(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed: randomBytes(4).toString('hex') })));
      const layer = blob(randomBytes(2000));
      for (const b of [config, layer]) assert.equal((await pushBlob(h, repo, b)).status, 201);
      // Both links were last relied on long ago (by the database's clock).
      const { loc } = await where('head');
      await sql`update repository_blobs set created_at = 0, touched_at = 0 where repository_id = ${loc.repositoryId}`.execute(db.db);
      // The client checks each blob, finds it, skips the upload; a GC runs; the manifest follows.
      for (const b of [config, layer]) assert.equal(await status('HEAD', `/v2/${repo}/blobs/${b.digest}`), 200);
      await h.app.services.gc.run({ graceMs: 60_000 });
      const doc = {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer.digest, size: layer.size }],
      };
      const body = Buffer.from(JSON.stringify(doc));
      const res = await h.app.server.inject({ method: 'PUT', url: `/v2/${repo}/manifests/v1`, payload: body, headers: { ...h.auth, 'content-type': OCI_MANIFEST } });
      assert.equal(res.statusCode, 201, `the manifest finds the blobs its client was told are there: ${res.body}`);
      await assertPullsCompletely(h, repo, 'v1', { digest: digestOf(body), blobs: [config, layer] });
    });
  });
}
