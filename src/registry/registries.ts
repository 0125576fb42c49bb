/**
 * Registries: local registries (hosted; may carry an ordered list of upstream proxies) and
 * upstream proxies (kind `upstream`, with a proxy config). Creation, listing with stats,
 * configuration changes, deletion with storage reclaim, and the Setup Client steps.
 *
 * Contracts:
 * - identifier, packageType and kind are fixed at creation (INVALID_ARGUMENT on a change).
 * - An upstream list holds proxies of the registry's root space, of kind `upstream` and of the
 *   same package type, each once, in the order given (INVALID_ARGUMENT otherwise).
 * - Upstream passwords never leave this module: views carry `auth: {type, username}` only.
 * - Deleting a registry removes its artifacts, its upload sessions' storage, and the bytes of
 *   blobs no other repository of the root space links. Deleting a proxy that a registry still
 *   lists is a CONFLICT naming those registries.
 */
import type { JsonObject } from '../base/json.js';
import { PalletError } from '../base/errors.js';
import { checkName } from '../base/names.js';
import type {
  MetadataStore,
  PackageType,
  RegistryKind,
  RegistryPatch,
  RegistryRecord,
  RegistryStats,
  SpaceRecord,
} from '../metadata/store.js';
import type { BlobService } from './blobs.js';
import { paginate, type Page, type PageRequest, type SortKeys } from './listing.js';
import { checkDescription, checkSpacePath } from './spaces.js';
import {
  checkDestination,
  checkUpstreamConfig,
  readStoredUpstream,
  toJson,
  toUpstreamView,
  type DestinationCheck,
  type SecretCodec,
  type StoredUpstream,
  type UpstreamView,
} from './upstream-config.js';

export {
  DEFAULT_TAG_TTL_SECONDS,
  DOCKER_HUB_URL,
  readUpstreamConfig,
  type DestinationCheck,
  type SecretCodec,
  type UpstreamConfig,
  type UpstreamSource,
  type UpstreamView,
} from './upstream-config.js';

export const REGISTRY_KINDS: readonly RegistryKind[] = ['local', 'upstream'];
export const MAX_LABEL_LENGTH = 64;

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
  /** `<baseUrl>/<root>/<identifier>`: where OCI clients find it. */
  url: string;
  sizeBytes: number;
  artifactCount: number;
  downloadCount: number;
  createdAt: string;
  /** Latest change to the registry's configuration or content. */
  updatedAt: string;
}

export interface NewRegistryInput {
  space: unknown;
  identifier: unknown;
  packageType: unknown;
  kind?: unknown;
  description?: unknown;
  labels?: unknown;
  public?: unknown;
  upstreams?: unknown;
  upstream?: unknown;
}

export interface RegistryPatchInput {
  description?: unknown;
  labels?: unknown;
  public?: unknown;
  upstreams?: unknown;
  upstream?: unknown;
  /** Fixed at creation: accepted only when equal to the current value. */
  identifier?: unknown;
  packageType?: unknown;
  kind?: unknown;
  space?: unknown;
}

export interface RegistryFilterInput {
  /** A space path; every space when omitted. */
  space?: string;
  /** Include the registries of the space's nested projects. */
  recursive?: boolean;
  packageType?: string;
  kind?: string;
  q?: string;
}

export type { SetupStep } from './package-types.js';
import type { PackageTypeSpec, PackageTypes, SetupStep } from './package-types.js';

export interface SetupGuide {
  packageType: PackageType;
  steps: SetupStep[];
}

/** A registry found by root space and identifier. */
export interface RegistryRef {
  root: SpaceRecord;
  registry: RegistryRecord;
}

const EMPTY_STATS: RegistryStats = { sizeBytes: 0, artifactCount: 0, downloadCount: 0, lastModified: 0 };



function invalid(message: string, field: string, extra: JsonObject = {}): PalletError {
  return new PalletError('INVALID_ARGUMENT', message, { field, ...extra });
}

