/**
 * Packuments of npm upstream proxies: fetched from the upstream, checked, cached for the
 * proxy's TTL (`tagTtlSeconds`) and served stale while the upstream fails, over the
 * fetch-and-cache core's `revalidated` (one revalidation per package and form at a time,
 * back-off after a failure, stale serves counted and logged).
 *
 * Two forms are cached apart, as npm asks for them: `install` (the abbreviated document,
 * `Accept: application/vnd.npm.install-v1+json`, what `npm install` reads; much smaller) and
 * `full` (`npm view`). A fetch, in order:
 *   1. GET `<url>/<name>` (a scoped name as `@scope%2fname`) with the form's Accept, gzip, and
 *      `If-None-Match` when a copy is stored; 304 → the stored copy is confirmed (checked_at);
 *      404 → not there (remembered in the negative cache);
 *   2. the body is read bounded (`maxBytes`, compressed and decompressed), gunzipped off the
 *      event loop (zlib's thread pool), parsed by the bounded parser (a worker past 32 KiB) and
 *      checked (`packument-doc.ts`);
 *   3. only a good document is stored (gzipped, in `npm_upstream_packuments`) and becomes the
 *      in-memory copy. A fetch or a document that fails is an upstream failure: the stored copy
 *      is served stale, else the error is thrown.
 * In memory: the parsed copies, least recently used dropped past `memoryBytes` (weighted by
 * their body's size). A copy confirmed less than the TTL ago is served without asking the
 * database; a restart reads the stored copy back.
 */
import { promisify } from 'node:util';
import { gunzip as gunzipCb, gzip as gzipCb } from 'node:zlib';
import { isPalletError, PalletError } from '../../../base/errors.js';
import { parseJsonBounded, type ParseLimits } from '../../../base/bounded-parse.js';
import type { RegistryRecord, SpaceRecord } from '../../../metadata/store.js';
import { message, upstreamErrorReason } from '../../../upstream/fetch-cache/errors.js';
import type { FetchCache } from '../../../upstream/fetch-cache/fetch-cache.js';
import { readBody } from '../../../upstream/fetch-cache/read-body.js';
import type { Upstream, UpstreamLog } from '../../../upstream/fetch-cache/upstreams.js';
import { readPackument, type PackumentDoc } from './packument-doc.js';
import type { PackumentForm, UpstreamPackumentStore } from './upstream-packument-store.js';

const gunzip = promisify(gunzipCb);
const gzip = promisify(gzipCb);

const ACCEPT: Record<PackumentForm, string> = {
  install: 'application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*',
  full: 'application/json',
};

/** A proxy's packument of one package as cached. */
export interface CachedPackument {
  doc: PackumentDoc;
  form: PackumentForm;
  /** When its body last changed (an identity for derived caches). */
  fetchedAt: number;
  /** When the upstream last confirmed it. */
  checkedAt: number;
  etag: string | null;
  /** Size of its body, for the memory bound. */
  bytes: number;
}

export interface UpstreamPackumentOptions {
  /** Largest packument body accepted (compressed, and again decompressed). */
  maxBytes: number;
  /** Parsed copies kept in memory, by the size of their bodies. */
  memoryBytes: number;
}

/** A fetch that failed or a document that could not be read: the stored copy is served instead. */
export class PackumentFetchFailed extends PalletError {}

/**
 * An upstream whose credentials' username is `_authToken` gets the password as a Bearer token
 * (how npm registries take tokens); other credentials go as Basic.
 */
export function bearerOf(upstream: Upstream): boolean {
  return upstream.config.credentials?.username === '_authToken';
}

/** The path of a package on an npm registry: `@scope%2fname` for a scoped one. */
export function upstreamPath(name: string): string {
  return name.startsWith('@') ? `@${encodeURIComponent(name.slice(1))}` : encodeURIComponent(name);
}

/** Least recently used map bounded by a total weight. */
export class WeightedLru<V extends { bytes: number }> {
  private readonly map = new Map<string, V>();
  private total = 0;
  constructor(private readonly budget: number) {}
  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }
  set(key: string, value: V): void {
    this.delete(key);
    if (value.bytes > this.budget) return;
    this.map.set(key, value);
    this.total += value.bytes;
    for (const [k, v] of this.map) {
      if (this.total <= this.budget) break;
      this.map.delete(k);
      this.total -= v.bytes;
    }
  }
  delete(key: string): void {
    const old = this.map.get(key);
    if (old) {
      this.map.delete(key);
      this.total -= old.bytes;
    }
  }
}

export class UpstreamPackuments {
  private readonly copies: WeightedLru<CachedPackument>;
  private readonly limits: ParseLimits;

  constructor(
    private readonly deps: { cache: FetchCache; store: UpstreamPackumentStore },
    private readonly options: UpstreamPackumentOptions,
  ) {
    this.copies = new WeightedLru(options.memoryBytes);
    this.limits = { maxBytes: options.maxBytes, maxNodes: 20_000_000, maxDepth: 64, maxAliases: 0, timeoutMs: 30_000 };
  }

