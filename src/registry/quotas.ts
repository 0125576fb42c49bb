/**
 * Quotas per registry and per space: a push that would take a registry, or a space with the
 * registries in it and below it, over its quota is refused with DENIED, naming the quota and the
 * usage. Usage stays exact under concurrent pushes and replicas: each push reserves the bytes
 * it adds in one database transaction before committing them (see `metadata/quota-store.ts`),
 * and releases the reservation once they are committed (a crashed push's reservation expires).
 */
import { formatBytes } from '../base/bytes.js';
import { randomUUID } from 'node:crypto';
import { PalletError } from '../base/errors.js';
import type { QuotaExceeded, QuotaStore } from '../metadata/quota-store.js';
import type { MetadataStore } from '../metadata/store.js';

/** How long a reservation outlives a push that died before releasing it. */
const RESERVATION_MS = 15 * 60_000;

/** What uploads and manifest pushes call; `release` is idempotent. */
export interface QuotaGate {
  /** Reserves the bytes a push adds to the repository; DENIED when a quota would be exceeded. */
  reserve(repositoryId: string, bytes: number, digest?: string): Promise<{ release(): Promise<void> }>;
}

export function checkQuotaBytes(value: unknown): number | null | undefined {
  if (value === undefined || value === null) return value;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new PalletError('INVALID_ARGUMENT', `quotaBytes must be a whole number of bytes (0 or more) or null; got ${JSON.stringify(value)}`, {
      field: 'quotaBytes',
    });
  }
  return value;
}

export class QuotaService implements QuotaGate {
  constructor(
    private readonly store: MetadataStore,
    readonly quotas: QuotaStore,
  ) {}

  async reserve(repositoryId: string, bytes: number, digest?: string): Promise<{ release(): Promise<void> }> {
    const holder = randomUUID();
    const result = await this.quotas.reserve(repositoryId, bytes, holder, RESERVATION_MS, digest);
    if (!result.ok) throw await this.denied(result.exceeded);
    let released = false;
    return {
      release: async () => {
        if (released) return;
        released = true;
        await this.quotas.release(holder);
      },
    };
  }

  private async denied(e: QuotaExceeded): Promise<PalletError> {
    const name =
      e.scope === 'registry'
        ? await this.registryName(e.scopeId)
        : `space ${(await this.store.findSpaceById(e.scopeId))?.path ?? e.scopeId}`;
    return new PalletError(
      'DENIED',
      `quota exceeded: ${name} has a quota of ${e.quotaBytes} bytes (${formatBytes(e.quotaBytes)}) and uses ${e.usageBytes} bytes ` +
        `(${formatBytes(e.usageBytes)}); this push needs ${e.requestedBytes} more`,
      { scope: e.scope, quotaBytes: e.quotaBytes, usageBytes: e.usageBytes, requestedBytes: e.requestedBytes },
    );
  }

  private async registryName(id: string): Promise<string> {
    const registry = await this.store.findRegistryById(id);
    if (!registry) return `registry ${id}`;
    const root = await this.store.findSpaceById(registry.rootSpaceId);
    return `registry ${root?.path ?? registry.rootSpaceId}/${registry.identifier}`;
  }
}

