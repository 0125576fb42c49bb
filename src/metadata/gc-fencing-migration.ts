/**
 * Migration `0008_gc_fencing`: what makes blob claims fenced and quota reservations exact.
 * Registered in `migrations.ts`; append-only like every migration there. Only additions
 * (nullable columns), so rows and inserts of older replicas stay valid during a rolling deploy.
 *
 *   blobs.deleting_by              the sweep that claimed the row: its fencing token. Only that
 *                                  sweep deletes the row, and a claim is taken over only once
 *                                  the sweep's database session (its liveness lock) is gone
 *                                  (see registry/gc.ts).
 *   quota_reservations.registry_id the registry a blob push adds `digest` to; the reservation
 *   quota_reservations.digest      counts while the registry does not link the digest, so a
 *                                  push of a digest the registry already holds is covered if
 *                                  that copy is unlinked before the push commits.
 */
import type { Kysely, Migration } from 'kysely';

export function gcFencingMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('blobs').addColumn('deleting_by', 'text').execute();
      await db.schema.alterTable('quota_reservations').addColumn('registry_id', 'text').execute();
      await db.schema.alterTable('quota_reservations').addColumn('digest', 'text').execute();
    },
  };
}
