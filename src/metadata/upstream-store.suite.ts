/**
 * The shared behaviour suite of `UpstreamStore`: SQLite and PostgreSQL run exactly these tests
 * against a real, freshly migrated database. `open` returns the upstream store and the metadata
 * store over the same database (registries and repositories are the metadata store's).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MetadataStore, RegistryRecord, SpaceRecord } from './store.js';
import type { UpstreamStore } from './upstream-store.js';

export interface OpenedUpstream {
  upstream: UpstreamStore;
  metadata: MetadataStore;
  /** A second upstream store on the same database (another replica). */
  replica: UpstreamStore;
  close(): Promise<void>;
}

export function upstreamStoreSuite(name: string, open: () => Promise<OpenedUpstream>, cleanup?: () => Promise<void>): void {
  describe(name, () => {
    let opened: OpenedUpstream;
    let store: UpstreamStore;
    let metadata: MetadataStore;
    let counter = 0;

    before(async () => {
      opened = await open();
      store = opened.upstream;
      metadata = opened.metadata;
    });

    after(async () => {
      await opened?.close();
      await cleanup?.();
    });

    const unique = (prefix: string): string => `${prefix}${++counter}`;
    const space = (): Promise<SpaceRecord> => metadata.createSpace({ path: unique('org'), parentId: null, description: '' });
    const registry = (s: SpaceRecord, kind: 'local' | 'upstream'): Promise<RegistryRecord> =>
      metadata.createRegistry({
        spaceId: s.id,
        identifier: unique('reg'),
        packageType: 'docker',
        kind,
        description: '',
        labels: [],
        public: false,
        upstream: kind === 'upstream' ? { source: 'custom', url: 'http://127.0.0.1:1' } : null,
      });

    it('remembers when a cached tag was last checked, and moves it forward', async () => {
      const proxy = await registry(await space(), 'upstream');
      const repo = await metadata.ensureRepository(proxy.id, 'library/alpine');
      assert.equal(await store.findTagCheck(repo.id, 'latest'), undefined);
      await store.markTagChecked(repo.id, 'latest', 1_000);
      assert.equal(await store.findTagCheck(repo.id, 'latest'), 1_000);
      await store.markTagChecked(repo.id, 'latest', 5_000);
      assert.equal(await store.findTagCheck(repo.id, 'latest'), 5_000);
      assert.equal(await store.findTagCheck(repo.id, 'other'), undefined);
    });

    it('forgets tag checks with their repository, and ignores checks of a missing one', async () => {
      const proxy = await registry(await space(), 'upstream');
      const repo = await metadata.ensureRepository(proxy.id, 'app');
      await store.markTagChecked(repo.id, 'v1', 1_000);
      await metadata.deleteRepository(repo.id);
      assert.equal(await store.findTagCheck(repo.id, 'v1'), undefined);
      await store.markTagChecked(repo.id, 'v1', 2_000);
      assert.equal(await store.findTagCheck(repo.id, 'v1'), undefined);
    });

    it('lists the proxy repositories a local registry served, once each, oldest first', async () => {
      const s = await space();
      const local = await registry(s, 'local');
      const first = await registry(s, 'upstream');
      const second = await registry(s, 'upstream');
      const a = await metadata.ensureRepository(first.id, 'a');
      const b = await metadata.ensureRepository(second.id, 'b');
      await store.recordServed(local.id, a.id);
      await new Promise((resolve) => setTimeout(resolve, 5));
      await store.recordServed(local.id, b.id);
      await store.recordServed(local.id, a.id);
      assert.deepEqual(await store.listServed(local.id), [
        { upstreamId: first.id, repositoryId: a.id, name: 'a' },
        { upstreamId: second.id, repositoryId: b.id, name: 'b' },
      ]);
      assert.deepEqual(await store.listServed(first.id), []);
      await metadata.deleteRepository(a.id);
      assert.deepEqual((await store.listServed(local.id)).map((r) => r.name), ['b']);
      await metadata.deleteRegistry(local.id);
      assert.deepEqual(await store.listServed(local.id), []);
      await store.recordServed(local.id, b.id);
      assert.deepEqual(await store.listServed(local.id), []);
    });

    it('creates a server secret once; racing replicas all get the first value', async () => {
      const name = unique('secret');
      const values = await Promise.all([
        store.serverSecret(name, () => 'one'),
        opened.replica.serverSecret(name, () => 'two'),
        store.serverSecret(name, () => 'three'),
      ]);
      assert.equal(new Set(values).size, 1, values.join(', '));
      assert.equal(await opened.replica.serverSecret(name, () => 'four'), values[0]);
    });
  });
}
