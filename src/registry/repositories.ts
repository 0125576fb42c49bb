/**
 * Resolves OCI repository names (`<root>/<registry>/<image…>`) to the registry and repository
 * that hold them.
 */
import { PalletError } from '../base/errors.js';
import { checkImageName, isRepositoryComponent } from '../base/names.js';
import type { MetadataStore, RegistryRecord, RepositoryRecord, SpaceRecord } from '../metadata/store.js';
import type { PackageTypes } from './package-types.js';

export interface RepositoryTarget {
  root: SpaceRecord;
  registry: RegistryRecord;
  /** The image name inside the registry (`team/app`). */
  name: string;
  /** The whole OCI repository name (`acme/docker-local/team/app`). */
  fullName: string;
}

export function fullRepositoryName(root: SpaceRecord, registry: RegistryRecord, name: string): string {
  return `${root.path}/${registry.identifier}/${name}`;
}

export class RepositoryResolver {
  /** @param packageTypes which registries OCI names may reach: those of an `ociBased` format. */
  constructor(
    private readonly store: MetadataStore,
    private readonly packageTypes: PackageTypes,
  ) {}

  /**
   * NAME_INVALID for a malformed name; NAME_UNKNOWN when the space or registry does not exist,
   * or is of a format not served over OCI (an npm registry has no OCI repositories; the answer
   * is the same as for a missing one).
   */
  async resolve(fullName: string): Promise<RepositoryTarget> {
    const parts = fullName.split('/');
    if (parts.length < 3 || !isRepositoryComponent(parts[0]!) || !isRepositoryComponent(parts[1]!)) {
      throw new PalletError('NAME_INVALID', `invalid repository name ${JSON.stringify(fullName)}: expected <space>/<registry>/<image>`, {
        name: fullName,
      });
    }
    const name = checkImageName(parts.slice(2).join('/'));
    const root = await this.store.findSpace(parts[0]!);
    const registry = root && (await this.store.findRegistry(root.id, parts[1]!));
    if (!root || !registry || !this.packageTypes.find(registry.packageType)?.ociBased) {
      throw new PalletError('NAME_UNKNOWN', `repository name not known to registry: no registry ${parts[0]}/${parts[1]}`, { name: fullName });
    }
    return { root, registry, name, fullName };
  }

  /** The repository for reading; NAME_UNKNOWN when nothing was ever pushed to it. */
  async forPull(target: RepositoryTarget): Promise<RepositoryRecord> {
    const repo = await this.store.findRepository(target.registry.id, target.name);
    if (!repo) throw new PalletError('NAME_UNKNOWN', `repository name not known to registry: ${target.fullName}`, { name: target.fullName });
    return repo;
  }

  /** The repository for writing, created on first push; DENIED for upstream proxies. */
  async forPush(target: RepositoryTarget): Promise<RepositoryRecord> {
    if (target.registry.kind === 'upstream') {
      throw new PalletError('DENIED', `${target.root.path}/${target.registry.identifier} is an upstream proxy: push to a local registry instead`);
    }
    return this.store.ensureRepository(target.registry.id, target.name);
  }
}
