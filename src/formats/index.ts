/**
 * The one list of package formats this build serves. Adding a format is one folder under
 * `src/formats/` and one line here (see docs/formats.md); nothing else names it.
 */
import type { ConfigSection } from '../config/config.js';
import type { ExtraMigrations } from '../metadata/migrations.js';
import type { PackageFormat } from './format.js';
import { dockerFormat } from './oci/format.js';
import { helmFormat } from './helm/format.js';
import { npmFormat } from './npm/format.js';

export const FORMATS: readonly PackageFormat[] = [dockerFormat, helmFormat, npmFormat];

/** The formats' own migrations, by name, for `openDatabase({ migrations })`. */
export function formatMigrations(formats: readonly PackageFormat[] = FORMATS): ExtraMigrations {
  const out: Record<string, NonNullable<PackageFormat['migrations']>[string]> = {};
  for (const format of formats) {
    for (const [name, migration] of Object.entries(format.migrations ?? {})) {
      if (name in out) throw new Error(`migration ${name} is declared by two formats`);
      out[name] = migration;
    }
  }
  return out;
}

/** The formats' config sections, by name, for `loadConfig({ sections })`. */
export function formatConfigSections(formats: readonly PackageFormat[] = FORMATS): Record<string, ConfigSection> {
  const out: Record<string, ConfigSection> = {};
  for (const format of formats) if (format.config) out[format.type] = format.config;
  return out;
}
