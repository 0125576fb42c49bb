/**
 * Classic Helm chart repositories behind `helm` upstream proxies (`upstream.url` an http(s)
 * repository; `oci://` proxies are served by the OCI pull-through path and list only what
 * they cached here). Implements `ChartUpstreams` for `ChartService`: a thin adapter over the
 * fetch-and-cache core (`upstream/fetch-cache/`), which owns the upstream clients, single
 * flight, back-off and stale serving, and the tee of chart archives into the blob store.
 *
 * The upstream index: `<url>/index.yaml` (or `url` itself when it names a `.yaml` file),
 * fetched through the proxy's upstream client (its credentials, timeout and metrics), read into
 * segments and hashed as it arrives (`fetch-cache/read-body.ts`). It is
 * untrusted and may be tens of MB, so it is never parsed on the event loop: a worker reads it
 * (registry/chart-index-reader.ts; time budget `helm.indexReadSeconds`, a heap limit, at most
 * `helm.maxIndexEntries` chart versions) into the compact form that is served (`IndexSource`:
 * a few buffers, moved back without copying). That *read copy* is kept in memory per proxy
 * with the SHA-256 of the body it came from; the body is stored in the Helm store only once it
 * has been read successfully, so the stored copy is always a good one.
 *
 * Freshness: the read copy is served while the stored index was confirmed less than
 * `tagTtlSeconds` ago; after that the index is fetched again (one fetch per proxy at a time:
 * `FetchCache.revalidated`).
 * The same body (same SHA-256) is never read twice. A changed body is read in the background:
 * requests wait for it at most `lastGoodGraceMs`, then get the last good copy (counted). A body
 * that cannot be read (not an index, over a budget) is refused, logged and counted, and
 * not tried again while the upstream serves the same bytes; the last good copy stays. When the
 * upstream is down, rate-limiting or failing, the stored copy is served, logged and counted as
 * a stale serve (and the upstream is left alone for a few seconds).
 *
 * Chart URLs in the upstream index (relative to the index or absolute) must be http(s) on the
 * upstream's own origin or on a host of `upstream.fileHosts` (others are left out of the
 * index); the egress policy checks their addresses like every upstream connection. They are
 * rewritten to the proxy's own `charts/<name>-<version>.tgz`; the original URL is kept to
 * fetch the chart. A chart is fetched on its first download through `FetchCache.fetchBody`
 * (one tee into the blob commit path, one fetch per digest, verified against the index's
 * `digest` when it has one, else hashed while streaming) and recorded as a chart version of the
 * proxy: the OCI manifest an upload makes, with Chart.yaml read from the cached archive
 * (`CachedCharts.record`).
 * Cached charts are answered from the cache without asking the upstream (they are immutable
 * by digest), so they keep working when it is down. Cached versions stay listed in the
 * proxy's index, before what the upstream lists now.
 */
import { isPalletError, PalletError } from '../../../base/errors.js';
import type { HelmStore } from '../store/helm-store.js';
import type { MetadataStore, RegistryRecord, SpaceRecord } from '../../../metadata/store.js';
import type { BlobService } from '../../../registry/blobs.js';
import { readIndexOffThread } from '../chart-index-jobs.js';
import { fieldsAt, findInSource, refAt, sourceOf, type IndexSource } from '../chart-index.js';
import { indexEntry, type ChartFile, type ChartFileKind, type ChartReadOptions, type ChartUpstreams } from '../charts.js';
import type { CachedCharts } from '../cached-charts.js';
import type { HelmIndexMetrics } from './index-metrics.js';
import { message, upstreamErrorReason } from '../../../upstream/fetch-cache/errors.js';
import type { FetchCache } from '../../../upstream/fetch-cache/fetch-cache.js';
import { BoundedMap } from '../../../upstream/fetch-cache/flights.js';
import { readBody, type ReadBody } from '../../../upstream/fetch-cache/read-body.js';
import type { Upstream, UpstreamLog } from '../../../upstream/fetch-cache/upstreams.js';

