/**
 * Artifacts → versions → files of the formats not served over OCI (`ociBased: false`), for the
 * management API, from the core's package files (`package-files.ts`): an artifact is a package
 * name, a version is a version string with at least one file, its files are the recorded rows.
 * What only the format knows comes from its `FormatPackages` (`formats/format.ts`): tags (npm
 * dist-tags), the version detail, and deletion.
 *
 * The OCI-only fields of the shared views get fixed values for a package version:
 * `digest` = the digest of its first file by path, `mediaType` = '' , `artifactType` = null,
 * `size` = the sum of its files, `manifestSize` = 0, `downloadCount` = 0 (downloads are counted
 * per OCI manifest only), and in the detail `annotations`, `subject`, `config` = null,
 * `manifest` = null, `layers` = [], `platforms` = null. They carry `version` and `files` instead.
 *
 * Cached artifacts (`cached: true`): everything in an upstream proxy. A local registry's view
 * also shows, read-only, the package artifacts of the proxies of its upstream list (in list
 * order, after its own artifacts of the same name, which win): whatever a proxy holds, a client
 * of the local registry can fetch through it.
 */
import { PalletError } from '../base/errors.js';
import type { Log } from '../base/log.js';
import type { FormatPackages } from '../formats/format.js';
import type { PackageArtifactRecord, PackageFileRecord, PackageFileStore } from '../metadata/package-file-store.js';
import type { MetadataStore, RegistryRecord } from '../metadata/store.js';
import type { PackageTypes } from './package-types.js';
import type { RegistryRef } from './registries.js';

/** One file of a package version, as the API shows it. */
export interface PackageFileView {
  path: string;
  digest: string;
  size: number;
}

/** Where a package artifact's versions live: the registry itself, or a proxy of its upstream list. */
export interface PackageSource {
  registry: RegistryRecord;
  cached: boolean;
}

export interface PackageArtifactRow extends PackageArtifactRecord {
  /** The registry that holds it (the registry asked about, or a proxy of its upstream list). */
  source: RegistryRecord;
  cached: boolean;
}

export interface PackageVersionRow {
  version: string;
  tags: string[];
  sizeBytes: number;
  createdAt: number;
}

/** Looks up the management part of a format by type (`Services.formats`). */
export type FormatPackagesLookup = (type: string) => FormatPackages | undefined;

export class PackageArtifacts {
  constructor(
    private readonly store: Pick<MetadataStore, 'listUpstreams'>,
    private readonly files: PackageFileStore,
    private readonly packagesOf: FormatPackagesLookup,
    private readonly packageTypes: PackageTypes,
  ) {}

  /**
   * Whether the registry's artifacts are package files (its format is not served over OCI). A
   * registry of a format this build does not serve keeps the plain OCI view.
   */
  handles(registry: RegistryRecord): boolean {
    return this.packageTypes.find(registry.packageType)?.ociBased === false;
  }

  /** The registry itself, then (local registries) the proxies of its upstream list, in order. */
  async sources(registry: RegistryRecord): Promise<PackageSource[]> {
    if (registry.kind === 'upstream') return [{ registry, cached: true }];
    const proxies = await this.store.listUpstreams(registry.id);
    return [{ registry, cached: false }, ...proxies.map((p) => ({ registry: p, cached: true }))];
  }

  /** Every visible artifact (or only `name`), the first source of each name winning, by name. */
  async artifacts(ref: RegistryRef, name?: string): Promise<PackageArtifactRow[]> {
    const sources = await this.sources(ref.registry);
    const rank = new Map(sources.map((s, i) => [s.registry.id, i]));
    const rows = await this.files.listArtifacts(
      sources.map((s) => s.registry.id),
      name,
    );
    const best = new Map<string, PackageArtifactRecord>();
    for (const row of rows) {
      const held = best.get(row.artifact);
      if (!held || rank.get(row.registryId)! < rank.get(held.registryId)!) best.set(row.artifact, row);
    }
    return [...best.values()].map((r) => {
      const source = sources[rank.get(r.registryId)!]!;
      return { ...r, source: source.registry, cached: source.cached };
    });
  }