export function checkKind(value: unknown): RegistryKind {
  if (typeof value !== 'string' || !(REGISTRY_KINDS as readonly string[]).includes(value)) {
    throw invalid(`kind must be one of ${REGISTRY_KINDS.join(', ')}; got ${JSON.stringify(value)}`, 'kind');
  }
  return value as RegistryKind;
}

/** Labels: non-empty strings of at most 64 characters, trimmed; duplicates keep the first. */
export function checkLabels(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw invalid('labels must be an array of strings', 'labels');
  const out: string[] = [];
  for (const [i, raw] of value.entries()) {
    if (typeof raw !== 'string') throw invalid(`labels[${i}] must be a string`, 'labels');
    const label = raw.trim();
    if (label.length === 0) throw invalid(`labels[${i}] must not be empty`, 'labels');
    if (label.length > MAX_LABEL_LENGTH) {
      throw invalid(`labels[${i}] is ${label.length} characters long; a label has at most ${MAX_LABEL_LENGTH}`, 'labels');
    }
    if (!out.includes(label)) out.push(label);
  }
  return out;
}

function checkBoolean(value: unknown, field: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw invalid(`${field} must be true or false`, field);
  return value;
}

const REGISTRY_SORT: SortKeys<RegistryView> = {
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

export class RegistryService {
  /**
   * @param baseUrl the external base URL (`scheme://host[:port]`, no trailing slash) used in
   *   registry URLs and Setup Client commands.
   * @param destinations where proxy URLs may point (asked when one is set); unchecked when absent.
   */
  constructor(
    private readonly store: MetadataStore,
    private readonly blobs: BlobService,
    private readonly baseUrl: string,
    private readonly secrets: SecretCodec,
    /** The formats this process serves: valid types, upstream sources and URL rules, setup steps. */
    private readonly packageTypes: PackageTypes,
    private readonly destinations?: DestinationCheck,
  ) {}

  /** The registry `identifier` of root space `root`; NOT_FOUND when either is missing. */
  async getRef(root: string, identifier: string): Promise<RegistryRef> {
    const space = root.includes('/') ? undefined : await this.store.findSpace(root);
    if (!space) {
      const why = root.includes('/') ? ` (registries are addressed by their root space, not "${root}")` : '';
      throw new PalletError('NOT_FOUND', `registry ${root}/${identifier} does not exist${why}`, { root, identifier });
    }
    const registry = await this.store.findRegistry(space.id, identifier);
    if (!registry) throw new PalletError('NOT_FOUND', `registry ${root}/${identifier} does not exist`, { root, identifier });
    return { root: space, registry };
  }

  async create(input: NewRegistryInput): Promise<RegistryView> {
    const spacePath = checkSpacePath(input.space).join('/');
    const identifier = checkName('identifier', input.identifier);
    const packageType = this.packageTypes.check(input.packageType);
    const kind = input.kind === undefined ? 'local' : checkKind(input.kind);
    const description = checkDescription(input.description) ?? '';
    const labels = checkLabels(input.labels) ?? [];
    const isPublic = checkBoolean(input.public, 'public') ?? false;
    let upstream: StoredUpstream | undefined;
    if (kind === 'upstream') {
      if (input.upstream === undefined || input.upstream === null) {
        throw invalid('an upstream proxy needs its upstream config: {"source", "url", "auth", "tagTtlSeconds"}', 'upstream');
      }
      const spec = this.packageTypes.get(packageType);
      upstream = checkUpstreamConfig(spec, input.upstream, this.secrets);
      await checkDestination(upstream, spec, this.destinations);
    } else if (input.upstream !== undefined && input.upstream !== null) {
      throw invalid('only upstream proxies (kind "upstream") take an upstream config; a local registry lists proxies in "upstreams"', 'upstream');
    }

    const space = await this.store.findSpace(spacePath);
    if (!space) throw new PalletError('NOT_FOUND', `space "${spacePath}" does not exist`, { path: spacePath });
    const rootPath = spacePath.split('/')[0]!;
    const upstreamIds = await this.resolveUpstreams({ rootSpaceId: space.rootId, rootPath, identifier, packageType, kind }, input.upstreams);

    let record: RegistryRecord;
    try {
      record = await this.store.createRegistry({
        spaceId: space.id,
        identifier,
        packageType,
        kind,
        description,
        labels,
        public: isPublic,
        upstream: upstream ? toJson(upstream) : null,
      });
    } catch (err) {
      if (err instanceof PalletError && err.code === 'ALREADY_EXISTS') {
        throw new PalletError('ALREADY_EXISTS', `a registry "${identifier}" already exists in ${rootPath} (identifiers are unique within a root space)`, {
          root: rootPath,
          identifier,
        });
      }
      throw err;
    }
    if (upstreamIds && upstreamIds.length > 0) {
      try {
        await this.store.setUpstreams(record.id, upstreamIds);
      } catch (err) {
        // A proxy deleted between the check and here: undo the creation rather than leave a
        // registry without the list the caller asked for.
        await this.store.deleteRegistry(record.id);
        throw err;
      }
    }
    return this.view(record, space.path, rootPath);
  }

  async get(root: string, identifier: string): Promise<RegistryView> {
    const { root: rootSpace, registry } = await this.getRef(root, identifier);
    const space = registry.spaceId === rootSpace.id ? rootSpace : await this.store.findSpaceById(registry.spaceId);
    return this.view(registry, space?.path ?? rootSpace.path, rootSpace.path);
  }

  /** Registries matching the filter, with stats, sorted and paged. */
  /** Registries matching the filter (and `visible`, the caller's view), with stats, paged. */
  async list(
    filter: RegistryFilterInput,
    page: PageRequest,
    visible?: (record: RegistryRecord, spacePath: string) => boolean,
  ): Promise<Page<RegistryView>> {
    const spaces = await this.store.listSpaces();
    let spaceIds: string[] | undefined;
    if (filter.space !== undefined) {
      const path = checkSpacePath(filter.space).join('/');
      const space = spaces.find((s) => s.path === path);
      if (!space) throw new PalletError('NOT_FOUND', `space "${path}" does not exist`, { path });
      spaceIds = filter.recursive ? spaces.filter((s) => s.path === path || s.path.startsWith(`${path}/`)).map((s) => s.id) : [space.id];
    }
    const spacePaths = new Map(spaces.map((s) => [s.id, s.path]));
    const matching = await this.store.listRegistries({
      ...(spaceIds ? { spaceIds } : {}),
      ...(filter.packageType !== undefined ? { packageType: this.packageTypes.check(filter.packageType) } : {}),
      ...(filter.kind !== undefined ? { kind: checkKind(filter.kind) } : {}),
      ...(filter.q ? { q: filter.q } : {}),
    });
    const records = visible ? matching.filter((r) => visible(r, spacePaths.get(r.spaceId) ?? '')) : matching;
    const stats = await this.stats(records.map((r) => r.id));
    const pathById = new Map(spaces.map((s) => [s.id, s.path]));
    // Upstream lists are read only for the page shown, so they are filled in after paging.
    const recordOf = new Map<RegistryView, RegistryRecord>();
    for (const r of records) {
      const view = this.present(r, pathById.get(r.spaceId) ?? '', pathById.get(r.rootSpaceId) ?? '', [], stats.get(r.id) ?? EMPTY_STATS);
      recordOf.set(view, r);
    }
    const result = paginate([...recordOf.keys()], page, REGISTRY_SORT, 'identifier');
    for (const view of result.items) {
      const record = recordOf.get(view);
      if (record?.kind === 'local') view.upstreams = (await this.store.listUpstreams(record.id)).map((u) => u.identifier);
    }
    return result;
  }

  /** Changes description, labels, public, the upstream list or the proxy config. */
  async update(root: string, identifier: string, patch: RegistryPatchInput): Promise<RegistryView> {
    const { root: rootSpace, registry } = await this.getRef(root, identifier);
    const fixed: Array<[keyof RegistryPatchInput, string]> = [
      ['identifier', registry.identifier],
      ['packageType', registry.packageType],
      ['kind', registry.kind],
    ];
    for (const [field, current] of fixed) {
      const wanted = patch[field];
      if (wanted !== undefined && wanted !== current) {
        throw invalid(`${field} cannot change after creation (it is ${JSON.stringify(current)}); create a new registry instead`, field);
      }
    }
    if (patch.space !== undefined) {
      const space = await this.store.findSpaceById(registry.spaceId);
      if (patch.space !== space?.path) {
        throw invalid(`space cannot change after creation (it is ${JSON.stringify(space?.path)}); create a new registry instead`, 'space');
      }
    }

    const changes: RegistryPatch = {};
    const description = checkDescription(patch.description);
    if (description !== undefined) changes.description = description;
    const labels = checkLabels(patch.labels);
    if (labels !== undefined) changes.labels = labels;
    const isPublic = checkBoolean(patch.public, 'public');
    if (isPublic !== undefined) changes.public = isPublic;
    if (patch.upstream !== undefined) {
      if (registry.kind !== 'upstream') {
        throw invalid('only upstream proxies (kind "upstream") have an upstream config; set "upstreams" to choose proxies', 'upstream');
      }
      const previous = readStoredUpstream(registry.upstream);
      const spec = this.packageTypes.get(registry.packageType);
      const next = checkUpstreamConfig(spec, patch.upstream, this.secrets, previous);
      await checkDestination(next, spec, this.destinations, previous?.url);
      changes.upstream = toJson(next);
    }
    const upstreamIds = await this.resolveUpstreams(
      { rootSpaceId: rootSpace.id, rootPath: rootSpace.path, identifier: registry.identifier, packageType: registry.packageType, kind: registry.kind },
      patch.upstreams,
    );

    if (upstreamIds) await this.store.setUpstreams(registry.id, upstreamIds);
    if (Object.keys(changes).length > 0) await this.store.updateRegistry(registry.id, changes);
    return this.get(rootSpace.path, registry.identifier);
  }

  /**
   * Deletes the registry and its artifacts, then reclaims storage: upload sessions of its
   * repositories, and blobs that no repository of the root space links any more.
   */
  async delete(root: string, identifier: string): Promise<void> {
    const { root: rootSpace, registry } = await this.getRef(root, identifier);
    if (registry.kind === 'upstream') {
      const users = await this.store.listDownstreams(registry.id);
      if (users.length > 0) {
        const names = users.map((u) => u.identifier);
        throw new PalletError(
          'CONFLICT',
          `upstream proxy ${root}/${identifier} is used by ${names.join(', ')}: remove it from their upstream lists first`,
          { usedBy: names },
        );
      }
    }
    const { uploadIds } = await this.store.deleteRegistry(registry.id);
    for (const id of uploadIds) await this.blobs.discard(id);
    await this.blobs.reclaimOrphans(rootSpace.id);
  }

  /**
   * Seals upstream passwords stored in plain text (rows written before encryption at rest);
   * resolves to how many it sealed. Idempotent; run at startup.
   */
  async sealStoredSecrets(): Promise<number> {
    let sealed = 0;
    for (const record of await this.store.listRegistries({ kind: 'upstream' })) {
      const stored = readStoredUpstream(record.upstream);
      if (stored?.auth.type !== 'basic' || this.secrets.isSealed(stored.auth.password)) continue;
      const auth = { ...stored.auth, password: this.secrets.seal(stored.auth.password) };
      await this.store.updateRegistry(record.id, { upstream: toJson({ ...stored, auth }) });
      sealed++;
    }
    return sealed;
  }

  /** The Setup Client steps for the registry's package type, with host and names filled in. */
  async setup(root: string, identifier: string): Promise<SetupGuide> {
    const { root: rootSpace, registry } = await this.getRef(root, identifier);
    return setupGuide(this.baseUrl, rootSpace.path, registry, this.packageTypes.get(registry.packageType));
  }

  /**
   * Validates an upstream list for a registry and resolves it to registry ids, in order;
   * undefined when no list was given.
   */
  private async resolveUpstreams(
    target: { rootSpaceId: string; rootPath: string; identifier: string; packageType: PackageType; kind: RegistryKind },
    value: unknown,
  ): Promise<string[] | undefined> {
    if (value === undefined) return undefined;
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
      throw invalid('upstreams must be an array of upstream proxy identifiers', 'upstreams');
    }
    const list = value as string[];
    if (target.kind === 'upstream') {
      if (list.length === 0) return undefined;
      throw invalid('an upstream proxy has no upstream list; set "upstreams" on a local registry', 'upstreams');
    }
    const ids: string[] = [];
    for (const [i, name] of list.entries()) {
      if (list.indexOf(name) !== i) throw invalid(`upstreams lists "${name}" more than once`, 'upstreams', { identifier: name });
      const proxy = await this.store.findRegistry(target.rootSpaceId, name);
      if (!proxy) {
        throw invalid(`upstreams[${i}]: no upstream proxy "${name}" exists in ${target.rootPath}`, 'upstreams', { identifier: name });
      }
      if (proxy.kind !== 'upstream') {
        throw invalid(`upstreams[${i}]: "${name}" is a local registry, not an upstream proxy`, 'upstreams', { identifier: name });
      }
      if (proxy.packageType !== target.packageType) {
        throw invalid(
          `upstreams[${i}]: "${name}" is a ${proxy.packageType} upstream proxy; ${target.identifier} is a ${target.packageType} registry and takes only ${target.packageType} proxies`,
          'upstreams',
          { identifier: name },
        );
      }
      ids.push(proxy.id);
    }
    return ids;
  }

  /**
   * Stats per registry id. An artifact is a repository with at least one version (what the
   * artifact list shows), so repositories holding only blobs (an unfinished push) are not
   * counted, though their bytes are.
   */
  private async stats(ids: string[]): Promise<Map<string, RegistryStats>> {
    if (ids.length === 0) return new Map();
    const stats = await this.store.registryStats(ids);
    const artifacts = new Map<string, number>();
    for (const a of await this.store.listArtifacts(ids)) {
      if (a.versionCount > 0) artifacts.set(a.registryId, (artifacts.get(a.registryId) ?? 0) + 1);
    }
    for (const [id, s] of stats) stats.set(id, { ...s, artifactCount: artifacts.get(id) ?? 0 });
    return stats;
  }

  private async view(record: RegistryRecord, spacePath: string, rootPath: string): Promise<RegistryView> {
    const stats = (await this.stats([record.id])).get(record.id) ?? EMPTY_STATS;
    const upstreams = record.kind === 'local' ? (await this.store.listUpstreams(record.id)).map((u) => u.identifier) : [];
    return this.present(record, spacePath, rootPath, upstreams, stats);
  }

  private present(record: RegistryRecord, spacePath: string, rootPath: string, upstreams: string[], stats: RegistryStats): RegistryView {
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
      url: `${this.baseUrl}/${rootPath}/${record.identifier}`,
      sizeBytes: stats.sizeBytes,
      artifactCount: stats.artifactCount,
      downloadCount: stats.downloadCount,
      createdAt: new Date(record.createdAt).toISOString(),
      updatedAt: new Date(Math.max(record.updatedAt, stats.lastModified)).toISOString(),
    };
  }
}

/** Setup Client commands of the registry's format, for this server's base URL. */
export function setupGuide(baseUrl: string, rootPath: string, registry: RegistryRecord, spec: PackageTypeSpec): SetupGuide {
  const url = new URL(baseUrl);
  const steps = spec.setup({
    baseUrl: baseUrl.replace(/\/+$/, ''),
    host: url.host,
    plain: url.protocol === 'http:',
    rootPath,
    identifier: registry.identifier,
    pushable: registry.kind === 'local',
    public: registry.public,
  });
  return { packageType: registry.packageType, steps };
}
