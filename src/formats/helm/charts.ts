/**
 * Helm charts in `helm` registries, one store for both ways Helm talks to a registry:
 * - OCI (`helm push … oci://`, `helm chart push`): a `ManifestPolicy` lets only chart
 *   manifests in (Helm config, one chart layer of the current or the 3.6/3.7 legacy type, an
 *   optional provenance layer), reads Chart.yaml from the pushed archive, checks it against
 *   the repository name and tag, and records the chart version once the manifest is stored.
 * - The classic chart repository (`index.yaml`, `.tgz`/`.prov` files, ChartMuseum's upload and
 *   delete API): an upload becomes the same OCI manifest a `helm push` would create, through
 *   the same `ManifestService.put`, so every chart is pullable both ways.
 *
 * The index: one row per chart version in the Helm store; `index.yaml` is rendered from all of
 * a registry's rows in one query and kept per registry under a key made of the store's
 * (generation, count) and the upstream indexes' stamps. A request whose key matches the
 * cached one costs one small aggregate query (and answers 304 to a matching If-None-Match).
 *
 * A local registry with upstream proxies serves a merged index: its own charts, then each
 * upstream's in list order; the first (name, version) wins. Chart files follow the same order.
 *
 * GC: every chart version, however it arrived, records its archive and provenance file as the
 * core's package files (`registry/package-files.ts`) before its chart row, so they stay live
 * without relying on an OCI manifest (a chart cached from a classic upstream may have none);
 * deleting the version here removes them, and they go with its manifest, repository or registry.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { digestOf } from '../../base/digest.js';
import { isPalletError, PalletError } from '../../base/errors.js';
import type { ChartVersionRecord, HelmStore, NewChartVersion } from './store/helm-store.js';
import type { ManifestRecord, MetadataStore, RegistryRecord, RepositoryRecord, SpaceRecord } from '../../metadata/store.js';
import type { BlobService } from '../../registry/blobs.js';
import type { PackageFile, PackageFileService } from '../../registry/package-files.js';
import { chartTag, readChartArchive, readChartBuffer, type ChartMetadata } from './chart-archive.js';
import { chartFileName, sourceOf, splitChartFileName, type IndexEntry, type IndexSource } from './chart-index.js';
import { renderIndexSources } from './chart-index-jobs.js';
import type { ParsedManifest } from '../../registry/manifest-parser.js';
import type { ManifestPolicy, ManifestService } from '../../registry/manifests.js';
import {
  HELM_CHART_CONTENT,
  HELM_CHART_PROVENANCE,
  HELM_CONFIG,
  HELM_LEGACY_CHART_CONTENT,
  OCI_MANIFEST,
} from '../../registry/media-types.js';
import type { RegistryRef } from '../../registry/registries.js';

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
  sources(root: SpaceRecord, proxy: RegistryRecord): Promise<{ sources: IndexSource[]; stamp: string }>;
  /** The file from the proxy's cache or its upstream; undefined when the upstream lists no such version. */
  open(root: SpaceRecord, proxy: RegistryRecord, name: string, version: string, kind: ChartFileKind, signal?: AbortSignal): Promise<ChartFile | undefined>;
}

export interface ChartServiceOptions {
  /** Uploads may replace an existing version without `?force`. */
  allowOverwrite: boolean;
  /** Largest chart archive read on an OCI push (compressed bytes are bounded by the blob itself). */
  maxUnpackedBytes?: number;
}

export interface UploadResult {
  chart: ChartVersionRecord;
  /** Whether an existing version was replaced. */
  replaced: boolean;
}

const CHART_LAYERS = new Set([HELM_CHART_CONTENT, HELM_LEGACY_CHART_CONTENT]);
const MAX_CACHED_INDEXES = 1000;

function manifestInvalid(message: string): PalletError {
  return new PalletError('MANIFEST_INVALID', `manifest invalid: ${message}`);
}

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

export class ChartService implements ManifestPolicy {
  private readonly indexes = new Map<string, { key: string; index: ChartIndex }>();
  private manifestService?: ManifestService;
  private upstreams: ChartUpstreams | undefined;

  constructor(
    private readonly store: MetadataStore,
    private readonly helm: HelmStore,
    private readonly blobs: BlobService,
    private readonly packageFiles: PackageFileService,
    private readonly options: ChartServiceOptions,
    upstreams?: ChartUpstreams,
  ) {
    this.upstreams = upstreams;
  }

  /** The upstream proxies' charts (built after this service: they share the pull-through path). */
  attachUpstreams(upstreams: ChartUpstreams): void {
    this.upstreams = upstreams;
  }

  /** The manifest service uploads go through (it holds this service as its policy). */
  attach(manifests: ManifestService): void {
    this.manifestService = manifests;
  }

  // OCI pushes -----------------------------------------------------------------------------

