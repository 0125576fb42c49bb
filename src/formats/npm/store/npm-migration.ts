/**
 * Migration `npm_0001_packages`: what npm registries keep (only new tables).
 *
 *   npm_packages          one row per package of a registry: dist-tags, package-level
 *                         metadata (description, readme, …), the revision `_rev` is made of
 *   npm_versions          one row per version: its package.json, the tarball's digest and size,
 *                         integrity (sha512) and shasum (sha1), the deprecation message; goes
 *                         with its package row
 *   npm_retired_versions  versions removed by unpublish: npm never lets a version number be
 *                         published twice, so these stay refused after the version is gone
 */
import { sql } from 'kysely';
import type { Kysely, Migration } from 'kysely';
import type { Dialect } from '../../../metadata/schema.js';

export function npmMigration(dialect: Dialect): Migration {
  const key = dialect === 'postgres' ? sql`text collate "C"` : sql`text`;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('npm_packages')
        .addColumn('registry_id', 'text', (c) => c.notNull().references('registries.id').onDelete('cascade'))
        .addColumn('name', key, (c) => c.notNull())
        .addColumn('repository_id', 'text', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
        .addColumn('dist_tags', 'text', (c) => c.notNull())
        .addColumn('metadata', 'text', (c) => c.notNull())
        .addColumn('rev', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('modified_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('npm_packages_pkey', ['registry_id', 'name'])
        .execute();
      await db.schema.createIndex('npm_packages_repository_idx').on('npm_packages').column('repository_id').execute();

      await db.schema
        .createTable('npm_versions')
        .addColumn('registry_id', 'text', (c) => c.notNull())
        .addColumn('name', key, (c) => c.notNull())
        .addColumn('version', key, (c) => c.notNull())
        .addColumn('manifest', 'text', (c) => c.notNull())
        .addColumn('tarball_digest', 'text', (c) => c.notNull())
        .addColumn('tarball_size', 'bigint', (c) => c.notNull())
        .addColumn('integrity', 'text', (c) => c.notNull())
        .addColumn('shasum', 'text', (c) => c.notNull())
        .addColumn('deprecated', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('npm_versions_pkey', ['registry_id', 'name', 'version'])
        .addForeignKeyConstraint('npm_versions_package_fkey', ['registry_id', 'name'], 'npm_packages', ['registry_id', 'name'], (fk) => fk.onDelete('cascade'))
        .execute();

      await db.schema
        .createTable('npm_retired_versions')
        .addColumn('registry_id', 'text', (c) => c.notNull().references('registries.id').onDelete('cascade'))
        .addColumn('name', key, (c) => c.notNull())
        .addColumn('version', key, (c) => c.notNull())
        .addColumn('retired_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('npm_retired_versions_pkey', ['registry_id', 'name', 'version'])
        .execute();
    },
  };
}
