/**
 * Builds the HTTP server from config. The one place that picks concrete drivers; `main.ts`
 * listens, tests call `inject()`.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { Registry as MetricsRegistry } from 'prom-client';
import { trustProxyOption } from './base/client-address.js';
import type { Config } from './config/config.js';
import { openDatabase } from './metadata/open.js';
import { SqlGcStore } from './metadata/sql-gc-store.js';
import { SqlScrubStore } from './metadata/sql-scrub-store.js';
import { SqlQuotaStore } from './metadata/sql-quota-store.js';
import { SqlCleanupStore } from './metadata/sql-cleanup-store.js';
import { SqlIdentityStore } from './metadata/sql-identity-store.js';
import { SqlUpstreamStore } from './metadata/sql-upstream-store.js';
import { registerHealth } from './ops/health.js';
import { registerMetrics } from './ops/metrics.js';
import { FaultMetrics } from './ops/faults.js';
import { applyServerLimits } from './ops/server-limits.js';
import { ociRoutes } from './formats/oci/routes.js';
import type { PackageFormat } from './formats/format.js';
import { FORMATS, formatMigrations } from './formats/index.js';
import { pkgRoutes } from './formats/pkg-routes.js';
import { apiRoutes } from './api/plugin.js';
import { createServices, type Services } from './services.js';
import { openStorageDriver } from './storage/open.js';
import { resolveUpstreamKey } from './upstream/secret-box.js';
import { registerUi } from './web/ui-routes.js';

export interface App {
  server: FastifyInstance;
  services: Services;
  log: Logger;
}

/** The process logger; `destination` (stdout by default) lets tests read every line. */
export function createLogger(config: Config, destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    level: config.logLevel,
    // Secrets must never reach a log line: credentials in headers, and any field named like one.
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'req.headers["x-csrf-token"]',
        'res.headers["set-cookie"]',
        '*.password',
        '*.token',
        '*.secret',
        '*.csrfToken',
        '*.access_token',
        '*.passwordHash',
      ],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

/**
 * Opens the store and driver that `config` names and builds the server over them, serving
 * `formats` (the registered list; tests may add a throw-away format).
 */
export async function buildApp(config: Config, log: Logger = createLogger(config), formats: readonly PackageFormat[] = FORMATS): Promise<App> {
  const metrics = new MetricsRegistry();
  const faults = new FaultMetrics(metrics, log);
  const { db, dialect, metadata: store } = await openDatabase({
    url: config.database.url,
    dataDir: config.dataDir,
    ...(config.database.schema ? { schema: config.database.schema } : {}),
    log: (msg: string) => log.info(msg),
    onFault: (fault, err) => faults.record('database', fault, err),
    migrations: formatMigrations(formats),
  });
  const driver = await openStorageDriver({
    storage: config.storage,
    dataDir: config.dataDir,
    s3: config.s3,
    filesystem: { headroomBytes: config.limits.diskHeadroomBytes, onFault: (fault, err) => faults.record('storage', fault, err) },
  });
  faults.watchCapacity(driver);
  const upstreamStore = new SqlUpstreamStore(db, dialect);
  let upstreamSecretKey: Buffer;
  try {
    upstreamSecretKey = await resolveUpstreamKey(config.upstream.secretKey, upstreamStore);
  } catch (err) {
    await store.close();
    await driver.close();
    throw err;
  }
  const services = createServices(config, store, driver, log, new SqlIdentityStore(db, dialect), { metrics, upstreamStore, upstreamSecretKey, gcStore: new SqlGcStore(db, dialect), quotaStore: new SqlQuotaStore(db, dialect), cleanupStore: new SqlCleanupStore(db, dialect), formats, database: { db, dialect }, scrubStore: new SqlScrubStore(db, dialect) });
  try {
    await services.auth.start(config.adminPassword);
    const sealed = await services.registries.sealStoredSecrets();
    if (sealed > 0) log.info({ count: sealed }, 'upstream: sealed plain-text upstream passwords stored before encryption at rest');
  } catch (err) {
    await services.close();
    throw err;
  }
  const server = buildServer(services, log);
  server.addHook('onClose', async () => services.close());
  await server.ready();
  return { server, services, log };
}

export function buildServer(services: Services, log: Logger): FastifyInstance {
  const server = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    // One access line per request, written by the onResponse hook below.
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    exposeHeadRoutes: false,
    return503OnClosing: true,
    bodyLimit: 1024 * 1024,
    routerOptions: { ignoreDuplicateSlashes: true },
    // request.ip: the peer, or X-Forwarded-For behind a proxy listed in server.trustProxy.
    trustProxy: trustProxyOption(services.config.server.trustProxy),
  });
  server.addHook('onSend', async (request, reply) => {
    reply.header('X-Request-Id', request.id);
    // Answered before the body was read to its end (a 413, a refusal): close afterwards rather
    // than let Node drain an unbounded body to keep the connection alive.
    if (request.raw.complete === false) reply.header('Connection', 'close');
  });
  // A request refused while its body was still arriving (507 mid-upload): read and drop the rest,
  // so that a client that reads the answer only once it has sent everything gets to read it.
  server.addHook('onResponse', async (request) => {
    if (!request.raw.complete && !request.raw.destroyed) request.raw.resume();
  });
  server.addHook('onResponse', async (request, reply) => {
    request.log.info(
      { method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 },
      'request',
    );
  });
  registerMetrics(server, services.metrics);
  applyServerLimits(server, services.config.server, services.metrics, log);
  registerHealth(server, services.store, services.driver);
  server.register(ociRoutes, { services });
  server.register(apiRoutes, { prefix: '/api/v1', services });
  server.register(pkgRoutes, { prefix: '/pkg', services });
  registerUi(server);
  return server;
}
