/**
 * The metadata store interface: everything Pallet knows about spaces, registries, repositories,
 * blobs, manifests, tags and upload sessions. Two implementations (SQLite and PostgreSQL) pass
 * the one shared suite in `store.suite.ts`.
 *
 * Contracts:
 * - Every method is atomic: it commits whole or not at all.
 * - `find…` returns undefined when the row is missing; `create…` throws PalletError
 *   ALREADY_EXISTS on a duplicate key; methods that take an id of a missing row throw NOT_FOUND
 *   unless they say otherwise.
 * - Times are milliseconds since the epoch; sizes are bytes (numbers: safe up to 2^53).
 * - Lists come back in a stable order that each method states.
 */

/** A package format's type id (`docker`, `helm`, …); the served ones are in `src/formats/index.ts`. */
export type PackageType = string;
export type RegistryKind = 'local' | 'upstream';

export interface SpaceRecord {
  id: string;
  /** `acme` or `acme/payments`. */
  path: string;
  parentId: string | null;
  /** The id of the root space (itself for a root). */
  rootId: string;
  description: string;
  createdAt: number;
  updatedAt: number;
}

export interface RegistryRecord {
  id: string;
  spaceId: string;
  rootSpaceId: string;
  identifier: string;
  packageType: PackageType;
  kind: RegistryKind;
  description: string;
  labels: string[];
  public: boolean;
  /** The upstream proxy config of a kind `upstream` registry, as the domain stored it (JSON). */
  upstream: Record<string, unknown> | null;
  /**
   * Its format's per-registry settings (`PackageTypeSpec.settings`, e.g. `allowOverwrite`), as
   * set on create and PATCH under `"settings"`; absent or `{}` when none is set (a format then
   * uses its own default).
   */
  settings?: Readonly<Record<string, unknown>>;
  createdAt: number;
  updatedAt: number;
}

export interface RepositoryRecord {
  id: string;
  registryId: string;
  /** The image/chart name inside the registry, e.g. `team/app`. */
  name: string;
  createdAt: number;
  updatedAt: number;
}

export interface BlobRecord {
  digest: string;
  size: number;
  createdAt: number;
  /**
   * The stored bytes were hashed to the digest when they were stored (or by `pallet scrub`).
   * False for rows from before that was recorded: such bytes are re-verified before reuse.
   */
  verified: boolean;
}

export type ReferenceKind = 'blob' | 'manifest';

/** A descriptor a manifest points at (config, layer, index child). */
export interface ManifestReference {
  digest: string;
  kind: ReferenceKind;
  mediaType: string;
  size: number;
}

export interface ManifestRecord {
  id: string;
  repositoryId: string;
  digest: string;
  mediaType: string;
  artifactType: string | null;
  /** Size of the manifest document itself. */
  size: number;
  subjectDigest: string | null;
  annotations: Record<string, string> | null;
  createdAt: number;
  downloadCount: number;
}

export interface StoredManifest extends ManifestRecord {
  payload: Buffer;
}

export interface VersionRecord extends ManifestRecord {
  /** Tags pointing at this manifest, sorted. */
  tags: string[];
  /** Manifest size plus the sizes of everything it references. */
  totalSize: number;
}

export interface ArtifactRecord {
  registryId: string;
  repositoryId: string;
  name: string;
  versionCount: number;
  /** The most recently updated tag, if any. */
  latestTag: string | null;
  /** Sum of the sizes of the distinct blobs linked to the repository plus its manifests. */
  sizeBytes: number;
  downloadCount: number;
  updatedAt: number;
}

export interface RegistryStats {
  sizeBytes: number;
  artifactCount: number;
  downloadCount: number;
  /** Latest change to the registry or anything in it. */
  lastModified: number;
}

export interface UploadRecord {
  id: string;
  repositoryId: string;
  rootSpaceId: string;
  /** Bytes received so far (the offset the next chunk must start at). */
  size: number;
  createdAt: number;
  updatedAt: number;
  /** The storage objects holding bytes [start, next start or size), in order. */
  segments: UploadSegment[];
  /** Who opened the session (see `NewUpload.owner`); null for sessions the server opens. */
  owner: string | null;
}

/** One storage object of an upload session, written by one writer (see registry/blobs.ts). */
export interface UploadSegment {
  /** The session offset of the object's first byte. */
  start: number;
  /** The writer that owns the object; it alone writes to it. */
  writer: string;
}

