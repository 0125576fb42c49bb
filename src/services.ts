/**
 * The domain services of one Pallet process, wired over one metadata store, its companion
 * stores and one storage driver, with the package formats built over them. `app.ts` builds
 * them from config over SQL stores (`sqlServiceStores`); tests do the same through
 * `test/helpers/services.ts`.
 */
import type { Kysely } from 'kysely';
import type { Registry as MetricsRegistry } from 'prom-client';
import type { Log } from './base/log.js';
import { SecretBox, type SecretCodec } from './base/secret-box.js';
import { Auth } from './auth/auth.js';
import { externalBaseUrl, type Config } from './config/config.js';
import type { IdentityStore } from './metadata/identity-store.js';
import type { MetadataStore } from './metadata/store.js';
import type { UpstreamStore } from './metadata/upstream-store.js';
import { ArtifactService } from './registry/artifacts.js';
import type { GcStore } from './metadata/gc-store.js';
import { BlobService } from './registry/blobs.js';
import { GarbageCollector } from './registry/gc.js';
import type { QuotaStore } from './metadata/quota-store.js';
import { QuotaService } from './registry/quotas.js';
import type { CleanupStore } from './metadata/cleanup-store.js';
import { CleanupService } from './registry/cleanup.js';
import { SettingsRegistryService, SettingsSpaceService } from './registry/settings.js';
import { DownloadCounter } from './registry/downloads.js';
import { ManifestService, type ManifestPolicy } from './registry/manifests.js';
import { PackageTypes } from './registry/package-types.js';
import type { PackageFileStore } from './metadata/package-file-store.js';
import { PackageFileService } from './registry/package-files.js';
import type { FormatParts, PackageFormat } from './formats/format.js';
import { FORMATS } from './formats/index.js';
import type { Database, Dialect } from './metadata/schema.js';
import { LocalPulls, type PullService } from './registry/pulls.js';
import { RepositoryResolver } from './registry/repositories.js';
import { UploadJanitor } from './registry/upload-janitor.js';
import { Scrubber } from './registry/scrub.js';
import type { ScrubStore } from './metadata/scrub-store.js';
import type { StorageDriver } from './storage/driver.js';
import { EgressPolicy } from './upstream/egress.js';
import { UpstreamMetrics } from './upstream/fetch-cache/metrics.js';
import { FetchCache } from './upstream/fetch-cache/fetch-cache.js';
import { PullThrough } from './upstream/oci/pull-through.js';

export interface Services {
  config: Config;
  store: MetadataStore;
  driver: StorageDriver;
  repositories: RepositoryResolver;
  blobs: BlobService;
  manifests: ManifestService;
  downloads: DownloadCounter;
  uploadJanitor: UploadJanitor;
  /** Spaces, with their quotas. */
  spaces: SettingsSpaceService;
  /** Registries, with their quotas and cleanup policies. */
  registries: SettingsRegistryService;
  artifacts: ArtifactService;
  /** Identity and access: users, tokens, members, sessions, access decisions, audit. */
  auth: Auth;
  /** Online garbage collection (scale-out). */
  gc: GarbageCollector;
  /** Reads stored blobs back against their digests (`pallet scrub`). */
  scrub: Scrubber;
  /** Cleanup policies, run on demand and on the schedule. */
  cleanup: CleanupService;
  /** Which blobs package versions of every format reference (GC keeps them live). */
  packageFiles: PackageFileService;
  /** The package formats this process serves (validation, setup steps, `/api/v1/package-types`). */
  packageTypes: PackageTypes;
  /** What each format added (`PackageFormat.create`), by type; the `/pkg` dispatcher mounts their routes. */
  formats: ReadonlyMap<string, FormatParts>;
  /** The OCI pull-through over upstream proxies. */
  pullThrough: PullThrough;
  /** What the OCI pull endpoints read: local content, then upstream proxies and their cache. */
  pulls: PullService;
  /** The fetch-and-cache core every format's upstream adapter is built over. */
  fetchCache: FetchCache;
  /** Seals and opens upstream secrets at rest. */
  upstreamSecrets: SecretCodec;
  /** The app's Prometheus registry (served at /metrics). */
  metrics: MetricsRegistry;
  close(): Promise<void>;
}

/** The stores beside the metadata store, and what the process shares with its surfaces. */
export interface ServiceOptions {
  /** The blob protocol's and GC's rows beside the metadata store; see registry/gc.ts. */
  gcStore: GcStore;
  /** Quotas per registry and space. */
  quotaStore: QuotaStore;
  /** Cleanup policies of registries. */
  cleanupStore: CleanupStore;
  /** Upstream proxy state beside the metadata store. */
  upstreamStore: UpstreamStore;
  /** Blob rows as `pallet scrub` pages, verifies and quarantines them. */
  scrubStore: ScrubStore;
  /** Files of package versions of every format (see metadata/package-file-store.ts). */
  packageFileStore: PackageFileStore;
  /** The metadata database, for the formats' own SQL stores. */
  database: { db: Kysely<Database>; dialect: Dialect };
  /** The 256-bit key that seals upstream secrets (`resolveUpstreamKey`). */
  upstreamSecretKey: Buffer;
  metrics: MetricsRegistry;
  /** The formats to serve; `src/formats/index.ts` when omitted (tests may add a throw-away one). */
  formats?: readonly PackageFormat[];
}

/** One policy that asks each of `policies` (read at every push) in turn, and runs what each returns. */
function policyChain(policies: readonly ManifestPolicy[]): ManifestPolicy {
  return {
    async check(repo, reference, parsed) {
      const after: Array<NonNullable<Awaited<ReturnType<ManifestPolicy['check']>>>> = [];
      for (const policy of policies) {
        const then = await policy.check(repo, reference, parsed);
        if (then) after.push(then);
      }
      if (after.length === 0) return undefined;
      return async (manifest) => {
        for (const then of after) await then(manifest);
      };
    },
  };
}

