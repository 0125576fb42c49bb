/**
 * What npm registries keep beside the metadata store: packages (dist-tags, package-level
 * metadata, revision), their versions (package.json, tarball digest, integrity, shasum,
 * deprecation) and the numbers of removed versions, which npm never lets be published again.
 * One SQL implementation over the metadata database's Kysely instance (`sql-npm-store.ts`)
 * passes the shared suite in `npm-store.suite.ts` on SQLite and PostgreSQL.
 *
 * Contracts: every method is atomic; times are milliseconds since the epoch. Rows go with
 * their registry (ON DELETE CASCADE); versions go with their package. Every write moves the
 * package's `rev`. Writes that start from what a reader saw (`updatePackage`) say which `rev`
 * they saw and fail with CONFLICT when another write came first (optimistic concurrency, like
 * CouchDB's `_rev`, which the npm CLI sends back). This store knows no version ordering and no
 * name rules: the domain (`packages.ts`) checks them.
 */

export interface NpmPackageRecord {
  registryId: string;
  name: string;
  repositoryId: string;
  distTags: Record<string, string>;
  /** Package-level packument fields (description, readme, keywords, license, …). */
  metadata: Record<string, unknown>;
  rev: number;
  createdAt: number;
  modifiedAt: number;
}

export interface NpmVersionRecord {
  registryId: string;
  name: string;
  version: string;
  /** The version's package.json as published, without `dist`. */
  manifest: Record<string, unknown>;
  /** `sha256:…` of the tarball (its blob). */
  tarballDigest: string;
  tarballSize: number;
  /** `sha512-<base64>`. */
  integrity: string;
  /** Hex sha1. */
  shasum: string;
  deprecated: string | null;
  createdAt: number;
}

export type NewNpmVersion = Omit<NpmVersionRecord, 'createdAt' | 'deprecated'> & { deprecated?: string | null };

export interface AddVersionInput {
  version: NewNpmVersion;
  /** The package's repository (its blobs are linked there); used when the package is new. */
  repositoryId: string;
  /** Tags to point at this version (merged into the package's). */
  distTags: readonly string[];
  /** Replaces the package-level metadata when given. */
  metadata?: Record<string, unknown>;
  /**
   * A cached copy of an upstream's version (an upstream proxy's cache): a number removed before
   * may come back (the rule against reuse is for publishes).
   */
  reuseRetired?: boolean;
}

/** A change to a package as one write (all parts optional). */
export interface PackageChange {
  /** The package's complete dist-tags after the change. */
  distTags?: Record<string, string>;
  /** version → deprecation message (null: no longer deprecated). Unknown versions: NOT_FOUND. */
  deprecated?: Readonly<Record<string, string | null>>;
  /** Versions to remove (their numbers are retired). Removing the last one removes the package. */
  removeVersions?: readonly string[];
}

export interface NpmSearchPage {
  total: number;
  packages: NpmPackageRecord[];
}

export interface NpmStore {
  findPackage(registryId: string, name: string): Promise<NpmPackageRecord | undefined>;
  findVersion(registryId: string, name: string, version: string): Promise<NpmVersionRecord | undefined>;
  /** The package's versions, oldest first. */
  listVersions(registryId: string, name: string): Promise<NpmVersionRecord[]>;
  /**
   * Adds a version, creating its package if needed, and points `distTags` at it. ALREADY_EXISTS
   * when the version exists or was removed before (nothing changes then). Moves the rev.
   */
  addVersion(input: AddVersionInput): Promise<NpmPackageRecord>;
  /**
   * Applies `change` if the package's rev is still `rev`: CONFLICT otherwise, NOT_FOUND when the
   * package (or a version the change names) is absent; nothing changes on an error. Resolves to
   * the package after the change, undefined when its last version was removed.
   */
  updatePackage(registryId: string, name: string, rev: number, change: PackageChange): Promise<NpmPackageRecord | undefined>;
  /**
   * Removes the package and all its versions (retiring their numbers) if its rev is still `rev`
   * (any rev when undefined); CONFLICT or NOT_FOUND as above. Resolves to the removed versions.
   */
  removePackage(registryId: string, name: string, rev?: number): Promise<NpmVersionRecord[]>;
  /** Whether the version number was published and removed. */
  isRetired(registryId: string, name: string, version: string): Promise<boolean>;
  /**
   * Packages of the registries whose name or metadata contains `text` (case-insensitive; every
   * package when empty), by name, with the total count.
   */
  search(registryIds: readonly string[], text: string, limit: number, offset: number): Promise<NpmSearchPage>;
}