export interface HelmUpstreamOptions {
  /** Largest upstream index.yaml accepted. */
  maxIndexBytes: number;
  /** Most chart versions kept from one upstream index. */
  maxIndexEntries: number;
  /** Time budget to read one upstream index in a worker. */
  indexReadTimeoutMs: number;
  /** Hosts besides an upstream's own origin its chart URLs may point at (`upstream.fileHosts`). */
  fileHosts: readonly string[];
  /** How long a request waits for a changed index being read before the last good copy answers it. */
  lastGoodGraceMs?: number;
}

export interface HelmUpstreamDeps {
  store: MetadataStore;
  helm: HelmStore;
  /** Records a cached chart archive as a version of the proxy. */
  cached: CachedCharts;
  blobs: BlobService;
  /** The fetch-and-cache core: clients, single flight, back-off, stale serving, the tee. */
  cache: FetchCache;
  indexMetrics: HelmIndexMetrics;
}

/** An upstream index as served: its read copy, and what it was read from. */
interface ReadIndex {
  fetchedAt: number;
  indexUrl: string;
  /** SHA-256 (hex) of the body. */
  hash: string;
  source: IndexSource;
}

interface PendingRead {
  /** SHA-256 of a fetched body; undefined for a stored copy being read. */
  hash: string | undefined;
  fetchedAt: number;
  promise: Promise<ReadIndex>;
}

const LAST_GOOD_GRACE_MS = 1_000;
const MAX_PROXIES = 1000;

/** The index URL of a classic repository URL. */
export function indexUrlOf(url: string): string {
  return /\.ya?ml$/i.test(url) ? url : `${url}/index.yaml`;
}

/** An index fetch that failed: a stored copy, when there is one, is served stale instead. */
class IndexFetchFailed extends PalletError {}

export class HelmUpstreams implements ChartUpstreams {
  /** The last good read copy per proxy. */
  private readonly copies = new BoundedMap<ReadIndex>(MAX_PROXIES);
  private readonly reads = new Map<string, PendingRead>();
  /** The SHA-256 of the last body per proxy that could not be read, so it is not read again. */
  private readonly refused = new BoundedMap<string>(MAX_PROXIES);
  /** The cached chart versions of each proxy, by the store's (generation, count). */
  private readonly cachedSources = new BoundedMap<{ state: string; source: IndexSource }>(MAX_PROXIES);

  constructor(
    private readonly deps: HelmUpstreamDeps,
    private readonly options: HelmUpstreamOptions,
  ) {}

  async sources(root: SpaceRecord, proxy: RegistryRecord, log?: UpstreamLog): Promise<{ sources: IndexSource[]; stamp: string }> {
    const state = await this.deps.helm.indexState(proxy.id);
    const stateKey = `${state.generation}:${state.count}`;
    let cached = this.cachedSources.get(proxy.id);
    if (!cached || cached.state !== stateKey) {
      const rows = state.count > 0 ? await this.deps.helm.listChartVersions([proxy.id]) : [];
      cached = { state: stateKey, source: sourceOf(rows.map((row) => indexEntry(row))) };
      this.cachedSources.set(proxy.id, cached);
    }
    const index = await this.index(root, proxy, log ?? this.deps.cache.log);
    const sources = index ? [cached.source, index.source] : [cached.source];
    return { sources, stamp: `${proxy.id}:${stateKey}:${index?.hash ?? '-'}` };
  }

