/**
 * The domain services of one Pallet process, wired over one metadata store and one storage
 * driver. `app.ts` builds them from config; tests may build them over any store and driver.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { Registry as MetricsRegistry } from 'prom-client';
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
import type { FormatParts, PackageFormat } from './formats/format.js';
import { FORMATS } from './formats/index.js';
import type { Kysely } from 'kysely';
import type { Database, Dialect } from './metadata/schema.js';
import { LocalPulls, type PullService } from './registry/pulls.js';
import { RegistryService, type SecretCodec } from './registry/registries.js';
import { RepositoryResolver } from './registry/repositories.js';
import { SpaceService } from './registry/spaces.js';
import { UploadJanitor } from './registry/upload-janitor.js';
import { Scrubber } from './registry/scrub.js';
import type { ScrubStore } from './metadata/scrub-store.js';
import type { StorageDriver } from './storage/driver.js';
import { EgressPolicy } from './upstream/egress.js';
import { UpstreamMetrics } from './upstream/metrics.js';
import { PullThrough } from './upstream/pull-through.js';
import { SecretBox } from './upstream/secret-box.js';

export interface Services {
  config: Config;
  store: MetadataStore;
  driver: StorageDriver;
  repositories: RepositoryResolver;
  blobs: BlobService;
  manifests: ManifestService;
  downloads: DownloadCounter;
  uploadJanitor: UploadJanitor;
  spaces: SpaceService;
  registries: RegistryService;
  artifacts: ArtifactService;
  /** Identity and access: users, tokens, members, sessions, access decisions, audit. */
  auth: Auth;
  /** Online garbage collection (scale-out); absent when built without a GC store (tests). */
  gc?: GarbageCollector;
  /** Reads stored blobs back against their digests (`pallet scrub`); absent without its store. */
  scrub?: Scrubber;
  /** Cleanup policies, run on demand and on the schedule; absent without their store (tests). */
  cleanup?: CleanupService;
  /** The package formats this process serves (validation, setup steps, `/api/v1/package-types`). */
  packageTypes: PackageTypes;
  /** What each format added (`PackageFormat.create`), by type; the `/pkg` dispatcher mounts their routes. */
  formats: ReadonlyMap<string, FormatParts>;
  /** The OCI pull-through over upstream proxies; absent when built without an upstream store. */
  pullThrough?: PullThrough;
  upstreamMetrics: UpstreamMetrics;
  /** What the OCI pull endpoints read: local content, then upstream proxies and their cache. */
  pulls: PullService;
  /** Seals and opens upstream secrets at rest. */
  upstreamSecrets: SecretCodec;
  /** The app's Prometheus registry (served at /metrics). */
  metrics: MetricsRegistry;
  close(): Promise<void>;
}

export interface ServiceOptions {
  /** The blob protocol's and GC's rows beside the metadata store; see registry/gc.ts. */
  gcStore?: GcStore;
  /** Quotas per registry and space; without it there are none. */
  quotaStore?: QuotaStore;
  /** Cleanup policies of registries (needs gcStore for the job lock). */
  cleanupStore?: CleanupStore;
  /** Upstream proxy state beside the metadata store; without it pulls are local only. */
  upstreamStore?: UpstreamStore;
  /** The 256-bit key that seals upstream secrets; a random per-process key when omitted (tests). */
  upstreamSecretKey?: Buffer;
  metrics?: MetricsRegistry;
  /** The formats to serve; `src/formats/index.ts` when omitted. */
  formats?: readonly PackageFormat[];
  /** The metadata database, for the formats' own SQL stores; without it formats keep no tables. */
  database?: { db: Kysely<Database>; dialect: Dialect };
  /** Blob rows as `pallet scrub` pages, verifies and quarantines them. */
  scrubStore?: ScrubStore;
}

