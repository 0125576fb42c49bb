/**
 * Upstream proxies as the fetch-and-cache core sees them: a proxy registry with its config, its
 * upstream client and its labels (`Upstream`), and the clients themselves, one per proxy,
 * rebuilt when the proxy's config changes (`UpstreamClients`).
 */
import { PalletError } from '../../base/errors.js';
import type { RegistryRecord, SpaceRecord } from '../../metadata/store.js';
import type { SecretCodec } from '../../base/secret-box.js';
import { readUpstreamConfig, type UpstreamConfig } from '../../registry/upstream-config.js';
import { RegistryClient, registryEndpoint } from '../client.js';
import type { EgressPolicy } from '../egress.js';
import { message } from './errors.js';
import type { MetricLabels, UpstreamMetrics } from './metrics.js';

/** What the core logs to: a pino logger (a request's child logger carries its request id) fits. */
export interface UpstreamLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** One upstream proxy, ready to be asked. */
export interface Upstream extends MetricLabels {
  root: SpaceRecord;
  registry: RegistryRecord;
  config: UpstreamConfig;
  client: RegistryClient;
}

/** Extra hosts a source's clients may talk to (a public registry's token service and CDN). */
export interface SourceHosts {
  tokenRealmHosts?: readonly string[];
  redirectHosts?: readonly string[];
  /** The source speaks Docker Hub's dialect (`library/` names, its token service). */
  dockerHub?: boolean;
}

export interface ClientOptions {
  /** Upstream request timeout (connect, headers, body stalls). */
  timeoutMs: number;
  /** Total deadline of an upstream request to its headers, and to the end of a small body. */
  deadlineMs: number;
  /** Hosts besides a proxy's own that may receive its credentials as token service. */
  tokenRealmHosts?: readonly string[];
  /** Hosts besides a proxy's own origin that redirects may go to (`redirectRefusal`). */
  redirectHosts?: readonly string[];
  /**
   * The source a proxy's config names, from its format (`PackageTypeSpec.sources`): a
   * well-known source's fixed URL wins over the stored one, and its hosts are allowed.
   */
  sourceOf?: (packageType: string, source: string) => { defaultUrl?: string; hosts?: SourceHosts } | undefined;
}

export interface ClientDeps {
  secrets: SecretCodec;
  metrics: UpstreamMetrics;
  log: UpstreamLog;
  egress: EgressPolicy;
}

/** `<root>/<identifier>` of a proxy, its log and metric label. */
export function upstreamLabel(root: SpaceRecord, registry: RegistryRecord): string {
  return `${root.path}/${registry.identifier}`;
}

export class UpstreamClients {
  private readonly clients = new Map<string, { fingerprint: string; client: RegistryClient }>();

  constructor(
    private readonly deps: ClientDeps,
    private readonly options: ClientOptions,
  ) {}

  /**
   * The proxy ready to be asked; undefined when it has no URL. UNAVAILABLE when its stored
   * config cannot be read (logged).
   */
  find(root: SpaceRecord, registry: RegistryRecord, log: UpstreamLog = this.deps.log): Upstream | undefined {
    const label = upstreamLabel(root, registry);
    let config: UpstreamConfig | undefined;
    try {
      config = readUpstreamConfig(registry, this.deps.secrets);
    } catch (err) {
      log.warn({ upstream: label, reason: message(err) }, 'upstream: unusable proxy config');
      throw new PalletError('UNAVAILABLE', `upstream proxy ${label} cannot be used: ${message(err)}`, { upstream: label });
    }
    const known = config && this.options.sourceOf?.(registry.packageType, config.source);
    if (config && known?.defaultUrl !== undefined) config = { ...config, url: known.defaultUrl };
    if (!config || !config.url) return undefined;
    const format = registry.packageType;
    const fingerprint = JSON.stringify(registry.upstream);
    let entry = this.clients.get(registry.id);
    if (!entry || entry.fingerprint !== fingerprint) {
      entry?.client.close();
      entry = { fingerprint, client: this.build(config, known?.hosts ?? {}, { label, format }) };
      this.clients.set(registry.id, entry);
    }
    return { root, registry, config, client: entry.client, label, format };
  }

  private build(config: UpstreamConfig, source: SourceHosts, labels: MetricLabels): RegistryClient {
    const { options } = this;
    return new RegistryClient({
      ...registryEndpoint(config.url),
      dockerHub: source.dockerHub === true,
      ...(config.credentials ? { credentials: config.credentials } : {}),
      timeoutMs: options.timeoutMs,
      deadlineMs: options.deadlineMs,
      redirectHosts: [...(options.redirectHosts ?? []), ...(source.redirectHosts ?? [])],
      egress: this.deps.egress,
      tokenRealmHosts: [...(options.tokenRealmHosts ?? []), ...(source.tokenRealmHosts ?? [])],
      userAgent: 'pallet-upstream-proxy',
      observer: this.deps.metrics.observer(labels),
    });
  }

  close(): void {
    for (const { client } of this.clients.values()) client.close();
    this.clients.clear();
  }
}
