/**
 * The upstream side of npm registries (`NpmUpstreams` of `packages.ts`), over the
 * fetch-and-cache core:
 *   - an upstream proxy serves its upstream's packument (`upstream-packuments.ts`: cached for
 *     its TTL, stale while the upstream fails) with tarball URLs rewritten to the proxy, and
 *     its tarballs (`upstream-tarballs.ts`: verified against `dist.integrity` before they are
 *     kept, one fetch for concurrent misses);
 *   - a local registry serves ONE merged packument: its own versions first, then each upstream
 *     proxy of its list in order (`collectInOrder`: a proxy that fails or denies, with nothing
 *     cached, is left out), the first one wins per version; dist-tags tag by tag from the local
 *     registry, then from the first registry that has the package (`packument-doc.ts`). A
 *     tarball it does not hold itself comes through the first proxy, in order, whose packument
 *     has that version (`resolveInOrder`), which is the one that supplied it in the merge;
 *   - audit requests are forwarded to the first upstream that answers (`upstream-audit.ts`).
 * The packument form follows the request: npm install's abbreviated one is fetched as such
 * (much smaller), `npm view`'s full one likewise. A `?write=true` read (deprecate, dist-tag,
 * unpublish: the client sends the document back) gets the local registry's own document.
 */
import { PalletError } from '../../../base/errors.js';
import type { MetadataStore, RegistryRecord, SpaceRecord } from '../../../metadata/store.js';
import type { RegistryRef } from '../../../registry/registries.js';
import { collectInOrder, resolveInOrder } from '../../../upstream/fetch-cache/resolve.js';
import type { FetchCache } from '../../../upstream/fetch-cache/fetch-cache.js';
import type { NpmRequestContext, NpmUpstreams, OpenedTarball } from '../packages.js';
import type { Packument } from '../packument.js';
import { mergePackuments, packumentObject, readPackument, versionOfFile, type MergeSource, type PackumentDoc } from './packument-doc.js';
import { forwardAudit } from './upstream-audit.js';
import { WeightedLru, type CachedPackument, type UpstreamPackuments } from './upstream-packuments.js';
import type { PackumentForm } from './upstream-packument-store.js';
import type { UpstreamTarballs } from './upstream-tarballs.js';

export interface NpmUpstreamDeps {
  store: MetadataStore;
  cache: FetchCache;
  packuments: UpstreamPackuments;
  tarballs: UpstreamTarballs;
  /** Largest audit answer read from an upstream. */
  maxAuditBytes: number;
  /** Served packuments kept in memory, by the size of the upstream bodies they were made from. */
  renderedBytes: number;
}

function formOf(ctx: NpmRequestContext): PackumentForm {
  return ctx.abbreviated ? 'install' : 'full';
}

/**
 * A local registry's upstream list is read at most every `LIST_CACHE_MS` per registry version:
 * changing the list moves the registry's `updatedAt` (seen at once); a change to a listed
 * proxy's own config is seen within that time.
 */
const LIST_CACHE_MS = 2_000;
const MAX_LISTS = 1_000;

export class NpmUpstreamAdapter implements NpmUpstreams {
  private readonly lists = new Map<string, { updatedAt: unknown; until: number; proxies: readonly RegistryRecord[] }>();
  /** The last packument served per registry, form, URL and package, with what it was made of. */
  private readonly rendered: WeightedLru<{ stamp: readonly unknown[]; packument: Packument; bytes: number }>;

  constructor(private readonly deps: NpmUpstreamDeps) {
    this.rendered = new WeightedLru(deps.renderedBytes);
  }

  private async proxiesOf(registry: RegistryRecord): Promise<readonly RegistryRecord[]> {
    if (registry.kind !== 'local') return [registry];
    const now = Date.now();
    const known = this.lists.get(registry.id);
    if (known && known.updatedAt === registry.updatedAt && known.until > now) return known.proxies;
    const proxies = await this.deps.store.listUpstreams(registry.id);
    if (this.lists.size >= MAX_LISTS) this.lists.clear();
    this.lists.set(registry.id, { updatedAt: registry.updatedAt, until: now + LIST_CACHE_MS, proxies });
    return proxies;
  }

