/**
 * Artifacts of a registry as the management surfaces see them: artifacts (repositories that
 * hold at least one version), their versions (manifests) with tags, sizes and downloads, the
 * detail of one version, and deletion of versions and whole artifacts.
 *
 * A `{version}` is a manifest digest or a tag; a tag is resolved to its digest first, so
 * deleting a version by tag deletes the manifest and every tag pointing at it.
 *
 * Cached artifacts (`cached: true`): everything in an upstream proxy is a cached copy of its
 * upstream; a local registry's view also shows, read-only, the proxy artifacts it served
 * through its upstream list (after its own artifacts of the same name, which win).
 *
 * Registries of a format not served over OCI list their package files instead
 * (`package-artifacts.ts`): a `{version}` is then the version string, and versions carry
 * `version` and `files`.
 */
import { MANIFEST_LIMITS, METADATA_JSON_LIMITS, parseJsonBounded } from '../base/bounded-parse.js';
import type { PackageTypes } from './package-types.js';
import { isJsonObject } from '../base/json.js';
import { isDigest } from '../base/digest.js';
import { isPalletError, PalletError } from '../base/errors.js';
import type { Log } from '../base/log.js';
import { isTag } from '../base/names.js';
import { readLimited } from '../base/streams.js';
import type { ArtifactRecord, MetadataStore, RegistryRecord, RepositoryRecord, StoredManifest, VersionRecord } from '../metadata/store.js';
import type { UpstreamStore } from '../metadata/upstream-store.js';
import type { BlobService } from './blobs.js';
import { paginate, type Page, type PageRequest, type SortKeys } from '../base/paging.js';
import { isIndexMediaType } from './media-types.js';
import type { RegistryRef, RegistryService } from './registries.js';
import type { PackageFileStore } from '../metadata/package-file-store.js';
import { artifactNotFound, PackageArtifacts, versionNotFound, type FormatPackagesLookup, type PackageFileView, type PackageVersionRow } from './package-artifacts.js';

/** Largest config read for a format's version detail (`PackageTypeSpec.versionDetail`). */
const MAX_DETAIL_CONFIG_BYTES = METADATA_JSON_LIMITS.maxBytes;

export interface ArtifactView {
  name: string;
  versionCount: number;
  /** The most recently updated tag; null when every version is untagged. */
  latestVersion: string | null;
  sizeBytes: number;
  downloadCount: number;
  updatedAt: string;
  /** Whether the artifact was fetched through an upstream proxy (a cached copy). */
  cached: boolean;
}

export interface VersionView {
  /** The manifest digest; for a package version the digest of its first file by path ('' when none). */
  digest: string;
  tags: string[];
  mediaType: string;
  artifactType: string | null;
  /** The manifest plus everything it references, in bytes. */
  size: number;
  /** The manifest document alone, in bytes. */
  manifestSize: number;
  createdAt: string;
  downloadCount: number;
  /** A package version (format not served over OCI): its version string; absent for OCI versions. */
  version?: string;
  /** A package version: its files, by path; absent for OCI versions. */
  files?: PackageFileView[];
}