export function createServices(config: Config, store: MetadataStore, driver: StorageDriver, log: Logger, identity: IdentityStore, options: ServiceOptions = {}): Services {
  const downloads = new DownloadCounter(store, (err) => log.error({ err }, 'could not store download counts'));
  const gcStore = options.gcStore;
  const graceMs = config.gc.graceSeconds * 1000;
  const quotas = options.quotaStore ? new QuotaService(store, options.quotaStore) : undefined;
  const cleanup =
    options.cleanupStore && gcStore
      ? new CleanupService(store, options.cleanupStore, gcStore, (err) => log.error({ err }, 'cleanup: scheduled run failed'))
      : undefined;
  if (cleanup && config.cleanup.intervalSeconds > 0) cleanup.start(config.cleanup.intervalSeconds * 1000);
  const blobs = new BlobService(store, driver, {
    maxOpenSessionsPerOwner: config.uploads.maxOpenSessionsPerUser,
    leaseMs: config.uploads.leaseSeconds * 1000,
    ...(gcStore ? { gc: gcStore, reservationMs: graceMs } : {}),
    ...(quotas ? { quotas } : {}),
  });
  const gc = gcStore ? new GarbageCollector(store, gcStore, blobs, driver, log) : undefined;
  const gcTimer =
    gc && config.gc.intervalSeconds > 0
      ? setInterval(() => {
          gc.run({ graceMs }).catch((err: unknown) => log.error({ err }, 'gc: scheduled run failed'));
        }, config.gc.intervalSeconds * 1000).unref()
      : undefined;
  const uploadJanitor = new UploadJanitor(store, blobs, config.uploads.staleAfterSeconds * 1000, (err) =>
    log.error({ err }, 'could not remove stale upload sessions'),
  );
  uploadJanitor.start(Math.min(config.uploads.staleAfterSeconds * 1000, 10 * 60 * 1000));
  const upstreamSecrets = new SecretBox(options.upstreamSecretKey ?? randomBytes(32));
  const metrics = options.metrics ?? new MetricsRegistry();
  const auth = new Auth(
    identity,
    store,
    config.auth,
    {
      warn: (msg) => log.warn(msg),
      error: (err, msg) => log.error({ err }, msg),
    },
    { secrets: upstreamSecrets, metrics, audit: config.audit, ...(gcStore ? { locks: gcStore } : {}) },
  );
  const egress = new EgressPolicy({ allowedNetworks: config.upstream.allowedNetworks, setting: 'upstream.allowedNetworks' });
  const formats = options.formats ?? FORMATS;
  const packageTypes = new PackageTypes(formats);
  const registries = (options.quotaStore ? new SettingsRegistryService({ quotas: options.quotaStore, ...(cleanup ? { cleanup } : {}) }, store, blobs, externalBaseUrl(config), upstreamSecrets, packageTypes, egress) : new RegistryService(store, blobs, externalBaseUrl(config), upstreamSecrets, packageTypes, egress));
  const repositories = new RepositoryResolver(store, packageTypes);
  const upstreamMetrics = new UpstreamMetrics(metrics);
  // The formats' push policies, filled in once the formats are built below (they need the
  // manifest service, which needs them): every manifest push asks each of them in turn.
  const policies: ManifestPolicy[] = [];
  const manifests = new ManifestService(store, gcStore, quotas, {
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
  });
  const local = new LocalPulls(repositories, manifests, blobs);
  const pullThrough = options.upstreamStore
    ? new PullThrough(
        { local, store, upstreamStore: options.upstreamStore, blobs, secrets: upstreamSecrets, metrics: upstreamMetrics, log, egress, ...(quotas ? { quotas } : {}) },
        {
          timeoutMs: config.upstream.timeoutMs,
          notFoundTtlMs: config.upstream.notFoundTtlSeconds * 1000,
          manifestMaxBytes: config.limits.manifestBytes,
          tokenRealmHosts: config.upstream.tokenRealmHosts.split(',').map((h) => h.trim()).filter(Boolean),
          deadlineMs: config.upstream.deadlineMs,
          redirectHosts: config.upstream.redirectHosts.split(',').map((h) => h.trim()).filter(Boolean),
          minBytesPerSecond: config.upstream.minBytesPerSecond,
          flightWaitMs: config.upstream.flightWaitMs,
          maxBlobBytes: config.upstream.maxBlobBytes,
        },
      )
    : undefined;
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
    spaces: (options.quotaStore ? new SettingsSpaceService(options.quotaStore, store) : new SpaceService(store)),
    registries,
    artifacts: new ArtifactService(store, blobs, registries, options.upstreamStore),
    pulls: pullThrough ?? local,
    upstreamSecrets,
    metrics,
    ...(gc ? { gc } : {}),
    ...(options.scrubStore ? { scrub: new Scrubber(options.scrubStore, driver, log, metrics, gcStore) } : {}),
    ...(cleanup ? { cleanup } : {}),
    auth,
    packageTypes,
    formats: parts,
    ...(pullThrough ? { pullThrough } : {}),
    upstreamMetrics,
    async close() {
      clearInterval(gcTimer);
      for (const part of parts.values()) await part.close?.();
      cleanup?.stop();
      pullThrough?.close();
      uploadJanitor.stop();
      await auth.close();
      await downloads.close();
      await store.close();
      await driver.close();
    },
  };
  for (const format of formats) {
    if (!format.create) continue;
    const part = format.create({ config, services, metrics, log, ...(options.database ? { database: options.database } : {}) });
    parts.set(format.type, part);
    if (part.manifestPolicy) policies.push(part.manifestPolicy);
  }
  return services;
}
