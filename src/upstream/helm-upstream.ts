/**
 * Classic Helm chart repositories behind `helm` upstream proxies (`upstream.url` an http(s)
 * repository; `oci://` proxies are served by the OCI pull-through path and list only what
 * they cached here). Implements `ChartUpstreams` for `ChartService`.
 *
 * The upstream index: `<url>/index.yaml` (or `url` itself when it names a `.yaml` file),
 * fetched through the proxy's upstream client (its credentials, timeout and metrics) and kept
 * in the Helm store. It is served from there while it was confirmed less than
 * `tagTtlSeconds` ago; after that it is fetched again. When the upstream is down, rate-limiting
 * or failing, the stored copy is served, logged and counted as a stale serve (and the upstream
 * is left alone for a few seconds). Parsed entries are kept in memory per (proxy, fetch time).
 *
 * Chart URLs in the upstream index (relative to the index or absolute) are rewritten to the
 * proxy's own `charts/<name>-<version>.tgz`; the original URL is kept to fetch the chart. A
 * chart is fetched on its first download through `PullThrough.fetchFile` (one tee into the
 * blob commit path, one fetch per digest, verified against the index's `digest` when it has
 * one) and recorded as a chart version of the proxy: the OCI manifest an upload makes, with
 * Chart.yaml read from the cached archive (`ChartService.recordCached`). Cached charts are answered from the cache without asking the upstream
 * (they are immutable by digest), so they keep working when it is down. Cached versions stay
 * listed in the proxy's index, before what the upstream lists now.
 */
import { parse as parseYaml } from 'yaml';
import { isJsonObject } from '../base/json.js';
import { isPalletError, PalletError } from '../base/errors.js';
import { readLimited } from '../base/streams.js';
import type { HelmStore } from '../metadata/helm-store.js';
import type { MetadataStore, RegistryRecord, SpaceRecord } from '../metadata/store.js';
import type { BlobService } from '../registry/blobs.js';
import { isChartName, isChartVersion } from '../registry/chart-archive.js';
import { chartFileName, type IndexEntry } from '../registry/chart-index.js';
import { indexEntry, type ChartFile, type ChartFileKind, type ChartService, type ChartUpstreams } from '../registry/charts.js';
import { readUpstreamConfig, type SecretCodec } from '../registry/registries.js';
import type { UpstreamMetrics } from './metrics.js';
import { upstreamErrorReason, type PullThrough, type UpstreamLog } from './pull-through.js';

export interface HelmUpstreamOptions {
  /** Largest upstream index.yaml accepted. */
  maxIndexBytes: number;
}

export interface HelmUpstreamDeps {
  store: MetadataStore;
  helm: HelmStore;
  charts: ChartService;
  blobs: BlobService;
  pulls: PullThrough;
  secrets: SecretCodec;
  metrics: UpstreamMetrics;
  log: UpstreamLog;
}

/** One upstream chart version: its rewritten index entry and where the chart really is. */
interface UpstreamChart {
  entry: IndexEntry;
  url: string;
  /** `sha256:…` from the index's `digest`, when it gives a valid one. */
  digest: string | undefined;
}

interface ParsedIndex {
  fetchedAt: number;
  charts: Map<string, UpstreamChart>;
}

const FAILURE_BACKOFF_MS = 5_000;
const MAX_PARSED = 1000;