export interface NewUpload {
  id: string;
  repositoryId: string;
  rootSpaceId: string;
  /** Who opens it (`user:<id>`, `address:<ip>`…), for the per-owner bound. */
  owner?: string;
  /** With `owner`: TOOMANYREQUESTS when the owner already has this many sessions open. */
  maxOpenPerOwner?: number;
}

/** What a chunk's writer records when it advances the session it holds. */
export interface UploadLease {
  holder: string;
  /** The session's segments after the chunk. */
  segments: UploadSegment[];
  /** Keep holding the session after the advance (a commit follows); released otherwise. */
  keep?: boolean;
}

export interface NewSpace {
  path: string;
  parentId: string | null;
  description: string;
}

export interface NewRegistry {
  spaceId: string;
  identifier: string;
  packageType: PackageType;
  kind: RegistryKind;
  description: string;
  labels: string[];
  public: boolean;
  upstream: Record<string, unknown> | null;
  /** The format settings set at creation (validated by the domain); `{}` when omitted. */
  settings?: Record<string, unknown>;
}

export interface RegistryPatch {
  description?: string;
  labels?: string[];
  public?: boolean;
  upstream?: Record<string, unknown> | null;
  /** Replaces the stored settings object (the domain merges a PATCH's keys into it first). */
  settings?: Record<string, unknown>;
}

export interface RegistryFilter {
  /** Only registries in these spaces (any when omitted). */
  spaceIds?: string[];
  packageType?: PackageType;
  kind?: RegistryKind;
  /** Case-insensitive substring of identifier, description or a label. */
  q?: string;
}

export interface NewManifest {
  repositoryId: string;
  digest: string;
  mediaType: string;
  artifactType: string | null;
  subjectDigest: string | null;
  annotations: Record<string, string> | null;
  payload: Buffer;
  references: ManifestReference[];
  /** When given, the tag is created or moved to this manifest in the same transaction. */
  tag?: string;
}

export interface TagPage {
  /** Only tags sorting after this one. */
  last?: string;
  limit?: number;
}

export interface MetadataStore {
  /** Applies pending numbered migrations. Safe to call from several replicas at once. */
  migrate(): Promise<void>;
  /** Cheap round trip, for readiness. */
  ping(): Promise<void>;
  close(): Promise<void>;

  // Spaces ---------------------------------------------------------------------------------
  createSpace(input: NewSpace): Promise<SpaceRecord>;
  findSpace(path: string): Promise<SpaceRecord | undefined>;
  findSpaceById(id: string): Promise<SpaceRecord | undefined>;
  /** Sorted by path. */
  listSpaces(): Promise<SpaceRecord[]>;
  updateSpace(id: string, patch: { description?: string }): Promise<SpaceRecord>;
  /** Child spaces and registries directly in the space. */
  spaceUsage(id: string): Promise<{ children: number; registries: number }>;
  /** Deletes an empty space (the caller checks `spaceUsage`). */
  deleteSpace(id: string): Promise<void>;

  // Registries -----------------------------------------------------------------------------
  /** ALREADY_EXISTS when the identifier is taken in the root space. */
  createRegistry(input: NewRegistry): Promise<RegistryRecord>;
  findRegistry(rootSpaceId: string, identifier: string): Promise<RegistryRecord | undefined>;
  findRegistryById(id: string): Promise<RegistryRecord | undefined>;
  /** Sorted by identifier. */
  listRegistries(filter?: RegistryFilter): Promise<RegistryRecord[]>;
  updateRegistry(id: string, patch: RegistryPatch): Promise<RegistryRecord>;
  /**
   * Deletes the registry and everything in it: repositories, manifests, tags, blob links,
   * upload sessions and upstream list entries (both directions). Blob rows stay: GC (a sweep
   * of the root space, see `registry/gc.ts`) deletes those nothing holds any more, under the
   * claim protocol. Resolves to the ids of the upload sessions removed.
   */
  deleteRegistry(id: string): Promise<{ uploadIds: string[] }>;
  /** Replaces the ordered upstream list of a registry. */
  setUpstreams(registryId: string, upstreamIds: string[]): Promise<void>;
  /** The upstream proxies of a registry, in list order. */
  listUpstreams(registryId: string): Promise<RegistryRecord[]>;
  /** Registries whose upstream list holds this upstream, sorted by identifier. */
  listDownstreams(upstreamId: string): Promise<RegistryRecord[]>;
  /** Stats per registry id (every id asked for is present). */
  registryStats(registryIds: string[]): Promise<Map<string, RegistryStats>>;