export interface DescriptorView {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export interface PlatformView extends DescriptorView {
  /** The child's platform as the index declares it; null when the index names none. */
  platform: { architecture: string; os: string; variant?: string; 'os.version'?: string } | null;
}

export interface VersionDetail extends VersionView {
  /** The artifact's name. */
  name: string;
  annotations: Record<string, string> | null;
  subject: string | null;
  /** The manifest document as pushed; null for a package version. */
  manifest: unknown;
  /** The config descriptor of an image manifest; null for an index. */
  config: DescriptorView | null;
  /** Layers of an image manifest, in document order; empty for an index. */
  layers: DescriptorView[];
  /** The children of an index with their platforms; null for an image manifest. */
  platforms: PlatformView[] | null;
  /**
   * The formats' version details (`PackageTypeSpec.versionDetail`), by field: the OCI config of
   * an artifact whose config has the format's media type (Helm: `chart`), null for the others.
   */
  [field: string]: unknown;
}

const ARTIFACT_SORT: SortKeys<ArtifactView> = {
  name: (a) => a.name,
  versionCount: (a) => a.versionCount,
  sizeBytes: (a) => a.sizeBytes,
  downloadCount: (a) => a.downloadCount,
  updatedAt: (a) => a.updatedAt,
};

/**
 * A version string's sort key: runs of digits compare as numbers (`2.0.0` < `10.0.0`), the rest
 * as text. Format-neutral (no semver or PEP 440 rules: `10.0.0` < `10.0.0-rc.1`).
 */
function numbersFirst(version: string): string {
  return version.replace(/\d+/g, (digits) => digits.replace(/^0+(?=\d)/, '').padStart(20, '0'));
}

const VERSION_SORT: SortKeys<VersionView> = {
  createdAt: (v) => v.createdAt,
  version: (v) => (v.version === undefined ? v.digest : numbersFirst(v.version)),
  digest: (v) => v.digest,
  size: (v) => v.size,
  downloadCount: (v) => v.downloadCount,
};

export const ARTIFACT_SORT_KEYS: readonly string[] = Object.keys(ARTIFACT_SORT);
export const VERSION_SORT_KEYS: readonly string[] = Object.keys(VERSION_SORT);



function toArtifactView(a: ArtifactRecord, cached: boolean): ArtifactView {
  return {
    name: a.name,
    versionCount: a.versionCount,
    latestVersion: a.latestTag,
    sizeBytes: a.sizeBytes,
    downloadCount: a.downloadCount,
    updatedAt: new Date(a.updatedAt).toISOString(),
    cached,
  };
}

function toVersionView(v: VersionRecord): VersionView {
  return {
    digest: v.digest,
    tags: v.tags,
    mediaType: v.mediaType,
    artifactType: v.artifactType,
    size: v.totalSize,
    manifestSize: v.size,
    createdAt: new Date(v.createdAt).toISOString(),
    downloadCount: v.downloadCount,
  };
}

function toPackageArtifactView(a: { artifact: string; versionCount: number; sizeBytes: number; updatedAt: number; cached: boolean }): ArtifactView {
  return {
    name: a.artifact,
    versionCount: a.versionCount,
    latestVersion: null,
    sizeBytes: a.sizeBytes,
    downloadCount: 0,
    updatedAt: new Date(a.updatedAt).toISOString(),
    cached: a.cached,
  };
}

/** A package version with the OCI-only fields at their package values (see package-artifacts.ts). */
function toPackageVersionView(v: PackageVersionRow): VersionView {
  return {
    digest: '',
    tags: v.tags,
    mediaType: '',
    artifactType: null,
    size: v.sizeBytes,
    manifestSize: 0,
    createdAt: new Date(v.createdAt).toISOString(),
    downloadCount: 0,
    version: v.version,
    files: [],
  };
}

/** A descriptor of a stored (hence already validated) manifest document. */
function toDescriptor(value: unknown): DescriptorView {
  const d = isJsonObject(value) ? value : {};
  return {
    mediaType: String(d.mediaType ?? ''),
    digest: String(d.digest ?? ''),
    size: typeof d.size === 'number' ? d.size : 0,
    ...(typeof d.artifactType === 'string' ? { artifactType: d.artifactType } : {}),
    ...(isJsonObject(d.annotations) ? { annotations: d.annotations as Record<string, string> } : {}),
  };
}

/** Checks a `{version}`: a digest or a tag. */
function versionKind(version: string): 'digest' | 'tag' {
  if (isDigest(version)) return 'digest';
  if (!version.includes(':') && isTag(version)) return 'tag';
  throw new PalletError('INVALID_ARGUMENT', `version ${JSON.stringify(version)} is neither a digest (sha256:…) nor a valid tag`, {
    field: 'version',
  });
}

export class ArtifactService {
  constructor(
    private readonly store: MetadataStore,
    private readonly blobs: BlobService,
    private readonly registries: RegistryService,
    /** Which proxy artifacts local registries served (shown beside their own). */
    private readonly upstreams: Pick<UpstreamStore, 'listServed'>,
    /** The served formats, for their version details. */
    private readonly packageTypes: PackageTypes,
    /** Package files and the formats' management parts, for formats not served over OCI. */
    packages?: { files: PackageFileStore; packagesOf: FormatPackagesLookup },
  ) {
    this.packages = packages ? new PackageArtifacts(store, packages.files, packages.packagesOf, packageTypes) : undefined;
  }

