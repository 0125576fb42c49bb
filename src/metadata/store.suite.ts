/**
 * The shared behaviour suite of `MetadataStore`: every implementation (SQLite, PostgreSQL) runs
 * exactly these tests against a real, freshly created database. `open` must return a new store
 * instance on that same database each time it is called; the suite opens two at once first, so
 * that their migrations race on the empty database. Every test builds its own spaces, so tests
 * do not depend on each other's rows.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { isPalletError } from '../base/errors.js';
import type { ErrorCode } from '../base/errors.js';
import type { OpenMetadataStoreOptions } from './open.js';
import type {
  ManifestReference,
  MetadataStore,
  NewManifest,
  NewRegistry,
  RegistryRecord,
  RepositoryRecord,
  SpaceRecord,
} from './store.js';

export function metadataStoreSuite(
  name: string,
  open: () => Promise<MetadataStore>,
  cleanup?: () => Promise<void>,
): void {
  describe(name, () => {
    let store: MetadataStore;
    const opened: MetadataStore[] = [];
    let racing: PromiseSettledResult<MetadataStore>[] = [];
    let counter = 0;

    before(async () => {
      racing = await Promise.allSettled([open(), open()]);
      for (const r of racing) if (r.status === 'fulfilled') opened.push(r.value);
      store = opened[0] ?? (await open());
      if (opened.length === 0) opened.push(store);
    });

    after(async () => {
      for (const s of opened) await s.close();
      await cleanup?.();
    });

    // Fixtures ---------------------------------------------------------------------------------

    const unique = (prefix: string): string => `${prefix}${++counter}`;

    const rootSpace = (): Promise<SpaceRecord> =>
      store.createSpace({ path: unique('org'), parentId: null, description: '' });

    const createRegistry = (space: SpaceRecord, fields: Partial<NewRegistry> = {}): Promise<RegistryRecord> =>
      store.createRegistry({
        spaceId: space.id,
        identifier: unique('reg'),
        packageType: 'docker',
        kind: 'local',
        description: '',
        labels: [],
        public: false,
        upstream: null,
        ...fields,
      });

    /** A registry with one repository, in a fresh root space. */
    const repository = async (
      name = 'app',
    ): Promise<{ space: SpaceRecord; registry: RegistryRecord; repo: RepositoryRecord }> => {
      const space = await rootSpace();
      const registry = await createRegistry(space);
      const repo = await store.ensureRepository(registry.id, name);
      return { space, registry, repo };
    };

    const manifest = (repositoryId: string, body: string, fields: Partial<NewManifest> = {}): NewManifest => {
      const payload = Buffer.from(JSON.stringify({ schemaVersion: 2, body }));
      return {
        repositoryId,
        digest: sha256(payload),
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType: null,
        subjectDigest: null,
        annotations: null,
        payload,
        references: [],
        ...fields,
      };
    };

    // Migrations -------------------------------------------------------------------------------

    describe('migrations', () => {
      it('lets two store instances open and migrate a fresh database at the same time', () => {
        for (const r of racing) {
          assert.equal(r.status, 'fulfilled', r.status === 'rejected' ? String(r.reason) : '');
        }
        assert.equal(opened.length, 2);
      });

      it('treats a second migrate() as a no-op that keeps the data', async () => {
        const space = await rootSpace();
        await store.migrate();
        await store.migrate();
        assert.deepEqual(await store.findSpaceById(space.id), space);
      });

      it('migrates concurrently from two instances on the same database', async () => {
        const other = opened[1] ?? store;
        await Promise.all([store.migrate(), other.migrate(), store.migrate()]);
        const space = await rootSpace();
        assert.deepEqual(await other.findSpace(space.path), space);
      });

      it('answers ping', async () => {
        await store.ping();
      });
    });

    // Spaces -----------------------------------------------------------------------------------

    describe('spaces', () => {
      it('creates a root space that is its own root', async () => {
        const space = await store.createSpace({ path: unique('acme'), parentId: null, description: 'Acme' });
        assert.equal(space.rootId, space.id);
        assert.equal(space.parentId, null);
        assert.equal(space.description, 'Acme');
        assert.equal(typeof space.createdAt, 'number');
        assert.deepEqual(await store.findSpace(space.path), space);
        assert.deepEqual(await store.findSpaceById(space.id), space);
      });

      it('gives nested spaces the id of the root space', async () => {
        const root = await rootSpace();
        const child = await store.createSpace({ path: `${root.path}/payments`, parentId: root.id, description: '' });
        const grandchild = await store.createSpace({
          path: `${child.path}/eu`,
          parentId: child.id,
          description: '',
        });
        assert.equal(child.parentId, root.id);
        assert.equal(child.rootId, root.id);
        assert.equal(grandchild.parentId, child.id);
        assert.equal(grandchild.rootId, root.id);
      });

      it('rejects a duplicate path with ALREADY_EXISTS', async () => {
        const space = await rootSpace();
        await rejectsWith(store.createSpace({ path: space.path, parentId: null, description: '' }), 'ALREADY_EXISTS');
      });

      it('rejects a missing parent with NOT_FOUND', async () => {
        await rejectsWith(
          store.createSpace({ path: unique('orphan'), parentId: 'no-such-space', description: '' }),
          'NOT_FOUND',
        );
      });

      it('finds nothing for unknown paths and ids', async () => {
        assert.equal(await store.findSpace('no-such-space'), undefined);
        assert.equal(await store.findSpaceById('no-such-id'), undefined);
      });

      it('lists spaces sorted by path', async () => {
        const prefix = unique('list');
        for (const p of ['b', 'a', 'a/x', 'B']) {
          const parent = p === 'a/x' ? await store.findSpace(`${prefix}a`) : undefined;
          await store.createSpace({ path: `${prefix}${p}`, parentId: parent?.id ?? null, description: '' });
        }
        const paths = (await store.listSpaces()).map((s) => s.path).filter((p) => p.startsWith(prefix));
        assert.deepEqual(paths, ['B', 'a', 'a/x', 'b'].map((p) => `${prefix}${p}`));
      });

      it('updates the description and the update time', async () => {
        const space = await rootSpace();
        await sleep(5);
        const updated = await store.updateSpace(space.id, { description: 'new' });
        assert.equal(updated.description, 'new');
        assert.ok(updated.updatedAt > space.updatedAt);
        assert.equal(updated.createdAt, space.createdAt);
        assert.deepEqual(await store.findSpaceById(space.id), updated);
      });

      it('rejects updating a missing space with NOT_FOUND', async () => {
        await rejectsWith(store.updateSpace('no-such-id', { description: 'x' }), 'NOT_FOUND');
      });

      it('counts child spaces and registries directly in a space', async () => {
        const root = await rootSpace();
        assert.deepEqual(await store.spaceUsage(root.id), { children: 0, registries: 0 });
        const child = await store.createSpace({ path: `${root.path}/a`, parentId: root.id, description: '' });
        await store.createSpace({ path: `${root.path}/b`, parentId: root.id, description: '' });
        await store.createSpace({ path: `${child.path}/c`, parentId: child.id, description: '' });
        await createRegistry(root);
        await createRegistry(child);
        await createRegistry(child);
        assert.deepEqual(await store.spaceUsage(root.id), { children: 2, registries: 1 });
        const usage = await store.spaceUsage(child.id);
        assert.deepEqual(usage, { children: 1, registries: 2 });
        assert.equal(typeof usage.children, 'number');
        await rejectsWith(store.spaceUsage('no-such-id'), 'NOT_FOUND');
      });

      it('deletes an empty space', async () => {
        const space = await rootSpace();
        await store.deleteSpace(space.id);
        assert.equal(await store.findSpaceById(space.id), undefined);
        await rejectsWith(store.deleteSpace(space.id), 'NOT_FOUND');
      });

      it('refuses to delete a space that still holds spaces or registries, with CONFLICT', async () => {
        const root = await rootSpace();
        const child = await store.createSpace({ path: `${root.path}/a`, parentId: root.id, description: '' });
        await rejectsWith(store.deleteSpace(root.id), 'CONFLICT');
        const registry = await createRegistry(child);
        await rejectsWith(store.deleteSpace(child.id), 'CONFLICT');
        await store.deleteRegistry(registry.id);
        await store.deleteSpace(child.id);
        await store.deleteSpace(root.id);
        assert.equal(await store.findSpaceById(root.id), undefined);
      });
    });

    // Registries -------------------------------------------------------------------------------

    describe('registries', () => {
      it('creates a registry in the root space of its space', async () => {
        const root = await rootSpace();
        const child = await store.createSpace({ path: `${root.path}/team`, parentId: root.id, description: '' });
        const registry = await createRegistry(child, { identifier: 'images', description: 'Images', public: true });
        assert.equal(registry.spaceId, child.id);
        assert.equal(registry.rootSpaceId, root.id);
        assert.equal(registry.identifier, 'images');
        assert.equal(registry.public, true);
        assert.equal(registry.kind, 'local');
        assert.equal(registry.packageType, 'docker');
        assert.deepEqual(await store.findRegistry(root.id, 'images'), registry);
        assert.deepEqual(await store.findRegistryById(registry.id), registry);
        assert.equal(await store.findRegistry(child.id, 'images'), undefined);
        assert.equal(await store.findRegistryById('no-such-id'), undefined);
      });

      it('round-trips labels and the upstream config', async () => {
        const space = await rootSpace();
        const upstream = {
          source: 'custom',
          url: 'https://registry.example.com',
          auth: { type: 'password', username: 'u', secret: 'enc:abc' },
          ttlSeconds: 300,
          nested: [1, { deep: true }],
        };
        const registry = await createRegistry(space, {
          kind: 'upstream',
          labels: ['prod', 'Team A', 'ünïcode'],
          upstream,
        });
        const found = await store.findRegistryById(registry.id);
        assert.deepEqual(found?.labels, ['prod', 'Team A', 'ünïcode']);
        assert.deepEqual(found?.upstream, upstream);
        assert.equal(found?.kind, 'upstream');
      });

      it('round-trips format settings: {} when none, replaced whole by an update', async () => {
        const space = await rootSpace();
        const plain = await createRegistry(space);
        assert.deepEqual(plain.settings, {});
        assert.deepEqual((await store.findRegistryById(plain.id))?.settings, {});
        const set = await createRegistry(space, { settings: { allowOverwrite: true, policy: 'release', depth: 3 } });
        assert.deepEqual((await store.findRegistryById(set.id))?.settings, { allowOverwrite: true, policy: 'release', depth: 3 });
        const updated = await store.updateRegistry(set.id, { settings: { policy: 'snapshot' } });
        assert.deepEqual(updated.settings, { policy: 'snapshot' });
        const other = await store.updateRegistry(set.id, { description: 'kept settings' });
        assert.deepEqual(other.settings, { policy: 'snapshot' });
        assert.deepEqual((await store.listRegistries({ spaceIds: [space.id] })).find((r) => r.id === set.id)?.settings, { policy: 'snapshot' });
      });

      it('rejects a duplicate identifier in the same root space, even from another sub-space', async () => {
        const root = await rootSpace();
        const child = await store.createSpace({ path: `${root.path}/team`, parentId: root.id, description: '' });
        await createRegistry(root, { identifier: 'dup' });
        await rejectsWith(createRegistry(root, { identifier: 'dup' }), 'ALREADY_EXISTS');
        await rejectsWith(createRegistry(child, { identifier: 'dup' }), 'ALREADY_EXISTS');
      });

      it('allows the same identifier in another root space', async () => {
        const a = await rootSpace();
        const b = await rootSpace();
        const ra = await createRegistry(a, { identifier: 'shared' });
        const rb = await createRegistry(b, { identifier: 'shared' });
        assert.notEqual(ra.id, rb.id);
      });

      it('lets exactly one of two concurrent creations of the same identifier win', async () => {
        const space = await rootSpace();
        const results = await Promise.allSettled([
          createRegistry(space, { identifier: 'race' }),
          createRegistry(space, { identifier: 'race' }),
        ]);
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
        const failed = results.find((r) => r.status === 'rejected');
        assert.ok(failed?.status === 'rejected' && isPalletError(failed.reason, 'ALREADY_EXISTS'));
      });

      it('rejects a registry in a missing space with NOT_FOUND', async () => {
        await rejectsWith(
          store.createRegistry({
            spaceId: 'no-such-space',
            identifier: 'x',
            packageType: 'docker',
            kind: 'local',
            description: '',
            labels: [],
            public: false,
            upstream: null,
          }),
          'NOT_FOUND',
        );
      });

      it('filters by space, package type, kind and text, sorted by identifier', async () => {
        const a = await rootSpace();
        const b = await rootSpace();
        const docker = await createRegistry(a, { identifier: 'zeta-images', description: 'Container IMAGES' });
        const helm = await createRegistry(a, { identifier: 'charts', packageType: 'helm', labels: ['Platform'] });
        const proxy = await createRegistry(a, {
          identifier: 'dockerhub',
          kind: 'upstream',
          upstream: { source: 'dockerhub' },
          description: '100%_sure',
        });
        const other = await createRegistry(b, { identifier: 'alpha', labels: ['platform-team'] });
        const ids = (list: RegistryRecord[]): string[] => list.map((r) => r.identifier);

        assert.deepEqual(ids(await store.listRegistries({ spaceIds: [a.id] })), ['charts', 'dockerhub', 'zeta-images']);
        assert.deepEqual(ids(await store.listRegistries({ spaceIds: [a.id, b.id] })), [
          'alpha',
          'charts',
          'dockerhub',
          'zeta-images',
        ]);
        assert.deepEqual(await store.listRegistries({ spaceIds: [] }), []);
        assert.deepEqual(ids(await store.listRegistries({ spaceIds: [a.id], packageType: 'helm' })), ['charts']);
        assert.deepEqual(ids(await store.listRegistries({ spaceIds: [a.id], kind: 'upstream' })), ['dockerhub']);
        // Text matches identifier, description or a label, ignoring case.
        assert.deepEqual(ids(await store.listRegistries({ spaceIds: [a.id, b.id], q: 'PLATFORM' })), ['alpha', 'charts']);
        assert.deepEqual(ids(await store.listRegistries({ spaceIds: [a.id], q: 'images' })), ['zeta-images']);
        assert.deepEqual(ids(await store.listRegistries({ spaceIds: [a.id], q: 'container' })), ['zeta-images']);
        // LIKE wildcards in the text are literal.
        assert.deepEqual(ids(await store.listRegistries({ spaceIds: [a.id], q: '%_' })), ['dockerhub']);
        assert.deepEqual(ids(await store.listRegistries({ spaceIds: [a.id], q: '_' })), ['dockerhub']);
        assert.deepEqual(await store.listRegistries({ spaceIds: [a.id], q: 'nothing-matches' }), []);
        // Without a space filter every space is searched.
        const all = await store.listRegistries();
        for (const r of [docker, helm, proxy, other]) assert.ok(all.some((x) => x.id === r.id));
        const sorted = [...all].sort((x, y) => Buffer.compare(Buffer.from(x.identifier), Buffer.from(y.identifier)));
        assert.deepEqual(ids(all), ids(sorted));
      });

      it('updates only the fields in the patch', async () => {
        const space = await rootSpace();
        const registry = await createRegistry(space, {
          kind: 'upstream',
          description: 'old',
          labels: ['a'],
          upstream: { source: 'dockerhub' },
        });
        await sleep(5);
        const labelled = await store.updateRegistry(registry.id, { labels: ['b', 'c'] });
        assert.deepEqual(labelled.labels, ['b', 'c']);
        assert.equal(labelled.description, 'old');
        assert.equal(labelled.public, false);
        assert.deepEqual(labelled.upstream, { source: 'dockerhub' });
        assert.ok(labelled.updatedAt > registry.updatedAt);
        const rest = await store.updateRegistry(registry.id, { description: 'new', public: true, upstream: null });
        assert.equal(rest.description, 'new');
        assert.equal(rest.public, true);
        assert.equal(rest.upstream, null);
        assert.deepEqual(rest.labels, ['b', 'c']);
        assert.equal(rest.identifier, registry.identifier);
        assert.equal(rest.createdAt, registry.createdAt);
        assert.deepEqual(await store.findRegistryById(registry.id), rest);
      });

      it('rejects updating a missing registry with NOT_FOUND', async () => {
        await rejectsWith(store.updateRegistry('no-such-id', { description: 'x' }), 'NOT_FOUND');
      });

      it('keeps an ordered upstream list and replaces it whole', async () => {
        const space = await rootSpace();
        const local = await createRegistry(space);
        const [u1, u2, u3] = await Promise.all([
          createRegistry(space, { identifier: unique('up-c'), kind: 'upstream' }),
          createRegistry(space, { identifier: unique('up-a'), kind: 'upstream' }),
          createRegistry(space, { identifier: unique('up-b'), kind: 'upstream' }),
        ]);
        assert.ok(u1 && u2 && u3);
        assert.deepEqual(await store.listUpstreams(local.id), []);
        await store.setUpstreams(local.id, [u3.id, u1.id, u2.id]);
        assert.deepEqual((await store.listUpstreams(local.id)).map((r) => r.id), [u3.id, u1.id, u2.id]);
        await store.setUpstreams(local.id, [u2.id, u3.id]);
        assert.deepEqual((await store.listUpstreams(local.id)).map((r) => r.id), [u2.id, u3.id]);
        assert.deepEqual(await store.listDownstreams(u1.id), []);
        await store.setUpstreams(local.id, []);
        assert.deepEqual(await store.listUpstreams(local.id), []);
      });

      it('leaves the upstream list unchanged when the new one names a missing upstream', async () => {
        const space = await rootSpace();
        const local = await createRegistry(space);
        const up = await createRegistry(space, { kind: 'upstream' });
        await store.setUpstreams(local.id, [up.id]);
        await rejectsWith(store.setUpstreams(local.id, [up.id, 'no-such-id']), 'NOT_FOUND');
        assert.deepEqual((await store.listUpstreams(local.id)).map((r) => r.id), [up.id]);
        await rejectsWith(store.setUpstreams(local.id, [up.id, up.id]), 'INVALID_ARGUMENT');
        await rejectsWith(store.setUpstreams('no-such-id', [up.id]), 'NOT_FOUND');
      });

      it('lists the downstreams of an upstream sorted by identifier', async () => {
        const space = await rootSpace();
        const up = await createRegistry(space, { kind: 'upstream' });
        const z = await createRegistry(space, { identifier: unique('z-local') });
        const a = await createRegistry(space, { identifier: unique('a-local') });
        await store.setUpstreams(z.id, [up.id]);
        await store.setUpstreams(a.id, [up.id]);
        assert.deepEqual((await store.listDownstreams(up.id)).map((r) => r.id), [a.id, z.id]);
      });

      it('deletes a registry with everything in it and its upstream list entries both ways', async () => {
        const space = await rootSpace();
        const registry = await createRegistry(space);
        const up = await createRegistry(space, { kind: 'upstream' });
        const downstream = await createRegistry(space);
        await store.setUpstreams(registry.id, [up.id]);
        await store.setUpstreams(downstream.id, [registry.id, up.id]);
        const repo = await store.ensureRepository(registry.id, 'app');
        const digest = sha256('layer');
        await store.commitBlob(space.id, repo.id, digest, 5);
        const m = await store.putManifest(
          manifest(repo.id, 'x', { tag: 'latest', references: [blobRef(digest, 5)] }),
        );
        await store.createUpload({ id: unique('upload-'), repositoryId: repo.id, rootSpaceId: space.id });
        const u2 = await store.createUpload({ id: unique('upload-'), repositoryId: repo.id, rootSpaceId: space.id });

        const { uploadIds } = await store.deleteRegistry(registry.id);

        assert.equal(uploadIds.length, 2);
        assert.ok(uploadIds.includes(u2.id));
        for (const id of uploadIds) assert.equal(await store.findUpload(id), undefined);
        assert.equal(await store.findRegistryById(registry.id), undefined);
        assert.equal(await store.findRepository(registry.id, 'app'), undefined);
        assert.deepEqual(await store.listRepositories([registry.id]), []);
        assert.equal(await store.findManifest(repo.id, m.digest), undefined);
        assert.equal(await store.findManifestByTag(repo.id, 'latest'), undefined);
        assert.deepEqual(await store.listReferences(m.id), []);
        assert.equal(await store.findLinkedBlob(repo.id, digest), undefined);
        assert.deepEqual(await store.listDownstreams(up.id), [await store.findRegistryById(downstream.id)]);
        assert.deepEqual((await store.listUpstreams(downstream.id)).map((r) => r.id), [up.id]);
        // The blob row stays until GC sweeps it (gc-store.suite.ts).
        assert.equal((await store.findBlob(space.id, digest))?.size, 5);
        await rejectsWith(store.deleteRegistry(registry.id), 'NOT_FOUND');
      });
    });

    // Repositories -----------------------------------------------------------------------------

    describe('repositories', () => {
      it('creates a repository once and finds it afterwards', async () => {
        const space = await rootSpace();
        const registry = await createRegistry(space);
        const repo = await store.ensureRepository(registry.id, 'team/app');
        assert.equal(repo.registryId, registry.id);
        assert.equal(repo.name, 'team/app');
        assert.deepEqual(await store.ensureRepository(registry.id, 'team/app'), repo);
        assert.deepEqual(await store.findRepository(registry.id, 'team/app'), repo);
        assert.equal(await store.findRepository(registry.id, 'team/other'), undefined);
      });

      it('stays idempotent when many callers ensure the same repository at once', async () => {
        const space = await rootSpace();
        const registry = await createRegistry(space);
        const repos = await Promise.all(Array.from({ length: 12 }, () => store.ensureRepository(registry.id, 'hot')));
        assert.equal(new Set(repos.map((r) => r.id)).size, 1);
        assert.equal((await store.listRepositories([registry.id])).length, 1);
      });

      it('rejects a repository in a missing registry with NOT_FOUND', async () => {
        await rejectsWith(store.ensureRepository('no-such-id', 'app'), 'NOT_FOUND');
      });

      it('lists repositories of several registries sorted by registry id, then name', async () => {
        const space = await rootSpace();
        const r1 = await createRegistry(space);
        const r2 = await createRegistry(space);
        for (const name of ['b', 'a/z', 'A', 'a']) {
          await store.ensureRepository(r1.id, name);
          await store.ensureRepository(r2.id, name);
        }
        const list = await store.listRepositories([r2.id, r1.id]);
        const [first, second] = [r1.id, r2.id].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
        assert.deepEqual(
          list.map((r) => [r.registryId, r.name]),
          [first, second].flatMap((id) => ['A', 'a', 'a/z', 'b'].map((n) => [id, n])),
        );
        assert.deepEqual(await store.listRepositories([]), []);
      });

      it('deletes a repository with its manifests, tags, links and uploads', async () => {
        const { space, registry, repo } = await repository();
        const keep = await store.ensureRepository(registry.id, 'keep');
        const digest = sha256('shared-layer');
        await store.commitBlob(space.id, repo.id, digest, 10);
        await store.commitBlob(space.id, keep.id, digest, 10);
        const m = await store.putManifest(manifest(repo.id, 'gone', { tag: 'v1' }));
        const upload = await store.createUpload({ id: unique('upload-'), repositoryId: repo.id, rootSpaceId: space.id });

        assert.deepEqual(await store.deleteRepository(repo.id), { uploadIds: [upload.id] });

        assert.equal(await store.findRepository(registry.id, repo.name), undefined);
        assert.equal(await store.findManifest(repo.id, m.digest), undefined);
        assert.deepEqual(await store.listTags(repo.id), []);
        assert.equal(await store.findLinkedBlob(repo.id, digest), undefined);
        assert.equal(await store.findUpload(upload.id), undefined);
        assert.equal((await store.findLinkedBlob(keep.id, digest))?.size, 10);
        await rejectsWith(store.deleteRepository(repo.id), 'NOT_FOUND');
      });
    });

    // Blobs ------------------------------------------------------------------------------------

    describe('blobs', () => {
      it('records a committed blob and links it to the repository', async () => {
        const { space, repo } = await repository();
        const digest = sha256('a');
        const blob = await store.commitBlob(space.id, repo.id, digest, 1234);
        assert.equal(blob.digest, digest);
        assert.equal(blob.size, 1234);
        assert.equal(typeof blob.createdAt, 'number');
        assert.deepEqual(await store.findBlob(space.id, digest), blob);
        assert.deepEqual(await store.findLinkedBlob(repo.id, digest), blob);
        assert.equal(await store.findBlob(space.id, sha256('missing')), undefined);
      });

      it('stores a blob once per root space however many repositories commit it', async () => {
        const { space, registry, repo } = await repository();
        const other = await store.ensureRepository(registry.id, 'other');
        const digest = sha256('dedup');
        const first = await store.commitBlob(space.id, repo.id, digest, 7);
        await sleep(3);
        const second = await store.commitBlob(space.id, other.id, digest, 7);
        const again = await store.commitBlob(space.id, repo.id, digest, 7);
        assert.deepEqual(second, first);
        assert.deepEqual(again, first);
        assert.deepEqual(await store.findLinkedBlob(other.id, digest), first);
      });

      it('serves a blob only to repositories it is linked to', async () => {
        const { space, registry, repo } = await repository();
        const sibling = await store.ensureRepository(registry.id, 'sibling');
        const elsewhere = await repository();
        const digest = sha256('private');
        await store.commitBlob(space.id, repo.id, digest, 3);
        assert.equal(await store.findLinkedBlob(sibling.id, digest), undefined);
        assert.equal(await store.findLinkedBlob(elsewhere.repo.id, digest), undefined);
        assert.equal(await store.findBlob(elsewhere.space.id, digest), undefined);
      });

      it('unlinks a blob and says whether there was a link', async () => {
        const { space, repo } = await repository();
        const digest = sha256('unlink');
        await store.commitBlob(space.id, repo.id, digest, 1);
        assert.equal(await store.unlinkBlob(repo.id, digest), true);
        assert.equal(await store.findLinkedBlob(repo.id, digest), undefined);
        assert.equal(await store.unlinkBlob(repo.id, digest), false);
        assert.equal((await store.findBlob(space.id, digest))?.size, 1);
      });

      it('rejects committing to a missing repository with NOT_FOUND', async () => {
        const space = await rootSpace();
        await rejectsWith(store.commitBlob(space.id, 'no-such-repo', sha256('x'), 1), 'NOT_FOUND');
      });
    });

    // Manifests --------------------------------------------------------------------------------

    describe('manifests', () => {
      it('stores a manifest with its payload, size and annotations', async () => {
        const { repo } = await repository();
        const input = manifest(repo.id, 'one', {
          artifactType: 'application/vnd.example',
          annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
        });
        const record = await store.putManifest(input);
        assert.equal(record.repositoryId, repo.id);
        assert.equal(record.digest, input.digest);
        assert.equal(record.size, input.payload.length);
        assert.equal(record.mediaType, input.mediaType);
        assert.equal(record.artifactType, 'application/vnd.example');
        assert.equal(record.subjectDigest, null);
        assert.deepEqual(record.annotations, input.annotations);
        assert.equal(record.downloadCount, 0);
        const stored = await store.findManifest(repo.id, input.digest);
        assert.ok(stored);
        assert.ok(Buffer.isBuffer(stored.payload));
        assert.ok(stored.payload.equals(input.payload));
        const { payload, ...rest } = stored;
        assert.ok(payload);
        assert.deepEqual(rest, record);
        assert.equal(await store.findManifest(repo.id, sha256('missing')), undefined);
      });

      it('keeps references in document order', async () => {
        const { repo } = await repository();
        const refs: ManifestReference[] = [
          { digest: sha256('config'), kind: 'blob', mediaType: 'application/vnd.oci.image.config.v1+json', size: 10 },
          blobRef(sha256('z-layer'), 30),
          blobRef(sha256('a-layer'), 20),
          { digest: sha256('child'), kind: 'manifest', mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 5 },
        ];
        const m = await store.putManifest(manifest(repo.id, 'refs', { references: refs }));
        assert.deepEqual(await store.listReferences(m.id), refs);
        assert.deepEqual(await store.listReferences('no-such-id'), []);
      });

      it('re-puts the same digest idempotently, keeping the row and its download count', async () => {
        const { repo } = await repository();
        const input = manifest(repo.id, 'same', { references: [blobRef(sha256('l'), 1)] });
        const first = await store.putManifest(input);
        await store.addDownloads([[first.id, 3]]);
        const again = await store.putManifest(input);
        assert.equal(again.id, first.id);
        assert.equal(again.downloadCount, 3);
        assert.equal(again.createdAt, first.createdAt);
        assert.equal((await store.listReferences(first.id)).length, 1);
        assert.equal((await store.listVersions(repo.id)).length, 1);
      });

      it('stores one row when the same manifest is put concurrently', async () => {
        const { repo } = await repository();
        const input = manifest(repo.id, 'concurrent', { tag: 'latest', references: [blobRef(sha256('c'), 1)] });
        const records = await Promise.all([store.putManifest(input), store.putManifest(input), store.putManifest(input)]);
        assert.equal(new Set(records.map((r) => r.id)).size, 1);
        assert.equal((await store.listReferences(records[0]?.id ?? '')).length, 1);
      });

      it('points a tag at a manifest and moves it on a later put', async () => {
        const { registry, repo } = await repository();
        const v1 = await store.putManifest(manifest(repo.id, 'v1', { tag: 'latest' }));
        assert.equal((await store.findManifestByTag(repo.id, 'latest'))?.id, v1.id);
        const repoBefore = await store.findRepository(registry.id, repo.name);
        await sleep(5);
        const v2 = await store.putManifest(manifest(repo.id, 'v2', { tag: 'latest' }));
        const byTag = await store.findManifestByTag(repo.id, 'latest');
        assert.equal(byTag?.id, v2.id);
        assert.ok(byTag?.payload.equals(manifest(repo.id, 'v2').payload));
        const repoAfter = await store.findRepository(registry.id, repo.name);
        assert.ok(repoBefore && repoAfter && repoAfter.updatedAt > repoBefore.updatedAt);
        // Re-tagging an older manifest by re-putting it moves the tag back.
        await sleep(5);
        await store.putManifest(manifest(repo.id, 'v1', { tag: 'latest' }));
        assert.equal((await store.findManifestByTag(repo.id, 'latest'))?.id, v1.id);
        const versions = await store.listVersions(repo.id);
        assert.deepEqual(versions.find((v) => v.id === v1.id)?.tags, ['latest']);
        assert.deepEqual(versions.find((v) => v.id === v2.id)?.tags, []);
        assert.equal(await store.findManifestByTag(repo.id, 'missing'), undefined);
      });

      it('updates the tag time when a tag moves', async () => {
        const { registry, repo } = await repository();
        await store.putManifest(manifest(repo.id, 'a', { tag: 'stable' }));
        await sleep(5);
        await store.putManifest(manifest(repo.id, 'b', { tag: 'edge' }));
        let [artifact] = await store.listArtifacts([registry.id]);
        assert.equal(artifact?.latestTag, 'edge');
        await sleep(5);
        await store.putManifest(manifest(repo.id, 'c', { tag: 'stable' }));
        [artifact] = await store.listArtifacts([registry.id]);
        assert.equal(artifact?.latestTag, 'stable');
      });

      it('deletes a manifest with its tags and references', async () => {
        const { repo } = await repository();
        const m = await store.putManifest(manifest(repo.id, 'del', { tag: 'a', references: [blobRef(sha256('d'), 1)] }));
        await store.putManifest(manifest(repo.id, 'del', { tag: 'b' }));
        const keep = await store.putManifest(manifest(repo.id, 'keep', { tag: 'c' }));
        assert.equal(await store.deleteManifest(repo.id, m.digest), true);
        assert.equal(await store.findManifest(repo.id, m.digest), undefined);
        assert.deepEqual(await store.listTags(repo.id), ['c']);
        assert.deepEqual(await store.listReferences(m.id), []);
        assert.equal(await store.deleteManifest(repo.id, m.digest), false);
        assert.equal((await store.findManifestByTag(repo.id, 'c'))?.id, keep.id);
      });

      it('lists referrers of a subject sorted by digest, optionally by artifact type', async () => {
        const { repo } = await repository();
        const subject = await store.putManifest(manifest(repo.id, 'subject'));
        const sig = 'application/vnd.example.signature';
        const sbom = 'application/vnd.example.sbom';
        const made = [];
        for (const [body, type] of [
          ['s1', sig],
          ['s2', sbom],
          ['s3', sig],
        ] as const) {
          made.push(await store.putManifest(manifest(repo.id, body, { subjectDigest: subject.digest, artifactType: type })));
        }
        await store.putManifest(manifest(repo.id, 'unrelated', { subjectDigest: sha256('other'), artifactType: sig }));
        const all = await store.listReferrers(repo.id, subject.digest);
        assert.deepEqual(
          all.map((m) => m.digest),
          made.map((m) => m.digest).sort(),
        );
        assert.ok(all.every((m) => m.subjectDigest === subject.digest));
        const sigs = await store.listReferrers(repo.id, subject.digest, sig);
        assert.deepEqual(
          sigs.map((m) => m.digest),
          made.filter((m) => m.artifactType === sig).map((m) => m.digest).sort(),
        );
        assert.deepEqual(await store.listReferrers(repo.id, subject.digest, 'application/none'), []);
      });

      it('lists versions newest first with their sorted tags and total sizes', async () => {
        const { repo } = await repository();
        const old = await store.putManifest(
          manifest(repo.id, 'old', { tag: 'v1', references: [blobRef(sha256('c1'), 100), blobRef(sha256('l1'), 1000)] }),
        );
        await store.putManifest(manifest(repo.id, 'old', { tag: 'V1' }));
        await store.putManifest(manifest(repo.id, 'old', { tag: 'stable' }));
        await sleep(5);
        const fresh = await store.putManifest(manifest(repo.id, 'new', { tag: 'latest' }));
        const versions = await store.listVersions(repo.id);
        assert.deepEqual(
          versions.map((v) => v.id),
          [fresh.id, old.id],
        );
        assert.deepEqual(versions[1]?.tags, ['V1', 'stable', 'v1']);
        assert.equal(versions[1]?.totalSize, old.size + 1100);
        assert.equal(versions[0]?.totalSize, fresh.size);
        assert.equal(typeof versions[1]?.totalSize, 'number');
        assert.deepEqual(await store.listVersions('no-such-id'), []);
      });

      it('adds download counts in batches, summing repeats and ignoring unknown ids', async () => {
        const { repo } = await repository();
        const a = await store.putManifest(manifest(repo.id, 'dl-a'));
        const b = await store.putManifest(manifest(repo.id, 'dl-b'));
        const unknown = Array.from({ length: 700 }, (_, i) => [`unknown-${i}`, 1] as const);
        await store.addDownloads([[a.id, 2], ...unknown, [b.id, 1], [a.id, 5]]);
        await store.addDownloads([]);
        await store.addDownloads([[b.id, 10]]);
        const versions = await store.listVersions(repo.id);
        assert.equal(versions.find((v) => v.id === a.id)?.downloadCount, 7);
        assert.equal(versions.find((v) => v.id === b.id)?.downloadCount, 11);
        assert.equal((await store.findManifest(repo.id, a.digest))?.downloadCount, 7);
      });

      it('rejects a manifest in a missing repository with NOT_FOUND', async () => {
        await rejectsWith(store.putManifest(manifest('no-such-repo', 'x')), 'NOT_FOUND');
      });
    });

    // Tags -------------------------------------------------------------------------------------

    describe('tags', () => {
      const names = ['v1.2', 'latest', 'Z', 'a', 'A', '_x', 'v1.10', '1.0', 'B', 'b', 'a-b', 'a.b', 'a_b'];
      const byteOrder = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));

      it('lists tags in byte order, uppercase before lowercase', async () => {
        const { repo } = await repository();
        for (const name of names) await store.putManifest(manifest(repo.id, name, { tag: name }));
        assert.deepEqual(await store.listTags(repo.id), byteOrder);
        assert.deepEqual(byteOrder.slice(0, 5), ['1.0', 'A', 'B', 'Z', '_x']);
        assert.deepEqual(await store.listTags('no-such-repo'), []);
      });

      it('pages through tags with last and limit', async () => {
        const { repo } = await repository();
        for (const name of names) await store.putManifest(manifest(repo.id, 'same', { tag: name }));
        assert.deepEqual(await store.listTags(repo.id, { limit: 3 }), byteOrder.slice(0, 3));
        assert.deepEqual(await store.listTags(repo.id, { last: byteOrder[2], limit: 4 }), byteOrder.slice(3, 7));
        assert.deepEqual(await store.listTags(repo.id, { last: 'Z' }), byteOrder.slice(byteOrder.indexOf('Z') + 1));
        assert.deepEqual(await store.listTags(repo.id, { last: 'zzz' }), []);
        // `last` need not be an existing tag.
        assert.deepEqual(await store.listTags(repo.id, { last: 'a0', limit: 2 }), ['a_b', 'b']);
        const paged: string[] = [];
        let last: string | undefined;
        for (;;) {
          const page = await store.listTags(repo.id, { ...(last === undefined ? {} : { last }), limit: 4 });
          paged.push(...page);
          if (page.length < 4) break;
          last = page[page.length - 1];
        }
        assert.deepEqual(paged, byteOrder);
      });

      it('deletes a tag but keeps its manifest', async () => {
        const { repo } = await repository();
        const m = await store.putManifest(manifest(repo.id, 't', { tag: 'gone' }));
        assert.equal(await store.deleteTag(repo.id, 'gone'), true);
        assert.equal(await store.deleteTag(repo.id, 'gone'), false);
        assert.equal(await store.findManifestByTag(repo.id, 'gone'), undefined);
        assert.equal((await store.findManifest(repo.id, m.digest))?.id, m.id);
      });
    });

    // Upload sessions --------------------------------------------------------------------------

    describe('uploads', () => {
      it('creates a session at size 0 and finds it', async () => {
        const { space, repo } = await repository();
        const upload = await store.createUpload({ id: unique('up-'), repositoryId: repo.id, rootSpaceId: space.id });
        assert.equal(upload.size, 0);
        assert.equal(upload.repositoryId, repo.id);
        assert.equal(upload.rootSpaceId, space.id);
        assert.deepEqual(await store.findUpload(upload.id), upload);
        assert.equal(await store.findUpload('no-such-upload'), undefined);
      });

      it('rejects a duplicate id with ALREADY_EXISTS and a missing repository with NOT_FOUND', async () => {
        const { space, repo } = await repository();
        const id = unique('up-');
        await store.createUpload({ id, repositoryId: repo.id, rootSpaceId: space.id });
        await rejectsWith(store.createUpload({ id, repositoryId: repo.id, rootSpaceId: space.id }), 'ALREADY_EXISTS');
        await rejectsWith(
          store.createUpload({ id: unique('up-'), repositoryId: 'no-such-repo', rootSpaceId: space.id }),
          'NOT_FOUND',
        );
      });

      it('advances the size only from the expected size (compare-and-set)', async () => {
        const { space, repo } = await repository();
        const upload = await store.createUpload({ id: unique('up-'), repositoryId: repo.id, rootSpaceId: space.id });
        await sleep(3);
        assert.equal(await store.advanceUpload(upload.id, 0, 10), true);
        const advanced = await store.findUpload(upload.id);
        assert.equal(advanced?.size, 10);
        assert.ok(advanced && advanced.updatedAt > upload.updatedAt);
        assert.equal(await store.advanceUpload(upload.id, 0, 20), false);
        assert.equal((await store.findUpload(upload.id))?.size, 10);
        const races = await Promise.all([
          store.advanceUpload(upload.id, 10, 30),
          store.advanceUpload(upload.id, 10, 40),
        ]);
        assert.deepEqual(races.filter(Boolean).length, 1);
        assert.ok([30, 40].includes((await store.findUpload(upload.id))?.size ?? -1));
        assert.equal(await store.advanceUpload(upload.id, 0, 6_000_000_000), false);
      });

      it('holds sizes beyond 32 bits exactly', async () => {
        const { space, repo } = await repository();
        const upload = await store.createUpload({ id: unique('up-'), repositoryId: repo.id, rootSpaceId: space.id });
        assert.equal(await store.advanceUpload(upload.id, 0, 6_000_000_001), true);
        const found = await store.findUpload(upload.id);
        assert.equal(found?.size, 6_000_000_001);
        assert.equal(typeof found?.size, 'number');
      });

      it('rejects advancing a missing session with NOT_FOUND', async () => {
        await rejectsWith(store.advanceUpload('no-such-upload', 0, 1), 'NOT_FOUND');
      });

      it('deletes a session', async () => {
        const { space, repo } = await repository();
        const upload = await store.createUpload({ id: unique('up-'), repositoryId: repo.id, rootSpaceId: space.id });
        await store.deleteUpload(upload.id);
        assert.equal(await store.findUpload(upload.id), undefined);
        await rejectsWith(store.deleteUpload(upload.id), 'NOT_FOUND');
      });

      it('lists sessions not updated since a time, oldest first', async () => {
        const { space, repo } = await repository();
        const create = (): Promise<{ id: string }> =>
          store.createUpload({ id: unique('stale-'), repositoryId: repo.id, rootSpaceId: space.id });
        const older = await create();
        await sleep(3);
        const old = await create();
        await sleep(3);
        const touched = await create();
        await sleep(3);
        await store.advanceUpload(touched.id, 0, 1);
        await sleep(3);
        const cutoff = Date.now();
        await sleep(3);
        await create();
        await store.advanceUpload(old.id, 0, 1);
        const stale = (await store.listStaleUploads(cutoff)).map((u) => u.id);
        const ours = stale.filter((id) => id.startsWith('stale-') && [older.id, old.id, touched.id].includes(id));
        assert.deepEqual(ours, [older.id, touched.id]);
      });

      it('admits one lease holder at a time; an expired lease is taken over', async () => {
        const { space, repo } = await repository();
        const upload = await store.createUpload({ id: unique('up-'), repositoryId: repo.id, rootSpaceId: space.id });
        const now = Date.now();
        const holders = await Promise.all(['w1', 'w2', 'w3'].map((h) => store.acquireUploadLease(upload.id, h, now + 60_000, now)));
        assert.equal(holders.filter((u) => u !== undefined).length, 1, 'exactly one of three concurrent writers holds it');
        const winner = ['w1', 'w2', 'w3'][holders.findIndex((u) => u !== undefined)]!;
        const loser = winner === 'w1' ? 'w2' : 'w1';
        assert.equal(await store.renewUploadLease(upload.id, loser, now + 60_000), false);
        assert.equal(await store.renewUploadLease(upload.id, winner, now + 60_000), true);
        // A loser cannot advance; the holder records its segments and releases in one update.
        assert.equal(await store.advanceUpload(upload.id, 0, 5, { holder: loser, segments: [{ start: 0, writer: 'p1' }] }), false);
        assert.equal(await store.advanceUpload(upload.id, 0, 5, { holder: winner, segments: [{ start: 0, writer: 'p1' }] }), true);
        assert.deepEqual((await store.findUpload(upload.id))?.segments, [{ start: 0, writer: 'p1' }]);
        const next = await store.acquireUploadLease(upload.id, loser, now + 10, now);
        assert.equal(next?.size, 5, 'released by the advance');
        assert.equal(await store.acquireUploadLease(upload.id, 'w9', now + 60_000, now), undefined);
        assert.ok(await store.acquireUploadLease(upload.id, 'w9', now + 60_000, now + 11), 'taken over once expired');
        await store.releaseUploadLease(upload.id, 'w9');
        assert.ok(await store.acquireUploadLease(upload.id, 'w10', now + 60_000, now));
        await rejectsWith(store.acquireUploadLease('no-such-upload', 'w', now + 1, now), 'NOT_FOUND');
      });

      it('keeps the lease across an advance with keep', async () => {
        const { space, repo } = await repository();
        const upload = await store.createUpload({ id: unique('up-'), repositoryId: repo.id, rootSpaceId: space.id });
        const now = Date.now();
        assert.ok(await store.acquireUploadLease(upload.id, 'committer', now + 60_000, now));
        assert.equal(await store.advanceUpload(upload.id, 0, 3, { holder: 'committer', segments: [], keep: true }), true);
        assert.equal(await store.acquireUploadLease(upload.id, 'other', now + 60_000, now), undefined);
      });

      it('bounds open sessions per owner atomically', async () => {
        const { space, repo } = await repository();
        const owner = unique('owner-');
        const results = await Promise.allSettled(
          Array.from({ length: 8 }, () =>
            store.createUpload({ id: unique('up-'), repositoryId: repo.id, rootSpaceId: space.id, owner, maxOpenPerOwner: 3 }),
          ),
        );
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 3);
        const refused = results.find((r) => r.status === 'rejected');
        assert.ok(refused && isPalletError(refused.reason, 'TOOMANYREQUESTS'));
        const other = await store.createUpload({ id: unique('up-'), repositoryId: repo.id, rootSpaceId: space.id, owner: `${owner}-b`, maxOpenPerOwner: 3 });
        assert.equal(other.owner, `${owner}-b`);
      });
    });

    describe('verified blobs', () => {
      it('marks a blob verified only when committed as verified, and takes the verified size', async () => {
        const { space, repo } = await repository();
        const digest = `sha256:${'ab'.repeat(32)}`;
        const legacy = await store.commitBlob(space.id, repo.id, digest, 10);
        assert.equal(legacy.verified, false);
        assert.equal((await store.commitBlob(space.id, repo.id, digest, 99)).size, 10, 'an unverified commit keeps the row');
        const verified = await store.commitBlob(space.id, repo.id, digest, 12, { verified: true });
        assert.deepEqual([verified.verified, verified.size], [true, 12]);
        assert.equal((await store.commitBlob(space.id, repo.id, digest, 12)).verified, true, 'never unverified by a plain link');
        assert.equal((await store.findLinkedBlob(repo.id, digest))?.verified, true);
      });
    });

    // Stats ------------------------------------------------------------------------------------

    describe('stats', () => {
      /**
       * Registry with two repositories: blob A (5 GB, beyond 32 bits) linked to both, blob B
       * linked to the first only, one manifest in each.
       */
      const populated = async (): Promise<{
        space: SpaceRecord;
        registry: RegistryRecord;
        app: RepositoryRecord;
        web: RepositoryRecord;
        appManifestSize: number;
        webManifestSize: number;
        bigSize: number;
      }> => {
        const space = await rootSpace();
        const registry = await createRegistry(space);
        const app = await store.ensureRepository(registry.id, 'app');
        const web = await store.ensureRepository(registry.id, 'web');
        const bigSize = 5_000_000_000;
        await store.commitBlob(space.id, app.id, sha256('A'), bigSize);
        await store.commitBlob(space.id, web.id, sha256('A'), bigSize);
        await store.commitBlob(space.id, app.id, sha256('B'), 50);
        const appManifest = await store.putManifest(
          manifest(app.id, 'app', { tag: 'v1', references: [blobRef(sha256('A'), bigSize), blobRef(sha256('B'), 50)] }),
        );
        await sleep(5);
        await store.putManifest(manifest(app.id, 'app', { tag: 'v2' }));
        const webManifest = await store.putManifest(
          manifest(web.id, 'web', { tag: 'latest', references: [blobRef(sha256('A'), bigSize)] }),
        );
        await store.addDownloads([
          [appManifest.id, 4],
          [webManifest.id, 6],
        ]);
        return { space, registry, app, web, appManifestSize: appManifest.size, webManifestSize: webManifest.size, bigSize };
      };

      it('sums distinct blobs and manifests per registry as exact numbers', async () => {
        const { registry, app, web, appManifestSize, webManifestSize, bigSize } = await populated();
        const stats = (await store.registryStats([registry.id])).get(registry.id);
        assert.ok(stats);
        assert.equal(stats.sizeBytes, bigSize + 50 + appManifestSize + webManifestSize);
        assert.equal(stats.artifactCount, 2);
        assert.equal(stats.downloadCount, 10);
        for (const value of Object.values(stats)) assert.equal(typeof value, 'number');
        const repos = await store.listRepositories([registry.id]);
        assert.equal(stats.lastModified, Math.max(registry.updatedAt, ...repos.map((r) => r.updatedAt)));
        assert.ok(stats.lastModified >= Math.max(app.createdAt, web.createdAt));
      });

      it('answers every registry asked for, with zeros for empty and unknown ones', async () => {
        const { registry } = await populated();
        const space = await rootSpace();
        const empty = await createRegistry(space);
        const stats = await store.registryStats([registry.id, empty.id, 'no-such-id']);
        assert.deepEqual([...stats.keys()].sort(), [registry.id, empty.id, 'no-such-id'].sort());
        assert.deepEqual(stats.get(empty.id), {
          sizeBytes: 0,
          artifactCount: 0,
          downloadCount: 0,
          lastModified: empty.updatedAt,
        });
        assert.deepEqual(stats.get('no-such-id'), { sizeBytes: 0, artifactCount: 0, downloadCount: 0, lastModified: 0 });
        assert.ok((stats.get(registry.id)?.artifactCount ?? 0) > 0);
        assert.equal((await store.registryStats([])).size, 0);
      });

      it('moves lastModified forward when a tag moves', async () => {
        const { registry, app } = await populated();
        const before = (await store.registryStats([registry.id])).get(registry.id)?.lastModified ?? 0;
        await sleep(5);
        await store.putManifest(manifest(app.id, 'moved', { tag: 'v1' }));
        const after = (await store.registryStats([registry.id])).get(registry.id)?.lastModified ?? 0;
        assert.ok(after > before);
      });

      it('lists artifacts per repository with exact numbers, sorted by name', async () => {
        const { registry, app, web, appManifestSize, webManifestSize, bigSize } = await populated();
        const other = await populated();
        const artifacts = await store.listArtifacts([other.registry.id, registry.id]);
        assert.deepEqual(
          artifacts.map((a) => [a.name, a.registryId]),
          [
            ['app', ...[registry.id, other.registry.id].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))],
          ]
            .flatMap(([name, first, second]) => [
              [name, first],
              [name, second],
            ])
            .concat(
              [registry.id, other.registry.id]
                .sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
                .map((id) => ['web', id]),
            ),
        );
        const mine = artifacts.filter((a) => a.registryId === registry.id);
        assert.deepEqual(mine[0], {
          registryId: registry.id,
          repositoryId: app.id,
          name: 'app',
          versionCount: 1,
          latestTag: 'v2',
          sizeBytes: bigSize + 50 + appManifestSize,
          downloadCount: 4,
          updatedAt: (await store.findRepository(registry.id, 'app'))?.updatedAt ?? -1,
        });
        assert.deepEqual(mine[1], {
          registryId: registry.id,
          repositoryId: web.id,
          name: 'web',
          versionCount: 1,
          latestTag: 'latest',
          sizeBytes: bigSize + webManifestSize,
          downloadCount: 6,
          updatedAt: (await store.findRepository(registry.id, 'web'))?.updatedAt ?? -1,
        });
        for (const a of artifacts) {
          for (const key of ['versionCount', 'sizeBytes', 'downloadCount', 'updatedAt'] as const) {
            assert.equal(typeof a[key], 'number');
          }
        }
        assert.deepEqual(await store.listArtifacts([]), []);
      });

      it('lists a repository without manifests as an artifact with zero versions', async () => {
        const { registry } = await repository('empty');
        assert.deepEqual(
          (await store.listArtifacts([registry.id])).map((a) => [a.name, a.versionCount, a.sizeBytes, a.latestTag]),
          [['empty', 0, 0, null]],
        );
      });
    });
  });
}