  // Repositories ---------------------------------------------------------------------------
  /** Finds or creates the repository (idempotent under concurrency). */
  ensureRepository(registryId: string, name: string): Promise<RepositoryRecord>;
  findRepository(registryId: string, name: string): Promise<RepositoryRecord | undefined>;
  /** Repositories of these registries, sorted by (registry id, name). */
  listRepositories(registryIds: string[]): Promise<RepositoryRecord[]>;
  /** Deletes the repository and its manifests, tags, links and upload sessions. */
  deleteRepository(id: string): Promise<{ uploadIds: string[] }>;
  /** Artifacts (repositories with stats) of these registries, sorted by name. */
  listArtifacts(registryIds: string[]): Promise<ArtifactRecord[]>;

  // Blobs ----------------------------------------------------------------------------------
  findBlob(rootSpaceId: string, digest: string): Promise<BlobRecord | undefined>;
  /** The blob, only when it is linked to this repository. */
  findLinkedBlob(repositoryId: string, digest: string): Promise<BlobRecord | undefined>;
  /**
   * Records the blob in its root space (if new) and links it to the repository, atomically.
   * With `verified` the caller has just stored bytes that hash to the digest: the row is marked
   * verified and takes `size` (an existing row keeps its flag and size otherwise).
   */
  commitBlob(rootSpaceId: string, repositoryId: string, digest: string, size: number, options?: { verified?: boolean }): Promise<BlobRecord>;
  /** Removes the link; resolves to whether there was one. */
  unlinkBlob(repositoryId: string, digest: string): Promise<boolean>;

  // Manifests and tags ---------------------------------------------------------------------
  /**
   * Stores the manifest (idempotent for the same repository and digest), its references, and
   * the tag if given, in one transaction.
   */
  putManifest(input: NewManifest): Promise<ManifestRecord>;
  findManifest(repositoryId: string, digest: string): Promise<StoredManifest | undefined>;
  findManifestByTag(repositoryId: string, tag: string): Promise<StoredManifest | undefined>;
  /** What the manifest references, in document order. */
  listReferences(manifestId: string): Promise<ManifestReference[]>;
  /** Deletes the manifest, the tags pointing at it and its references; resolves to whether it existed. */
  deleteManifest(repositoryId: string, digest: string): Promise<boolean>;
  /** Tag names, sorted lexically (byte order). */
  listTags(repositoryId: string, page?: TagPage): Promise<string[]>;
  deleteTag(repositoryId: string, tag: string): Promise<boolean>;
  /** Manifests whose subject is this digest, sorted by digest. */
  listReferrers(repositoryId: string, subjectDigest: string, artifactType?: string): Promise<ManifestRecord[]>;
  /** The repository's manifests with their tags and total sizes, newest first. */
  listVersions(repositoryId: string): Promise<VersionRecord[]>;
  /** Adds download counts to manifests (batched by the caller). Unknown ids are ignored. */
  addDownloads(counts: ReadonlyArray<readonly [manifestId: string, count: number]>): Promise<void>;

  // Upload sessions ------------------------------------------------------------------------
  /** TOOMANYREQUESTS when `owner` already holds `maxOpenPerOwner` sessions (checked atomically). */
  createUpload(input: NewUpload): Promise<UploadRecord>;
  findUpload(id: string): Promise<UploadRecord | undefined>;
  /**
   * Makes `holder` the session's one writer until `expiresAt`, if no other holder's lease is
   * unexpired at `now` (one conditional update, so replicas agree). Resolves to the session as
   * it is under the lease, or undefined when another writer holds it; NOT_FOUND when gone.
   */
  acquireUploadLease(id: string, holder: string, expiresAt: number, now: number): Promise<UploadRecord | undefined>;
  /** Extends `holder`'s lease (and touches the session); resolves to false when it no longer holds it. */
  renewUploadLease(id: string, holder: string, expiresAt: number): Promise<boolean>;
  /** Drops `holder`'s lease (not holding it, or a missing session, is fine). */
  releaseUploadLease(id: string, holder: string): Promise<void>;
  /**
   * Moves the session's size from `fromSize` to `toSize` only if it is still `fromSize`
   * (compare-and-set); resolves to whether it did. With `lease`, only while `lease.holder`
   * holds the session: the segments are recorded and (unless `lease.keep`) the lease released
   * in the same update.
   */
  advanceUpload(id: string, fromSize: number, toSize: number, lease?: UploadLease): Promise<boolean>;
  deleteUpload(id: string): Promise<void>;
  /** Sessions not updated since `before`, oldest first. */
  listStaleUploads(before: number): Promise<UploadRecord[]>;
}
