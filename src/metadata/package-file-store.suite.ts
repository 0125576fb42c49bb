/**
 * The shared behaviour suite of `PackageFileStore`, and of what GC's store does with package
 * files: SQLite and PostgreSQL run exactly these tests against a real, freshly migrated
 * database. `open` returns the package-file store with the metadata, GC and scrub stores of the
 * same database, and a package-file and a GC store over a second connection (another replica).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isPalletError, type ErrorCode } from '../base/errors.js';
import type { GcStore } from './gc-store.js';
import type { PackageFile, PackageFileStore, PackageVersionFiles } from './package-file-store.js';
import type { ScrubStore } from './scrub-store.js';
import type { MetadataStore, RegistryRecord, RepositoryRecord } from './store.js';

export interface OpenedPackageFiles {
  files: PackageFileStore;
  metadata: MetadataStore;
  gc: GcStore;
  /** Claims a linked blob the way `pallet scrub` does (the only claim a link does not stop). */
  scrub: ScrubStore;
  /**
   * Another replica. On SQLite, the same connection: a second connection in one process would
   * block the event loop in its synchronous busy wait while the first holds a transaction open.
   */
  replica: { files: PackageFileStore; gc: GcStore };
  close(): Promise<void>;
}

const DIGEST = (n: number): string => `sha256:${n.toString(16).padStart(64, '0')}`;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(promise, (err: unknown) => isPalletError(err, code) || assert.fail(`expected ${code}, got ${String(err)}`));
}

