/**
 * Migration `0010_registry_settings`: per-registry format settings
 * (`PackageTypeSpec.settings`, e.g. `allowOverwrite`). Registered in `migrations.ts`;
 * append-only like every migration there. Only an addition with a default, so inserts of older
 * replicas stay valid during a rolling deploy (their registries read as "every setting at its
 * default").
 *
 *   registries.settings   JSON object: setting key → value, only the keys set on create or
 *                         PATCH (a key not stored reads as the format's default).
 */
import type { Kysely, Migration } from 'kysely';

export function registrySettingsMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .alterTable('registries')
        .addColumn('settings', 'text', (c) => c.notNull().defaultTo('{}'))
        .execute();
    },
  };
}
