/**
 * Migration `0003_scale_out`: what online garbage collection, quotas, cleanup policies and
 * background-job leases need. Registered in `migrations.ts`; append-only like every migration
 * there. Only additions: two columns on existing tables (with defaults, so existing rows and
 * existing inserts stay valid) and new tables.
 *
 *   blobs.deleting, blobs.deleting_since   a blob row claimed by a sweep (see registry/gc.ts)
 *   repository_blobs.touched_at            last time a manifest push relied on the link
 *   blob_reservations                      uploads between "verified" and "linked"
 *   manifest_references (digest) index     "is this digest referenced anywhere" for GC
 *   job_leases                             one replica at a time per background job
 *   quotas, quota_reservations             byte limits per registry or space, and bytes
 *                                          promised to pushes in flight
 *   cleanup_policies                       per-registry retention rules (JSON)
 */
import { sql } from 'kysely';
import type { Kysely, Migration } from 'kysely';
import type { Dialect } from './schema.js';

export function scaleOutMigration(dialect: Dialect): Migration {
  const key = dialect === 'postgres' ? sql`text collate "C"` : sql`text`;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('blobs').addColumn('deleting', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.alterTable('blobs').addColumn('deleting_since', 'bigint').execute();
      await db.schema.alterTable('repository_blobs').addColumn('touched_at', 'bigint').execute();
      await db.schema.createIndex('manifest_references_digest_idx').on('manifest_references').column('digest').execute();

      await db.schema
        .createTable('blob_reservations')
        .addColumn('root_space_id', 'text', (c) => c.notNull())
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('holder', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('blob_reservations_pkey', ['root_space_id', 'digest', 'holder'])
        .execute();

      await db.schema
        .createTable('job_leases')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('holder', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('quotas')
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('scope_id', 'text', (c) => c.notNull())
        .addColumn('quota_bytes', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('quotas_pkey', ['scope', 'scope_id'])
        .execute();

      await db.schema
        .createTable('quota_reservations')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('scope_id', 'text', (c) => c.notNull())
        .addColumn('bytes', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('quota_reservations_scope_idx')
        .on('quota_reservations')
        .columns(['scope', 'scope_id'])
        .execute();

      await db.schema
        .createTable('cleanup_policies')
        .addColumn('registry_id', key, (c) => c.primaryKey().references('registries.id').onDelete('cascade'))
        .addColumn('policy', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('last_run_at', 'bigint')
        .execute();
    },
  };
}