  private readonly packages: PackageArtifacts | undefined;

  /** The package view of the registry, when its format is not served over OCI. */
  private packagesFor(ref: RegistryRef): PackageArtifacts | undefined {
    return this.packages?.handles(ref.registry) ? this.packages : undefined;
  }

  /** Artifacts with at least one version; `q` keeps names containing it (any case). */
  async list(root: string, identifier: string, q: string | undefined, page: PageRequest): Promise<Page<ArtifactView>> {
    const ref = await this.registries.getRef(root, identifier);
    const needle = q?.toLowerCase();
    const pkg = this.packagesFor(ref);
    if (pkg) return this.packageList(pkg, ref, needle, page);
    const artifacts = (await this.visibleArtifacts(ref)).filter((a) => !needle || a.name.toLowerCase().includes(needle));
    return paginate(artifacts, page, ARTIFACT_SORT, 'name');
  }

  /** The registry's artifacts with versions, then (local registries) the proxy artifacts it served. */
  private async visibleArtifacts(ref: RegistryRef): Promise<ArtifactView[]> {
    const cached = ref.registry.kind === 'upstream';
    const own = (await this.store.listArtifacts([ref.registry.id])).filter((a) => a.versionCount > 0).map((a) => toArtifactView(a, cached));
    if (cached) return own;
    const served = await this.upstreams.listServed(ref.registry.id);
    if (served.length === 0) return own;
    const wanted = new Set(served.map((s) => s.repositoryId));
    const names = new Set(own.map((a) => a.name));
    const out = [...own];
    for (const a of await this.store.listArtifacts([...new Set(served.map((s) => s.upstreamId))])) {
      if (a.versionCount === 0 || !wanted.has(a.repositoryId) || names.has(a.name)) continue;
      names.add(a.name);
      out.push(toArtifactView(a, true));
    }
    return out;
  }

  private async packageList(pkg: PackageArtifacts, ref: RegistryRef, needle: string | undefined, page: PageRequest): Promise<Page<ArtifactView>> {
    const rows = (await pkg.artifacts(ref)).filter((a) => !needle || a.artifact.toLowerCase().includes(needle));
    const views = new Map(rows.map((r) => [toPackageArtifactView(r), r] as const));
    const result = paginate([...views.keys()], page, ARTIFACT_SORT, 'name');
    // Only the page shown asks its format for tags.
    for (const view of result.items) {
      const row = views.get(view)!;
      view.latestVersion = await pkg.latestVersion(row.source, row);
    }
    return result;
  }

  /** One artifact; NOT_FOUND when the repository is missing or holds no version. */
  async get(root: string, identifier: string, name: string): Promise<ArtifactView> {
    const ref = await this.registries.getRef(root, identifier);
    const pkg = this.packagesFor(ref);
    if (pkg) {
      const row = (await pkg.artifacts(ref, name)).find((a) => a.artifact === name);
      if (!row) throw artifactNotFound(ref, name);
      return { ...toPackageArtifactView(row), latestVersion: await pkg.latestVersion(row.source, row) };
    }
    const found = (await this.visibleArtifacts(ref)).find((a) => a.name === name);
    if (!found) throw this.artifactNotFound(ref, name);
    return found;
  }

  /**
   * Versions of an artifact, newest first unless asked otherwise; `q` keeps versions whose
   * digest or a tag contains it.
   */
  async versions(root: string, identifier: string, name: string, q: string | undefined, page: PageRequest): Promise<Page<VersionView>> {
    const ref = await this.registries.getRef(root, identifier);
    const pkg = this.packagesFor(ref);
    if (pkg) return this.packageVersions(pkg, ref, name, q?.toLowerCase(), page);
    const { versions } = await this.getVersions(ref, name);
    const needle = q?.toLowerCase();
    const matching = versions.filter((v) => !needle || v.digest.includes(needle) || v.tags.some((t) => t.toLowerCase().includes(needle)));
    return paginate(matching.map(toVersionView), page, VERSION_SORT, 'createdAt', 'desc');
  }