/**
 * Opens (and so migrates) one database from several Node processes that all start at the same
 * instant, which in-process tests cannot do for SQLite: better-sqlite3 runs a whole migration
 * without yielding, so two instances in one process never overlap. Resolves when every process
 * succeeded; rejects with the failures otherwise.
 */
export async function openFromProcessesAtOnce(
  options: Omit<OpenMetadataStoreOptions, 'log'>,
  processes = 4,
): Promise<void> {
  const openModule = new URL('./open.ts', import.meta.url).href;
  const root = fileURLToPath(new URL('../..', import.meta.url));
  // Far enough ahead that every child has loaded before it; a late child still passes.
  const startAt = Date.now() + 3_000;
  const child = `
    const { openMetadataStore } = await import(${JSON.stringify(openModule)});
    await new Promise((resolve) => setTimeout(resolve, ${startAt} - Date.now()));
    const store = await openMetadataStore(JSON.parse(process.argv[1]));
    await store.close();`;
  const run = promisify(execFile);
  const results = await Promise.allSettled(
    Array.from({ length: processes }, () =>
      run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', child, JSON.stringify(options)], {
        cwd: root,
        timeout: 60_000,
      }),
    ),
  );
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []));
  assert.deepEqual(failures, [], 'every process opens and migrates the database');
}

function sha256(data: string | Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

function blobRef(digest: string, size: number): ManifestReference {
  return { digest, kind: 'blob', mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', size };
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(isPalletError(err, code), `expected PalletError ${code}, got ${String(err)}`);
    return true;
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
