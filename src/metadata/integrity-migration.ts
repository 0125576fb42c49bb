/**
 * Migration `0007_upload_integrity`: what the upload path needs to prove that the bytes it
 * commits are the bytes its digest names (see `registry/blobs.ts`). Registered in
 * `migrations.ts`; append-only. Only additions, with defaults, so existing rows and inserts stay
 * valid:
 *
 *   uploads.lease_holder, lease_expires_at   the one writer a session admits at a time
 *   uploads.segments                         JSON list of the storage objects holding the
 *                                            session's bytes, one per writer (see blobs.ts)
 *   uploads.owner                            who opened the session (open sessions are bounded
 *                                            per owner); null for sessions the server opens
 *   blobs.verified                           1 once the stored bytes were hashed to the digest
 *                                            by this code path (or by `pallet scrub`); rows
 *                                            from before this migration start at 0
 */
import type { Kysely, Migration } from 'kysely';

export function integrityMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('uploads').addColumn('lease_holder', 'text').execute();
      await db.schema.alterTable('uploads').addColumn('lease_expires_at', 'bigint').execute();
      await db.schema.alterTable('uploads').addColumn('segments', 'text', (c) => c.notNull().defaultTo('[]')).execute();
      await db.schema.alterTable('uploads').addColumn('owner', 'text').execute();
      await db.schema.createIndex('uploads_owner_idx').on('uploads').column('owner').execute();
      await db.schema.alterTable('blobs').addColumn('verified', 'integer', (c) => c.notNull().defaultTo(0)).execute();
    },
  };
}
