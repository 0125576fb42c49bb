/**
 * The Setup Client guide of a registry: the steps (log in, push, pull, …) its format declares
 * (`PackageTypeSpec.setup`), written for this server's host and the registry's names. Plain-HTTP
 * hosts are flagged so each format can add the flags its client needs for them.
 */
import type { PackageType, RegistryRecord } from '../metadata/store.js';
import type { PackageTypeSpec, SetupStep } from './package-types.js';

export type { SetupStep } from './package-types.js';

export interface SetupGuide {
  packageType: PackageType;
  steps: SetupStep[];
}

/** Setup Client commands of the registry's format, for this server's base URL. */
export function setupGuide(baseUrl: string, rootPath: string, registry: RegistryRecord, spec: PackageTypeSpec): SetupGuide {
  const url = new URL(baseUrl);
  const steps = spec.setup({
    baseUrl: baseUrl.replace(/\/+$/, ''),
    host: url.host,
    plain: url.protocol === 'http:',
    rootPath,
    identifier: registry.identifier,
    pushable: registry.kind === 'local',
    public: registry.public,
  });
  return { packageType: registry.packageType, steps };
}
