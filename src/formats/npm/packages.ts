/**
 * The npm registry's reads and small writes over the npm store and the core's blobs: packuments
 * (built from the database), tarballs, dist-tags and search. Publishing and the metadata
 * updates of `PUT /<name>` are `publisher.ts`'s.
 *
 * Upstreams plug in through one collaborator, `NpmUpstreams` (absent: this registry's own
 * content only). Every read goes: the registry's own rows (local registries), then
 * `upstreams` with what was found locally, which may merge (a local registry's ordered
 * upstream proxies) or answer alone (an upstream proxy). See NOTES-npm.md.
 */
import type { Readable } from 'node:stream';
import { PalletError } from '../../base/errors.js';
import type { Log } from '../../base/log.js';
import type { RegistryRecord } from '../../metadata/store.js';
import type { RegistryRef } from '../../registry/registries.js';
import type { LocalPackages } from './local-packages.js';
import type { Packument } from './packument.js';
import { highestVersion } from './semver.js';
import { checkTagName } from './publish-check.js';
import type { NpmVersions } from './npm-versions.js';
import type { NpmPackageRecord, NpmStore } from './store/npm-store.js';

/** What a read needs to know about the request. */
export interface NpmRequestContext {
  /** This registry's npm URL as the client reaches it (`https://host/pkg/<root>/<registry>/npm`). */
  registryUrl: string;
  log: Log;
  /** Aborted when the client goes away. */
  signal?: AbortSignal;
  /** The client asked for the abbreviated packument (upstreams are asked for that form too). */
  abbreviated?: boolean;
  /**
   * `?write=true`: the client reads the packument to change it (deprecate, dist-tag, unpublish)
   * and sends it back, so a local registry answers its own document, without upstream versions.
   */
  write?: boolean;
}

export interface OpenedTarball {
  stream: Readable;
  size?: number;
  /** `sha256:…` when known (the ETag). */
  digest?: string;
}

/**
 * The upstream side of an npm registry (the npm upstream adapter implements it). Each method
 * gets what the registry itself holds and answers for the whole registry.
 */
export interface NpmUpstreams {
  /**
   * The packument to serve: `own` is the local package (undefined when the registry has none, or
   * is an upstream proxy); resolves to undefined when nobody has the package.
   */
  packument(ref: RegistryRef, name: string, own: Packument | undefined, ctx: NpmRequestContext): Promise<Packument | undefined>;
  /** A tarball the registry does not hold itself; undefined when no upstream has it. */
  openTarball(ref: RegistryRef, name: string, file: string, ctx: NpmRequestContext): Promise<OpenedTarball | undefined>;
  /**
   * An audit request (`advisories/bulk` or `audits/quick`, its JSON body) forwarded to the first
   * upstream that answers; undefined when none does (the registry then answers an empty result).
   */
  audit?(ref: RegistryRef, endpoint: 'advisories/bulk' | 'audits/quick', body: Buffer, ctx: NpmRequestContext): Promise<unknown>;
}

export interface NpmSearchResult {
  package: {
    name: string;
    version: string;
    description?: string;
    keywords?: unknown;
    date: string;
    links: Record<string, string>;
    publisher?: { username: string; email: string };
    maintainers: Array<{ username: string; email: string }>;
  };
  score: { final: number; detail: { quality: number; popularity: number; maintenance: number } };
  searchScore: number;
}

export class NpmPackages {
  constructor(
    private readonly deps: { npm: NpmStore; versions: NpmVersions },
    /** What the registry stores itself. */
    readonly local: LocalPackages,
    private readonly upstreams?: NpmUpstreams,
  ) {}

  /** The package's packument (full form); NOT_FOUND when neither the registry nor an upstream has it. */
  async packument(ref: RegistryRef, name: string, ctx: NpmRequestContext): Promise<Packument> {
    const own = ref.registry.kind === 'local' ? await this.local.packument(ref.registry, name, ctx.registryUrl) : undefined;
    const found = this.upstreams ? await this.upstreams.packument(ref, name, own, ctx) : own;
    if (!found) throw new PalletError('NOT_FOUND', `package ${name} not found`, { name });
    return found;
  }

  /** A tarball: the registry's own, then its upstreams'; NOT_FOUND when nobody has it. */
  async openTarball(ref: RegistryRef, name: string, file: string, ctx: NpmRequestContext): Promise<OpenedTarball> {
    const own = await this.local.openTarball(ref.root, ref.registry, name, file, ctx.signal);
    if (own) return own;
    const found = this.upstreams ? await this.upstreams.openTarball(ref, name, file, ctx) : undefined;
    if (!found) throw new PalletError('NOT_FOUND', `tarball ${name}/-/${file} not found`, { name, file });
    return found;
  }

  /** The dist-tags a client sees (the packument's, so upstream tags show through a local registry). */
  async distTags(ref: RegistryRef, name: string, ctx: NpmRequestContext): Promise<Record<string, string>> {
    return (await this.packument(ref, name, ctx))['dist-tags'];
  }

