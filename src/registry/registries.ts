/**
 * Registry lifecycle: local registries (hosted; may carry an ordered list of upstream proxies)
 * and upstream proxies (kind `upstream`, with a proxy config, see `upstream-config.ts`):
 * creation, listing with stats, configuration changes, deletion with storage reclaim. Views are
 * built by `registry-views.ts`, field checks live in `registry-fields.ts`, the Setup Client
 * steps in `setup-guide.ts`.
 *
 * Contracts:
 * - identifier, packageType and kind are fixed at creation (INVALID_ARGUMENT on a change).
 * - An upstream list holds proxies of the registry's root space, of kind `upstream` and of the
 *   same package type, each once, in the order given (INVALID_ARGUMENT otherwise).
 * - Upstream passwords never leave the domain: views carry `auth: {type, username}` only.
 * - Deleting a registry removes its artifacts, its upload sessions' storage, and the bytes of
 *   blobs no other repository of the root space links. Deleting a proxy that a registry still
 *   lists is a CONFLICT naming those registries.
 */
import { PalletError } from '../base/errors.js';
import type { Log } from '../base/log.js';
import { checkName } from '../base/names.js';
import { paginate, type Page, type PageRequest } from '../base/paging.js';
import type { SecretCodec } from '../base/secret-box.js';
import type { MetadataStore, PackageType, RegistryKind, RegistryPatch, RegistryRecord, SpaceRecord } from '../metadata/store.js';
import type { BlobService } from './blobs.js';
import { checkBoolean, checkKind, checkLabels, invalid } from './registry-fields.js';
import { checkFormatSettings } from './format-settings.js';
import type { PackageFileStore } from '../metadata/package-file-store.js';
import { EMPTY_STATS, REGISTRY_SORT, RegistryViews, type RegistryView } from './registry-views.js';
import type { PackageTypes } from './package-types.js';
import { setupGuide, type SetupGuide } from './setup-guide.js';
import { checkDescription, checkSpacePath } from './spaces.js';
import { UpstreamConfigs, type DestinationCheck } from './upstream-config.js';

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
  /** The format's per-registry settings (see `format-settings.ts`). */
  settings?: unknown;
}

export interface RegistryPatchInput {
  description?: unknown;
  labels?: unknown;
  public?: unknown;
  upstreams?: unknown;
  upstream?: unknown;
  /** Merged into the stored settings; a `null` value puts a key back to its default. */
  settings?: unknown;
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

/** A registry found by root space and identifier. */
export interface RegistryRef {
  root: SpaceRecord;
  registry: RegistryRecord;
}

export class RegistryService {
  private readonly views: RegistryViews;
  private readonly upstreamConfigs: UpstreamConfigs;

  /**
   * @param baseUrl the external base URL (`scheme://host[:port]`, no trailing slash) used in
   *   registry URLs and Setup Client commands.
   * @param destinations where proxy URLs may point (asked when one is set); unchecked when absent.
   */
  constructor(
    private readonly store: MetadataStore,
    private readonly blobs: BlobService,
    private readonly baseUrl: string,
    secrets: SecretCodec,
    /** The formats this process serves: valid types, upstream sources and URL rules, setup steps. */
    private readonly packageTypes: PackageTypes,
    destinations?: DestinationCheck,
    /** Package files, so that artifacts of formats not served over OCI count in the stats. */
    packageFiles?: Pick<PackageFileStore, 'countArtifacts'>,
  ) {
    this.views = new RegistryViews(store, baseUrl, packageTypes, packageFiles);
    this.upstreamConfigs = new UpstreamConfigs(secrets, packageTypes, destinations);
  }

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
    const upstream = await this.upstreamConfigs.forCreate(kind, packageType, input.upstream);
    const settings = checkFormatSettings(this.packageTypes.get(packageType), input.settings) ?? {};

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
        upstream,
        settings,
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
    return this.views.view(record, space.path, rootPath);
  }

  async get(root: string, identifier: string): Promise<RegistryView> {
    const { root: rootSpace, registry } = await this.getRef(root, identifier);
    const space = registry.spaceId === rootSpace.id ? rootSpace : await this.store.findSpaceById(registry.spaceId);
    return this.views.view(registry, space?.path ?? rootSpace.path, rootSpace.path);
  }

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
    const stats = await this.views.stats(records);
    const pathById = new Map(spaces.map((s) => [s.id, s.path]));
    // Upstream lists are read only for the page shown, so they are filled in after paging.
    const recordOf = new Map<RegistryView, RegistryRecord>();
    for (const r of records) {
      const view = this.views.present(r, pathById.get(r.spaceId) ?? '', pathById.get(r.rootSpaceId) ?? '', [], stats.get(r.id) ?? EMPTY_STATS);
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
    if (patch.upstream !== undefined) changes.upstream = await this.upstreamConfigs.forPatch(registry, patch.upstream);
    // Only a PATCH of settings needs the format (a registry of a format this build does not
    // serve keeps the rest of its configuration editable).
    if (patch.settings !== undefined) changes.settings = checkFormatSettings(this.packageTypes.get(registry.packageType), patch.settings, registry.settings);
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
   * repositories, and blobs that no repository of the root space links any more. The reclaim
   * is logged to `log` (the request's logger, so the line carries its request id).
   */
  async delete(root: string, identifier: string, log: Log): Promise<void> {
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
    const reclaimed = await this.blobs.reclaimOrphans(rootSpace.id);
    log.info(
      { gc: { registry: `${rootSpace.path}/${registry.identifier}`, uploads: uploadIds.length, blobs: reclaimed.count, bytes: reclaimed.bytes } },
      'gc: reclaimed the storage of a deleted registry',
    );
  }

  /**
   * Seals upstream passwords stored in plain text (rows written before encryption at rest);
   * resolves to how many it sealed. Idempotent; run at startup.
   */
  async sealStoredSecrets(): Promise<number> {
    let sealed = 0;
    for (const record of await this.store.listRegistries({ kind: 'upstream' })) {
      const upstream = this.upstreamConfigs.resealed(record);
      if (!upstream) continue;
      await this.store.updateRegistry(record.id, { upstream });
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

}
