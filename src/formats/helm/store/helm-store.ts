/**
 * What Helm registries keep beside the metadata store: one row per chart version (Chart.yaml,
 * archive and provenance digests, the OCI manifest holding it), a generation counter per
 * registry for the cached index.yaml, and the last index fetched from each classic upstream.
 * One SQL implementation over the metadata database's Kysely instance (`sql-helm-store.ts`)
 * passes the shared suite in `helm-store.suite.ts` on SQLite and PostgreSQL.
 *
 * Contracts: every method is atomic; times are milliseconds since the epoch. Rows go with the
 * registry, repository or manifest they name (ON DELETE CASCADE). Every write through this
 * store moves the registry's generation forward; a cascade delete (a manifest or artifact
 * deleted over OCI or the API) does not, but lowers the count `indexState` reports, so
 * (generation, count) changes whenever the set of rows does.
 */

export interface ChartVersionRecord {
  registryId: string;
  name: string;
  version: string;
  repositoryId: string;
  /** The OCI manifest holding the chart; null for a chart cached from a classic upstream. */
  manifestId: string | null;
  /** `sha256:…` of the chart archive (.tgz). */
  chartDigest: string;
  chartSize: number;
  provDigest: string | null;
  /** Chart.yaml as a JSON object. */
  metadata: Record<string, unknown>;
  createdAt: number;
}

export type NewChartVersion = Omit<ChartVersionRecord, 'createdAt'>;

export interface HelmIndexState {
  generation: number;
  count: number;
}

export interface UpstreamIndexRecord {
  body: Buffer;
  fetchedAt: number;
  checkedAt: number;
}

export interface HelmStore {
  /** Inserts or replaces the (registry, name, version) row; moves the generation. */
  putChartVersion(input: NewChartVersion): Promise<ChartVersionRecord>;
  findChartVersion(registryId: string, name: string, version: string): Promise<ChartVersionRecord | undefined>;
  /** Every chart version of the registries, in one query, ordered by name then creation. */
  listChartVersions(registryIds: readonly string[]): Promise<ChartVersionRecord[]>;
  /** Deletes a row; false when there was none. Moves the generation. */
  deleteChartVersion(registryId: string, name: string, version: string): Promise<boolean>;
  /** The registry's generation and row count (one cheap query). */
  indexState(registryId: string): Promise<HelmIndexState>;
  findUpstreamIndex(registryId: string): Promise<UpstreamIndexRecord | undefined>;
  /** When the stored upstream index was fetched and confirmed, without reading its body (which may be tens of MB). */
  findUpstreamIndexState(registryId: string): Promise<Omit<UpstreamIndexRecord, 'body'> | undefined>;
  /** Stores a freshly fetched upstream index (fetchedAt = checkedAt = `at`). */
  putUpstreamIndex(registryId: string, body: Buffer, at: number): Promise<void>;
  /** Records that the upstream confirmed the stored index is current. */
  markUpstreamIndexChecked(registryId: string, at: number): Promise<void>;
}