  /** Points `tag` at `version` of a local package (NOT_FOUND for an unknown package or version). */
  async setDistTag(ref: RegistryRef, name: string, tag: string, version: string): Promise<Record<string, string>> {
    checkTagName(tag);
    return this.#retryOnConflict(async () => {
      const pkg = await this.#localPackage(ref, name);
      if (!(await this.deps.npm.findVersion(ref.registry.id, name, version))) throw new PalletError('NOT_FOUND', `no version ${name}@${version}`, { name, version });
      const distTags = { ...pkg.distTags, [tag]: version };
      await this.deps.versions.update(ref.registry.id, name, pkg.rev, { distTags });
      return distTags;
    });
  }

  /** Removes a tag (`latest` stays: every package has one). */
  async removeDistTag(ref: RegistryRef, name: string, tag: string): Promise<Record<string, string>> {
    if (tag === 'latest') throw new PalletError('INVALID_ARGUMENT', 'the latest tag cannot be removed');
    return this.#retryOnConflict(async () => {
      const pkg = await this.#localPackage(ref, name);
      if (!Object.hasOwn(pkg.distTags, tag)) throw new PalletError('NOT_FOUND', `package ${name} has no dist-tag ${tag}`, { name, tag });
      const distTags = { ...pkg.distTags };
      delete distTags[tag];
      await this.deps.versions.update(ref.registry.id, name, pkg.rev, { distTags });
      return distTags;
    });
  }

  /**
   * Removes one version of a local package (the management API's delete and the end of `npm
   * unpublish`); tags naming it go, and `latest` moves to the highest version left.
   */
  async removeVersion(registry: RegistryRecord, name: string, version: string): Promise<void> {
    await this.#retryOnConflict(async () => {
      const pkg = await this.deps.npm.findPackage(registry.id, name);
      const stored = pkg ? (await this.deps.npm.listVersions(registry.id, name)).map((v) => v.version) : [];
      if (!pkg || !stored.includes(version)) throw new PalletError('NOT_FOUND', `no version ${name}@${version}`, { name, version });
      const left = stored.filter((v) => v !== version);
      await this.deps.versions.update(registry.id, name, pkg.rev, { removeVersions: [version], distTags: retag(pkg.distTags, version, left) });
    });
  }

  /**
   * An audit request: the upstreams' answer when one gives it, else the empty result npm takes
   * as "no advisories" (`{}` for both endpoints), so installs and `npm audit` never fail here.
   */
  async audit(ref: RegistryRef, endpoint: 'advisories/bulk' | 'audits/quick', body: Buffer, ctx: NpmRequestContext): Promise<unknown> {
    const answer = this.upstreams?.audit ? await this.upstreams.audit(ref, endpoint, body, ctx) : undefined;
    return answer ?? {};
  }

  /** `npm search`: packages of the registry whose name, description or keywords contain `text`. */
  async search(ref: RegistryRef, text: string, size: number, from: number, registryUrl: string): Promise<{ objects: NpmSearchResult[]; total: number; time: string }> {
    const page = await this.deps.npm.search([ref.registry.id], text, size, from);
    const objects = page.packages.map((pkg): NpmSearchResult => {
      const m = pkg.metadata;
      const maintainers = (Array.isArray(m.maintainers) ? (m.maintainers as unknown[]) : []).flatMap((entry) => {
        const person = entry as { name?: unknown; email?: unknown };
        return typeof person?.name === 'string' ? [{ username: person.name, email: typeof person.email === 'string' ? person.email : '' }] : [];
      });
      return {
        package: {
          name: pkg.name,
          version: pkg.distTags.latest ?? '',
          ...(typeof m.description === 'string' ? { description: m.description } : {}),
          ...(m.keywords !== undefined ? { keywords: m.keywords } : {}),
          date: new Date(pkg.modifiedAt).toISOString(),
          links: { npm: `${registryUrl}/${encodeURIComponent(pkg.name)}` },
          maintainers,
          ...(maintainers[0] ? { publisher: maintainers[0] } : {}),
        },
        score: { final: 1, detail: { quality: 1, popularity: 1, maintenance: 1 } },
        searchScore: 1,
      };
    });
    return { objects, total: page.total, time: new Date().toUTCString() };
  }

  async #localPackage(ref: RegistryRef, name: string): Promise<NpmPackageRecord> {
    if (ref.registry.kind !== 'local') throw new PalletError('DENIED', 'an upstream proxy is read-only');
    const pkg = await this.deps.npm.findPackage(ref.registry.id, name);
    if (!pkg) throw new PalletError('NOT_FOUND', `package ${name} not found`, { name });
    return pkg;
  }

  /** Runs a read-modify-write again when another write to the package came in between. */
  async #retryOnConflict<T>(write: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await write();
      } catch (err) {
        if (!(err instanceof PalletError && err.code === 'CONFLICT') || attempt >= 5) throw err;
      }
    }
  }
}

/** The dist-tags after `removed` goes: tags naming it are dropped, `latest` moves to the highest left. */
export function retag(distTags: Record<string, string>, removed: string, left: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [tag, target] of Object.entries(distTags)) if (target !== removed) out[tag] = target;
  return withLatest(out, left);
}

/** `tags` (changed in place) with `latest` pointed at the highest of `left` when it has none. */
export function withLatest(tags: Record<string, string>, left: readonly string[]): Record<string, string> {
  if (tags.latest === undefined) {
    const highest = highestVersion(left);
    if (highest !== undefined) tags.latest = highest;
  }
  return tags;
}

