/**
 * The shared behaviour suite of `HelmStore`: SQLite and PostgreSQL run exactly these tests
 * against a real, freshly migrated database. `open` returns the Helm store and the metadata
 * store over the same database (registries, repositories and manifests are the metadata store's).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { digestOf } from '../../../base/digest.js';
import type { HelmStore, NewChartVersion } from './helm-store.js';
import type { MetadataStore, RegistryRecord, RepositoryRecord } from '../../../metadata/store.js';

export interface OpenedHelm {
  helm: HelmStore;
  metadata: MetadataStore;
  close(): Promise<void>;
}

const DIGEST = `sha256:${'c'.repeat(64)}`;

export function helmStoreSuite(name: string, open: () => Promise<OpenedHelm>, cleanup?: () => Promise<void>): void {
  describe(name, () => {
    let opened: OpenedHelm;
    let helm: HelmStore;
    let metadata: MetadataStore;
    let counter = 0;

    before(async () => {
      opened = await open();
      helm = opened.helm;
      metadata = opened.metadata;
    });

    after(async () => {
      await opened?.close();
      await cleanup?.();
    });

    const unique = (prefix: string): string => `${prefix}${++counter}`;
    const registry = async (kind: 'local' | 'upstream' = 'local'): Promise<RegistryRecord> => {
      const space = await metadata.createSpace({ path: unique('org'), parentId: null, description: '' });
      return metadata.createRegistry({
        spaceId: space.id,
        identifier: unique('charts'),
        packageType: 'helm',
        kind,
        description: '',
        labels: [],
        public: false,
        upstream: kind === 'upstream' ? { source: 'custom', url: 'http://127.0.0.1:1' } : null,
      });
    };
    const chart = (reg: RegistryRecord, repo: RepositoryRecord, version: string, extra: Partial<NewChartVersion> = {}): NewChartVersion => ({
      registryId: reg.id,
      name: repo.name,
      version,
      repositoryId: repo.id,
      manifestId: null,
      chartDigest: DIGEST,
      chartSize: 100,
      provDigest: null,
      metadata: { name: repo.name, version, description: 'a chart', keywords: ['k'] },
      ...extra,
    });

    it('stores, finds and replaces a chart version; every write moves the generation', async () => {
      const reg = await registry();
      const repo = await metadata.ensureRepository(reg.id, 'app');
      assert.deepEqual(await helm.indexState(reg.id), { generation: 0, count: 0 });
      const put = await helm.putChartVersion(chart(reg, repo, '1.0.0'));
      assert.equal(put.name, 'app');
      const found = await helm.findChartVersion(reg.id, 'app', '1.0.0');
      assert.deepEqual(found?.metadata, { name: 'app', version: '1.0.0', description: 'a chart', keywords: ['k'] });
      assert.equal(found?.chartSize, 100);
      assert.equal(found?.manifestId, null);
      const first = await helm.indexState(reg.id);
      assert.equal(first.count, 1);
      await helm.putChartVersion(chart(reg, repo, '1.0.0', { chartSize: 200, provDigest: DIGEST }));
      const replaced = await helm.findChartVersion(reg.id, 'app', '1.0.0');
      assert.equal(replaced?.chartSize, 200);
      assert.equal(replaced?.provDigest, DIGEST);
      const second = await helm.indexState(reg.id);
      assert.equal(second.count, 1);
      assert.ok(second.generation > first.generation, 'a replace moves the generation');
      assert.equal(await helm.findChartVersion(reg.id, 'app', '2.0.0'), undefined);
    });

    it('lists the chart versions of several registries in one call, by name then creation', async () => {
      const a = await registry();
      const b = await registry('upstream');
      const zeta = await metadata.ensureRepository(a.id, 'zeta');
      const alpha = await metadata.ensureRepository(b.id, 'alpha');
      await helm.putChartVersion(chart(a, zeta, '1.0.0'));
      await helm.putChartVersion(chart(b, alpha, '2.0.0'));
      await new Promise((resolve) => setTimeout(resolve, 3)); // creation times are in milliseconds
      await helm.putChartVersion(chart(b, alpha, '1.0.0'));
      const rows = await helm.listChartVersions([a.id, b.id]);
      assert.deepEqual(
        rows.map((r) => `${r.name}@${r.version}`),
        ['alpha@2.0.0', 'alpha@1.0.0', 'zeta@1.0.0'],
      );
      assert.deepEqual(await helm.listChartVersions([]), []);
    });

    it('deletes a chart version once, moving the generation', async () => {
      const reg = await registry();
      const repo = await metadata.ensureRepository(reg.id, 'app');
      await helm.putChartVersion(chart(reg, repo, '1.0.0'));
      const before = await helm.indexState(reg.id);
      assert.equal(await helm.deleteChartVersion(reg.id, 'app', '1.0.0'), true);
      assert.equal(await helm.deleteChartVersion(reg.id, 'app', '1.0.0'), false);
      const after = await helm.indexState(reg.id);
      assert.equal(after.count, 0);
      assert.ok(after.generation > before.generation);
    });

    it('drops a chart version with its manifest (the count shows it)', async () => {
      const reg = await registry();
      const repo = await metadata.ensureRepository(reg.id, 'app');
      const payload = Buffer.from(JSON.stringify({ schemaVersion: 2, layers: [] }));
      const manifest = await metadata.putManifest({
        repositoryId: repo.id,
        digest: digestOf(payload),
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType: null,
        subjectDigest: null,
        annotations: null,
        payload,
        references: [],
      });
      await helm.putChartVersion(chart(reg, repo, '1.0.0', { manifestId: manifest.id }));
      assert.equal((await helm.indexState(reg.id)).count, 1);
      await metadata.deleteManifest(repo.id, manifest.digest);
      assert.equal(await helm.findChartVersion(reg.id, 'app', '1.0.0'), undefined);
      assert.equal((await helm.indexState(reg.id)).count, 0);
    });

    it('refuses a chart version whose repository is gone with NOT_FOUND', async () => {
      const reg = await registry();
      await assert.rejects(
        helm.putChartVersion({ ...chart(reg, { id: 'no-such-repository', name: 'app' } as RepositoryRecord, '1.0.0') }),
        (err: unknown) => err instanceof Error && 'code' in err && err.code === 'NOT_FOUND',
      );
    });

    it('keeps the last upstream index with when it was fetched and confirmed', async () => {
      const proxy = await registry('upstream');
      assert.equal(await helm.findUpstreamIndex(proxy.id), undefined);
      await helm.markUpstreamIndexChecked(proxy.id, 5);
      assert.equal(await helm.findUpstreamIndex(proxy.id), undefined, 'confirming nothing stores nothing');
      const body = Buffer.from('apiVersion: v1\nentries: {}\n\u0000binary-safe');
      await helm.putUpstreamIndex(proxy.id, body, 1_000);
      assert.deepEqual(await helm.findUpstreamIndex(proxy.id), { body, fetchedAt: 1_000, checkedAt: 1_000 });
      await helm.markUpstreamIndexChecked(proxy.id, 2_000);
      assert.deepEqual(await helm.findUpstreamIndex(proxy.id), { body, fetchedAt: 1_000, checkedAt: 2_000 });
      assert.deepEqual(await helm.findUpstreamIndexState(proxy.id), { fetchedAt: 1_000, checkedAt: 2_000 });
      assert.equal(await helm.findUpstreamIndexState('no-such-registry'), undefined);
      const next = Buffer.from('apiVersion: v1\nentries: {}\n# v2\n');
      await helm.putUpstreamIndex(proxy.id, next, 3_000);
      assert.deepEqual(await helm.findUpstreamIndex(proxy.id), { body: next, fetchedAt: 3_000, checkedAt: 3_000 });
      await helm.putUpstreamIndex('no-such-registry', next, 1);
      assert.equal(await helm.findUpstreamIndex('no-such-registry'), undefined);
    });
  });
}
