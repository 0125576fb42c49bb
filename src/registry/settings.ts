/**
 * Scale-out settings of registries and spaces, layered over their services: the quota
 * (`quotaBytes`) of both, shown in their views and changed through their PATCH, and the
 * cleanup policy of a registry (see `cleanup.ts`). The base services stay unaware of them; the
 * REST API reaches them through the same `get`/`update` calls.
 */
import type { QuotaStore } from '../metadata/quota-store.js';
import { checkCleanupPolicy, type CleanupPolicy, type CleanupService } from './cleanup.js';
import type { Log } from '../base/log.js';
import type { Page } from '../base/paging.js';
import { checkQuotaBytes } from './quotas.js';
import { RegistryService, type RegistryPatchInput } from './registries.js';
import type { RegistryView } from './registry-views.js';
import { SpaceService, type SpaceView } from './spaces.js';

/** Present only when a quota is set (the views of registries and spaces without one are unchanged). */
export interface RegistrySettingsView {
  /** Bytes the registry may hold. */
  quotaBytes?: number;
  /** What its cleanup runs delete (see cleanup.ts). */
  cleanupPolicy?: CleanupPolicy;
}

export interface RegistrySettings {
  quotas: QuotaStore;
  cleanup: CleanupService;
}

export interface SpaceSettingsView {
  quotaBytes?: number;
  /** Bytes held by the registries of the space and of its nested spaces (with a quota). */
  usageBytes?: number;
}

function quotaOf(quota: number | undefined): RegistrySettingsView {
  return quota === undefined ? {} : { quotaBytes: quota };
}

export class SettingsRegistryService extends RegistryService {
  readonly #quotas: QuotaStore;
  readonly #cleanup: CleanupService;

  constructor(settings: RegistrySettings, ...args: ConstructorParameters<typeof RegistryService>) {
    super(...args);
    this.#quotas = settings.quotas;
    this.#cleanup = settings.cleanup;
  }

  async #settingsOf(registryId: string): Promise<RegistrySettingsView> {
    const policy = await this.#cleanup.findPolicy(registryId);
    return { ...quotaOf(await this.#quotas.findQuota('registry', registryId)), ...(policy ? { cleanupPolicy: policy } : {}) };
  }

  override async list(...args: Parameters<RegistryService['list']>): Promise<Page<RegistryView & RegistrySettingsView>> {
    const page = await super.list(...args);
    const items = await Promise.all(
      page.items.map(async (view) => {
        const { registry } = await this.getRef(view.root, view.identifier);
        return { ...view, ...(await this.#settingsOf(registry.id)) };
      }),
    );
    return { ...page, items };
  }

  override async get(root: string, identifier: string): Promise<RegistryView & RegistrySettingsView> {
    const view = await super.get(root, identifier);
    const { registry } = await this.getRef(root, identifier);
    return { ...view, ...(await this.#settingsOf(registry.id)) };
  }

  /**
   * Also takes `quotaBytes` (a number, or null to remove the quota) and `cleanupPolicy` (an
   * object, or null to remove it); both are checked before anything changes.
   */
  override async update(
    root: string,
    identifier: string,
    patch: RegistryPatchInput & { quotaBytes?: unknown; cleanupPolicy?: unknown },
  ): Promise<RegistryView & RegistrySettingsView> {
    const { quotaBytes, cleanupPolicy, ...rest } = patch;
    const quota = checkQuotaBytes(quotaBytes);
    const policy = checkCleanupPolicy(cleanupPolicy);
    await super.update(root, identifier, rest);
    const { registry } = await this.getRef(root, identifier);
    if (quota !== undefined) await this.#quotas.setQuota('registry', registry.id, quota);
    if (policy !== undefined) await this.#cleanup.setPolicy(registry.id, policy);
    return this.get(root, identifier);
  }

  override async delete(root: string, identifier: string, log: Log): Promise<void> {
    const { registry } = await this.getRef(root, identifier);
    await super.delete(root, identifier, log);
    await this.#quotas.setQuota('registry', registry.id, null);
  }
}

export class SettingsSpaceService extends SpaceService {
  readonly #quotas: QuotaStore;

  constructor(quotas: QuotaStore, ...args: ConstructorParameters<typeof SpaceService>) {
    super(...args);
    this.#quotas = quotas;
  }

  override async get(path: string): Promise<SpaceView & SpaceSettingsView> {
    const view = await super.get(path);
    const space = await this.getRecord(path);
    const quota = await this.#quotas.findQuota('space', space.id);
    if (quota === undefined) return view;
    return { ...view, quotaBytes: quota, usageBytes: await this.#quotas.usage('space', space.id) };
  }

  /** Also takes `quotaBytes` (a number, or null to remove the quota). */
  override async update(path: string, patch: { description?: unknown; quotaBytes?: unknown }): Promise<SpaceView & SpaceSettingsView> {
    const { quotaBytes, ...rest } = patch;
    const quota = checkQuotaBytes(quotaBytes);
    await super.update(path, rest);
    if (quota !== undefined) await this.#quotas.setQuota('space', (await this.getRecord(path)).id, quota);
    return this.get(path);
  }

  override async delete(path: string): Promise<void> {
    const space = await this.getRecord(path);
    await super.delete(path);
    await this.#quotas.setQuota('space', space.id, null);
  }
}