  async open(root: SpaceRecord, registry: RegistryRecord, name: string, version: string, kind: ChartFileKind, options: ChartReadOptions = {}): Promise<ChartFile | undefined> {
    const cached = await this.openCached(root, registry, name, version, kind, options.signal);
    if (cached) return cached;
    const log = options.log ?? this.deps.cache.log;
    const index = await this.index(root, registry, log);
    const at = index && findInSource(index.source, name, version);
    const proxy = this.deps.cache.upstream(root, registry, log);
    if (!index || at === undefined || !proxy) return undefined;
    const chart = refAt(index.source, at);
    if (kind === 'prov') {
      // Provenance files are small and optional: passed through, not cached.
      const res = await proxy.client.getFile(`${chart.url}.prov`);
      return res ? { stream: res.body, size: res.size, digest: undefined, manifestId: null } : undefined;
    }
    const digest = chart.digest ? `sha256:${chart.digest}` : undefined;
    const findCached = () => this.openCached(root, registry, name, version, 'chart');
    return this.deps.cache.fetchBody<ChartFile>({
      upstream: proxy,
      log,
      what: 'file',
      kind: 'chart',
      subject: chart.url,
      fields: { url: chart.url },
      flightKey: digest ?? chart.url,
      notFoundKey: chart.url,
      digest,
      retryAfter: () => true,
      findCached,
      get: () => proxy.client.getFile(chart.url, { stream: true }),
      repository: async () => (await this.deps.store.ensureRepository(registry.id, name)).id,
      streams: (res) => !res.crossOrigin,
      onCommitted: async (blob) => {
        const repo = await this.deps.store.findRepository(registry.id, name);
        if (!repo) throw new PalletError('UNAVAILABLE', `${proxy.label}: the repository of ${name} was deleted while its chart was cached`);
        const { urls: _urls, digest: _digest, created: _created, ...fields } = fieldsAt(index.source, at);
        await this.deps.cached.record(root, repo, blob, name, version, fields);
      },
      streamed: (stream, res) => ({ stream, size: res.size, digest, manifestId: null }),
      committed: findCached,
    });
  }

  private async openCached(root: SpaceRecord, proxy: RegistryRecord, name: string, version: string, kind: ChartFileKind, signal?: AbortSignal): Promise<ChartFile | undefined> {
    const row = await this.deps.helm.findChartVersion(proxy.id, name, version);
    const digest = row && (kind === 'chart' ? row.chartDigest : row.provDigest);
    if (!row || !digest) return undefined;
    try {
      const { blob, stream } = await this.deps.blobs.open({ rootSpaceId: root.id, repositoryId: row.repositoryId }, digest, undefined, signal);
      this.deps.cache.metrics.hit({ label: `${root.path}/${proxy.identifier}`, format: proxy.packageType }, 'chart');
      return { stream, size: blob.size, digest, manifestId: null };
    } catch (err) {
      if (isPalletError(err, 'BLOB_UNKNOWN')) return undefined;
      throw err;
    }
  }

  /**
   * The proxy's upstream index (see the header); undefined for an `oci://` proxy or when the
   * upstream never answered. Throws when it cannot be fetched and there is no stored copy.
   */
  private async index(root: SpaceRecord, registry: RegistryRecord, log: UpstreamLog): Promise<ReadIndex | undefined> {
    const proxy = this.deps.cache.upstream(root, registry, log);
    if (!proxy || proxy.config.url.startsWith('oci:')) return undefined;
    const indexUrl = indexUrlOf(proxy.config.url);
    const state = await this.deps.helm.findUpstreamIndexState(registry.id);
    const ttlMs = proxy.config.tagTtlSeconds * 1000;
    return this.deps.cache.revalidated({
      upstream: proxy,
      key: 'helm-index',
      checkedAt: state?.checkedAt,
      ttlMs,
      cached: () => this.storedCopy(proxy, state?.fetchedAt ?? 0, indexUrl),
      revalidate: () => this.refresh(proxy, indexUrl, ttlMs, log),
      servesStale: (err) => err instanceof IndexFetchFailed,
      kind: 'index',
      what: 'index',
      log,
      fields: { url: indexUrl, ...(state ? { fetchedAt: new Date(state.fetchedAt).toISOString() } : {}) },
    });
  }

