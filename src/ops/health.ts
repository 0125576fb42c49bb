/**
 * Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the metadata store and
 * the storage driver answer).
 */
import type { FastifyInstance } from 'fastify';
import type { MetadataStore } from '../metadata/store.js';
import type { StorageDriver } from '../storage/driver.js';

export function registerHealth(app: FastifyInstance, store: MetadataStore, driver: StorageDriver): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (request, reply) => {
    const checks: Record<string, string> = {};
    try {
      await store.ping();
      checks.metadata = 'ok';
    } catch (err) {
      checks.metadata = (err as Error).message;
    }
    try {
      await driver.stat('readyz-probe');
      checks.storage = 'ok';
    } catch (err) {
      checks.storage = (err as Error).message;
    }
    const ready = Object.values(checks).every((v) => v === 'ok');
    if (!ready) request.log.warn({ checks }, 'not ready');
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ok' : 'unavailable', checks });
  });
}
