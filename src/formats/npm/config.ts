/**
 * The `npm:` config section (`PALLET_NPM_…` in the environment): its keys, defaults and
 * meaning. Declared by the format (`npmFormat.config`), read with `npmSettings(config)`.
 */
import { formatSection, type Config } from '../../config/config.js';

export const NPM_CONFIG_DEFAULTS = {
  /** Largest `npm publish` body (the JSON with the base64 tarball, about 4/3 of the tarball). */
  publishBytes: 256 * 1024 * 1024,
  /** Largest part of a publish or metadata body outside the tarball data (package.json, readme). */
  metadataBytes: 16 * 1024 * 1024,
  /** Largest small JSON body (dist-tags, login, audit requests). */
  jsonBytes: 4 * 1024 * 1024,
  /** Packuments of local packages kept built in memory (each used only while its package is unchanged). */
  packumentCacheEntries: 1000,
  /** Most results one search answers (npm asks for 20 by default; npmjs caps at 250). */
  maxSearchResults: 250,
  /** Largest packument an upstream proxy accepts (public full packuments reach tens of MiB). */
  upstreamPackumentBytes: 128 * 1024 * 1024,
  /** Parsed upstream packuments kept in memory per process, by body size (MiB). */
  upstreamPackumentCacheMb: 256,
};

export type NpmSettings = typeof NPM_CONFIG_DEFAULTS;

export function npmSettings(config: Config): NpmSettings {
  return formatSection(config, 'npm', NPM_CONFIG_DEFAULTS);
}
