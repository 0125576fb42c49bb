/**
 * Package files: which content-addressed blobs each package version of any format references.
 * This is how GC knows a format's files are live without knowing the format (OCI manifests
 * have their own references; every other way a version holds a file is recorded here). One SQL
 * implementation over the metadata database's Kysely instance (`sql-package-file-store.ts`)
 * passes the shared suite in `package-file-store.suite.ts` on SQLite and PostgreSQL.
 *
 * The contract for a format:
 * - **What to record.** Every file a version serves that is a stored blob (archives, signatures,
 *   metadata files stored as blobs), once the version exists for clients: after the bytes are
 *   committed and linked to `repositoryId` through the blob path (`BlobService.putBlob`, the
 *   fetch-and-cache tee), and before the format's own version row is written. Files it renders
 *   from the database (indexes, generated metadata) are not blobs and are not recorded.
 *   `putVersionFiles` replaces the version's whole set, so record a version's files together.
 * - **What it buys.** A blob that a package file of any registry of its root space references
 *   is never swept, and a link from `repositoryId` to it is never dropped as dead (reads go
 *   through that link), whatever its age and whether or not a manifest references it.
 * - **The race with a sweep.** `putVersionFiles` first touches the repository's links to the
 *   files (restarting their grace, as a manifest push does) and refuses unless each file's
 *   blob is stored and not claimed by a sweep, all in the transaction that writes the rows:
 *   a sweep either claimed the blob before (the put fails, nothing changes: store the file
 *   again) or cannot claim it after (the link, then the row, holds it).
 * - **When rows go.** With the version: `deleteVersionFiles` when the format deletes a version
 *   (or a new `putVersionFiles` replaces them); with the registry or the repository (artifact)
 *   they name, and with the OCI manifest they name when the version is also a manifest
 *   (`manifestId`): ON DELETE CASCADE, so a deletion over `/v2` or the API takes them too.
 *   Their blobs are then garbage once nothing else holds them, and the next GC run past the
 *   grace reclaims them.
 *
 * Every method is atomic; times are milliseconds since the epoch.
 */

/** One file of a version. */
export interface PackageFile {
  /** The file's name or path inside the version (`hello-1.0.0.tgz`); unique per version. */
  path: string;
  /** `sha256:…` of the file: a blob of the registry's root space. */
  digest: string;
  size: number;
}

/** Names a package version: (registry, artifact, version). */
export interface PackageVersionKey {
  registryId: string;
  /** The artifact (package) name in the registry, as the format names it. */
  artifact: string;
  version: string;
}

/** A version's complete set of files, as `putVersionFiles` records it. */
export interface PackageVersionFiles extends PackageVersionKey {
  /** The repository of the registry whose links hold the files' blobs. */
  repositoryId: string;
  /** The OCI manifest that is this same version (its deletion takes the rows); null when none. */
  manifestId: string | null;
  /** Distinct paths; may be empty (the version then holds no file). */
  files: PackageFile[];
}

export interface PackageFileRecord extends PackageVersionKey, PackageFile {
  rootSpaceId: string;
  repositoryId: string;
  manifestId: string | null;
  createdAt: number;
}

// --- Listing for the management views (artifacts → versions → files of non-OCI formats) ---

/** One artifact (package name) of a registry, aggregated over its package files. */
export interface PackageArtifactRecord {
  registryId: string;
  artifact: string;
  /** Distinct versions with at least one file. */
  versionCount: number;
  /** Sum of the sizes of every file of every version (a blob two versions share counts twice). */
  sizeBytes: number;
  /** The newest `createdAt` of its files (when a version was last recorded). */
  updatedAt: number;
  /** The version recorded last (the greatest version on a tie). */
  newestVersion: string;
}

/** One version of an artifact, aggregated over its package files. */
export interface PackageVersionRecord extends PackageVersionKey {
  fileCount: number;
  /** Sum of its files' sizes. */
  sizeBytes: number;
  /** When its files were recorded (the last `putVersionFiles`). */
  createdAt: number;
}

export interface PackageFileStore {
  /**
   * Replaces the version's files with `files`, after touching the links of `repositoryId` to
   * them (see the race above). BLOB_UNKNOWN (detail `digest`) when the repository does not link
   * a file's blob; UNAVAILABLE when a sweep has claimed one (store it again); NOT_FOUND when
   * the registry, repository or manifest is gone. Nothing changes when it fails. Resolves to
   * the rows written, in the order of `files`.
   */
  putVersionFiles(input: PackageVersionFiles): Promise<PackageFileRecord[]>;
  /** The version's files, by path; empty when it has none. */
  listVersionFiles(key: PackageVersionKey): Promise<PackageFileRecord[]>;
  /** Deletes the version's rows; resolves to how many there were. */
  deleteVersionFiles(key: PackageVersionKey): Promise<number>;

  // --- Listing for the management views (a version without files is not listed) ---
  /**
   * The artifacts of `registryIds` that have package files, aggregated in SQL, by artifact then
   * registry id; empty for an empty list. With `artifact`, only that artifact's rows (one
   * artifact's page without aggregating the whole registry).
   */
  listArtifacts(registryIds: readonly string[], artifact?: string): Promise<PackageArtifactRecord[]>;
  /**
   * How many artifacts with package files each of `registryIds` has (registries without any
   * are absent): the registry stats, counted in SQL without aggregating every file.
   */
  countArtifacts(registryIds: readonly string[]): Promise<Map<string, number>>;
  /** The versions of one artifact of a registry, newest first (then by version, descending). */
  listVersions(registryId: string, artifact: string): Promise<PackageVersionRecord[]>;
  /** The files of several versions of one artifact (a page of a listing), by version then path. */
  listFilesOf(registryId: string, artifact: string, versions: readonly string[]): Promise<PackageFileRecord[]>;
}