  private async packageVersions(pkg: PackageArtifacts, ref: RegistryRef, name: string, needle: string | undefined, page: PageRequest): Promise<Page<VersionView>> {
    const { source, versions } = await pkg.find(ref, name);
    const matching = versions.filter((v) => !needle || v.version.toLowerCase().includes(needle) || v.tags.some((t) => t.toLowerCase().includes(needle)));
    const result = paginate(matching.map(toPackageVersionView), page, VERSION_SORT, 'createdAt', 'desc');
    await this.withPackageFiles(pkg, source.registry, name, result.items);
    return result;
  }

  /** Fills in the files (and the digest of the first file) of package versions. */
  private async withPackageFiles(pkg: PackageArtifacts, source: RegistryRecord, name: string, views: VersionView[]): Promise<void> {
    const rows = views.map((v) => ({ version: v.version ?? '', files: [] as PackageFileView[] }));
    await pkg.withFiles(source, name, rows);
    for (const [i, view] of views.entries()) {
      view.files = rows[i]!.files;
      view.digest = view.files[0]?.digest ?? '';
    }
  }

  private async packageVersion(pkg: PackageArtifacts, ref: RegistryRef, name: string, version: string): Promise<VersionDetail> {
    const { source, versions } = await pkg.find(ref, name);
    const row = versions.find((v) => v.version === version);
    if (!row) throw versionNotFound(ref, name, version);
    const view = toPackageVersionView(row);
    await this.withPackageFiles(pkg, source.registry, name, [view]);
    return {
      name,
      ...view,
      annotations: null,
      subject: null,
      manifest: null,
      config: null,
      layers: [],
      platforms: null,
      ...(await pkg.details(source.registry, name, version)),
    };
  }

  async version(root: string, identifier: string, name: string, version: string): Promise<VersionDetail> {
    const ref = await this.registries.getRef(root, identifier);
    const pkg = this.packagesFor(ref);
    if (pkg) return this.packageVersion(pkg, ref, name, version);
    const kind = versionKind(version);
    const { repo, versions } = await this.getVersions(ref, name);
    const manifest = await this.findManifest(ref, repo, version, kind);
    const record = versions.find((v) => v.digest === manifest.digest);
    if (!record) throw this.versionNotFound(ref, name, version);
    // Stored manifests passed validation when pushed, but may predate the parse limits.
    const doc: unknown = await parseJsonBounded(manifest.payload, { ...MANIFEST_LIMITS, maxBytes: manifest.payload.length }).catch((err: unknown) => {
      if (isPalletError(err, 'INVALID_ARGUMENT')) return {};
      throw err;
    });
    const json = isJsonObject(doc) ? doc : {};
    const index = isIndexMediaType(manifest.mediaType);
    const config = !index && json.config !== undefined ? toDescriptor(json.config) : null;
    const platforms = index
      ? (Array.isArray(json.manifests) ? json.manifests : []).map((child): PlatformView => {
          const p = isJsonObject(child) && isJsonObject(child.platform) ? child.platform : undefined;
          return {
            ...toDescriptor(child),
            platform: p
              ? {
                  architecture: String(p.architecture ?? ''),
                  os: String(p.os ?? ''),
                  ...(typeof p.variant === 'string' ? { variant: p.variant } : {}),
                  ...(typeof p['os.version'] === 'string' ? { 'os.version': p['os.version'] } : {}),
                }
              : null,
          };
        })
      : null;
    return {
      name: repo.name,
      ...toVersionView(record),
      annotations: manifest.annotations,
      subject: manifest.subjectDigest,
      manifest: doc,
      config,
      layers: !index && Array.isArray(json.layers) ? json.layers.map(toDescriptor) : [],
      platforms,
      ...(await this.formatDetails(ref, repo, config?.mediaType, config?.digest)),
    };
  }

  /**
   * Deletes a version: the manifest a digest or tag names, with every tag pointing at it; for a
   * package version, its format deletes it (CONFLICT when the format manages none).
   */
  async deleteVersion(root: string, identifier: string, name: string, version: string, log?: Log): Promise<void> {
    const ref = await this.registries.getRef(root, identifier);
    const pkg = this.packagesFor(ref);
    if (pkg) {
      if (!log) throw new Error('deleting a package version needs the request logger');
      return pkg.deleteVersion(ref, name, version, log);
    }
    const kind = versionKind(version);
    const repo = await this.getRepository(ref, name);
    const manifest = await this.findManifest(ref, repo, version, kind);
    if (!(await this.store.deleteManifest(repo.id, manifest.digest))) throw this.versionNotFound(ref, name, version);
  }

