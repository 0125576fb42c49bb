/**
 * Classic Helm chart repositories behind `helm` upstream proxies (`upstream.url` an http(s)
 * repository; `oci://` proxies are served by the OCI pull-through path and list only what
 * they cached here). Implements `ChartUpstreams` for `ChartService`.
 *
 * The upstream index: `<url>/index.yaml` (or `url` itself when it names a `.yaml` file),
 * fetched through the proxy's upstream client (its credentials, timeout and metrics). It is
 * untrusted and may be tens of MB, so it is never parsed on the event loop: a worker reads it
 * (registry/chart-index-reader.ts; time budget `helm.indexReadSeconds`, a heap limit, at most
 * `helm.maxIndexEntries` chart versions) into the compact form that is served (`IndexSource`:
 * a few buffers, moved back without copying). That *read copy* is kept in memory per proxy
 * with the SHA-256 of the body it came from; the body is stored in the Helm store only once it
 * has been read successfully, so the stored copy is always a good one.
 *
 * Freshness: the read copy is served while the stored index was confirmed less than
 * `tagTtlSeconds` ago; after that the index is fetched again (one fetch per proxy at a time).
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
 * fetch the chart. A chart is fetched on its first download through `PullThrough.fetchFile`
 * (one tee into the blob commit path, one fetch per digest, verified against the index's
 * `digest` when it has one) and recorded as a chart version of the proxy: the OCI manifest an
 * upload makes, with Chart.yaml read from the cached archive (`ChartService.recordCached`).
 * Cached charts are answered from the cache without asking the upstream (they are immutable
 * by digest), so they keep working when it is down. Cached versions stay listed in the
 * proxy's index, before what the upstream lists now.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { isPalletError, PalletError } from '../../../base/errors.js';
import type { HelmStore } from '../store/helm-store.js';
import type { MetadataStore, RegistryRecord, SpaceRecord } from '../../../metadata/store.js';
import type { BlobService } from '../../../registry/blobs.js';
import { readIndexOffThread } from '../chart-index-jobs.js';
import { fieldsAt, findInSource, refAt, sourceOf, type IndexSource } from '../chart-index.js';
import { indexEntry, type ChartFile, type ChartFileKind, type ChartService, type ChartUpstreams } from '../charts.js';
import type { SecretCodec } from '../../../base/secret-box.js';
import { readUpstreamConfig } from '../../../registry/upstream-config.js';
import type { HelmIndexMetrics } from './index-metrics.js';
import type { UpstreamMetrics } from '../../../upstream/metrics.js';
import { upstreamErrorReason, type PullThrough, type UpstreamLog } from '../../../upstream/pull-through.js';

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
  charts: ChartService;
  blobs: BlobService;
  pulls: PullThrough;
  secrets: SecretCodec;
  metrics: UpstreamMetrics;
  indexMetrics: HelmIndexMetrics;
  log: UpstreamLog;
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

const FAILURE_BACKOFF_MS = 5_000;
const LAST_GOOD_GRACE_MS = 1_000;
const MAX_PROXIES = 1000;

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The index URL of a classic repository URL. */
export function indexUrlOf(url: string): string {
  return /\.ya?ml$/i.test(url) ? url : `${url}/index.yaml`;
}

/** An upstream body as it arrived: segments of our own (movable to a worker), its length and SHA-256. */
interface Body {
  parts: Uint8Array<ArrayBuffer>[];
  length: number;
  hash: string;
}

const FIRST_SEGMENT = 64 * 1024;
const MAX_SEGMENT = 8 * 1024 * 1024;

/**
 * Reads an upstream body up to `limit` bytes into growing segments, hashing it as it arrives:
 * no step touches more than one chunk or segment, so tens of MB never stall the event loop
 * (one 50 MB copy took ~200 ms on a loaded machine).
 */
async function readBody(stream: Readable, limit: number): Promise<Body> {
  const hasher = createHash('sha256');
  const parts: Uint8Array<ArrayBuffer>[] = [];
  let segment = new Uint8Array(0);
  let used = 0;
  let total = 0;
  for await (const chunk of stream) {
    const buf = chunk as Buffer;
    total += buf.length;
    if (total > limit) {
      stream.destroy();
      throw new PalletError('TOO_LARGE', `the upstream index is larger than ${limit} bytes`, { limit });
    }
    hasher.update(buf);
    for (let offset = 0; offset < buf.length; ) {
      if (used === segment.length) {
        if (used > 0) parts.push(segment);
        segment = new Uint8Array(Math.min(MAX_SEGMENT, Math.max(FIRST_SEGMENT, segment.length * 2)));
        used = 0;
      }
      const n = Math.min(buf.length - offset, segment.length - used);
      segment.set(buf.subarray(offset, offset + n), used);
      used += n;
      offset += n;
    }
  }
  if (used > 0) parts.push(segment.subarray(0, used));
  return { parts, length: total, hash: hasher.digest('hex') };
}

