/**
 * The shared behaviour suite of `GcStore`, `QuotaStore` and `CleanupStore` where they fence
 * GC claims, count quota reservations and re-check cleanup deletions: SQLite and PostgreSQL
 * run exactly these tests against a real, freshly migrated database. `open` returns the stores
 * of one "replica" and a second GC store over its own connection (another replica).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CleanupStore } from './cleanup-store.js';
import { sweeperLock, type GcStore } from './gc-store.js';
import type { QuotaStore } from './quota-store.js';
import type { MetadataStore, RepositoryRecord } from './store.js';

export interface OpenedGc {
  metadata: MetadataStore;
  gc: GcStore;
  quotas: QuotaStore;
  cleanup: CleanupStore;
  /** A GC store of another replica on the same database. */
  replica: GcStore;
  close(): Promise<void>;
}

const DIGEST = (n: number): string => `sha256:${n.toString(16).padStart(64, '0')}`;

export function gcStoreSuite(name: string, open: () => Promise<OpenedGc>, cleanup?: () => Promise<void>): void {
  describe(name, () => {
    let s: OpenedGc;
    let counter = 0;
    before(async () => {
      s = await open();
    });
    after(async () => {
      await s?.close();
      await cleanup?.();
    });

    async function repository(): Promise<{ root: string; registryId: string; repo: RepositoryRecord }> {
      const space = await s.metadata.createSpace({ path: `gcs${++counter}`, parentId: null, description: '' });
      const registry = await s.metadata.createRegistry({
        spaceId: space.id,
        identifier: 'r',
        packageType: 'docker',
        kind: 'local',
        description: '',
        labels: [],
        public: false,
        upstream: null,
      });
      return { root: space.id, registryId: registry.id, repo: await s.metadata.ensureRepository(registry.id, 'app') };
    }

    it('fences claims: only the claiming sweep deletes its rows; a writer sees who claimed', async () => {
      const { root } = await repository();
      const key = { rootSpaceId: root, digest: DIGEST(1) };
      assert.deepEqual(await s.gc.reserveBlob(key, 10, 'upload-1', 60_000), { state: 'reserved' });
      assert.deepEqual(await s.gc.claimBlobs([key], 'sweep-a'), [], 'a reserved row is not claimed');
      await s.gc.releaseBlob(key, 'upload-1');
      assert.deepEqual(await s.gc.claimBlobs([key], 'sweep-a'), [{ ...key, size: 10 }]);
      assert.deepEqual(await s.replica.reserveBlob(key, 10, 'upload-2', 60_000), { state: 'deleting', by: 'sweep-a' });
      assert.deepEqual(await s.gc.ownedClaims([key], 'sweep-b'), []);
      await s.gc.deleteClaimed([key], 'sweep-b');
      assert.deepEqual(await s.gc.ownedClaims([key], 'sweep-a'), [key], 'another token deletes nothing');
      assert.deepEqual(await s.gc.listClaims('sweep-a', root), [{ ...key, size: 10 }]);
      assert.ok((await s.gc.listClaimants(root)).includes('sweep-a'));
      await s.gc.deleteClaimed([key], 'sweep-a');
      assert.deepEqual(await s.gc.listClaimants(root), []);
      assert.deepEqual(await s.replica.reserveBlob(key, 10, 'upload-2', 60_000), { state: 'reserved' });
    });

    it("a sweep's liveness lock is held while it runs and free once it ends", async () => {
      let inside: { result: unknown } | undefined;
      await s.gc.withLock(sweeperLock('sweep-live'), async () => {
        inside = await s.replica.withLock(sweeperLock('sweep-live'), async () => 'taken');
      });
      assert.equal(inside, undefined, 'another replica cannot take a live sweep’s lock');
      assert.deepEqual(await s.replica.withLock(sweeperLock('sweep-live'), async () => 'taken'), { result: 'taken' });
    });

    it('keeps a link whose blob is reserved, and drops a dead unreserved one', async () => {
      const { root, repo } = await repository();
      await s.metadata.commitBlob(root, repo.id, DIGEST(2), 5);
      await s.metadata.commitBlob(root, repo.id, DIGEST(3), 5);
      assert.deepEqual(await s.gc.reserveBlob({ rootSpaceId: root, digest: DIGEST(2) }, 5, 'mount-1', 60_000), { state: 'reserved' });
      await new Promise((resolve) => setTimeout(resolve, 5));
      assert.equal(await s.gc.sweepDeadLinks(0, true), 1);
      assert.equal(await s.gc.sweepDeadLinks(0, false), 1);
      assert.ok(await s.metadata.findLinkedBlob(repo.id, DIGEST(2)), 'the reserved blob keeps its link');
      assert.equal(await s.metadata.findLinkedBlob(repo.id, DIGEST(3)), undefined);
      assert.equal(await s.gc.touchLinks(repo.id, [DIGEST(2), DIGEST(3)]), 1);
    });

    it("sweeps only a root space's blob rows that nothing links, keeping the same digest elsewhere", async () => {
      const { root, registryId, repo } = await repository();
      const other = await s.metadata.ensureRepository(registryId, 'other');
      const foreign = await repository();
      const [linked, halfLinked, orphan1, orphan2] = [20, 21, 22, 23].map(DIGEST) as [string, string, string, string];
      await s.metadata.commitBlob(root, repo.id, linked, 1);
      await s.metadata.commitBlob(root, repo.id, halfLinked, 2);
      await s.metadata.commitBlob(root, other.id, halfLinked, 2);
      await s.metadata.commitBlob(root, repo.id, orphan1, 3);
      await s.metadata.commitBlob(root, other.id, orphan2, 4);
      await s.metadata.commitBlob(foreign.root, foreign.repo.id, orphan1, 3);
      await s.metadata.commitBlob(foreign.root, foreign.repo.id, orphan2, 4);
      await s.metadata.unlinkBlob(repo.id, halfLinked);
      await s.metadata.unlinkBlob(repo.id, orphan1);
      await s.metadata.unlinkBlob(other.id, orphan2);
      await s.metadata.unlinkBlob(foreign.repo.id, orphan2);

      const garbage = await s.gc.listGarbageBlobs({ rootSpaceId: root, limit: 100 });
      assert.deepEqual(garbage, [
        { rootSpaceId: root, digest: orphan1, size: 3 },
        { rootSpaceId: root, digest: orphan2, size: 4 },
      ]);
      const claimed = await s.gc.claimBlobs(garbage, 'sweep-root');
      assert.deepEqual(claimed, garbage);
      await s.gc.deleteClaimed(claimed, 'sweep-root');
      assert.ok(await s.metadata.findBlob(root, linked));
      assert.ok(await s.metadata.findBlob(root, halfLinked));
      assert.equal(await s.metadata.findBlob(root, orphan1), undefined);
      assert.equal(await s.metadata.findBlob(root, orphan2), undefined);
      assert.equal((await s.metadata.findBlob(foreign.root, orphan1))?.size, 3, 'a linked blob of another root space stays');
      assert.deepEqual(
        (await s.gc.listGarbageBlobs({ rootSpaceId: foreign.root, limit: 100 })).map((b) => b.digest),
        [orphan2],
        'unlinked in another root space: its own garbage, untouched by this sweep',
      );
      assert.deepEqual(await s.gc.listGarbageBlobs({ rootSpaceId: root, limit: 100 }), []);
    });

    it('counts a reservation of a digest the registry links once that link goes', async () => {
      const { root, registryId, repo } = await repository();
      const other = await s.metadata.ensureRepository(registryId, 'other');
      await s.quotas.setQuota('registry', registryId, 500);
      await s.metadata.commitBlob(root, repo.id, DIGEST(4), 200);
      assert.deepEqual(await s.quotas.reserve(other.id, 200, 'push-1', 60_000, DIGEST(4)), { ok: true }, 'a linked digest is admitted free');
      assert.deepEqual(await s.quotas.reserve(other.id, 200, 'push-2', 60_000, DIGEST(4)), { ok: true });
      assert.equal((await s.quotas.reserve(other.id, 300, 'push-3', 60_000)).ok, true, '200 used + 300 fits');
      await s.quotas.release('push-3');
      await s.metadata.unlinkBlob(repo.id, DIGEST(4));
      const refused = await s.quotas.reserve(other.id, 301, 'push-4', 60_000);
      assert.equal(refused.ok, false, 'the unlinked digest is still promised (once) to its pushes');
      if (!refused.ok) assert.equal(refused.exceeded.usageBytes, 200);
      await s.quotas.release('push-1');
      await s.quotas.release('push-2');
      assert.deepEqual(await s.quotas.reserve(other.id, 500, 'push-5', 60_000), { ok: true });
      await s.quotas.release('push-5');
    });

    it('deletes a version only when no tag or holder came since the snapshot', async () => {
      const { repo } = await repository();
      const put = (digest: string, extra: { tag?: string; subject?: string; child?: string } = {}) =>
        s.metadata.putManifest({
          repositoryId: repo.id,
          digest,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          artifactType: null,
          subjectDigest: extra.subject ?? null,
          annotations: null,
          payload: Buffer.from(digest),
          references: extra.child ? [{ digest: extra.child, kind: 'manifest', mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 1 }] : [],
          ...(extra.tag ? { tag: extra.tag } : {}),
        });
      await put(DIGEST(10));
      await put(DIGEST(11), { tag: 'v1' });
      await put(DIGEST(12));
      await put(DIGEST(13), { child: DIGEST(12) });
      await put(DIGEST(14));
      await put(DIGEST(15), { subject: DIGEST(14) });
      assert.equal(await s.cleanup.deleteVersion(repo.id, DIGEST(10), []), 'deleted');
      assert.equal(await s.cleanup.deleteVersion(repo.id, DIGEST(10), []), 'gone');
      assert.equal(await s.cleanup.deleteVersion(repo.id, DIGEST(11), []), 'changed', 'a tag the snapshot did not see');
      assert.equal(await s.cleanup.deleteVersion(repo.id, DIGEST(12), []), 'changed', 'listed by an index');
      assert.equal(await s.cleanup.deleteVersion(repo.id, DIGEST(14), []), 'changed', 'named by a referrer');
      assert.equal(await s.cleanup.deleteVersion(repo.id, DIGEST(11), ['v1']), 'deleted');
      assert.equal(await s.metadata.findManifestByTag(repo.id, 'v1'), undefined);
      const tagged = await s.cleanup.lastTagged(repo.id);
      assert.equal(tagged.size, 0);
      await put(DIGEST(14), { tag: 'stable' });
      const stable = await s.metadata.findManifest(repo.id, DIGEST(14));
      assert.ok((await s.cleanup.lastTagged(repo.id)).has(stable!.id));
    });
  });
}
