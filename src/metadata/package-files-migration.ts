/**
 * Migration `0009_package_files`: which content-addressed blobs each package version of any
 * format references (see `package-file-store.ts` for the contract, `registry/gc.ts` for what GC
 * does with it). Registered in `migrations.ts`; append-only like every migration there. Only a
 * new table, so older replicas keep working during a rolling deploy (they do not record files,
 * and their GC does not see them: finish the deploy before the next GC run).
 *
 *   package_files   one row per file of a package version: (registry, artifact, version, path)
 *                   → digest and size in the registry's root space. Rows go with their
 *                   registry, their repository (the one whose links hold the bytes) and, when
 *                   the version is also an OCI manifest, with that manifest (ON DELETE CASCADE).
 *                   No foreign key to `blobs`, like `manifest_references`: GC keeps the blob.
 */
import { sql } from 'kysely';
import type { Kysely, Migration } from 'kysely';
import type { Dialect } from './schema.js';

export function packageFilesMigration(dialect: Dialect): Migration {
  const key = dialect === 'postgres' ? sql`text collate "C"` : sql`text`;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('package_files')
        .addColumn('registry_id', 'text', (c) => c.notNull().references('registries.id').onDelete('cascade'))
        .addColumn('artifact', key, (c) => c.notNull())
        .addColumn('version', key, (c) => c.notNull())
        .addColumn('path', key, (c) => c.notNull())
        .addColumn('root_space_id', 'text', (c) => c.notNull())
        .addColumn('repository_id', 'text', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
        .addColumn('manifest_id', 'text', (c) => c.references('manifests.id').onDelete('cascade'))
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('package_files_pkey', ['registry_id', 'artifact', 'version', 'path'])
        .execute();
      // "Does any package file of the root space reference this blob" (GC's blob sweep).
      await db.schema.createIndex('package_files_blob_idx').on('package_files').columns(['root_space_id', 'digest']).execute();
      // "Does a package file of this repository reference the link's blob" (dead-link sweep), and cascades.
      await db.schema.createIndex('package_files_repository_idx').on('package_files').columns(['repository_id', 'digest']).execute();
      await db.schema.createIndex('package_files_manifest_idx').on('package_files').column('manifest_id').execute();
    },
  };
}