/** A map that forgets its oldest key beyond `MAX_PROXIES` (one entry per proxy). */
function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  if (map.size >= MAX_PROXIES) map.delete(map.keys().next().value!);
  map.set(key, value);
}

export class HelmUpstreams implements ChartUpstreams {
  /** The last good read copy per proxy. */
  private readonly copies = new Map<string, ReadIndex>();
  private readonly reads = new Map<string, PendingRead>();
  /** The SHA-256 of the last body per proxy that could not be read, so it is not read again. */
  private readonly refused = new Map<string, string>();
  /** The cached chart versions of each proxy, by the store's (generation, count). */
  private readonly cachedSources = new Map<string, { state: string; source: IndexSource }>();
  private readonly flights = new Map<string, Promise<ReadIndex | undefined>>();
  private readonly downUntil = new Map<string, number>();

  constructor(
    private readonly deps: HelmUpstreamDeps,
    private readonly options: HelmUpstreamOptions,
  ) {}

  async sources(root: SpaceRecord, proxy: RegistryRecord): Promise<{ sources: IndexSource[]; stamp: string }> {
    const state = await this.deps.helm.indexState(proxy.id);
    const stateKey = `${state.generation}:${state.count}`;
    let cached = this.cachedSources.get(proxy.id);
    if (!cached || cached.state !== stateKey) {
      const rows = state.count > 0 ? await this.deps.helm.listChartVersions([proxy.id]) : [];
      cached = { state: stateKey, source: sourceOf(rows.map((row) => indexEntry(row))) };
      remember(this.cachedSources, proxy.id, cached);
    }
    const index = await this.index(root, proxy);
    const sources = index ? [cached.source, index.source] : [cached.source];
    return { sources, stamp: `${proxy.id}:${stateKey}:${index?.hash ?? '-'}` };
  }

  async open(root: SpaceRecord, proxy: RegistryRecord, name: string, version: string, kind: ChartFileKind, signal?: AbortSignal): Promise<ChartFile | undefined> {
    const cached = await this.openCached(root, proxy, name, version, kind, signal);
    if (cached) return cached;
    const index = await this.index(root, proxy);
    const at = index && findInSource(index.source, name, version);
    if (!index || at === undefined) return undefined;
    const chart = refAt(index.source, at);
    const label = `${root.path}/${proxy.identifier}`;
    if (kind === 'prov') {
      // Provenance files are small and optional: passed through, not cached.
      const client = this.deps.pulls.clientOf(root, proxy);
      const res = client && (await client.getFile(`${chart.url}.prov`));
      return res ? { stream: res.body, size: res.size, digest: undefined, manifestId: null } : undefined;
    }
    const found = await this.deps.pulls.fetchFile({
      root,
      registry: proxy,
      name,
      url: chart.url,
      digest: chart.digest ? `sha256:${chart.digest}` : undefined,
      findCached: async () => {
        const hit = await this.openCached(root, proxy, name, version, 'chart', signal);
        return hit && { stream: hit.stream, size: hit.size, digest: hit.digest };
      },
      onCached: async (blob) => {
        const repo = await this.deps.store.findRepository(proxy.id, name);
        if (!repo) throw new PalletError('UNAVAILABLE', `${label}: the repository of ${name} was deleted while its chart was cached`);
        const { urls: _urls, digest: _digest, created: _created, ...fields } = fieldsAt(index.source, at);
        await this.deps.charts.recordCached(root, repo, blob, name, version, fields);
      },
    });
    if (!found) return undefined;
    return { stream: found.stream, size: found.size, digest: found.digest, manifestId: null };
  }

