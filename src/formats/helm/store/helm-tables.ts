/**
 * The Helm format's tables (migration `0005_helm`, `helm-migration.ts`), kept out of the core
 * schema: the Helm store sees them through `db.withTables<HelmTables>()`.
 */
/** A chart version of a Helm registry (0005). */
export interface HelmChartsTable {
  registry_id: string;
  name: string;
  version: string;
  repository_id: string;
  manifest_id: string | null;
  chart_digest: string;
  chart_size: number;
  prov_digest: string | null;
  /** Chart.yaml as JSON. */
  metadata: string;
  created_at: number;
}

/** Per Helm registry, the generation of its chart rows (0005). */
export interface HelmIndexStateTable {
  registry_id: string;
  generation: number;
}

/** The last index.yaml fetched from a classic Helm upstream (0005). */
export interface HelmUpstreamIndexesTable {
  registry_id: string;
  body: Buffer;
  fetched_at: number;
  checked_at: number;
}

export type HelmTables = {
  helm_charts: HelmChartsTable;
  helm_index_state: HelmIndexStateTable;
  helm_upstream_indexes: HelmUpstreamIndexesTable;
};
