/**
 * Table types of the metadata database, as Kysely sees them. One shape serves both dialects:
 * times are BIGINT milliseconds, booleans are integers 0/1, labels/upstream/annotations are
 * JSON text, the manifest payload is BLOB (SQLite) or BYTEA (PostgreSQL). PostgreSQL BIGINT
 * and NUMERIC come back as numbers because `open.ts` installs per-pool parsers for them.
 *
 * Layout (→ is a foreign key; "cascade" deletes follow it):
 *
 *   spaces ← spaces.parent_id
 *     ↑ registries.space_id, registries.root_space_id
 *   registries ← registry_upstreams (registry_id, upstream_id; cascade both)
 *     ↑ repositories.registry_id (cascade)
 *   repositories ← manifests, tags, repository_blobs, uploads (cascade)
 *   manifests ← manifest_references, tags.manifest_id (cascade)
 *   blobs (root_space_id, digest) ← repository_blobs (no cascade: a linked blob stays)
 *   registries, repositories, manifests ← package_files (cascade; digest names a blob, no key)
 */
import type { Generated } from 'kysely';

export interface SpacesTable {
  id: string;
  path: string;
  parent_id: string | null;
  root_id: string;
  description: string;
  created_at: number;
  updated_at: number;
}

export interface RegistriesTable {
  id: string;
  space_id: string;
  root_space_id: string;
  identifier: string;
  package_type: string;
  kind: string;
  description: string;
  /** JSON array of strings. */
  labels: string;
  /** 0 or 1. */
  public: number;
  /** JSON object or null. */
  upstream: string | null;
  /** JSON object: the format's per-registry settings that were set (migration 0010). */
  settings: string;
  created_at: number;
  updated_at: number;
}

export interface RegistryUpstreamsTable {
  registry_id: string;
  upstream_id: string;
  /** 0-based place in the registry's ordered upstream list. */
  position: number;
}

export interface RepositoriesTable {
  id: string;
  registry_id: string;
  name: string;
  created_at: number;
  updated_at: number;
}

export interface BlobsTable {
  root_space_id: string;
  digest: string;
  size: number;
  created_at: number;
  /** 0003_scale_out: 1 while a sweep deletes the blob's bytes (see registry/gc.ts). */
  deleting: Generated<number>;
  deleting_since: number | null;
  /** 0007_upload_integrity: 1 once the stored bytes were hashed to the digest. */
  verified: Generated<number>;
  /** 0008_gc_fencing: the claiming sweep's token (null: claimed by a release before 0008). */
  deleting_by: string | null;
}

export interface RepositoryBlobsTable {
  repository_id: string;
  root_space_id: string;
  digest: string;
  created_at: number;
  /** 0003_scale_out: last time a manifest push relied on the link (GC grace counts from it). */
  touched_at: number | null;
}

export interface ManifestsTable {
  id: string;
  repository_id: string;
  digest: string;
  media_type: string;
  artifact_type: string | null;
  size: number;
  subject_digest: string | null;
  /** JSON object or null. */
  annotations: string | null;
  payload: Buffer;
  created_at: number;
  download_count: Generated<number>;
}

export interface ManifestReferencesTable {
  manifest_id: string;
  /** 0-based place in the manifest document. */
  position: number;
  digest: string;
  kind: string;
  media_type: string;
  size: number;
}

export interface TagsTable {
  repository_id: string;
  name: string;
  manifest_id: string;
  created_at: number;
  updated_at: number;
}

export interface UploadsTable {
  id: string;
  repository_id: string;
  root_space_id: string;
  size: number;
  created_at: number;
  updated_at: number;
  /** 0007_upload_integrity: the writer holding the session (see registry/blobs.ts). */
  lease_holder: string | null;
  lease_expires_at: number | null;
  /** JSON `[{"start": n, "writer": "…"}]`: the storage objects holding the bytes. */
  segments: Generated<string>;
  owner: string | null;
}

// Identity (issue 3): users, access tokens, space members, web sessions, signing keys, audit.

export interface UsersTable {
  id: string;
  username: string;
  /** PHC string of the password's argon2id hash. */
  password_hash: string;
  email: string;
  /** 0 or 1. */
  admin: number;
  /** 0 or 1. */
  disabled: number;
  created_at: number;
  updated_at: number;
  last_login_at: number | null;
}

