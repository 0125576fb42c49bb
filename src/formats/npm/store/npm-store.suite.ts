/**
 * The shared behaviour suite of `NpmStore`: SQLite and PostgreSQL run exactly these tests
 * against a real, freshly migrated database. `open` returns the npm store and the metadata store
 * over the same database (registries and repositories are the metadata store's).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isPalletError } from '../../../base/errors.js';
import type { MetadataStore, RegistryRecord } from '../../../metadata/store.js';
import type { AddVersionInput, NpmStore } from './npm-store.js';

export interface OpenedNpm {
  npm: NpmStore;
  metadata: MetadataStore;
  close(): Promise<void>;
}

const DIGEST = `sha256:${'a'.repeat(64)}`;
const code = (expected: string) => (err: unknown) => isPalletError(err) && err.code === expected;

export function npmStoreSuite(name: string, open: () => Promise<OpenedNpm>, cleanup?: () => Promise<void>): void {
  describe(name, () => {
    let opened: OpenedNpm;
    let npm: NpmStore;
    let metadata: MetadataStore;
    let counter = 0;

    before(async () => {
      opened = await open();
      npm = opened.npm;
      metadata = opened.metadata;
    });

    after(async () => {
      await opened?.close();
      await cleanup?.();
    });

    const unique = (prefix: string): string => `${prefix}${++counter}`;
    const registry = async (): Promise<RegistryRecord> => {
      const space = await metadata.createSpace({ path: unique('org'), parentId: null, description: '' });
      return metadata.createRegistry({ spaceId: space.id, identifier: unique('js'), packageType: 'npm', kind: 'local', description: '', labels: [], public: false, upstream: null });
    };
    const input = async (reg: RegistryRecord, pkg: string, version: string, extra: Partial<AddVersionInput> = {}): Promise<AddVersionInput> => ({
      version: {
        registryId: reg.id,
        name: pkg,
        version,
        manifest: { name: pkg, version, dependencies: { dep: '^1.0.0' } },
        tarballDigest: DIGEST,
        tarballSize: 123,
        integrity: `sha512-${version}`,
        shasum: 'b'.repeat(40),
      },
      repositoryId: (await metadata.ensureRepository(reg.id, pkg)).id,
      distTags: ['latest'],
      ...extra,
    });

    it('adds versions to a new package, moving its tags and its rev on every write', async () => {
      const reg = await registry();
      assert.equal(await npm.findPackage(reg.id, 'app'), undefined);
      const first = await npm.addVersion(await input(reg, 'app', '1.0.0', { metadata: { description: 'an app' } }));
      assert.deepEqual(first.distTags, { latest: '1.0.0' });
      assert.deepEqual(first.metadata, { description: 'an app' });
      const second = await npm.addVersion(await input(reg, 'app', '2.0.0-beta.1', { distTags: ['beta'] }));
      assert.deepEqual(second.distTags, { latest: '1.0.0', beta: '2.0.0-beta.1' });
      assert.deepEqual(second.metadata, { description: 'an app' }, 'metadata is kept when not given');
      assert.ok(second.rev > first.rev);
      const stored = await npm.findPackage(reg.id, 'app');
      assert.equal(stored?.rev, second.rev);
      assert.deepEqual(
        (await npm.listVersions(reg.id, 'app')).map((v) => v.version),
        ['1.0.0', '2.0.0-beta.1'],
      );
      const v = await npm.findVersion(reg.id, 'app', '1.0.0');
      assert.deepEqual(v?.manifest, { name: 'app', version: '1.0.0', dependencies: { dep: '^1.0.0' } });
      assert.equal(v?.integrity, 'sha512-1.0.0');
      assert.equal(v?.tarballSize, 123);
      assert.equal(v?.deprecated, null);
    });

    it('refuses a version that exists with ALREADY_EXISTS and changes nothing', async () => {
      const reg = await registry();
      const first = await npm.addVersion(await input(reg, 'app', '1.0.0'));
      await assert.rejects(npm.addVersion(await input(reg, 'app', '1.0.0', { distTags: ['other'] })), code('ALREADY_EXISTS'));
      const after = await npm.findPackage(reg.id, 'app');
      assert.deepEqual(after?.distTags, { latest: '1.0.0' });
      assert.equal(after?.rev, first.rev);
    });

    it('lets exactly one of two concurrent publishes of a version win', async () => {
      const reg = await registry();
      const a = await input(reg, 'race', '1.0.0');
      const b = await input(reg, 'race', '1.0.0', { version: { ...a.version, integrity: 'sha512-other' } });
      const results = await Promise.allSettled([npm.addVersion(a), npm.addVersion(b)]);
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      const failed = results.find((r) => r.status === 'rejected');
      assert.ok(failed && code('ALREADY_EXISTS')(failed.reason), String(failed && (failed as PromiseRejectedResult).reason));
      assert.equal((await npm.listVersions(reg.id, 'race')).length, 1);
    });

    it('applies a change only at the rev it was read at, all or nothing', async () => {
      const reg = await registry();
      const pkg = await npm.addVersion(await input(reg, 'app', '1.0.0'));
      await npm.addVersion(await input(reg, 'app', '1.1.0'));
      await assert.rejects(npm.updatePackage(reg.id, 'app', pkg.rev, { deprecated: { '1.0.0': 'old' } }), code('CONFLICT'));
      const current = (await npm.findPackage(reg.id, 'app'))!;
      await assert.rejects(npm.updatePackage(reg.id, 'app', current.rev, { deprecated: { '1.0.0': 'old', '9.9.9': 'missing' } }), code('NOT_FOUND'));
      assert.equal((await npm.findVersion(reg.id, 'app', '1.0.0'))?.deprecated, null, 'a failed change leaves nothing behind');
      assert.equal((await npm.findPackage(reg.id, 'app'))?.rev, current.rev);
      const changed = await npm.updatePackage(reg.id, 'app', current.rev, { deprecated: { '1.0.0': 'use 1.1' }, distTags: { latest: '1.1.0', old: '1.0.0' } });
      assert.deepEqual(changed?.distTags, { latest: '1.1.0', old: '1.0.0' });
      assert.equal((await npm.findVersion(reg.id, 'app', '1.0.0'))?.deprecated, 'use 1.1');
      const again = (await npm.findPackage(reg.id, 'app'))!;
      assert.ok(again.rev > current.rev);
      await npm.updatePackage(reg.id, 'app', again.rev, { deprecated: { '1.0.0': null } });
      assert.equal((await npm.findVersion(reg.id, 'app', '1.0.0'))?.deprecated, null);
      await assert.rejects(npm.updatePackage(reg.id, 'nothing', 0, {}), code('NOT_FOUND'));
    });

    it('retires removed versions: their numbers stay refused unless a cache brings them back', async () => {
      const reg = await registry();
      await npm.addVersion(await input(reg, 'app', '1.0.0'));
      const pkg = await npm.addVersion(await input(reg, 'app', '1.1.0'));
      const after = await npm.updatePackage(reg.id, 'app', pkg.rev, { removeVersions: ['1.1.0'], distTags: { latest: '1.0.0' } });
      assert.deepEqual(after?.distTags, { latest: '1.0.0' });
      assert.equal(await npm.findVersion(reg.id, 'app', '1.1.0'), undefined);
      assert.equal(await npm.isRetired(reg.id, 'app', '1.1.0'), true);
      assert.equal(await npm.isRetired(reg.id, 'app', '1.0.0'), false);
      await assert.rejects(npm.addVersion(await input(reg, 'app', '1.1.0')), code('ALREADY_EXISTS'));
      await npm.addVersion(await input(reg, 'app', '1.1.0', { reuseRetired: true, distTags: [] }));
      assert.ok(await npm.findVersion(reg.id, 'app', '1.1.0'));
    });

    it('removes the package with its last version, and a whole package at once', async () => {
      const reg = await registry();
      const one = await npm.addVersion(await input(reg, 'solo', '1.0.0'));
      assert.equal(await npm.updatePackage(reg.id, 'solo', one.rev, { removeVersions: ['1.0.0'] }), undefined);
      assert.equal(await npm.findPackage(reg.id, 'solo'), undefined);
      await npm.addVersion(await input(reg, 'many', '1.0.0'));
      const many = await npm.addVersion(await input(reg, 'many', '2.0.0'));
      await assert.rejects(npm.removePackage(reg.id, 'many', many.rev - 1), code('CONFLICT'));
      const removed = await npm.removePackage(reg.id, 'many', many.rev);
      assert.deepEqual(removed.map((v) => v.version).sort(), ['1.0.0', '2.0.0']);
      assert.equal(await npm.findPackage(reg.id, 'many'), undefined);
      assert.deepEqual(await npm.listVersions(reg.id, 'many'), []);
      assert.equal(await npm.isRetired(reg.id, 'many', '2.0.0'), true);
      await assert.rejects(npm.removePackage(reg.id, 'many'), code('NOT_FOUND'));
    });

    it('searches names and metadata case-insensitively, with wildcards taken literally, paged', async () => {
      const reg = await registry();
      const other = await registry();
      await npm.addVersion(await input(reg, 'left-pad', '1.0.0', { metadata: { description: 'Pads strings' } }));
      await npm.addVersion(await input(reg, 'right-pad', '1.0.0', { metadata: { keywords: ['PAD'] } }));
      await npm.addVersion(await input(reg, 'unrelated', '1.0.0', { metadata: { description: '100% other_stuff' } }));
      await npm.addVersion(await input(other, 'pad-elsewhere', '1.0.0'));
      const pads = await npm.search([reg.id], 'PAD', 10, 0);
      assert.equal(pads.total, 2);
      assert.deepEqual(pads.packages.map((p) => p.name), ['left-pad', 'right-pad']);
      const paged = await npm.search([reg.id], 'pad', 1, 1);
      assert.equal(paged.total, 2);
      assert.deepEqual(paged.packages.map((p) => p.name), ['right-pad']);
      assert.deepEqual((await npm.search([reg.id], '%', 10, 0)).packages.map((p) => p.name), ['unrelated']);
      assert.deepEqual((await npm.search([reg.id], 'r_s', 10, 0)).packages.map((p) => p.name), ['unrelated']);
      assert.equal((await npm.search([reg.id], '', 10, 0)).total, 3);
      assert.equal((await npm.search([], 'pad', 10, 0)).total, 0);
    });

    it('drops a registry’s packages, versions and retired numbers with the registry', async () => {
      const reg = await registry();
      const pkg = await npm.addVersion(await input(reg, 'app', '1.0.0'));
      await npm.addVersion(await input(reg, 'app', '2.0.0'));
      await npm.updatePackage(reg.id, 'app', pkg.rev + 1, { removeVersions: ['2.0.0'] });
      await metadata.deleteRegistry(reg.id);
      assert.equal(await npm.findPackage(reg.id, 'app'), undefined);
      assert.deepEqual(await npm.listVersions(reg.id, 'app'), []);
      assert.equal(await npm.isRetired(reg.id, 'app', '2.0.0'), false);
    });
  });
}
