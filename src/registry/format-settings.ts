/**
 * Per-registry format settings (`PackageTypeSpec.settings`, e.g. `allowOverwrite`): the checks
 * of `"settings": {…}` on a registry's creation and PATCH, and the view with defaults filled in.
 * The store keeps only the keys that were set (`RegistryRecord.settings`); a format reads a
 * value with `registrySetting()` (stored value, else its default).
 *
 * Rules: `settings` is a JSON object whose keys are settings the registry's format declares;
 * each value has the declared type (boolean; string, one of `enum` when given; integer within
 * `minimum`/`maximum`). A PATCH merges its keys into the stored ones; `null` puts a key back
 * to its default. Anything else is INVALID_ARGUMENT naming the key (`field: settings.<key>`).
 * A PATCH merges into the settings it read and writes the whole object: of two concurrent
 * PATCHes of different keys the later write wins whole (as with every other registry field).
 */
import { isJsonObject } from '../base/json.js';
import type { PackageTypeSpec, RegistrySettingSpec } from './package-types.js';
import { invalid } from './registry-fields.js';

/**
 * The settings to store for a creation (`current` absent) or a PATCH (merged into `current`);
 * undefined when `value` is undefined (not given).
 */
export function checkFormatSettings(
  spec: Pick<PackageTypeSpec, 'type' | 'settings'>,
  value: unknown,
  current?: Readonly<Record<string, unknown>>,
): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  if (!isJsonObject(value)) throw invalid('settings must be an object of setting → value', 'settings');
  const declared = spec.settings ?? {};
  const out: Record<string, unknown> = {};
  // Keep only stored keys the format still declares (a setting a newer build dropped goes).
  for (const [key, stored] of Object.entries(current ?? {})) if (Object.hasOwn(declared, key)) out[key] = stored;
  for (const [key, raw] of Object.entries(value)) {
    const setting = Object.hasOwn(declared, key) ? declared[key] : undefined;
    if (!setting) {
      const known = Object.keys(declared);
      const hint = known.length > 0 ? `; ${spec.type} registries take ${known.join(', ')}` : `; ${spec.type} registries have no settings`;
      const field = `settings.${clip(key)}`;
      throw invalid(`${field} is not a setting of ${spec.type} registries${hint}`, field);
    }
    if (raw === null) {
      delete out[key];
      continue;
    }
    out[key] = checkValue(key, setting, raw);
  }
  return out;
}

function checkValue(key: string, setting: RegistrySettingSpec, raw: unknown): boolean | string | number {
  const field = `settings.${key}`;
  switch (setting.type) {
    case 'boolean':
      if (typeof raw !== 'boolean') throw invalid(`${field} must be true or false; got ${shown(raw)}`, field);
      return raw;
    case 'string':
      if (typeof raw !== 'string') throw invalid(`${field} must be a string; got ${shown(raw)}`, field);
      if (setting.enum && !setting.enum.includes(raw)) throw invalid(`${field} must be one of ${setting.enum.join(', ')}; got ${shown(raw)}`, field);
      if (raw.length > 1024) throw invalid(`${field} is at most 1024 characters long`, field);
      return raw;
    case 'integer': {
      if (typeof raw !== 'number' || !Number.isSafeInteger(raw)) throw invalid(`${field} must be an integer; got ${shown(raw)}`, field);
      if (setting.minimum !== undefined && raw < setting.minimum) throw invalid(`${field} must be at least ${setting.minimum}; got ${raw}`, field);
      if (setting.maximum !== undefined && raw > setting.maximum) throw invalid(`${field} must be at most ${setting.maximum}; got ${raw}`, field);
      return raw;
    }
  }
}

/** At most this many characters of a refused key or value go into an error message. */
const SHOWN_CHARS = 64;

function clip(text: string): string {
  return text.length > SHOWN_CHARS ? `${text.slice(0, SHOWN_CHARS)}…` : text;
}

/** A refused value in an error message: JSON, cut short (a hostile value is not echoed whole). */
function shown(raw: unknown): string {
  return clip(JSON.stringify(raw) ?? String(raw));
}

/** Every setting the format declares, with the stored value or else the default. */
export function formatSettingsView(
  spec: Pick<PackageTypeSpec, 'settings'> | undefined,
  stored: Readonly<Record<string, unknown>> | undefined,
): Record<string, boolean | string | number> {
  const out: Record<string, boolean | string | number> = {};
  for (const [key, setting] of Object.entries(spec?.settings ?? {})) {
    const value = stored?.[key];
    out[key] = typeof value === typeof setting.default ? (value as boolean | string | number) : setting.default;
  }
  return out;
}