export interface AccessTokensTable {
  id: string;
  user_id: string;
  name: string;
  /** Hex SHA-256 of the token; the token itself is never stored. */
  token_hash: string;
  /** JSON array of scopes. */
  scopes: string;
  /** No foreign keys: a token whose space or registry is gone matches nothing. */
  space_id: string | null;
  registry_id: string | null;
  created_at: number;
  expires_at: number | null;
  last_used_at: number | null;
}

export interface SpaceMembersTable {
  space_id: string;
  user_id: string;
  role: string;
  created_at: number;
  updated_at: number;
}

export interface SessionsTable {
  /** Hex SHA-256 of the session id held in the cookie. */
  id_hash: string;
  user_id: string;
  /** Hex SHA-256 of the session's CSRF token. */
  csrf_hash: string;
  created_at: number;
  expires_at: number;
}

export interface SigningKeysTable {
  /** What the key signs (`oci-token`); one key per name. */
  name: string;
  kid: string;
  algorithm: string;
  /** JWK JSON. */
  private_jwk: string;
  public_jwk: string;
  created_at: number;
}

export interface AuditEventsTable {
  id: string;
  at: number;
  actor: string | null;
  action: string;
  target: string;
  outcome: string;
  address: string;
  /** JSON object. */
  details: string;
  /** Occurrences coalesced into this row (migration 0006). */
  count: number;
  /** Last occurrence; null when only one. */
  last_at: number | null;
}

// Scale-out (issue 7): GC reservations, job leases, quotas, cleanup policies.

export interface BlobReservationsTable {
  root_space_id: string;
  digest: string;
  /** The upload session (or other writer) that holds the reservation. */
  holder: string;
  expires_at: number;
}

export interface JobLeasesTable {
  name: string;
  holder: string;
  expires_at: number;
}

export interface QuotasTable {
  /** `registry` or `space`. */
  scope: string;
  scope_id: string;
  quota_bytes: number;
  updated_at: number;
}

export interface QuotaReservationsTable {
  id: string;
  scope: string;
  scope_id: string;
  bytes: number;
  expires_at: number;
  /** 0008_gc_fencing: a blob push's registry and digest (null for manifest bytes). */
  registry_id: string | null;
  digest: string | null;
}

export interface CleanupPoliciesTable {
  registry_id: string;
  /** JSON of the registry's cleanup policy. */
  policy: string;
  updated_at: number;
  last_run_at: number | null;
}

/** When a tag cached by an upstream proxy was last confirmed against its upstream (0004). */
export interface UpstreamTagChecksTable {
  repository_id: string;
  tag: string;
  checked_at: number;
}

/** Repositories of upstream proxies that a local registry served through them (0004). */
export interface UpstreamServedTable {
  registry_id: string;
  repository_id: string;
  created_at: number;
}

/** Server-wide secrets every replica shares, such as the upstream secret key (0004). */
export interface ServerSecretsTable {
  name: string;
  value: string;
  created_at: number;
}

/**
 * A file of a package version of any format (0009): the blob it is, in the registry's root
 * space. See `package-file-store.ts`.
 */
export interface PackageFilesTable {
  registry_id: string;
  artifact: string;
  version: string;
  /** The file's name or path inside the version; unique per version. */
  path: string;
  /** The registry's root space (copied from it on insert): blob keys are per root space. */
  root_space_id: string;
  /** The repository whose links hold the file's blob (its reads go through them). */
  repository_id: string;
  /** The OCI manifest that is the same version, if any; its deletion takes the row. */
  manifest_id: string | null;
  digest: string;
  size: number;
  created_at: number;
}

export interface Database {
  spaces: SpacesTable;
  registries: RegistriesTable;
  registry_upstreams: RegistryUpstreamsTable;
  repositories: RepositoriesTable;
  blobs: BlobsTable;
  repository_blobs: RepositoryBlobsTable;
  manifests: ManifestsTable;
  manifest_references: ManifestReferencesTable;
  tags: TagsTable;
  uploads: UploadsTable;
  upstream_tag_checks: UpstreamTagChecksTable;
  upstream_served: UpstreamServedTable;
  server_secrets: ServerSecretsTable;
  blob_reservations: BlobReservationsTable;
  job_leases: JobLeasesTable;
  quotas: QuotasTable;
  quota_reservations: QuotaReservationsTable;
  cleanup_policies: CleanupPoliciesTable;
  users: UsersTable;
  access_tokens: AccessTokensTable;
  space_members: SpaceMembersTable;
  sessions: SessionsTable;
  signing_keys: SigningKeysTable;
  audit_events: AuditEventsTable;
  package_files: PackageFilesTable;
}

export type Dialect = 'sqlite' | 'postgres';