/**
 * Builds every service and then the formats over them. Longer than most functions on purpose:
 * it is one wiring list, each line building a service from those above it, so the order of
 * construction (and of `close()`) reads top to bottom in one place.
 */
export function createServices(config: Config, store: MetadataStore, driver: StorageDriver, log: Log, identity: IdentityStore, options: ServiceOptions): Services {
  const downloads = new DownloadCounter(store, (err) => log.error({ err }, 'could not store download counts'));
  const { gcStore, quotaStore, upstreamStore, metrics } = options;
  const graceMs = config.gc.graceSeconds * 1000;
  const quotas = new QuotaService(store, quotaStore);
  const cleanup = new CleanupService(store, options.cleanupStore, gcStore, log);
  if (config.cleanup.intervalSeconds > 0) cleanup.start(config.cleanup.intervalSeconds * 1000);
  const blobs = new BlobService(store, driver, {
    maxOpenSessionsPerOwner: config.uploads.maxOpenSessionsPerUser,
    leaseMs: config.uploads.leaseSeconds * 1000,
    gc: gcStore,
    reservationMs: graceMs,
    quotas,
  });
  const gc = new GarbageCollector(store, gcStore, blobs, driver, log);
  const gcTimer =
    config.gc.intervalSeconds > 0
      ? setInterval(() => {
          gc.run({ graceMs }).catch((err: unknown) => log.error({ err }, 'gc: scheduled run failed'));
        }, config.gc.intervalSeconds * 1000).unref()
      : undefined;
  const uploadJanitor = new UploadJanitor(store, blobs, config.uploads.staleAfterSeconds * 1000, (err) =>
    log.error({ err }, 'could not remove stale upload sessions'),
  );
  uploadJanitor.start(Math.min(config.uploads.staleAfterSeconds * 1000, 10 * 60 * 1000));
  const upstreamSecrets = new SecretBox(options.upstreamSecretKey);
  const auth = new Auth(
    identity,
    store,
    config.auth,
    {
      warn: (msg) => log.warn(msg),
      error: (err, msg) => log.error({ err }, msg),
    },
    { secrets: upstreamSecrets, metrics, audit: config.audit, locks: gcStore },
  );
  const egress = new EgressPolicy({ allowedNetworks: config.upstream.allowedNetworks, setting: 'upstream.allowedNetworks' });
  const formats = options.formats ?? FORMATS;
  const packageTypes = new PackageTypes(formats);
  const registries = new SettingsRegistryService({ quotas: quotaStore, cleanup }, store, blobs, externalBaseUrl(config), upstreamSecrets, packageTypes, egress, options.packageFileStore);
  const repositories = new RepositoryResolver(store, packageTypes);
  const upstreamMetrics = new UpstreamMetrics(metrics);
  // The formats' push policies, filled in once the formats are built below (they need the
  // manifest service, which needs them): every manifest push asks each of them in turn.
  const policies: ManifestPolicy[] = [];
  const manifests = new ManifestService(store, gcStore, quotas, policyChain(policies));
  const local = new LocalPulls(repositories, manifests, blobs);
  const hosts = (list: string): string[] => list.split(',').map((h) => h.trim()).filter(Boolean);
  const fetchCache = new FetchCache(
    { blobs, secrets: upstreamSecrets, metrics: upstreamMetrics, log, egress, quotas },
    {
      timeoutMs: config.upstream.timeoutMs,
      deadlineMs: config.upstream.deadlineMs,
      tokenRealmHosts: hosts(config.upstream.tokenRealmHosts),
      redirectHosts: hosts(config.upstream.redirectHosts),
      sourceOf: (type, id) => packageTypes.find(type)?.sources.find((s) => s.id === id),
      notFoundTtlMs: config.upstream.notFoundTtlSeconds * 1000,
      flightWaitMs: config.upstream.flightWaitMs,
      maxBlobBytes: config.upstream.maxBlobBytes,
      minBytesPerSecond: config.upstream.minBytesPerSecond,
    },
  );
  const pullThrough = new PullThrough({ local, store, upstreamStore, blobs, cache: fetchCache }, { manifestMaxBytes: config.limits.manifestBytes });
  const parts = new Map<string, FormatParts>();
  const services: Services = {
    config,
    store,
    driver,
    repositories,
    blobs,
    manifests,
    downloads,
    uploadJanitor,
    spaces: new SettingsSpaceService(quotaStore, store),
    registries,
    artifacts: new ArtifactService(store, blobs, registries, upstreamStore, packageTypes, { files: options.packageFileStore, packagesOf: (type) => parts.get(type)?.packages }),
    pulls: pullThrough,
    fetchCache,
    upstreamSecrets,
    metrics,
    gc,
    scrub: new Scrubber(options.scrubStore, driver, log, metrics, gcStore),
    cleanup,
    packageFiles: new PackageFileService(options.packageFileStore),
    auth,
    packageTypes,
    formats: parts,
    pullThrough,
    async close() {
      clearInterval(gcTimer);
      for (const part of parts.values()) await part.close?.();
      cleanup.stop();
      fetchCache.close();
      uploadJanitor.stop();
      await auth.close();
      await downloads.close();
      await store.close();
      await driver.close();
    },
  };
  for (const format of formats) {
    if (!format.create) continue;
    const part = format.create({ config, services, metrics, log, database: options.database });
    parts.set(format.type, part);
    if (part.manifestPolicy) policies.push(part.manifestPolicy);
  }
  return services;
}