  /** The read copy of the stored index: in memory, or read from the store (a restart, another replica's refresh). */
  private async storedCopy(proxy: Upstream, fetchedAt: number, indexUrl: string): Promise<ReadIndex> {
    const known = this.copies.get(proxy.registry.id);
    const last = known && known.indexUrl === indexUrl ? known : undefined;
    if (last && last.fetchedAt === fetchedAt) return last;
    const pending = this.reads.get(proxy.registry.id);
    if (pending?.fetchedAt === fetchedAt) return this.withinGrace(proxy, pending.promise, last);
    const stored = await this.deps.helm.findUpstreamIndex(proxy.registry.id);
    if (!stored) {
      if (last) return last;
      throw new PalletError('UNAVAILABLE', `upstream ${proxy.label} index was deleted while it was read`);
    }
    // Stored gzipped (or, from before, as fetched): a few MB, copied to the worker.
    const body = { parts: [stored.body], movable: false, length: stored.body.length };
    const reading = this.read(proxy, body, undefined, stored.fetchedAt, indexUrl, false);
    try {
      return await this.withinGrace(proxy, reading, last);
    } catch (err) {
      if (isPalletError(err, 'UNAVAILABLE')) throw err;
      throw new PalletError('UNAVAILABLE', `upstream ${proxy.label}: the stored index could not be read (${message(err)})`);
    }
  }

  /** GETs the index; IndexFetchFailed when it cannot be had (the core then serves the stored copy). */
  private async fetchIndex(proxy: Upstream, indexUrl: string): Promise<ReadBody> {
    const { metrics } = this.deps.cache;
    try {
      metrics.miss(proxy, 'index');
      const res = await proxy.client.getFile(indexUrl);
      if (!res) throw new PalletError('UNAVAILABLE', `upstream ${proxy.label} has no index at ${indexUrl} (404)`, { upstream: proxy.label });
      const fetched = await readBody(res.body, this.options.maxIndexBytes, 'the upstream index');
      metrics.fetched(proxy, fetched.length);
      return fetched;
    } catch (err) {
      metrics.error(proxy, isPalletError(err, 'TOO_LARGE') ? 'invalid' : upstreamErrorReason(err));
      throw new IndexFetchFailed('UNAVAILABLE', `upstream ${proxy.label} index could not be fetched: ${message(err)}`, { upstream: proxy.label });
    }
  }

  /** Fetches the index and reads it unless its bytes are known (confirmed, or refused before). */
  private async refresh(proxy: Upstream, indexUrl: string, ttlMs: number, log: UpstreamLog): Promise<ReadIndex | undefined> {
    const { helm, cache } = this.deps;
    const id = proxy.registry.id;
    const state = await helm.findUpstreamIndexState(id);
    const fetched = await this.fetchIndex(proxy, indexUrl);
    const known = this.copies.get(id);
    const last = known && known.indexUrl === indexUrl ? known : undefined;
    if (state && last?.hash === fetched.hash) {
      // Unchanged (by SHA-256): confirmed, not read again.
      await helm.markUpstreamIndexChecked(id, Date.now());
      last.fetchedAt = state.fetchedAt;
      return last;
    }
    const unusable = async (why: string): Promise<ReadIndex> => {
      cache.backOff(proxy, ttlMs);
      if (last) return this.lastGood(proxy, last, 'refused');
      if (state) return this.storedCopy(proxy, state.fetchedAt, indexUrl);
      throw new PalletError('UNAVAILABLE', `upstream ${proxy.label} index is not usable${why}`, { upstream: proxy.label });
    };
    // The same bytes could not be read before: not read again.
    if (this.refused.get(id) === fetched.hash) return unusable(' (it could not be read before)');
    const reading = this.read(proxy, { ...fetched, movable: true }, fetched.hash, Date.now(), indexUrl, true, log);
    try {
      return await this.withinGrace(proxy, reading, last);
    } catch (err) {
      cache.metrics.error(proxy, 'invalid');
      return unusable(`: ${message(err)}`);
    }
  }