  async check(repo: RepositoryRecord, reference: string, parsed: ParsedManifest): Promise<((manifest: ManifestRecord) => Promise<void>) | undefined> {
    const registry = await this.store.findRegistryById(repo.registryId);
    if (!registry || registry.packageType !== 'helm') return undefined;
    const notChart = `${registry.identifier} is a helm registry and holds Helm charts only`;
    if (parsed.mediaType !== OCI_MANIFEST) throw manifestInvalid(`${notChart}; got a ${parsed.mediaType} (push charts with helm push or helm chart push)`);
    const [config, ...layers] = parsed.references;
    if (!config || config.mediaType !== HELM_CONFIG) {
      throw manifestInvalid(`${notChart}: the config must be ${HELM_CONFIG}, got ${config?.mediaType ?? 'none'}`);
    }
    const charts = layers.filter((l) => CHART_LAYERS.has(l.mediaType));
    const provs = layers.filter((l) => l.mediaType === HELM_CHART_PROVENANCE);
    const other = layers.find((l) => !CHART_LAYERS.has(l.mediaType) && l.mediaType !== HELM_CHART_PROVENANCE);
    if (other) throw manifestInvalid(`${notChart}: unexpected layer type ${other.mediaType}`);
    if (charts.length !== 1) throw manifestInvalid(`${notChart}: a chart manifest has exactly one chart layer (${HELM_CHART_CONTENT}), got ${charts.length}`);
    if (provs.length > 1) throw manifestInvalid(`${notChart}: more than one provenance layer`);
    const chart = charts[0]!;
    const loc = { rootSpaceId: registry.rootSpaceId, repositoryId: repo.id };
    let metadata: ChartMetadata;
    try {
      const { stream } = await this.blobs.open(loc, chart.digest);
      metadata = await readChartArchive(stream, this.archiveLimits());
    } catch (err) {
      if (isPalletError(err, 'INVALID_ARGUMENT')) throw manifestInvalid(err.message);
      throw err;
    }
    const last = repo.name.slice(repo.name.lastIndexOf('/') + 1);
    if (last !== metadata.name) {
      throw manifestInvalid(`the chart is named ${metadata.name} but is pushed to repository ${repo.name}; push it to …/${metadata.name}`);
    }
    if (!reference.includes(':') && reference !== chartTag(metadata.version)) {
      throw manifestInvalid(`chart ${metadata.name} has version ${metadata.version} but is pushed with tag ${reference}; the tag must be ${chartTag(metadata.version)}`);
    }
    return async (manifest) => {
      const prov = provs[0];
      await this.putChart(
        {
          registryId: registry.id,
          name: metadata.name,
          version: metadata.version,
          repositoryId: repo.id,
          manifestId: manifest.id,
          chartDigest: chart.digest,
          chartSize: chart.size,
          provDigest: prov?.digest ?? null,
          metadata,
        },
        prov?.size,
      );
    };
  }

  /**
   * Records a chart version: first its files as package files (the chart archive and the
   * provenance file, which GC then keeps whether or not a manifest references them; they go
   * with the version, its manifest, repository or registry), then its row in the Helm store.
   */
  private async putChart(row: NewChartVersion, provSize: number | undefined): Promise<void> {
    const file = chartFileName(row.name, row.version);
    const files: PackageFile[] = [{ path: file, digest: row.chartDigest, size: row.chartSize }];
    if (row.provDigest !== null && provSize !== undefined) files.push({ path: `${file}.prov`, digest: row.provDigest, size: provSize });
    await this.packageFiles.record({ registryId: row.registryId, artifact: row.name, version: row.version, repositoryId: row.repositoryId, manifestId: row.manifestId, files });
    await this.helm.putChartVersion(row);
  }

  private archiveLimits(): { maxUnpackedBytes?: number } {
    return this.options.maxUnpackedBytes === undefined ? {} : { maxUnpackedBytes: this.options.maxUnpackedBytes };
  }

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
    const metadata = await readChartBuffer(archive, this.archiveLimits());
    const existing = await this.helm.findChartVersion(registry.id, metadata.name, metadata.version);
    if (existing && !force && !this.options.allowOverwrite) {
      throw new PalletError('CONFLICT', `${metadata.name}-${metadata.version} already exists in ${ref.root.path}/${registry.identifier}; upload with ?force to replace it`, {
        name: metadata.name,
        version: metadata.version,
      });
    }
    const manifests = this.manifestService;
    if (!manifests) throw new Error('ChartService: attach() was not called');
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

