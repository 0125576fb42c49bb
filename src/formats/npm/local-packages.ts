/**
 * What an npm registry stores itself, read back: a local registry's published packages, or the
 * versions an upstream proxy cached (same tables, rows under the proxy's registry id). No
 * upstream is asked here, which is why the upstream adapter may use this too (to serve a proxy's
 * cached tarball before fetching) without a cycle.
 */
import { PalletError } from '../../base/errors.js';
import type { RegistryRecord, SpaceRecord } from '../../metadata/store.js';
import type { BlobService } from '../../registry/blobs.js';
import { tarballFileName } from './names.js';
import { buildPackument, type Packument } from './packument.js';
import type { OpenedTarball } from './packages.js';
import type { NpmPackageRecord, NpmStore, NpmVersionRecord } from './store/npm-store.js';

interface CachedPackument {
  registryUrl: string;
  rev: number;
  createdAt: number;
  modifiedAt: number;
  packument: Packument;
}

/** Recursively frozen: a cached packument is shared by every reader, none may change it. */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

export class LocalPackages {
  /**
   * Built packuments by registry and name, least recently used first. An entry is used only
   * while the package row still has its rev and times (every write moves the rev, in any
   * process), so it never serves a stale document; the row is read on every request. One entry
   * per package, for the last registry URL asked: the URL comes from the Host header when no
   * base URL is configured, and an entry per URL let a client fill the cache with copies of
   * one large packument under as many made-up hosts.
   */
  readonly #cache = new Map<string, CachedPackument>();

  constructor(
    private readonly deps: { npm: NpmStore; blobs: BlobService },
    private readonly cacheEntries = 1000,
  ) {}

  /**
   * The packument of the stored rows (`registryUrl`: the npm URL tarball links start with). The
   * result is frozen and may be the same object for every caller until the package changes:
   * copy it to change it.
   */
  async packument(registry: RegistryRecord, name: string, registryUrl: string): Promise<Packument | undefined> {
    const pkg = await this.deps.npm.findPackage(registry.id, name);
    if (!pkg) return undefined;
    const key = `${registry.id}\0${name}`;
    const hit = this.#cache.get(key);
    if (hit && hit.registryUrl === registryUrl && hit.rev === pkg.rev && hit.createdAt === pkg.createdAt && hit.modifiedAt === pkg.modifiedAt) {
      this.#cache.delete(key);
      this.#cache.set(key, hit);
      return hit.packument;
    }
    const packument = deepFreeze(buildPackument(pkg, await this.deps.npm.listVersions(registry.id, name), registryUrl));
    this.#cache.delete(key);
    this.#cache.set(key, { registryUrl, rev: pkg.rev, createdAt: pkg.createdAt, modifiedAt: pkg.modifiedAt, packument });
    while (this.#cache.size > this.cacheEntries) this.#cache.delete(this.#cache.keys().next().value!);
    return packument;
  }

  /** A stored tarball, streamed from blob storage; undefined when the registry has no such version. */
  async openTarball(root: SpaceRecord, registry: RegistryRecord, name: string, file: string, signal?: AbortSignal): Promise<OpenedTarball | undefined> {
    const found = await this.findByFile(registry, name, file);
    if (!found) return undefined;
    try {
      const { blob, stream } = await this.deps.blobs.open({ rootSpaceId: root.id, repositoryId: found.pkg.repositoryId }, found.version.tarballDigest, undefined, signal);
      return { stream, size: blob.size, digest: blob.digest };
    } catch (err) {
      if (err instanceof PalletError && err.code === 'BLOB_UNKNOWN') return undefined;
      throw err;
    }
  }

  /** The stored version whose tarball file is `file` (`<bare name>-<version>.tgz`). */
  async findByFile(registry: RegistryRecord, name: string, file: string): Promise<{ pkg: NpmPackageRecord; version: NpmVersionRecord } | undefined> {
    const bare = name.startsWith('@') ? name.slice(name.indexOf('/') + 1) : name;
    if (!file.startsWith(`${bare}-`) || !file.endsWith('.tgz')) return undefined;
    const number = file.slice(bare.length + 1, -'.tgz'.length);
    if (tarballFileName(name, number) !== file) return undefined;
    const [pkg, version] = await Promise.all([this.deps.npm.findPackage(registry.id, name), this.deps.npm.findVersion(registry.id, name, number)]);
    return pkg && version ? { pkg, version } : undefined;
  }
}
