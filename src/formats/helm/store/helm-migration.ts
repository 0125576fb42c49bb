/**
 * Migration `0005_helm`: what Helm registries keep beside the OCI tables. Registered in
 * `migrations.ts`; append-only like every migration there. Only new tables.
 *
 *   helm_charts            one row per chart version of a registry (name, version), whatever
 *                          way it arrived (OCI push, chart upload, upstream cache): Chart.yaml
 *                          as JSON, the archive's digest and size, the provenance file's digest,
 *                          and the OCI manifest that holds it (when there is one: its deletion
 *                          takes the row with it)
 *   helm_index_state       per registry, a generation counter moved by every write through the
 *                          Helm store, so a cached index.yaml knows when it is stale
 *   helm_upstream_indexes  the last index.yaml fetched from a classic upstream repository, with
 *                          when it was fetched and confirmed (served when the upstream is down)
 */
import { sql } from 'kysely';
import type { Kysely, Migration } from 'kysely';
import type { Dialect } from '../../../metadata/schema.js';

export function helmMigration(dialect: Dialect): Migration {
  const key = dialect === 'postgres' ? sql`text collate "C"` : sql`text`;
  const bytes = dialect === 'postgres' ? 'bytea' : 'blob';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('helm_charts')
        .addColumn('registry_id', 'text', (c) => c.notNull().references('registries.id').onDelete('cascade'))
        .addColumn('name', key, (c) => c.notNull())
        .addColumn('version', key, (c) => c.notNull())
        .addColumn('repository_id', 'text', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
        .addColumn('manifest_id', 'text', (c) => c.references('manifests.id').onDelete('cascade'))
        .addColumn('chart_digest', 'text', (c) => c.notNull())
        .addColumn('chart_size', 'bigint', (c) => c.notNull())
        .addColumn('prov_digest', 'text')
        .addColumn('metadata', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('helm_charts_pkey', ['registry_id', 'name', 'version'])
        .execute();
      await db.schema.createIndex('helm_charts_manifest_idx').on('helm_charts').column('manifest_id').execute();
      await db.schema.createIndex('helm_charts_repository_idx').on('helm_charts').column('repository_id').execute();

      await db.schema
        .createTable('helm_index_state')
        .addColumn('registry_id', 'text', (c) => c.primaryKey().references('registries.id').onDelete('cascade'))
        .addColumn('generation', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('helm_upstream_indexes')
        .addColumn('registry_id', 'text', (c) => c.primaryKey().references('registries.id').onDelete('cascade'))
        .addColumn('body', bytes, (c) => c.notNull())
        .addColumn('fetched_at', 'bigint', (c) => c.notNull())
        .addColumn('checked_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  };
}