  /**
   * The proxy's packument of `name` in `form`: cached, revalidated or fetched (see the module
   * header); undefined when the proxy has no URL or the upstream has no such package.
   */
  async get(root: SpaceRecord, registry: RegistryRecord, name: string, form: PackumentForm, log?: UpstreamLog): Promise<CachedPackument | undefined> {
    const { cache, store } = this.deps;
    const upstream = cache.upstream(root, registry, log);
    if (!upstream) return undefined;
    const memKey = `${registry.id}\0${form}\0${name}`;
    const ttlMs = upstream.config.tagTtlSeconds * 1000;
    const mem = this.copies.get(memKey);
    if (mem && Date.now() - mem.checkedAt < ttlMs) {
      cache.metrics.hit(upstream, 'index');
      return mem;
    }
    const key = `npm-packument\0${form}\0${name}`;
    const state = mem ?? (await store.findState(registry.id, name, form));
    if (!state && cache.isNotFound(upstream, key)) return undefined;
    const logTo = log ?? cache.log;
    return cache.revalidated<CachedPackument | undefined>({
      upstream,
      key,
      checkedAt: state?.checkedAt,
      ttlMs,
      cached: () => this.stored(registry, name, form, memKey),
      revalidate: () => this.fetch(upstream, name, form, memKey, key),
      servesStale: (err) => err instanceof PackumentFetchFailed,
      kind: 'index',
      what: 'packument',
      log: logTo,
      fields: { package: name, form },
    });
  }

  /**
   * Any cached copy of the package's packument (either form, in memory or stored), however
   * old, without asking the upstream: enough to find a version's tarball, which never changes.
   */
  async peek(registry: RegistryRecord, name: string): Promise<CachedPackument | undefined> {
    for (const form of ['full', 'install'] as const) {
      const mem = this.copies.get(`${registry.id}\0${form}\0${name}`);
      if (mem) return mem;
    }
    for (const form of ['full', 'install'] as const) {
      if (await this.deps.store.findState(registry.id, name, form)) return this.stored(registry, name, form, `${registry.id}\0${form}\0${name}`);
    }
    return undefined;
  }

  /** The copy in memory, else the stored one read back (a restart, another replica's fetch). */
  private async stored(registry: RegistryRecord, name: string, form: PackumentForm, memKey: string): Promise<CachedPackument> {
    const state = await this.deps.store.findState(registry.id, name, form);
    const mem = this.copies.get(memKey);
    if (mem && (!state || mem.fetchedAt >= state.fetchedAt)) return mem;
    const row = await this.deps.store.find(registry.id, name, form);
    if (!row) throw new PalletError('UNAVAILABLE', `the cached packument of ${name} was deleted while it was read`);
    const raw = await gunzip(row.body, { maxOutputLength: this.options.maxBytes });
    const doc = readPackument(await parseJsonBounded(raw, this.limits), name);
    const copy: CachedPackument = { doc, form, fetchedAt: row.fetchedAt, checkedAt: row.checkedAt, etag: row.etag, bytes: raw.length };
    this.copies.set(memKey, copy);
    return copy;
  }

  private async fetch(upstream: Upstream, name: string, form: PackumentForm, memKey: string, key: string): Promise<CachedPackument | undefined> {
    const { cache, store } = this.deps;
    const id = upstream.registry.id;
    const known = await store.findState(id, name, form);
    const url = `${upstream.config.url.replace(/\/+$/, '')}/${upstreamPath(name)}`;
    const failed = (err: unknown, reason: string): PackumentFetchFailed => {
      cache.metrics.error(upstream, reason);
      return new PackumentFetchFailed('UNAVAILABLE', `upstream ${upstream.label}: the packument of ${name} could not be fetched: ${message(err)}`, { upstream: upstream.label });
    };
    let raw: Buffer;
    let etag: string | null;
    let stored: Buffer;
    try {
      cache.metrics.miss(upstream, 'index');
      const headers = { accept: ACCEPT[form], 'accept-encoding': 'gzip', ...(known?.etag ? { 'if-none-match': known.etag } : {}) };
      const res = await upstream.client.exchangeFile('GET', url, { headers, bearer: bearerOf(upstream) });
      if (res.status === 304 && known) {
        res.body.resume();
        const now = Date.now();
        await store.markChecked(id, name, form, now);
        const copy = await this.stored(upstream.registry, name, form, memKey);
        copy.checkedAt = now;
        return copy;
      }
      if (res.status === 404) {
        res.body.resume();
        cache.rememberNotFound(upstream, key);
        return undefined;
      }
      if (res.status !== 200) {
        res.body.resume();
        throw new PalletError('UNAVAILABLE', `GET ${new URL(url).pathname} answered ${res.status}`);
      }
      const body = await readBody(res.body, this.options.maxBytes, 'the upstream packument');
      cache.metrics.fetched(upstream, body.length);
      const bytes = Buffer.concat(body.parts, body.length);
      const gzipped = /gzip/i.test(String(res.headers['content-encoding'] ?? ''));
      raw = gzipped ? await gunzip(bytes, { maxOutputLength: this.options.maxBytes }) : bytes;
      stored = gzipped ? bytes : await gzip(raw);
      const tag = res.headers.etag;
      etag = typeof tag === 'string' ? tag : null;
    } catch (err) {
      if (err instanceof PackumentFetchFailed) throw err;
      if (isPalletError(err, 'DENIED') || isPalletError(err, 'TOOMANYREQUESTS') || isPalletError(err, 'UNAVAILABLE') || isPalletError(err, 'TOO_LARGE')) {
        throw failed(err, upstreamErrorReason(err));
      }
      throw failed(err, 'unavailable');
    }
    let doc: PackumentDoc;
    try {
      doc = readPackument(await parseJsonBounded(raw, this.limits), name);
    } catch (err) {
      if (isPalletError(err, 'UNAVAILABLE') && !(err instanceof PackumentFetchFailed)) throw err;
      throw failed(err, 'invalid');
    }
    const now = Date.now();
    await store.put(id, name, form, stored, etag, now);
    const copy: CachedPackument = { doc, form, fetchedAt: now, checkedAt: now, etag, bytes: raw.length };
    this.copies.set(memKey, copy);
    return copy;
  }
}
