/**
 * The `helm:` config section (`PALLET_HELM_…` in the environment): its keys, defaults and
 * meaning. Declared by the format (`helmFormat.config`), read with `helmSettings(config)`.
 */
import { formatSection, type Config } from '../../config/config.js';

export const HELM_CONFIG_DEFAULTS = {
  /** Whether a chart upload may replace a version that exists (otherwise 409 unless `?force`). */
  allowOverwrite: false,
  /** Largest chart archive (or provenance file) accepted by the chart upload endpoint. */
  chartBytes: 20 * 1024 * 1024,
  /** Most chart versions read from one upstream index.yaml; later ones are dropped (logged, counted). */
  maxIndexEntries: 100_000,
  /** Longest one upstream index.yaml may take to read (in a worker); then the last good copy is served. */
  indexReadSeconds: 60,
};

export type HelmSettings = typeof HELM_CONFIG_DEFAULTS;

export function helmSettings(config: Config): HelmSettings {
  return formatSection(config, 'helm', HELM_CONFIG_DEFAULTS);
}
