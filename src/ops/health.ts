/**
 * Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the metadata store and
 * the storage driver answer).
 *
 * `/readyz` answers 503 `unavailable` when the database or the storage cannot be reached (each
 * check is bounded, so a blackholed database fails the probe rather than hanging it), and 200
 * `degraded` when the storage disk is below its headroom: pulls, deletes and GC still work
 * there, so the replica stays in rotation, while new uploads are refused with 507 and the
 * `storage` check says why.
 */
import type { FastifyInstance } from 'fastify';
import { formatBytes } from '../base/bytes.js';
import type { MetadataStore } from '../metadata/store.js';
import type { StorageDriver } from '../storage/driver.js';

/** Longest a single readiness check may take before it counts as failed. */
const CHECK_TIMEOUT_MS = 3_000;

type Verdict = 'ok' | 'degraded' | 'failed';

async function bounded(check: () => Promise<string | undefined>): Promise<{ verdict: Verdict; detail: string }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
  });
  try {
    const degraded = await Promise.race([check(), timeout]);
    return degraded === undefined ? { verdict: 'ok', detail: 'ok' } : { verdict: 'degraded', detail: degraded };
  } catch (err) {
    return { verdict: 'failed', detail: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

/** Undefined when the storage has room; otherwise why it is degraded. */
async function checkStorage(driver: StorageDriver): Promise<string | undefined> {
  await driver.stat('readyz-probe');
  const capacity = await driver.capacity?.();
  if (!capacity || capacity.freeBytes >= capacity.headroomBytes) return undefined;
  return (
    `insufficient storage: ${formatBytes(capacity.freeBytes)} free, below the ${formatBytes(capacity.headroomBytes)} headroom; ` +
    'uploads are refused (507) until content is deleted and garbage-collected'
  );
}

export function registerHealth(app: FastifyInstance, store: MetadataStore, driver: StorageDriver): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (request, reply) => {
    const [metadata, storage] = await Promise.all([
      bounded(async () => {
        await store.ping();
        return undefined;
      }),
      bounded(() => checkStorage(driver)),
    ]);
    const checks = { metadata: metadata.detail, storage: storage.detail };
    const verdicts = [metadata.verdict, storage.verdict];
    const status = verdicts.includes('failed') ? 'unavailable' : verdicts.includes('degraded') ? 'degraded' : 'ok';
    if (status !== 'ok') request.log.warn({ checks }, status === 'degraded' ? 'degraded' : 'not ready');
    return reply.code(status === 'unavailable' ? 503 : 200).send({ status, checks });
  });
}
