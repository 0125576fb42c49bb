/**
 * The domain services of one Pallet process, wired over one metadata store and one storage
 * driver. `app.ts` builds them from config; tests may build them over any store and driver.
 */
import type { Logger } from 'pino';
import { Auth } from './auth/auth.js';
import { externalBaseUrl, type Config } from './config/config.js';
import type { IdentityStore } from './metadata/identity-store.js';
import type { MetadataStore } from './metadata/store.js';
import { ArtifactService } from './registry/artifacts.js';
import type { GcStore } from './metadata/gc-store.js';
import { BlobService } from './registry/blobs.js';
import { GarbageCollector } from './registry/gc.js';
import { DownloadCounter } from './registry/downloads.js';
import { ManifestService } from './registry/manifests.js';
import { RegistryService } from './registry/registries.js';
import { RepositoryResolver } from './registry/repositories.js';
import { SpaceService } from './registry/spaces.js';
import { UploadJanitor } from './registry/upload-janitor.js';
import type { StorageDriver } from './storage/driver.js';

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
  close(): Promise<void>;
}

export interface ServiceOptions {
  /** The blob protocol's and GC's rows beside the metadata store; see registry/gc.ts. */
  gcStore?: GcStore;
}

export function createServices(config: Config, store: MetadataStore, driver: StorageDriver, log: Logger, identity: IdentityStore, options: ServiceOptions = {}): Services {
  const auth = new Auth(identity, store, config.auth, {
    warn: (msg) => log.warn(msg),
    error: (err, msg) => log.error({ err }, msg),
  });
  const downloads = new DownloadCounter(store, (err) => log.error({ err }, 'could not store download counts'));
  const gcStore = options.gcStore;
  const graceMs = config.gc.graceSeconds * 1000;
  const blobs = new BlobService(store, driver, gcStore ? { gc: gcStore, reservationMs: graceMs } : {});
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
  const registries = new RegistryService(store, blobs, externalBaseUrl(config));
  return {
    config,
    store,
    driver,
    repositories: new RepositoryResolver(store),
    blobs,
    manifests: new ManifestService(store, gcStore),
    downloads,
    uploadJanitor,
    spaces: new SpaceService(store),
    registries,
    artifacts: new ArtifactService(store, blobs, registries),
    ...(gc ? { gc } : {}),
    auth,
    async close() {
      clearInterval(gcTimer);
      uploadJanitor.stop();
      await auth.close();
      await downloads.close();
      await store.close();
      await driver.close();
    },
  };
}