  async packument(ref: RegistryRef, name: string, own: Packument | undefined, ctx: NpmRequestContext): Promise<Packument | undefined> {
    const { root, registry } = ref;
    const form = formOf(ctx);
    const local = registry.kind === 'local';
    if (local && ctx.write) return own;
    const proxies = await this.proxiesOf(registry);
    if (local && proxies.length === 0) return own;
    const found = await collectInOrder<CachedPackument | undefined>(proxies, (proxy) => this.deps.packuments.get(root, proxy, name, form, ctx.log), local, () => undefined);
    if (!found.some((copy) => copy !== undefined)) return own;
    // The same inputs (the own document object and each proxy's copy) give the same frozen
    // object, which the routes serialize once.
    const key = `${registry.id}\0${form}\0${ctx.registryUrl}\0${name}`;
    const stamp = [own, ...found];
    const known = this.rendered.get(key);
    if (known && known.stamp.length === stamp.length && known.stamp.every((s, i) => s === stamp[i])) return known.packument;
    const sources: MergeSource<string>[] = [];
    if (own) sources.push({ origin: registry.id, doc: readPackument(own, name) });
    found.forEach((copy, i) => {
      if (copy) sources.push({ origin: proxies[i]!.id, doc: copy.doc });
    });
    const doc: PackumentDoc = sources.length === 1 ? sources[0]!.doc : mergePackuments(name, sources, own?.['dist-tags']).doc;
    const out = packumentObject(doc, form, ctx.registryUrl) as Packument;
    // The local package's revision, which a client sends back with a change.
    if (own?._rev !== undefined) out._rev = own._rev;
    Object.freeze(out);
    this.rendered.set(key, { stamp, packument: out, bytes: found.reduce((n, copy) => n + (copy?.bytes ?? 0), 0) });
    return out;
  }

  async openTarball(ref: RegistryRef, name: string, file: string, ctx: NpmRequestContext): Promise<OpenedTarball | undefined> {
    const version = versionOfFile(name, file);
    if (version === undefined) return undefined;
    const { root, registry } = ref;
    const notFound = (notes: string[]): PalletError =>
      new PalletError('NOT_FOUND', `tarball ${name}/-/${file} not found${notes.length > 0 ? `; ${notes.join('; ')}` : ''}`, { name, file });
    return resolveInOrder<OpenedTarball>({
      upstreams: () => this.proxiesOf(registry),
      cached: async (proxies) => {
        for (const proxy of proxies) {
          const cached = await this.deps.tarballs.openCached(root, proxy, name, version, ctx.signal);
          if (cached) return cached;
        }
        return undefined;
      },
      attempt: (proxy) => this.attemptTarball(root, proxy, name, version, ctx),
      labelOf: (proxy) => `${root.path}/${proxy.identifier}`,
      notFound: (_proxies, notes) => notFound(notes),
      failed: (failure) => failure,
      log: ctx.log,
      fields: { package: name, file },
    });
  }

  /**
   * The tarball through one proxy: its packument must list the version. Any copy it cached
   * will do (a version's tarball never changes); else the packument is fetched (the
   * abbreviated form, then the full one).
   */
  private async attemptTarball(root: SpaceRecord, proxy: RegistryRecord, name: string, version: string, ctx: NpmRequestContext): Promise<OpenedTarball | undefined> {
    const { packuments, tarballs } = this.deps;
    let copy = await packuments.peek(proxy, name);
    if (!copy?.doc.versions.has(version)) copy = await packuments.get(root, proxy, name, 'install', ctx.log);
    if (!copy?.doc.versions.has(version)) copy = (await packuments.get(root, proxy, name, 'full', ctx.log)) ?? copy;
    if (!copy || !copy.doc.versions.has(version)) return undefined;
    return tarballs.open(root, proxy, copy.doc, version, { signal: ctx.signal, log: ctx.log });
  }

  async audit(ref: RegistryRef, endpoint: 'advisories/bulk' | 'audits/quick', body: Buffer, ctx: NpmRequestContext): Promise<unknown> {
    const proxies = await this.proxiesOf(ref.registry);
    return forwardAudit(this.deps.cache, ref.root, proxies, endpoint, body, { log: ctx.log, maxBytes: this.deps.maxAuditBytes });
  }
}