function key(name: string, version: string): string {
  return `${name}\0${version}`;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The index URL of a classic repository URL. */
export function indexUrlOf(url: string): string {
  return /\.ya?ml$/i.test(url) ? url : `${url}/index.yaml`;
}

/**
 * The SHA-256 hex of an index entry's `digest`, in any case, with or without `sha256:`;
 * undefined when it is not one (the digest is then computed while the chart is fetched).
 */
function indexDigest(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const hex = value.trim().toLowerCase().replace(/^sha256:/, '');
  return /^[0-9a-f]{64}$/.test(hex) ? hex : undefined;
}

/**
 * Parses an upstream index.yaml into chart versions whose `urls` point at this proxy; entries
 * without a valid chart name, version or a URL are skipped. Throws on a document that is not an index.
 */
export function parseUpstreamIndex(body: Buffer, indexUrl: string): Map<string, UpstreamChart> {
  const doc: unknown = parseYaml(body.toString('utf8'), { maxAliasCount: 100 });
  if (!isJsonObject(doc) || (doc.entries !== undefined && doc.entries !== null && !isJsonObject(doc.entries))) {
    throw new Error('not a chart repository index (no entries map)');
  }
  const out = new Map<string, UpstreamChart>();
  for (const [name, list] of Object.entries(doc.entries ?? {})) {
    if (!Array.isArray(list)) continue;
    for (const item of list) {
      if (!isJsonObject(item)) continue;
      const version = typeof item.version === 'string' ? item.version : undefined;
      const first = Array.isArray(item.urls) ? item.urls.find((u): u is string => typeof u === 'string') : undefined;
      // Names and versions become repository names, tags and file names here: only what Helm
      // itself accepts (no `/`, no `..`).
      if (!isChartName(name) || !version || !isChartVersion(version) || !first || out.has(key(name, version))) continue;
      let url: string;
      try {
        url = new URL(first, indexUrl).href;
      } catch {
        continue;
      }
      const hex = indexDigest(item.digest);
      const fields: Record<string, unknown> = { ...item, name, version, urls: [`charts/${chartFileName(name, version)}`] };
      out.set(key(name, version), { entry: { name, version, fields }, url, digest: hex ? `sha256:${hex}` : undefined });
    }
  }
  return out;
}

export class HelmUpstreams implements ChartUpstreams {
  private readonly parsed = new Map<string, ParsedIndex>();
  /** The cached chart versions of each proxy as index entries, by the store's (generation, count). */
  private readonly cachedEntries = new Map<string, { state: string; entries: IndexEntry[] }>();
  private readonly flights = new Map<string, Promise<ParsedIndex | undefined>>();
  private readonly downUntil = new Map<string, number>();

  constructor(
    private readonly deps: HelmUpstreamDeps,
    private readonly options: HelmUpstreamOptions,
  ) {}

  async entries(root: SpaceRecord, proxy: RegistryRecord): Promise<{ entries: IndexEntry[]; stamp: string }> {
    const state = await this.deps.helm.indexState(proxy.id);
    const stateKey = `${state.generation}:${state.count}`;
    let cached = this.cachedEntries.get(proxy.id);
    if (!cached || cached.state !== stateKey) {
      const rows = state.count > 0 ? await this.deps.helm.listChartVersions([proxy.id]) : [];
      cached = { state: stateKey, entries: rows.map((row) => indexEntry(row)) };
      if (this.cachedEntries.size >= MAX_PARSED && !this.cachedEntries.has(proxy.id)) this.cachedEntries.delete(this.cachedEntries.keys().next().value!);
      this.cachedEntries.set(proxy.id, cached);
    }
    const index = await this.index(root, proxy);
    const entries = [...cached.entries];
    if (index) for (const chart of index.charts.values()) entries.push(chart.entry);
    return { entries, stamp: `${proxy.id}:${state.generation}:${state.count}:${index?.fetchedAt ?? 0}` };
  }

  async open(root: SpaceRecord, proxy: RegistryRecord, name: string, version: string, kind: ChartFileKind, signal?: AbortSignal): Promise<ChartFile | undefined> {
    const cached = await this.openCached(root, proxy, name, version, kind, signal);
    if (cached) return cached;
    const index = await this.index(root, proxy);
    const chart = index?.charts.get(key(name, version));
    if (!chart) return undefined;
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
      digest: chart.digest,
      findCached: async () => {
        const hit = await this.openCached(root, proxy, name, version, 'chart', signal);
        return hit && { stream: hit.stream, size: hit.size, digest: hit.digest };
      },
      onCached: async (blob) => {
        const repo = await this.deps.store.findRepository(proxy.id, name);
        if (!repo) throw new PalletError('UNAVAILABLE', `${label}: the repository of ${name} was deleted while its chart was cached`);
        const { urls: _urls, digest: _digest, created: _created, ...fields } = chart.entry.fields;
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
  private async index(root: SpaceRecord, proxy: RegistryRecord): Promise<ParsedIndex | undefined> {
    const config = readUpstreamConfig(proxy, this.deps.secrets);
    if (!config?.url || config.url.startsWith('oci:')) return undefined;
    const stored = await this.deps.helm.findUpstreamIndex(proxy.id);
    const now = Date.now();
    if (stored && (now - stored.checkedAt < config.tagTtlSeconds * 1000 || (this.downUntil.get(proxy.id) ?? 0) > now)) {
      return this.parse(proxy, stored.body, stored.fetchedAt, indexUrlOf(config.url));
    }
    let flight = this.flights.get(proxy.id);
    if (!flight) {
      flight = this.refresh(root, proxy, indexUrlOf(config.url), config.tagTtlSeconds).finally(() => this.flights.delete(proxy.id));
      this.flights.set(proxy.id, flight);
    }
    return flight;
  }

  private async refresh(root: SpaceRecord, proxy: RegistryRecord, indexUrl: string, ttlSeconds: number): Promise<ParsedIndex | undefined> {
    const { helm, metrics, log } = this.deps;
    const label = `${root.path}/${proxy.identifier}`;
    const stored = await helm.findUpstreamIndex(proxy.id);
    let body: Buffer | undefined;
    let parsed: Map<string, UpstreamChart> | undefined;
    try {
      const client = this.deps.pulls.clientOf(root, proxy);
      if (!client) return undefined;
      metrics.miss(label, 'index');
      const res = await client.getFile(indexUrl);
      if (!res) throw new PalletError('UNAVAILABLE', `upstream ${label} has no index at ${indexUrl} (404)`, { upstream: label });
      body = await readLimited(res.body, this.options.maxIndexBytes);
      metrics.fetched(label, body.length);
      parsed = parseUpstreamIndex(body, indexUrl);
    } catch (err) {
      const reason = body ? 'invalid' : upstreamErrorReason(err);
      metrics.error(label, reason);
      const why = body ? `the upstream index is not usable: ${message(err)}` : message(err);
      if (!stored) throw new PalletError('UNAVAILABLE', `upstream ${label} index could not be fetched: ${why}`, { upstream: label });
      this.downUntil.set(proxy.id, Date.now() + Math.min(FAILURE_BACKOFF_MS, ttlSeconds * 1000));
      metrics.staleServe(label);
      log.warn({ upstream: label, url: indexUrl, fetchedAt: new Date(stored.fetchedAt).toISOString(), reason: why }, 'upstream: serving the cached index without revalidation');
      return this.parse(proxy, stored.body, stored.fetchedAt, indexUrl);
    }
    const now = Date.now();
    if (stored && stored.body.equals(body)) {
      await helm.markUpstreamIndexChecked(proxy.id, now);
      return this.parse(proxy, stored.body, stored.fetchedAt, indexUrl);
    }
    await helm.putUpstreamIndex(proxy.id, body, now);
    log.info({ upstream: label, url: indexUrl, bytes: body.length, charts: parsed.size }, 'upstream: cached the chart index');
    return this.remember(proxy, { fetchedAt: now, charts: parsed });
  }

  private parse(proxy: RegistryRecord, body: Buffer, fetchedAt: number, indexUrl: string): ParsedIndex {
    const known = this.parsed.get(proxy.id);
    if (known && known.fetchedAt === fetchedAt) return known;
    return this.remember(proxy, { fetchedAt, charts: parseUpstreamIndex(body, indexUrl) });
  }

  private remember(proxy: RegistryRecord, index: ParsedIndex): ParsedIndex {
    if (this.parsed.size >= MAX_PARSED && !this.parsed.has(proxy.id)) this.parsed.delete(this.parsed.keys().next().value!);
    this.parsed.set(proxy.id, index);
    return index;
  }
}
