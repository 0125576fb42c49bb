/**
 * Migration `0006_audit`: bounded audit log. Registered in `migrations.ts`; append-only like
 * every migration there. Only additions (with defaults, so existing rows and inserts stay valid):
 *
 *   audit_events.count     how many times the event happened: repeated failures (same action,
 *                          actor, target, address and details within a minute) share one row
 *   audit_events.last_at   when it last happened (null: only once, at `at`)
 *   audit_events (address, at) index   finds the row a repeat joins
 */
import type { Kysely, Migration } from 'kysely';

export function auditMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('audit_events').addColumn('count', 'bigint', (c) => c.notNull().defaultTo(1)).execute();
      await db.schema.alterTable('audit_events').addColumn('last_at', 'bigint').execute();
      await db.schema.createIndex('audit_events_address_idx').on('audit_events').columns(['address', 'at']).execute();
    },
  };
}
