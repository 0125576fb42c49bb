/**
 * The full set of domain services without HTTP, built the way `app.ts` builds them (every SQL
 * store, the storage driver the config names) over SQLite in a temp dir, or over the database
 * `flags.database` names. For tests that drive the domain directly, and for tests of several
 * replicas: `replica()` is another process's services over the same database and storage,
 * whose metadata store a test may wrap (to pause it at a chosen call, or race it).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry as MetricsRegistry } from 'prom-client';
import { sqlServiceStores } from '../../src/app.js';
import { silentLog } from '../../src/base/log.js';
import { resolveUpstreamKey } from '../../src/base/secret-box.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { FORMATS, formatConfigSections, formatMigrations } from '../../src/formats/index.js';
import { openDatabase, type OpenedDatabase } from '../../src/metadata/open.js';
import { SqlIdentityStore } from '../../src/metadata/sql-identity-store.js';
import type { MetadataStore } from '../../src/metadata/store.js';
import { createServices, type Services } from '../../src/services.js';
import type { StorageDriver } from '../../src/storage/driver.js';
import { openStorageDriver } from '../../src/storage/open.js';

export interface TestServices {
  services: Services;
  config: Config;
  database: OpenedDatabase;
  dataDir: string;
  /**
   * Another replica's services over the same database and storage, its metadata store passed
   * through `wrap` when given. Closed by `close()` (before the shared database).
   */
  replica(wrap?: (store: MetadataStore) => MetadataStore): Promise<Services>;
  close(): Promise<void>;
}

/** `shared` with a `close()` that does nothing: its owner closes it, not each user. */
function sharing<T extends object>(shared: T): T {
  return new Proxy(shared, {
    get(target, prop) {
      if (prop === 'close') return async () => {};
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

export interface TestServicesOptions {
  /**
   * The storage every replica uses instead of the one the config names; the caller closes it.
   */
  driver?: StorageDriver;
}

/** `flags` are config overrides by key path, as for `loadConfig` (`{ uploads: { leaseSeconds: 1 } }`). */
export async function openTestServices(flags: Record<string, unknown> = {}, options: TestServicesOptions = {}): Promise<TestServices> {
  const dataDir = await mkdtemp(join(tmpdir(), 'pallet-services-'));
  const config = loadConfig({
    env: {},
    flags: { dataDir, logLevel: 'silent', baseUrl: 'http://registry.test', adminPassword: `services-${randomBytes(6).toString('hex')}`, ...flags },
    sections: formatConfigSections(),
  });
  const database = await openDatabase({
    url: config.database.url,
    dataDir: config.dataDir,
    ...(config.database.schema ? { schema: config.database.schema } : {}),
    migrations: formatMigrations(FORMATS),
  });
  const stores = sqlServiceStores(database.db, database.dialect);
  const upstreamSecretKey = await resolveUpstreamKey(config.upstream.secretKey, stores.upstreamStore);
  const build = async (store: MetadataStore): Promise<Services> => {
    const driver = options.driver ? sharing(options.driver) : await openStorageDriver({ storage: config.storage, dataDir: config.dataDir, s3: config.s3 });
    const identity = new SqlIdentityStore(database.db, database.dialect);
    return createServices(config, store, driver, silentLog, identity, { ...stores, metrics: new MetricsRegistry(), upstreamSecretKey });
  };
  const services = await build(database.metadata);
  const replicas: Services[] = [];
  return {
    services,
    config,
    database,
    dataDir,
    async replica(wrap = (store) => store) {
      const replica = await build(wrap(sharing(database.metadata)));
      replicas.push(replica);
      return replica;
    },
    async close() {
      for (const replica of replicas) await replica.close();
      await services.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
