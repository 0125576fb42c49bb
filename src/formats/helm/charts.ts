/**
 * Helm charts in `helm` registries as a classic chart repository (`index.yaml`, `.tgz`/`.prov`
 * files, ChartMuseum's upload and delete API). An upload becomes the same OCI manifest a
 * `helm push` would create, through the same `ManifestService.put` (whose policy for helm
 * registries is `chart-push-policy.ts`), so every chart is pullable both ways.
 *
 * The index: one row per chart version in the Helm store; `index.yaml` is rendered from all of
 * a registry's rows in one query and kept per registry under a key made of the store's
 * (generation, count) and the upstream indexes' stamps. A request whose key matches the
 * cached one costs one small aggregate query (and answers 304 to a matching If-None-Match).
 *
 * A local registry with upstream proxies serves a merged index: its own charts, then each
 * upstream's in list order; the first (name, version) wins. Chart files follow the same order
 * (the fetch-and-cache core's resolution order, `upstream/fetch-cache/resolve.ts`).
 *
 * GC: every chart version, however it arrived, is written through `ChartVersions`, which
 * records its archive and provenance file as the core's package files, so they stay live
 * without relying on an OCI manifest (a chart cached from a classic upstream may have none).
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { digestOf } from '../../base/digest.js';
import { isPalletError, PalletError } from '../../base/errors.js';
import type { ChartVersionRecord, HelmStore } from './store/helm-store.js';
import type { ChartVersions } from './chart-versions.js';
import type { MetadataStore, RegistryRecord, SpaceRecord } from '../../metadata/store.js';
import type { BlobService } from '../../registry/blobs.js';
import { chartTag, readChartBuffer } from './chart-archive.js';
import { chartFileName, sourceOf, splitChartFileName, type IndexEntry, type IndexSource } from './chart-index.js';
import { renderIndexSources } from './chart-index-jobs.js';
import type { ManifestService } from '../../registry/manifests.js';
import { OCI_MANIFEST } from '../../registry/media-types.js';
import { HELM_CHART_CONTENT, HELM_CHART_PROVENANCE, HELM_CONFIG } from './media-types.js';
import type { RegistryRef } from '../../registry/registries.js';
import { collectInOrder, resolveInOrder } from '../../upstream/fetch-cache/resolve.js';
import type { UpstreamLog } from '../../upstream/fetch-cache/upstreams.js';
import type { ChartArchiveLimits } from './chart-push-policy.js';

export type ChartFileKind = 'chart' | 'prov';

/** A chart file to send. */
export interface ChartFile {
  stream: Readable;
  /** Undefined for a file streamed from an upstream that did not give its length. */
  size: number | undefined;
  /** `sha256:…` of the file; undefined while an upstream file whose digest is not known streams. */
  digest: string | undefined;
  /** The OCI manifest behind it, for download counts; null when there is none. */
  manifestId: string | null;
}

export interface ChartIndex {
  body: Buffer;
  etag: string;
}

/**
 * Chart versions of upstream proxies (see upstream/helm-upstream.ts). `sources` are already
 * rewritten to this registry's chart URLs, in priority order; `stamp` changes whenever they do.
 */
export interface ChartUpstreams {
  sources(root: SpaceRecord, proxy: RegistryRecord, log?: UpstreamLog): Promise<{ sources: IndexSource[]; stamp: string }>;
  /** The file from the proxy's cache or its upstream; undefined when the upstream lists no such version. */
  open(root: SpaceRecord, proxy: RegistryRecord, name: string, version: string, kind: ChartFileKind, options?: ChartReadOptions): Promise<ChartFile | undefined>;
}

/** What a read of the repository is given by its caller. */
export interface ChartReadOptions {
  /** Aborts waiting (the client went away); a fetch into the cache carries on. */
  signal?: AbortSignal | undefined;
  /** The caller's logger (a request's child logger) for upstream fetches. */
  log?: UpstreamLog | undefined;
}

export interface ChartServiceOptions extends ChartArchiveLimits {
  /** Uploads may replace an existing version without `?force`. */
  allowOverwrite: boolean;
}

export interface UploadResult {
  chart: ChartVersionRecord;
  /** Whether an existing version was replaced. */
  replaced: boolean;
}

const MAX_CACHED_INDEXES = 1000;

function hex(digest: string): string {
  return digest.slice(digest.indexOf(':') + 1);
}

