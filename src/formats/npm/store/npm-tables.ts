/**
 * The npm format's tables (migration `npm_0001_packages`, `npm-migration.ts`), kept out of the
 * core schema: the npm store sees them through `db.withTables<NpmTables>()`.
 */
/** One package of an npm registry: its dist-tags, package-level metadata and revision. */
export interface NpmPackagesTable {
  registry_id: string;
  name: string;
  repository_id: string;
  /** `{"latest": "1.0.0", …}` as JSON. */
  dist_tags: string;
  /** Package-level fields of the packument (description, readme, maintainers, …) as JSON. */
  metadata: string;
  /** Moves on every write to the package (the packument's `_rev`). */
  rev: number;
  created_at: number;
  modified_at: number;
}

/** One published (or cached) version of a package. */
export interface NpmVersionsTable {
  registry_id: string;
  name: string;
  version: string;
  /** The version's package.json as published (without `dist`) as JSON. */
  manifest: string;
  tarball_digest: string;
  tarball_size: number;
  /** `sha512-<base64>` of the tarball. */
  integrity: string;
  /** Hex sha1 of the tarball. */
  shasum: string;
  deprecated: string | null;
  created_at: number;
}

/** Versions that were published and then removed: their numbers are never used again. */
export interface NpmRetiredVersionsTable {
  registry_id: string;
  name: string;
  version: string;
  retired_at: number;
}

export type NpmTables = {
  npm_packages: NpmPackagesTable;
  npm_versions: NpmVersionsTable;
  npm_retired_versions: NpmRetiredVersionsTable;
};
