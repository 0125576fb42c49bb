/**
 * What configures generic files: the per-registry settings (`PackageTypeSpec.settings`, set on
 * a registry under `"settings"`) and the process's `generic:` config section
 * (`PALLET_GENERIC_…` in the environment).
 */
import { formatSection, type Config } from '../../config/config.js';
import { registrySetting, type RegistrySettingSpec } from '../../registry/package-types.js';

export const GENERIC_SETTINGS: Readonly<Record<string, RegistrySettingSpec>> = {
  allowOverwrite: {
    type: 'boolean',
    default: false,
    description: 'Whether an upload may replace a file of a version with other bytes (by a caller who may also delete); otherwise it is refused with 409',
  },
};

/** Whether the registry lets an upload replace a file with other bytes. */
export function allowsOverwrite(registry: { settings?: Readonly<Record<string, unknown>> }): boolean {
  return registrySetting<boolean>({ settings: GENERIC_SETTINGS }, registry, 'allowOverwrite');
}

export const GENERIC_CONFIG_DEFAULTS = {
  /** Largest file an upload may store (0: no limit besides quotas and free space). */
  maxFileBytes: 64 * 1024 ** 3,
};

export function genericConfig(config: Config): typeof GENERIC_CONFIG_DEFAULTS {
  return formatSection(config, 'generic', GENERIC_CONFIG_DEFAULTS);
}
