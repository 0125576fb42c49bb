/**
 * What the API shows of a registry: its `RegistryView` (configuration, upstream proxy config
 * without secrets, URL and stats) and the keys registry lists sort by.
 *
 * Stats: an artifact is a repository with at least one version (what the artifact list
 * shows), so repositories holding only blobs (an unfinished push) are not counted, though their
 * bytes are. `updatedAt` is the latest change to the configuration or the content.
 */
import type { SortKeys } from '../base/paging.js';
import type { MetadataStore, PackageType, RegistryKind, RegistryRecord, RegistryStats } from '../metadata/store.js';
import type { PackageFileStore } from '../metadata/package-file-store.js';
import { formatSettingsView } from './format-settings.js';
import type { PackageTypes } from './package-types.js';
import { readStoredUpstream, toUpstreamView, type UpstreamView } from './upstream-config.js';

export interface RegistryView {
  /** The space that holds the registry (`acme` or `acme/payments`). */
  space: string;
  /** Its root space: identifiers are unique there, and OCI names start with it. */
  root: string;
  identifier: string;
  packageType: PackageType;
  kind: RegistryKind;
  description: string;
  labels: string[];
  public: boolean;
  /** Identifiers of the upstream proxies a local registry tries, in order (empty for proxies). */
  upstreams: string[];
  /** The proxy config of an upstream proxy; null for local registries. */
  upstream: UpstreamView | null;
  /**
   * Its format's per-registry settings (`GET /package-types` declares them), every one with its
   * stored value or else its default; `{}` for a format without settings.
   */
  settings: Record<string, boolean | string | number>;
  /** `<baseUrl>/<root>/<identifier>`: where OCI clients find it. */
  url: string;
  sizeBytes: number;
  artifactCount: number;
  downloadCount: number;
  createdAt: string;
  /** Latest change to the registry's configuration or content. */
  updatedAt: string;
}

export const EMPTY_STATS: RegistryStats = { sizeBytes: 0, artifactCount: 0, downloadCount: 0, lastModified: 0 };

export const REGISTRY_SORT: SortKeys<RegistryView> = {
  identifier: (r) => r.identifier,
  packageType: (r) => r.packageType,
  kind: (r) => r.kind,
  description: (r) => r.description.toLowerCase(),
  // By the labels as one sorted, comma-joined string: registries with the same first label group together.
  labels: (r) => [...r.labels].sort().join(',').toLowerCase(),
  sizeBytes: (r) => r.sizeBytes,
  artifactCount: (r) => r.artifactCount,
  downloadCount: (r) => r.downloadCount,
  updatedAt: (r) => r.updatedAt,
  createdAt: (r) => r.createdAt,
};

export const REGISTRY_SORT_KEYS: readonly string[] = Object.keys(REGISTRY_SORT);

/** Builds registry views from records: stats from the store, URLs from the base URL. */
export class RegistryViews {
  /** @param baseUrl the external base URL (`scheme://host[:port]`, no trailing slash). */
  constructor(
    private readonly store: MetadataStore,
    private readonly baseUrl: string,
    private readonly packageTypes?: PackageTypes,
    /** Artifacts of formats not served over OCI are package files, not repositories with versions. */
    private readonly packageFiles?: Pick<PackageFileStore, 'countArtifacts'>,
  ) {}

  /**
   * Stats per registry id (see the header for what counts as an artifact). A registry of a
   * format not served over OCI counts what its artifact list shows: its package artifacts (an
   * OCI-based format that also records package files, as Helm does, counts its OCI artifacts).
   */
  async stats(records: ReadonlyArray<Pick<RegistryRecord, 'id' | 'packageType'>>): Promise<Map<string, RegistryStats>> {
    if (records.length === 0) return new Map();
    const ids = records.map((r) => r.id);
    const stats = await this.store.registryStats(ids);
    const packaged = !this.packageFiles ? [] : records.filter((r) => this.packageTypes?.find(r.packageType)?.ociBased === false).map((r) => r.id);
    const artifacts = packaged.length > 0 && this.packageFiles ? await this.packageFiles.countArtifacts(packaged) : new Map<string, number>();
    const packagedIds = new Set(packaged);
    const oci = ids.filter((id) => !packagedIds.has(id));
    for (const a of oci.length > 0 ? await this.store.listArtifacts(oci) : []) {
      if (a.versionCount > 0) artifacts.set(a.registryId, (artifacts.get(a.registryId) ?? 0) + 1);
    }
    for (const [id, s] of stats) stats.set(id, { ...s, artifactCount: artifacts.get(id) ?? 0 });
    return stats;
  }

  /** The view of one registry, with its stats and upstream list read now. */
  async view(record: RegistryRecord, spacePath: string, rootPath: string): Promise<RegistryView> {
    const stats = (await this.stats([record])).get(record.id) ?? EMPTY_STATS;
    const upstreams = record.kind === 'local' ? (await this.store.listUpstreams(record.id)).map((u) => u.identifier) : [];
    return this.present(record, spacePath, rootPath, upstreams, stats);
  }

  present(record: RegistryRecord, spacePath: string, rootPath: string, upstreams: string[], stats: RegistryStats): RegistryView {
    return {
      space: spacePath,
      root: rootPath,
      identifier: record.identifier,
      packageType: record.packageType,
      kind: record.kind,
      description: record.description,
      labels: record.labels,
      public: record.public,
      upstreams,
      upstream: record.kind === 'upstream' ? toUpstreamView(readStoredUpstream(record.upstream)) : null,
      settings: formatSettingsView(this.packageTypes?.find(record.packageType), record.settings),
      url: `${this.baseUrl}/${rootPath}/${record.identifier}`,
      sizeBytes: stats.sizeBytes,
      artifactCount: stats.artifactCount,
      downloadCount: stats.downloadCount,
      createdAt: new Date(record.createdAt).toISOString(),
      updatedAt: new Date(Math.max(record.updatedAt, stats.lastModified)).toISOString(),
    };
  }
}