/** The index entry of a stored chart version, with this registry's relative URL. */
export function indexEntry(row: Pick<ChartVersionRecord, 'name' | 'version' | 'metadata' | 'chartDigest' | 'createdAt'>): IndexEntry {
  return {
    name: row.name,
    version: row.version,
    fields: {
      ...row.metadata,
      urls: [`charts/${chartFileName(row.name, row.version)}`],
      created: new Date(row.createdAt).toISOString(),
      digest: hex(row.chartDigest),
    },
  };
}

export class ChartService {
  private readonly indexes = new Map<string, { key: string; index: ChartIndex }>();

  /**
   * @param manifests what uploads go through (its policy for helm registries checks them)
   * @param upstreams the upstream proxies' charts; without it proxies serve only what they hold
   */
  constructor(
    private readonly store: MetadataStore,
    private readonly helm: HelmStore,
    private readonly versions: ChartVersions,
    private readonly blobs: BlobService,
    private readonly manifests: ManifestService,
    private readonly options: ChartServiceOptions,
    private readonly upstreams?: ChartUpstreams,
  ) {}

  // Classic repository ---------------------------------------------------------------------

  /**
   * Stores an uploaded chart (and provenance file) as the OCI manifest `helm push` would make.
   * INVALID_ARGUMENT for what is not a chart; CONFLICT when the version exists, unless
   * `force` or the registry allows overwrites; DENIED on an upstream proxy.
   */
  async upload(ref: RegistryRef, archive: Buffer, prov: Buffer | undefined, force: boolean): Promise<UploadResult> {
    const { registry } = ref;
    this.requireHelm(ref);
    if (registry.kind !== 'local') throw new PalletError('DENIED', `${ref.root.path}/${registry.identifier} is an upstream proxy: upload charts to a local registry`);
    const metadata = await readChartBuffer(archive, this.options);
    const existing = await this.helm.findChartVersion(registry.id, metadata.name, metadata.version);
    if (existing && !force && !this.options.allowOverwrite) {
      throw new PalletError('CONFLICT', `${metadata.name}-${metadata.version} already exists in ${ref.root.path}/${registry.identifier}; upload with ?force to replace it`, {
        name: metadata.name,
        version: metadata.version,
      });
    }
    const { manifests } = this;
    const repo = await this.store.ensureRepository(registry.id, metadata.name);
    const loc = { rootSpaceId: ref.root.id, repositoryId: repo.id };
    const config = Buffer.from(JSON.stringify(metadata));
    const put = async (bytes: Buffer, mediaType: string) => {
      const digest = digestOf(bytes);
      await this.blobs.putBlob(loc, digest, Readable.from([bytes]), { length: bytes.length });
      return { mediaType, digest, size: bytes.length };
    };
    const configDesc = await put(config, HELM_CONFIG);
    const layers = [await put(archive, HELM_CHART_CONTENT)];
    if (prov) layers.push(await put(prov, HELM_CHART_PROVENANCE));
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: configDesc, layers }));
    await manifests.put(repo, chartTag(metadata.version), OCI_MANIFEST, manifest);
    const chart = await this.helm.findChartVersion(registry.id, metadata.name, metadata.version);
    if (!chart) throw new PalletError('UNAVAILABLE', `${metadata.name}-${metadata.version} was deleted while it was uploaded`);
    return { chart, replaced: existing !== undefined };
  }

  /** Deletes a chart version (its OCI manifest and tags); NOT_FOUND when there is none. */
  async deleteVersion(ref: RegistryRef, name: string, version: string): Promise<void> {
    this.requireHelm(ref);
    const row = await this.helm.findChartVersion(ref.registry.id, name, version);
    if (!row) throw new PalletError('NOT_FOUND', `${ref.root.path}/${ref.registry.identifier} has no chart ${name} version ${version}`, { name, version });
    await this.versions.delete(ref.registry.id, name, version);
    if (row.manifestId === null) return;
    const manifest = await this.store.findManifestByTag(row.repositoryId, chartTag(version));
    if (manifest && manifest.id === row.manifestId) await this.store.deleteManifest(row.repositoryId, manifest.digest);
  }

  /** The registry's index.yaml (merged with its upstreams' for a local registry). */
  async index(ref: RegistryRef, log?: UpstreamLog): Promise<ChartIndex> {
    this.requireHelm(ref);
    const { registry, root } = ref;
    const own = registry.kind === 'local';
    const upstreams = this.upstreams;
    // A local registry's index leaves out an upstream that cannot be read (and has nothing
    // cached); a proxy's own index fails with it.
    const fromUpstreams = upstreams
      ? await collectInOrder(
          own ? await this.store.listUpstreams(registry.id) : [registry],
          (proxy) => upstreams.sources(root, proxy, log),
          own,
          (proxy) => ({ sources: [], stamp: `${proxy.id}:unavailable` }),
        )
      : [];
    const state = own ? await this.helm.indexState(registry.id) : { generation: 0, count: 0 };
    const key = [registry.id, state.generation, state.count, ...fromUpstreams.map((u) => u.stamp)].join('|');
    const cached = this.indexes.get(registry.id);
    if (cached && cached.key === key) return cached.index;
    const rows = own ? await this.helm.listChartVersions([registry.id]) : [];
    const sources = [sourceOf(rows.map((row) => indexEntry(row))), ...fromUpstreams.flatMap((u) => u.sources)];
    const newest = rows.reduce((t, r) => Math.max(t, r.createdAt), 0);
    // Up to 100k chart versions from upstreams: rendered in a worker when large (chart-index-jobs.ts).
    const body = await renderIndexSources(sources, new Date(newest));
    const index = { body, etag: `"${createHash('sha256').update(key).digest('base64url').slice(0, 27)}"` };
    if (this.indexes.size >= MAX_CACHED_INDEXES) this.indexes.delete(this.indexes.keys().next().value!);
    this.indexes.set(registry.id, { key, index });
    return index;
  }

  /**
   * A chart file by its name in the repository (`<name>-<version>.tgz`, `….tgz.prov` or
   * `….prov`): the registry's own, then its upstreams' in order. NOT_FOUND when none has it;
   * an upstream's failure when none has it and one could not be asked.
   */
  async openFile(ref: RegistryRef, file: string, options: ChartReadOptions = {}): Promise<ChartFile> {
    this.requireHelm(ref);
    const parsed = /^(.+)\.tgz(\.prov)?$/.exec(file) ?? /^(.+)\.(prov)$/.exec(file);
    const notFound = () => new PalletError('NOT_FOUND', `${ref.root.path}/${ref.registry.identifier} has no chart file ${file}`, { file });
    if (!parsed) throw notFound();
    const kind: ChartFileKind = parsed[2] ? 'prov' : 'chart';
    const candidates = splitChartFileName(parsed[1]!);
    const { registry, root } = ref;
    const upstreams = this.upstreams;
    return resolveInOrder<ChartFile>({
      own: registry.kind === 'local' ? () => this.openOwn(ref, candidates, kind, options.signal) : undefined,
      upstreams: async () => (!upstreams ? [] : registry.kind === 'local' ? this.store.listUpstreams(registry.id) : [registry]),
      attempt: async (proxy) => {
        for (const { name, version } of candidates) {
          const found = await upstreams?.open(root, proxy, name, version, kind, options);
          if (found) return found;
        }
        return undefined;
      },
      labelOf: (proxy) => `${root.path}/${proxy.identifier}`,
      notFound: (_upstreams, notes) => (notes.length > 0 ? new PalletError('NOT_FOUND', `${notFound().message}; ${notes.join('; ')}`, { file }) : notFound()),
      failed: (failure) => failure,
      log: options.log ?? { info: () => undefined, warn: () => undefined },
      fields: { file },
    });
  }

  /** The registry's own copy of a chart file; undefined when it has none. */
  private async openOwn(ref: RegistryRef, candidates: Array<{ name: string; version: string }>, kind: ChartFileKind, signal?: AbortSignal): Promise<ChartFile | undefined> {
    for (const { name, version } of candidates) {
      const row = await this.helm.findChartVersion(ref.registry.id, name, version);
      const digest = row && (kind === 'chart' ? row.chartDigest : row.provDigest);
      if (!row || !digest) continue;
      const { blob, stream } = await this.blobs.open({ rootSpaceId: ref.root.id, repositoryId: row.repositoryId }, digest, undefined, signal);
      return { stream, size: blob.size, digest, manifestId: row.manifestId };
    }
    return undefined;
  }

  private requireHelm(ref: RegistryRef): void {
    if (ref.registry.packageType !== 'helm') {
      throw new PalletError('NOT_FOUND', `${ref.root.path}/${ref.registry.identifier} is a ${ref.registry.packageType} registry, not a helm chart repository`);
    }
  }
}