export function packageFileStoreSuite(name: string, open: () => Promise<OpenedPackageFiles>, cleanup?: () => Promise<void>): void {
  describe(name, () => {
    let s: OpenedPackageFiles;
    let counter = 0;
    let digests = 0;
    before(async () => {
      s = await open();
    });
    after(async () => {
      await s?.close();
      await cleanup?.();
    });

    interface Place {
      root: string;
      registry: RegistryRecord;
      repo: RepositoryRecord;
    }
    async function place(): Promise<Place> {
      const space = await s.metadata.createSpace({ path: `pf${++counter}`, parentId: null, description: '' });
      const registry = await s.metadata.createRegistry({
        spaceId: space.id,
        identifier: 'files',
        packageType: 'helm',
        kind: 'local',
        description: '',
        labels: [],
        public: false,
        upstream: null,
      });
      return { root: space.id, registry, repo: await s.metadata.ensureRepository(registry.id, 'hello') };
    }
    /** A new blob of `size` bytes committed and linked to the place's repository. */
    async function stored(p: Place, size = 10): Promise<PackageFile & { n: number }> {
      const n = ++digests;
      await s.metadata.commitBlob(p.root, p.repo.id, DIGEST(n), size);
      return { n, path: `file-${n}.tgz`, digest: DIGEST(n), size };
    }
    const version = (p: Place, v: string, files: PackageFile[], manifestId: string | null = null): PackageVersionFiles => ({
      registryId: p.registry.id,
      artifact: p.repo.name,
      version: v,
      repositoryId: p.repo.id,
      manifestId,
      files: files.map(({ path, digest, size }) => ({ path, digest, size })),
    });
    const key = (p: Place, v: string) => ({ registryId: p.registry.id, artifact: p.repo.name, version: v });
    const paths = async (p: Place, v: string) => (await s.files.listVersionFiles(key(p, v))).map((f) => f.path);

    it("records a version's files, replaces the whole set, and deletes them", async () => {
      const p = await place();
      const [a, b, c] = [await stored(p, 3), await stored(p, 4), await stored(p, 5)];
      const rows = await s.files.putVersionFiles(version(p, '1.0.0', [{ ...a, path: 'b.tgz' }, { ...b, path: 'a.prov' }]));
      assert.deepEqual(rows.map((r) => [r.path, r.digest, r.size, r.rootSpaceId, r.manifestId]), [
        ['b.tgz', a.digest, 3, p.root, null],
        ['a.prov', b.digest, 4, p.root, null],
      ]);
      assert.deepEqual(await paths(p, '1.0.0'), ['a.prov', 'b.tgz'], 'listed by path');
      assert.deepEqual(await paths(p, '2.0.0'), []);
      await s.files.putVersionFiles(version(p, '1.0.0', [{ ...c, path: 'c.tgz' }]));
      assert.deepEqual(await paths(p, '1.0.0'), ['c.tgz'], 'a put replaces the set');
      assert.equal(await s.files.deleteVersionFiles(key(p, '1.0.0')), 1);
      assert.equal(await s.files.deleteVersionFiles(key(p, '1.0.0')), 0);
      assert.deepEqual(await paths(p, '1.0.0'), []);
    });

    it('refuses a file the repository does not link, a wrong size, a repeated path or a foreign repository, and changes nothing', async () => {
      const p = await place();
      const other = await place();
      const a = await stored(p);
      await s.files.putVersionFiles(version(p, '1', [a]));
      const unlinked = await stored(other);
      await rejectsWith(s.files.putVersionFiles(version(p, '1', [unlinked])), 'BLOB_UNKNOWN');
      await rejectsWith(s.files.putVersionFiles(version(p, '1', [{ ...a, size: 11 }])), 'INVALID_ARGUMENT');
      await rejectsWith(s.files.putVersionFiles(version(p, '1', [a, { ...a }])), 'INVALID_ARGUMENT');
      await s.metadata.commitBlob(other.root, other.repo.id, a.digest, a.size);
      await rejectsWith(s.files.putVersionFiles({ ...version(p, '1', [a]), repositoryId: other.repo.id }), 'NOT_FOUND');
      await rejectsWith(s.files.putVersionFiles(version(p, '1', [a], 'no-such-manifest')), 'NOT_FOUND');
      assert.deepEqual(await paths(p, '1'), [a.path], 'the recorded set is unchanged');
    });

    it('refuses a blob a sweep has claimed, and changes nothing', async () => {
      const p = await place();
      const a = await stored(p);
      assert.equal(await s.scrub.claimCorrupt({ rootSpaceId: p.root, digest: a.digest }, Date.now(), 'scrub-1'), true);
      await rejectsWith(s.files.putVersionFiles(version(p, '1', [a])), 'UNAVAILABLE');
      assert.deepEqual(await paths(p, '1'), []);
    });

    it('keeps a packaged blob and its link through GC whatever their age, and lets them go with the version', async () => {
      const p = await place();
      const a = await stored(p);
      const loose = await stored(p);
      await s.files.putVersionFiles(version(p, '1', [a]));
      await sleep(5);
      const blobKey = { rootSpaceId: p.root, digest: a.digest };
      await s.gc.sweepDeadLinks(0, false);
      assert.equal(await s.metadata.findLinkedBlob(p.repo.id, loose.digest), undefined, 'the loose link is dead');
      assert.ok(await s.metadata.findLinkedBlob(p.repo.id, a.digest), 'the packaged link stays (reads go through it)');
      await s.metadata.unlinkBlob(p.repo.id, a.digest);
      const garbage = (await s.gc.listGarbageBlobs({ rootSpaceId: p.root, limit: 10 })).map((b) => b.digest);
      assert.deepEqual(garbage, [loose.digest]);
      assert.deepEqual(await s.gc.claimBlobs([blobKey], 'sweep-pf'), [], 'a packaged blob is not claimed');

      assert.equal(await s.files.deleteVersionFiles(key(p, '1')), 1);
      assert.deepEqual(await s.gc.claimBlobs([blobKey], 'sweep-pf'), [{ ...blobKey, size: a.size }]);
      await s.gc.deleteClaimed([blobKey], 'sweep-pf');
    });

    it('holds a blob only in its own root space', async () => {
      const p = await place();
      const q = await place();
      const a = await stored(p);
      await s.metadata.commitBlob(q.root, q.repo.id, a.digest, a.size);
      await s.metadata.unlinkBlob(q.repo.id, a.digest);
      await s.files.putVersionFiles(version(p, '1', [a]));
      assert.deepEqual((await s.gc.listGarbageBlobs({ rootSpaceId: q.root, limit: 10 })).map((b) => b.digest), [a.digest]);
      assert.deepEqual(await s.gc.listGarbageBlobs({ rootSpaceId: p.root, limit: 10 }), []);
    });

    it('goes with the manifest, the repository or the registry it names', async () => {
      const p = await place();
      const a = await stored(p);
      const manifest = await s.metadata.putManifest({
        repositoryId: p.repo.id,
        digest: DIGEST(++digests),
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType: null,
        subjectDigest: null,
        annotations: null,
        payload: Buffer.from('{}'),
        references: [],
      });
      await s.files.putVersionFiles(version(p, 'with-manifest', [a], manifest.id));
      await s.files.putVersionFiles(version(p, 'without', [a]));
      await s.metadata.deleteManifest(p.repo.id, manifest.digest);
      assert.deepEqual(await paths(p, 'with-manifest'), [], 'gone with its manifest');
      assert.deepEqual(await paths(p, 'without'), [a.path]);
      await s.metadata.deleteRepository(p.repo.id);
      assert.deepEqual(await paths(p, 'without'), [], 'gone with its repository');

      const q = await place();
      const b = await stored(q);
      await s.files.putVersionFiles(version(q, '1', [b]));
      await s.metadata.deleteRegistry(q.registry.id);
      assert.deepEqual(await paths(q, '1'), [], 'gone with its registry');
      assert.deepEqual((await s.gc.listGarbageBlobs({ rootSpaceId: q.root, limit: 10 })).map((x) => x.digest), [b.digest]);
    });

    // --- Listing for the management views ---------------------------------------------------

    it('lists artifacts aggregated per registry, and versions with their file counts and sizes', async () => {
      const p = await place();
      const q = await place();
      const other = await s.metadata.ensureRepository(p.registry.id, 'alpha');
      const [a, b, c] = [await stored(p, 3), await stored(p, 4), await stored(p, 5)];
      await s.metadata.commitBlob(p.root, other.id, a.digest, a.size);
      await s.files.putVersionFiles(version(p, '1.0.0', [a, b]));
      await sleep(3);
      await s.files.putVersionFiles(version(p, '2.0.0', [c]));
      await s.files.putVersionFiles({ ...version(p, '0.1.0', [a]), artifact: 'alpha', repositoryId: other.id });
      await s.files.putVersionFiles(version(p, 'empty', []));
      const d = await stored(q, 7);
      await s.files.putVersionFiles(version(q, '9', [d]));

      const listed = await s.files.listArtifacts([p.registry.id, q.registry.id, p.registry.id]);
      assert.deepEqual(
        listed.map((x) => [x.artifact, x.registryId, x.versionCount, x.sizeBytes]),
        [
          ['alpha', p.registry.id, 1, 3],
          ...[
            ['hello', p.registry.id, 2, 12],
            ['hello', q.registry.id, 1, 7],
          ].sort((x, y) => Buffer.compare(Buffer.from(String(x[1])), Buffer.from(String(y[1])))),
        ],
      );
      const hello = listed.find((x) => x.artifact === 'hello' && x.registryId === p.registry.id)!;
      assert.equal(hello.newestVersion, '2.0.0');
      const versions = await s.files.listVersions(p.registry.id, 'hello');
      assert.deepEqual(
        versions.map((v) => [v.version, v.fileCount, v.sizeBytes]),
        [
          ['2.0.0', 1, 5],
          ['1.0.0', 2, 7],
        ],
        'newest first; a version without files is not listed',
      );
      assert.equal(hello.updatedAt, versions[0]!.createdAt, 'an artifact was updated when its newest version was recorded');
      assert.ok(versions[0]!.createdAt > versions[1]!.createdAt);
      assert.deepEqual(await s.files.listArtifacts([]), []);
      assert.deepEqual(
        (await s.files.listArtifacts([p.registry.id, q.registry.id], 'hello')).map((x) => [x.artifact, x.registryId, x.versionCount, x.newestVersion]),
        listed.filter((x) => x.artifact === 'hello').map((x) => [x.artifact, x.registryId, x.versionCount, x.newestVersion]),
        'one artifact: the same rows as in the whole listing',
      );
      assert.deepEqual(await s.files.listArtifacts([p.registry.id], 'nothing'), []);
      const counted = await s.files.countArtifacts([p.registry.id, q.registry.id, p.registry.id, 'no-such-registry']);
      assert.deepEqual(
        [counted.get(p.registry.id), counted.get(q.registry.id), counted.size],
        [2, 1, 2],
        'distinct artifacts (not versions or files), as numbers; a registry without files is absent',
      );
      assert.deepEqual(await s.files.countArtifacts([]), new Map());
      assert.deepEqual(await s.files.listVersions(p.registry.id, 'nothing'), []);
      const files = await s.files.listFilesOf(p.registry.id, 'hello', ['2.0.0', '1.0.0', 'nothing', '2.0.0']);
      assert.deepEqual(files.map((f) => [f.version, f.path]), [
        ['1.0.0', a.path],
        ['1.0.0', b.path],
        ['2.0.0', c.path],
      ]);
      assert.deepEqual(await s.files.listFilesOf(p.registry.id, 'hello', []), []);

      await s.files.deleteVersionFiles(key(p, '2.0.0'));
      assert.deepEqual((await s.files.listVersions(p.registry.id, 'hello')).map((v) => v.version), ['1.0.0']);
      assert.deepEqual((await s.files.listArtifacts([p.registry.id])).map((x) => [x.artifact, x.versionCount, x.sizeBytes, x.newestVersion]), [
        ['alpha', 1, 3, '0.1.0'],
        ['hello', 1, 7, '1.0.0'],
      ]);
    });

    it('racing a sweep on another replica, either records the file and keeps the blob, or fails and records nothing', async () => {
      const p = await place();
      const files = await Promise.all(Array.from({ length: 20 }, () => stored(p)));
      // Links older than the sweep's grace: only a put's touch can save them. (With a grace
      // shorter than a put's transaction nothing would: the touch restarts the grace, no more.)
      await sleep(1_100);
      const puts = Promise.allSettled(files.map((f, i) => s.files.putVersionFiles(version(p, `v${i}`, [f]))));
      const sweep = (async () => {
        await s.replica.gc.sweepDeadLinks(1_000, false);
        const page = await s.replica.gc.listGarbageBlobs({ rootSpaceId: p.root, limit: 100 });
        return s.replica.gc.claimBlobs(page, 'sweep-race');
      })();
      const [settled, claimed] = await Promise.all([puts, sweep]);
      const claimedSet = new Set(claimed.map((c) => c.digest));
      for (const [i, result] of settled.entries()) {
        const f = files[i]!;
        const recorded = (await paths(p, `v${i}`)).length === 1;
        if (result.status === 'fulfilled') {
          assert.ok(recorded && !claimedSet.has(f.digest), `${f.digest}: recorded and kept`);
          assert.ok(await s.metadata.findLinkedBlob(p.repo.id, f.digest), `${f.digest}: its link stays`);
        } else {
          assert.ok(!recorded, `${f.digest}: a failed put records nothing`);
          assert.ok(isPalletError(result.reason, 'BLOB_UNKNOWN') || isPalletError(result.reason, 'UNAVAILABLE'), String(result.reason));
        }
      }
      await s.replica.gc.deleteClaimed(claimed, 'sweep-race');
    });

    // --- One file at a time (addVersionFile, findVersionFile, deleteVersionFile) ---

    const one = (p: Place, v: string, f: PackageFile) => ({ ...key(p, v), repositoryId: p.repo.id, file: { path: f.path, digest: f.digest, size: f.size } });

    it('adds files one at a time: a retry is the same file, another digest conflicts unless replaced, and one file goes alone', async () => {
      const p = await place();
      const [a, b, c] = [await stored(p, 3), await stored(p, 4), await stored(p, 5)];
      const added = await s.files.addVersionFile(one(p, '1', { ...a, path: 'dir/a.bin' }), { replace: false });
      assert.equal(added.outcome, 'inserted');
      assert.deepEqual([added.record.path, added.record.digest, added.record.size, added.record.rootSpaceId], ['dir/a.bin', a.digest, 3, p.root]);
      assert.equal((await s.files.addVersionFile(one(p, '1', { ...b, path: 'b.bin' }), { replace: false })).outcome, 'inserted');
      assert.equal((await s.files.addVersionFile(one(p, '1', { ...a, path: 'dir/a.bin' }), { replace: false })).outcome, 'same');
      const conflict = await s.files.addVersionFile(one(p, '1', { ...c, path: 'dir/a.bin' }), { replace: false });
      assert.equal(conflict.outcome, 'conflict');
      assert.equal(conflict.record.digest, a.digest, 'a conflict names the file that is there');
      assert.equal((await s.files.findVersionFile(key(p, '1'), 'dir/a.bin'))?.digest, a.digest, 'a conflict changes nothing');
      assert.equal((await s.files.addVersionFile(one(p, '1', { ...c, path: 'dir/a.bin' }), { replace: true })).outcome, 'replaced');
      const replaced = await s.files.findVersionFile(key(p, '1'), 'dir/a.bin');
      assert.deepEqual([replaced?.digest, replaced?.size], [c.digest, 5]);
      assert.deepEqual(await paths(p, '1'), ['b.bin', 'dir/a.bin']);
      assert.equal(await s.files.deleteVersionFile(key(p, '1'), 'dir/a.bin'), true);
      assert.equal(await s.files.deleteVersionFile(key(p, '1'), 'dir/a.bin'), false);
      assert.equal(await s.files.findVersionFile(key(p, '1'), 'dir/a.bin'), undefined);
      assert.deepEqual(await paths(p, '1'), ['b.bin'], 'the other file stays');
    });

    it('refuses to add a file whose blob is not linked, has another size or is claimed, and changes nothing', async () => {
      const p = await place();
      const other = await place();
      const a = await stored(p);
      await rejectsWith(s.files.addVersionFile(one(p, '1', await stored(other)), { replace: false }), 'BLOB_UNKNOWN');
      await rejectsWith(s.files.addVersionFile(one(p, '1', { ...a, size: a.size + 1 }), { replace: false }), 'INVALID_ARGUMENT');
      assert.equal(await s.scrub.claimCorrupt({ rootSpaceId: p.root, digest: a.digest }, Date.now(), 'scrub-add'), true);
      await rejectsWith(s.files.addVersionFile(one(p, '1', a), { replace: false }), 'UNAVAILABLE');
      assert.deepEqual(await paths(p, '1'), []);
    });

    it('lets exactly one of concurrent adds of one path with different bytes win, across replicas', async () => {
      const p = await place();
      const files = await Promise.all(Array.from({ length: 8 }, () => stored(p)));
      const adds = await Promise.all(
        files.map((f, i) => (i % 2 === 0 ? s.files : s.replica.files).addVersionFile(one(p, '1', { ...f, path: 'same/path.bin' }), { replace: false })),
      );
      const winners = adds.filter((r) => r.outcome === 'inserted');
      assert.equal(winners.length, 1, JSON.stringify(adds.map((r) => r.outcome)));
      assert.ok(adds.every((r) => r.outcome === 'inserted' || (r.outcome === 'conflict' && r.record.digest === winners[0]!.record.digest)));
      assert.equal((await s.files.findVersionFile(key(p, '1'), 'same/path.bin'))?.digest, winners[0]!.record.digest);
    });

    it('lets concurrent puts of one version settle on one whole set, across replicas (last writer wins, no error)', async () => {
      const p = await place();
      const files = await Promise.all(Array.from({ length: 6 }, () => stored(p)));
      const puts = await Promise.allSettled(
        files.map((f, i) => (i % 2 === 0 ? s.files : s.replica.files).putVersionFiles(version(p, '1.0.0', [{ ...f, path: 'pkg.tgz' }]))),
      );
      assert.deepEqual(puts.map((r) => r.status), puts.map(() => 'fulfilled'), JSON.stringify(puts.filter((r) => r.status === 'rejected')));
      const rows = await s.files.listVersionFiles(key(p, '1.0.0'));
      assert.equal(rows.length, 1, 'one whole set, not a mix');
      assert.ok(files.some((f) => f.digest === rows[0]!.digest));
    });

    it('keeps an added file through GC, and lets it go once the file is deleted', async () => {
      const p = await place();
      const a = await stored(p);
      await s.files.addVersionFile(one(p, '1', a), { replace: false });
      await sleep(5);
      await s.gc.sweepDeadLinks(0, false);
      assert.ok(await s.metadata.findLinkedBlob(p.repo.id, a.digest), 'its link stays');
      await s.metadata.unlinkBlob(p.repo.id, a.digest);
      const blobKey = { rootSpaceId: p.root, digest: a.digest };
      assert.deepEqual(await s.gc.claimBlobs([blobKey], 'sweep-add'), [], 'an added file is not claimed');
      assert.equal(await s.files.deleteVersionFile(key(p, '1'), a.path), true);
      assert.deepEqual(await s.gc.claimBlobs([blobKey], 'sweep-add'), [{ ...blobKey, size: a.size }]);
      await s.gc.deleteClaimed([blobKey], 'sweep-add');
    });
  });
}