  private lastGood(proxy: Upstream, copy: ReadIndex, reason: 'reading' | 'refused'): ReadIndex {
    this.deps.indexMetrics.lastGoodServe(proxy.label, reason);
    return copy;
  }

  /** `reading`, or `last` when there is one and `reading` takes longer than the grace period. */
  private async withinGrace(proxy: Upstream, reading: Promise<ReadIndex>, last: ReadIndex | undefined): Promise<ReadIndex> {
    if (!last) return reading;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), this.options.lastGoodGraceMs ?? LAST_GOOD_GRACE_MS);
    });
    try {
      const first = await Promise.race([reading, grace]);
      return first ?? this.lastGood(proxy, last, 'reading');
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Reads a body in a worker (one read per proxy and body at a time; `hash` is known for a
   * fetched body); on success it becomes the proxy's read copy and, when `store`, the stored
   * copy (gzipped by the worker). Logged and counted either way.
   */
  private read(
    proxy: Upstream,
    body: { parts: Uint8Array[]; movable: boolean; length: number },
    hash: string | undefined,
    fetchedAt: number,
    indexUrl: string,
    store: boolean,
    log: UpstreamLog = this.deps.cache.log,
  ): Promise<ReadIndex> {
    const id = proxy.registry.id;
    const pending = this.reads.get(id);
    if (pending && hash !== undefined && pending.hash === hash) return pending.promise;
    const { label } = proxy;
    const { indexMetrics } = this.deps;
    const started = performance.now();
    const options = { indexUrl, fileHosts: this.options.fileHosts, maxEntries: this.options.maxIndexEntries };
    const job = { maxBytes: this.options.maxIndexBytes, compress: store, timeoutMs: this.options.indexReadTimeoutMs };
    const promise = (async (): Promise<ReadIndex> => {
      let read;
      try {
        read = await readIndexOffThread(body, options, job);
      } catch (err) {
        const seconds = (performance.now() - started) / 1000;
        indexMetrics.read(label, 'refused', seconds);
        if (hash !== undefined && !isPalletError(err, 'UNAVAILABLE')) this.refused.set(id, hash);
        log.warn({ upstream: label, url: indexUrl, bytes: body.length, seconds, reason: message(err) }, 'upstream: the chart index could not be read; the last good copy is served');
        throw err;
      }
      const seconds = (performance.now() - started) / 1000;
      const { skipped, hash: readHash, gzipped, ...source } = read;
      if (store && gzipped) await this.deps.helm.putUpstreamIndex(id, Buffer.from(gzipped.buffer, gzipped.byteOffset, gzipped.byteLength), fetchedAt);
      const copy: ReadIndex = { fetchedAt, indexUrl, hash: readHash, source };
      const current = this.copies.get(id);
      if (!current || current.fetchedAt <= fetchedAt) this.copies.set(id, copy);
      this.refused.delete(id);
      indexMetrics.read(label, 'ok', seconds, source.count, skipped);
      const fields = { upstream: label, url: indexUrl, bytes: body.length, stored: gzipped?.byteLength, charts: source.count, skipped, seconds };
      if (skipped['over-cap']) log.warn(fields, 'upstream: the chart index lists more chart versions than helm.maxIndexEntries; the rest are left out');
      else if (skipped['url-host'] || skipped['url-scheme']) log.warn(fields, 'upstream: chart URLs outside the upstream and upstream.fileHosts are left out of the index');
      else log.info(fields, 'upstream: read the chart index');
      return copy;
    })();
    const entry: PendingRead = { hash, fetchedAt, promise };
    this.reads.set(id, entry);
    const done = (): void => {
      if (this.reads.get(id) === entry) this.reads.delete(id);
    };
    promise.then(done, done);
    return promise;
  }
}