  private async openCached(root: SpaceRecord, proxy: RegistryRecord, name: string, version: string, kind: ChartFileKind, signal?: AbortSignal): Promise<ChartFile | undefined> {
    const row = await this.deps.helm.findChartVersion(proxy.id, name, version);
    const digest = row && (kind === 'chart' ? row.chartDigest : row.provDigest);
    if (!row || !digest) return undefined;
    try {
      const { blob, stream } = await this.deps.blobs.open({ rootSpaceId: root.id, repositoryId: row.repositoryId }, digest, undefined, signal);
      this.deps.metrics.hit(`${root.path}/${proxy.identifier}`, 'chart');
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
  private async index(root: SpaceRecord, proxy: RegistryRecord): Promise<ReadIndex | undefined> {
    const config = readUpstreamConfig(proxy, this.deps.secrets);
    if (!config?.url || config.url.startsWith('oci:')) return undefined;
    const indexUrl = indexUrlOf(config.url);
    const state = await this.deps.helm.findUpstreamIndexState(proxy.id);
    const now = Date.now();
    if (state && (now - state.checkedAt < config.tagTtlSeconds * 1000 || (this.downUntil.get(proxy.id) ?? 0) > now)) {
      return this.storedCopy(root, proxy, state.fetchedAt, indexUrl);
    }
    let flight = this.flights.get(proxy.id);
    if (!flight) {
      flight = this.refresh(root, proxy, indexUrl, config.tagTtlSeconds).finally(() => this.flights.delete(proxy.id));
      this.flights.set(proxy.id, flight);
    }
    return flight;
  }

  private label(root: SpaceRecord, proxy: RegistryRecord): string {
    return `${root.path}/${proxy.identifier}`;
  }

  /** The read copy of the stored index: in memory, or read from the store (a restart, another replica's refresh). */
  private async storedCopy(root: SpaceRecord, proxy: RegistryRecord, fetchedAt: number, indexUrl: string): Promise<ReadIndex> {
    const known = this.copies.get(proxy.id);
    const last = known && known.indexUrl === indexUrl ? known : undefined;
    if (last && last.fetchedAt === fetchedAt) return last;
    const pending = this.reads.get(proxy.id);
    if (pending?.fetchedAt === fetchedAt) return this.withinGrace(root, proxy, pending.promise, last);
    const stored = await this.deps.helm.findUpstreamIndex(proxy.id);
    if (!stored) {
      if (last) return last;
      throw new PalletError('UNAVAILABLE', `upstream ${this.label(root, proxy)} index was deleted while it was read`);
    }
    // Stored gzipped (or, from before, as fetched): a few MB, copied to the worker.
    const reading = this.read(root, proxy, { parts: [stored.body], movable: false, length: stored.body.length }, undefined, stored.fetchedAt, indexUrl, false);
    try {
      return await this.withinGrace(root, proxy, reading, last);
    } catch (err) {
      if (isPalletError(err, 'UNAVAILABLE')) throw err;
      throw new PalletError('UNAVAILABLE', `upstream ${this.label(root, proxy)}: the stored index could not be read (${message(err)})`);
    }
  }

  private async refresh(root: SpaceRecord, proxy: RegistryRecord, indexUrl: string, ttlSeconds: number): Promise<ReadIndex | undefined> {
    const { helm, metrics, log } = this.deps;
    const label = this.label(root, proxy);
    const state = await helm.findUpstreamIndexState(proxy.id);
    const backOff = (): void => void this.downUntil.set(proxy.id, Date.now() + Math.min(FAILURE_BACKOFF_MS, ttlSeconds * 1000));
    let fetched: Body;
    try {
      const client = this.deps.pulls.clientOf(root, proxy);
      if (!client) return undefined;
      metrics.miss(label, 'index');
      const res = await client.getFile(indexUrl);
      if (!res) throw new PalletError('UNAVAILABLE', `upstream ${label} has no index at ${indexUrl} (404)`, { upstream: label });
      fetched = await readBody(res.body, this.options.maxIndexBytes);
      metrics.fetched(label, fetched.length);
    } catch (err) {
      const reason = isPalletError(err, 'TOO_LARGE') ? 'invalid' : upstreamErrorReason(err);
      metrics.error(label, reason);
      if (!state) throw new PalletError('UNAVAILABLE', `upstream ${label} index could not be fetched: ${message(err)}`, { upstream: label });
      backOff();
      metrics.staleServe(label);
      log.warn({ upstream: label, url: indexUrl, fetchedAt: new Date(state.fetchedAt).toISOString(), reason: message(err) }, 'upstream: serving the cached index without revalidation');
      return this.storedCopy(root, proxy, state.fetchedAt, indexUrl);
    }
    const known = this.copies.get(proxy.id);
    const last = known && known.indexUrl === indexUrl ? known : undefined;
    if (state && last?.hash === fetched.hash) {
      // Unchanged (by SHA-256): confirmed, not read again.
      await helm.markUpstreamIndexChecked(proxy.id, Date.now());
      last.fetchedAt = state.fetchedAt;
      return last;
    }
    if (this.refused.get(proxy.id) === fetched.hash) {
      // The same bytes could not be read before: not read again.
      backOff();
      if (last) return this.lastGood(root, proxy, last, 'refused');
      if (state) return this.storedCopy(root, proxy, state.fetchedAt, indexUrl);
      throw new PalletError('UNAVAILABLE', `upstream ${label} index is not usable (it could not be read before)`, { upstream: label });
    }
    const reading = this.read(root, proxy, { ...fetched, movable: true }, fetched.hash, Date.now(), indexUrl, true);
    try {
      return await this.withinGrace(root, proxy, reading, last);
    } catch (err) {
      metrics.error(label, 'invalid');
      backOff();
      if (last) return this.lastGood(root, proxy, last, 'refused');
      if (state) return this.storedCopy(root, proxy, state.fetchedAt, indexUrl);
      throw new PalletError('UNAVAILABLE', `upstream ${label} index is not usable: ${message(err)}`, { upstream: label });
    }
  }

  private lastGood(root: SpaceRecord, proxy: RegistryRecord, copy: ReadIndex, reason: 'reading' | 'refused'): ReadIndex {
    this.deps.indexMetrics.lastGoodServe(this.label(root, proxy), reason);
    return copy;
  }

  /** `reading`, or `last` when there is one and `reading` takes longer than the grace period. */
  private async withinGrace(root: SpaceRecord, proxy: RegistryRecord, reading: Promise<ReadIndex>, last: ReadIndex | undefined): Promise<ReadIndex> {
    if (!last) return reading;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), this.options.lastGoodGraceMs ?? LAST_GOOD_GRACE_MS);
    });
    try {
      const first = await Promise.race([reading, grace]);
      return first ?? this.lastGood(root, proxy, last, 'reading');
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Reads a body in a worker (one read per proxy and body at a time; `hash` is known for a
   * fetched body); on success it becomes the proxy's read copy and, when `store`, the stored
   * copy (gzipped by the worker). Logged and counted either way.
   */
  private read(root: SpaceRecord, proxy: RegistryRecord, body: { parts: Uint8Array[]; movable: boolean; length: number }, hash: string | undefined, fetchedAt: number, indexUrl: string, store: boolean): Promise<ReadIndex> {
    const pending = this.reads.get(proxy.id);
    if (pending && hash !== undefined && pending.hash === hash) return pending.promise;
    const label = this.label(root, proxy);
    const { log, indexMetrics } = this.deps;
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
        if (hash !== undefined && !isPalletError(err, 'UNAVAILABLE')) remember(this.refused, proxy.id, hash);
        log.warn({ upstream: label, url: indexUrl, bytes: body.length, seconds, reason: message(err) }, 'upstream: the chart index could not be read; the last good copy is served');
        throw err;
      }
      const seconds = (performance.now() - started) / 1000;
      const { skipped, hash: readHash, gzipped, ...source } = read;
      if (store && gzipped) await this.deps.helm.putUpstreamIndex(proxy.id, Buffer.from(gzipped.buffer, gzipped.byteOffset, gzipped.byteLength), fetchedAt);
      const copy: ReadIndex = { fetchedAt, indexUrl, hash: readHash, source };
      const current = this.copies.get(proxy.id);
      if (!current || current.fetchedAt <= fetchedAt) remember(this.copies, proxy.id, copy);
      this.refused.delete(proxy.id);
      indexMetrics.read(label, 'ok', seconds, source.count, skipped);
      const fields = { upstream: label, url: indexUrl, bytes: body.length, stored: gzipped?.byteLength, charts: source.count, skipped, seconds };
      if (skipped['over-cap']) log.warn(fields, 'upstream: the chart index lists more chart versions than helm.maxIndexEntries; the rest are left out');
      else if (skipped['url-host'] || skipped['url-scheme']) log.warn(fields, 'upstream: chart URLs outside the upstream and upstream.fileHosts are left out of the index');
      else log.info(fields, 'upstream: read the chart index');
      return copy;
    })();
    const entry: PendingRead = { hash, fetchedAt, promise };
    this.reads.set(proxy.id, entry);
    const done = (): void => {
      if (this.reads.get(proxy.id) === entry) this.reads.delete(proxy.id);
    };
    promise.then(done, done);
    return promise;
  }
}