  /**
   * Records a chart archive cached from a classic upstream (already committed and linked to
   * `repo`, a repository of the proxy) as the OCI manifest an upload makes, so it is a version
   * of the proxy like any other (listed as cached, pullable over OCI too). When its Chart.yaml
   * cannot be read or disagrees with the upstream index's name and version, the chart is still
   * recorded (without a manifest) with the index's fields, so it is served from the cache.
   */
  async recordCached(root: SpaceRecord, repo: RepositoryRecord, chart: { digest: string; size: number }, name: string, version: string, fallback: Record<string, unknown>): Promise<void> {
    const loc = { rootSpaceId: root.id, repositoryId: repo.id };
    let metadata: ChartMetadata | undefined;
    try {
      const { stream } = await this.blobs.open(loc, chart.digest);
      metadata = await readChartArchive(stream, this.archiveLimits());
    } catch (err) {
      if (!isPalletError(err, 'INVALID_ARGUMENT')) throw err;
    }
    const manifests = this.manifestService;
    if (manifests && metadata && metadata.name === name && metadata.version === version) {
      const config = Buffer.from(JSON.stringify(metadata));
      const configDigest = digestOf(config);
      await this.blobs.putBlob(loc, configDigest, Readable.from([config]), { length: config.length });
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { mediaType: HELM_CONFIG, digest: configDigest, size: config.length },
          layers: [{ mediaType: HELM_CHART_CONTENT, digest: chart.digest, size: chart.size }],
        }),
      );
      try {
        await manifests.put(repo, chartTag(version), OCI_MANIFEST, manifest);
        return;
      } catch (err) {
        if (!isPalletError(err, 'MANIFEST_INVALID')) throw err;
      }
    }
    await this.putChart(
      {
        registryId: repo.registryId,
        name,
        version,
        repositoryId: repo.id,
        manifestId: null,
        chartDigest: chart.digest,
        chartSize: chart.size,
        provDigest: null,
        metadata: metadata ? { ...metadata } : fallback,
      },
      undefined,
    );
  }

  /** Deletes a chart version (its OCI manifest and tags); NOT_FOUND when there is none. */
  async deleteVersion(ref: RegistryRef, name: string, version: string): Promise<void> {
    this.requireHelm(ref);
    const row = await this.helm.findChartVersion(ref.registry.id, name, version);
    if (!row) throw new PalletError('NOT_FOUND', `${ref.root.path}/${ref.registry.identifier} has no chart ${name} version ${version}`, { name, version });
    await this.helm.deleteChartVersion(ref.registry.id, name, version);
    await this.packageFiles.remove({ registryId: ref.registry.id, artifact: name, version });
    if (row.manifestId === null) return;
    const manifest = await this.store.findManifestByTag(row.repositoryId, chartTag(version));
    if (manifest && manifest.id === row.manifestId) await this.store.deleteManifest(row.repositoryId, manifest.digest);
  }

  /** The registry's index.yaml (merged with its upstreams' for a local registry). */
  async index(ref: RegistryRef): Promise<ChartIndex> {
    this.requireHelm(ref);
    const { registry, root } = ref;
    const own = registry.kind === 'local';
    const upstreams = own ? await this.store.listUpstreams(registry.id) : [registry];
    const fromUpstreams: Array<{ sources: IndexSource[]; stamp: string }> = [];
    if (this.upstreams) {
      for (const proxy of upstreams) {
        try {
          fromUpstreams.push(await this.upstreams.sources(root, proxy));
        } catch (err) {
          // A local registry's index leaves out an upstream that cannot be read (and has
          // nothing cached); a proxy's own index fails with it.
          if (!own || !isPalletError(err, 'UNAVAILABLE')) throw err;
          fromUpstreams.push({ sources: [], stamp: `${proxy.id}:unavailable` });
        }
      }
    }
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
   * `….prov`): the registry's own, then its upstreams' in order. NOT_FOUND when none has it.
   */
  async openFile(ref: RegistryRef, file: string, signal?: AbortSignal): Promise<ChartFile> {
    this.requireHelm(ref);
    const parsed = /^(.+)\.tgz(\.prov)?$/.exec(file) ?? /^(.+)\.(prov)$/.exec(file);
    const notFound = () => new PalletError('NOT_FOUND', `${ref.root.path}/${ref.registry.identifier} has no chart file ${file}`, { file });
    if (!parsed) throw notFound();
    const kind: ChartFileKind = parsed[2] ? 'prov' : 'chart';
    const candidates = splitChartFileName(parsed[1]!);
    const { registry, root } = ref;
    if (registry.kind === 'local') {
      for (const { name, version } of candidates) {
        const row = await this.helm.findChartVersion(registry.id, name, version);
        const digest = row && (kind === 'chart' ? row.chartDigest : row.provDigest);
        if (!row || !digest) continue;
        const { blob, stream } = await this.blobs.open({ rootSpaceId: root.id, repositoryId: row.repositoryId }, digest, undefined, signal);
        return { stream, size: blob.size, digest, manifestId: row.manifestId };
      }
    }
    let failure: PalletError | undefined;
    if (this.upstreams) {
      const proxies = registry.kind === 'local' ? await this.store.listUpstreams(registry.id) : [registry];
      for (const proxy of proxies) {
        for (const { name, version } of candidates) {
          let found: ChartFile | undefined;
          try {
            found = await this.upstreams.open(root, proxy, name, version, kind, signal);
          } catch (err) {
            // The next upstream in order may have it; the last failure is reported if none does.
            if (registry.kind !== 'local' || !isPalletError(err, 'UNAVAILABLE')) throw err;
            failure = err;
          }
          if (found) return found;
        }
      }
    }
    if (failure) throw failure;
    throw notFound();
  }

  private requireHelm(ref: RegistryRef): void {
    if (ref.registry.packageType !== 'helm') {
      throw new PalletError('NOT_FOUND', `${ref.root.path}/${ref.registry.identifier} is a ${ref.registry.packageType} registry, not a helm chart repository`);
    }
  }
}