  /**
   * Deletes an artifact with all its versions, its upload sessions and the blobs only it held;
   * the reclaim is logged to `log` (the request's logger, so the line carries its request id).
   */
  async deleteArtifact(root: string, identifier: string, name: string, log: Log): Promise<void> {
    const ref = await this.registries.getRef(root, identifier);
    const pkg = this.packagesFor(ref);
    if (pkg) return pkg.deleteArtifact(ref, name, log);
    const repo = await this.getRepository(ref, name);
    const { uploadIds } = await this.store.deleteRepository(repo.id);
    for (const id of uploadIds) await this.blobs.discard(id);
    const reclaimed = await this.blobs.reclaimOrphans(ref.root.id);
    log.info(
      { gc: { artifact: `${ref.root.path}/${ref.registry.identifier}/${name}`, uploads: uploadIds.length, blobs: reclaimed.count, bytes: reclaimed.bytes } },
      'gc: reclaimed the storage of a deleted artifact',
    );
  }

  private async getRepository(ref: RegistryRef, name: string): Promise<RepositoryRecord> {
    const repo = await this.store.findRepository(ref.registry.id, name);
    if (!repo) throw this.artifactNotFound(ref, name);
    return repo;
  }

  /**
   * The repository and its versions; NOT_FOUND when it holds none (it is not an artifact). For
   * a local registry without such an artifact, the proxy artifact it served under that name.
   */
  private async getVersions(ref: RegistryRef, name: string): Promise<{ repo: RepositoryRecord; versions: VersionRecord[] }> {
    const own = await this.store.findRepository(ref.registry.id, name);
    const ownVersions = own ? await this.store.listVersions(own.id) : [];
    if (own && ownVersions.length > 0) return { repo: own, versions: ownVersions };
    if (ref.registry.kind === 'local') {
      for (const served of await this.upstreams.listServed(ref.registry.id)) {
        if (served.name !== name) continue;
        const repo = await this.store.findRepository(served.upstreamId, name);
        const versions = repo ? await this.store.listVersions(repo.id) : [];
        if (repo && versions.length > 0) return { repo, versions };
      }
    }
    throw this.artifactNotFound(ref, name);
  }

  private async findManifest(ref: RegistryRef, repo: RepositoryRecord, version: string, kind: 'digest' | 'tag'): Promise<StoredManifest> {
    const found = kind === 'digest' ? await this.store.findManifest(repo.id, version) : await this.store.findManifestByTag(repo.id, version);
    if (!found) throw this.versionNotFound(ref, repo.name, version);
    return found;
  }

  /** Every served format's detail field: its config JSON when `mediaType` is the format's, else null. */
  private async formatDetails(ref: RegistryRef, repo: RepositoryRecord, mediaType: string | undefined, digest: string | undefined): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    for (const spec of this.packageTypes.all) {
      const detail = spec.versionDetail;
      if (!detail) continue;
      out[detail.field] = digest !== undefined && mediaType === detail.mediaType ? await this.readConfig(ref, repo, digest) : null;
    }
    return out;
  }

  /** A config blob as JSON; null when it cannot be read (missing, too large, not JSON). */
  private async readConfig(ref: RegistryRef, repo: RepositoryRecord, digest: string): Promise<Record<string, unknown> | null> {
    try {
      const { stream } = await this.blobs.open({ rootSpaceId: ref.root.id, repositoryId: repo.id }, digest);
      const parsed: unknown = await parseJsonBounded(await readLimited(stream, MAX_DETAIL_CONFIG_BYTES), METADATA_JSON_LIMITS);
      return isJsonObject(parsed) ? parsed : null;
    } catch (err) {
      if (isPalletError(err)) return null;
      throw err;
    }
  }

  private artifactNotFound(ref: RegistryRef, name: string): PalletError {
    return artifactNotFound(ref, name);
  }

  private versionNotFound(ref: RegistryRef, name: string, version: string): PalletError {
    return versionNotFound(ref, name, version);
  }
}
