/**
 * `HelmStore` over Kysely, for SQLite and PostgreSQL, built over the same Kysely instance as
 * `SqlMetadataStore` (which owns the connection: this store has no `close`). A write and the
 * generation move share one transaction.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import { PalletError } from '../../../base/errors.js';
import type { ChartVersionRecord, HelmIndexState, HelmStore, NewChartVersion, UpstreamIndexRecord } from './helm-store.js';
import type { Database, Dialect } from '../../../metadata/schema.js';
import type { HelmChartsTable, HelmTables } from './helm-tables.js';

/** The core tables and Helm's own. */
type HelmDatabase = Database & HelmTables;

function isForeignKeyViolation(err: unknown): boolean {
  return err instanceof Error && 'code' in err && (err.code === '23503' || err.code === 'SQLITE_CONSTRAINT_FOREIGNKEY');
}

function toRecord(row: HelmChartsTable): ChartVersionRecord {
  return {
    registryId: row.registry_id,
    name: row.name,
    version: row.version,
    repositoryId: row.repository_id,
    manifestId: row.manifest_id,
    chartDigest: row.chart_digest,
    chartSize: Number(row.chart_size),
    provDigest: row.prov_digest,
    metadata: JSON.parse(row.metadata) as Record<string, unknown>,
    createdAt: Number(row.created_at),
  };
}

async function bump(trx: Transaction<HelmDatabase>, registryId: string): Promise<void> {
  await trx
    .insertInto('helm_index_state')
    .values({ registry_id: registryId, generation: 1 })
    .onConflict((oc) => oc.column('registry_id').doUpdateSet({ generation: sql<number>`helm_index_state.generation + 1` }))
    .execute();
}

export class SqlHelmStore implements HelmStore {
  readonly #db: Kysely<HelmDatabase>;

  constructor(db: Kysely<Database>, _dialect: Dialect) {
    this.#db = db.withTables<HelmTables>();
  }

  async putChartVersion(input: NewChartVersion): Promise<ChartVersionRecord> {
    const row: HelmChartsTable = {
      registry_id: input.registryId,
      name: input.name,
      version: input.version,
      repository_id: input.repositoryId,
      manifest_id: input.manifestId,
      chart_digest: input.chartDigest,
      chart_size: input.chartSize,
      prov_digest: input.provDigest,
      metadata: JSON.stringify(input.metadata),
      created_at: Date.now(),
    };
    try {
      await this.#db.transaction().execute(async (trx) => {
        await trx
          .insertInto('helm_charts')
          .values(row)
          .onConflict((oc) =>
            oc.columns(['registry_id', 'name', 'version']).doUpdateSet({
              repository_id: row.repository_id,
              manifest_id: row.manifest_id,
              chart_digest: row.chart_digest,
              chart_size: row.chart_size,
              prov_digest: row.prov_digest,
              metadata: row.metadata,
              created_at: row.created_at,
            }),
          )
          .execute();
        await bump(trx, input.registryId);
      });
    } catch (err) {
      if (isForeignKeyViolation(err)) throw new PalletError('NOT_FOUND', `chart ${input.name} ${input.version}: its registry, repository or manifest is gone`);
      throw err;
    }
    return toRecord(row);
  }

  async findChartVersion(registryId: string, name: string, version: string): Promise<ChartVersionRecord | undefined> {
    const row = await this.#db
      .selectFrom('helm_charts')
      .selectAll()
      .where('registry_id', '=', registryId)
      .where('name', '=', name)
      .where('version', '=', version)
      .executeTakeFirst();
    return row && toRecord(row);
  }

  async listChartVersions(registryIds: readonly string[]): Promise<ChartVersionRecord[]> {
    if (registryIds.length === 0) return [];
    const rows = await this.#db
      .selectFrom('helm_charts')
      .selectAll()
      .where('registry_id', 'in', registryIds)
      .orderBy('name')
      .orderBy('created_at')
      .execute();
    return rows.map(toRecord);
  }

  async deleteChartVersion(registryId: string, name: string, version: string): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      const result = await trx
        .deleteFrom('helm_charts')
        .where('registry_id', '=', registryId)
        .where('name', '=', name)
        .where('version', '=', version)
        .executeTakeFirst();
      if (Number(result.numDeletedRows) === 0) return false;
      await bump(trx, registryId);
      return true;
    });
  }

  async indexState(registryId: string): Promise<HelmIndexState> {
    const row = await this.#db
      .selectNoFrom((eb) => [
        eb.selectFrom('helm_index_state').select('generation').where('registry_id', '=', registryId).as('generation'),
        eb.selectFrom('helm_charts').select((e) => e.fn.countAll<number>().as('n')).where('registry_id', '=', registryId).as('count'),
      ])
      .executeTakeFirstOrThrow();
    return { generation: Number(row.generation ?? 0), count: Number(row.count ?? 0) };
  }

  async findUpstreamIndex(registryId: string): Promise<UpstreamIndexRecord | undefined> {
    const row = await this.#db.selectFrom('helm_upstream_indexes').selectAll().where('registry_id', '=', registryId).executeTakeFirst();
    return row && { body: Buffer.from(row.body), fetchedAt: Number(row.fetched_at), checkedAt: Number(row.checked_at) };
  }

  async findUpstreamIndexState(registryId: string): Promise<Omit<UpstreamIndexRecord, 'body'> | undefined> {
    const row = await this.#db.selectFrom('helm_upstream_indexes').select(['fetched_at', 'checked_at']).where('registry_id', '=', registryId).executeTakeFirst();
    return row && { fetchedAt: Number(row.fetched_at), checkedAt: Number(row.checked_at) };
  }

  async putUpstreamIndex(registryId: string, body: Buffer, at: number): Promise<void> {
    try {
      await this.#db
        .insertInto('helm_upstream_indexes')
        .values({ registry_id: registryId, body, fetched_at: at, checked_at: at })
        .onConflict((oc) => oc.column('registry_id').doUpdateSet({ body, fetched_at: at, checked_at: at }))
        .execute();
    } catch (err) {
      if (!isForeignKeyViolation(err)) throw err;
    }
  }

  async markUpstreamIndexChecked(registryId: string, at: number): Promise<void> {
    await this.#db.updateTable('helm_upstream_indexes').set({ checked_at: at }).where('registry_id', '=', registryId).execute();
  }
}
