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
}

export interface RepositoryBlobsTable {
  repository_id: string;
  root_space_id: string;
  digest: string;
  created_at: number;
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
}

export type Dialect = 'sqlite' | 'postgres';