  /** The latest version to show for an artifact: the one tagged `latest`, else the newest. */
  async latestVersion(source: RegistryRecord, row: PackageArtifactRecord): Promise<string> {
    const tags = await this.tagsOf(source, row.artifact);
    for (const [version, names] of tags) if (names.includes('latest')) return version;
    return row.newestVersion;
  }

  /** The source that holds `artifact`; NOT_FOUND when none does. */
  async find(ref: RegistryRef, artifact: string): Promise<{ source: PackageSource; versions: PackageVersionRow[] }> {
    for (const source of await this.sources(ref.registry)) {
      const records = await this.files.listVersions(source.registry.id, artifact);
      if (records.length === 0) continue;
      const tags = await this.tagsOf(source.registry, artifact);
      return {
        source,
        versions: records.map((v) => ({ version: v.version, tags: [...(tags.get(v.version) ?? [])].sort(), sizeBytes: v.sizeBytes, createdAt: v.createdAt })),
      };
    }
    throw artifactNotFound(ref, artifact);
  }

  /** Fills in the files of `versions` (a page) in one query. */
  async withFiles(source: RegistryRecord, artifact: string, versions: ReadonlyArray<{ version: string; files: PackageFileView[] }>): Promise<void> {
    const byVersion = new Map<string, PackageFileRecord[]>();
    for (const f of await this.files.listFilesOf(source.id, artifact, versions.map((v) => v.version))) {
      const list = byVersion.get(f.version) ?? [];
      list.push(f);
      byVersion.set(f.version, list);
    }
    for (const v of versions) v.files = (byVersion.get(v.version) ?? []).map((f) => ({ path: f.path, digest: f.digest, size: f.size }));
  }

  /** The format's detail of one version, under each served format's `versionDetail.field`. */
  async details(source: RegistryRecord, artifact: string, version: string): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    const own = this.packageTypes.get(source.packageType).versionDetail;
    for (const spec of this.packageTypes.all) {
      if (spec.versionDetail) out[spec.versionDetail.field] = null;
    }
    const packages = this.packagesOf(source.packageType);
    if (own && own.mediaType === undefined && packages?.detail) out[own.field] = (await packages.detail(source, artifact, version)) ?? null;
    return out;
  }

  /** Deletes one version of the registry's own artifact, through its format. */
  async deleteVersion(ref: RegistryRef, artifact: string, version: string, log: Log): Promise<void> {
    await this.managed(ref).deleteVersion(ref.registry, artifact, version, log);
  }

  /** Deletes one of the registry's own artifacts with every version, through its format. */
  async deleteArtifact(ref: RegistryRef, artifact: string, log: Log): Promise<void> {
    await this.managed(ref).deleteArtifact(ref.registry, artifact, log);
  }

  private managed(ref: RegistryRef): FormatPackages {
    const packages = this.packagesOf(ref.registry.packageType);
    if (!packages) {
      const label = this.packageTypes.get(ref.registry.packageType).label;
      throw new PalletError('CONFLICT', `${label} registries do not support deleting versions or artifacts through the API (the format manages none)`, {
        packageType: ref.registry.packageType,
      });
    }
    return packages;
  }

  private async tagsOf(registry: RegistryRecord, artifact: string): Promise<ReadonlyMap<string, readonly string[]>> {
    const packages = this.packagesOf(registry.packageType);
    return packages?.tags ? packages.tags(registry, artifact) : new Map();
  }
}

export function artifactNotFound(ref: RegistryRef, name: string): PalletError {
  return new PalletError('NOT_FOUND', `registry ${ref.root.path}/${ref.registry.identifier} has no artifact ${name}`, { name });
}

export function versionNotFound(ref: RegistryRef, name: string, version: string): PalletError {
  return new PalletError('NOT_FOUND', `artifact ${name} in ${ref.root.path}/${ref.registry.identifier} has no version ${version}`, { name, version });
}
