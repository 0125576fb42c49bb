/**
 * Manifests, tags and referrers of a repository.
 */
import { digestOf, isDigest, parseDigest } from '../base/digest.js';
import { PalletError } from '../base/errors.js';
import { isTag } from '../base/names.js';
import type { GcStore } from '../metadata/gc-store.js';
import type { ManifestRecord, MetadataStore, RepositoryRecord, StoredManifest } from '../metadata/store.js';
import { parseManifest, type Descriptor, type ParsedManifest } from './manifest-parser.js';
import { OCI_INDEX } from './media-types.js';
import type { QuotaGate } from './quotas.js';

export interface PutManifestResult {
  manifest: ManifestRecord;
  /** The subject's digest when the manifest has one (answered as `OCI-Subject`). */
  subject: string | null;
}

export interface TagList {
  tags: string[];
  /** The last tag returned, when more tags follow. */
  next?: string;
}

/** Checks a manifest reference: a digest or a tag; throws MANIFEST_INVALID / DIGEST_INVALID. */
function checkReference(reference: string): 'digest' | 'tag' {
  if (reference.includes(':')) {
    parseDigest(reference);
    return 'digest';
  }
  if (!isTag(reference)) throw new PalletError('MANIFEST_INVALID', `invalid tag ${JSON.stringify(reference)}`, { reference });
  return 'tag';
}

/**
 * What a registry type adds to a manifest push (Helm registries: charts only, see
 * registry/charts.ts). `check` runs once everything the manifest references is known to be in
 * the repository and before anything is stored; it throws to refuse the push, or returns what
 * to do once the manifest is stored (in the same push, before it is answered).
 */
export interface ManifestPolicy {
  check(repo: RepositoryRecord, reference: string, parsed: ParsedManifest): Promise<((manifest: ManifestRecord) => Promise<void>) | undefined>;
}

export class ManifestService {
  /**
   * @param links a push first marks the links it relies on as just used, so that a concurrent
   *   GC (which drops links unused for its grace period) keeps them; see registry/gc.ts.
   */
  constructor(
    private readonly store: MetadataStore,
    private readonly links: Pick<GcStore, 'touchLinks'>,
    private readonly quotas: QuotaGate,
    /** What the formats check on every push (see `ManifestPolicy`). */
    private readonly policy: ManifestPolicy,
  ) {}

  /**
   * Validates and stores a manifest pushed by tag or digest. Everything it references must
   * already be in the repository (MANIFEST_BLOB_UNKNOWN otherwise); a digest reference must
   * match the body (DIGEST_INVALID).
   */
  async put(repo: RepositoryRecord, reference: string, contentType: string | undefined, body: Buffer): Promise<PutManifestResult> {
    const kind = checkReference(reference);
    const parsed = await parseManifest(body, contentType);
    const digest = kind === 'digest' ? digestOf(body, parseDigest(reference).algorithm) : digestOf(body);
    if (kind === 'digest' && digest !== reference) {
      throw new PalletError('DIGEST_INVALID', `manifest digest ${digest} does not match the reference ${reference}`, { digest: reference });
    }
    const blobs = parsed.required.filter((r) => r.kind === 'blob').map((r) => r.digest);
    if (blobs.length > 0) await this.links.touchLinks(repo.id, blobs);
    for (const ref of parsed.required) {
      const present =
        ref.kind === 'blob'
          ? await this.store.findLinkedBlob(repo.id, ref.digest)
          : await this.store.findManifest(repo.id, ref.digest);
      if (!present) {
        throw new PalletError('MANIFEST_BLOB_UNKNOWN', `manifest references ${ref.kind === 'blob' ? 'a blob' : 'a manifest'} unknown to the repository: ${ref.digest}`, {
          digest: ref.digest,
        });
      }
      if (present.size !== ref.size) {
        throw new PalletError('MANIFEST_INVALID', `descriptor size ${ref.size} of ${ref.digest} does not match the blob's ${present.size} bytes`, {
          digest: ref.digest,
        });
      }
    }
    const stored = await this.policy.check(repo, reference, parsed);
    // A manifest new to the repository adds its own bytes to the registry's usage.
    const quota = (await this.store.findManifest(repo.id, digest)) ? undefined : await this.quotas.reserve(repo.id, body.length);
    const manifest = await this.store.putManifest({
      repositoryId: repo.id,
      digest,
      mediaType: parsed.mediaType,
      artifactType: parsed.artifactType,
      subjectDigest: parsed.subject?.digest ?? null,
      annotations: parsed.annotations,
      payload: body,
      references: parsed.references,
      ...(kind === 'tag' ? { tag: reference } : {}),
    }).finally(() => quota?.release());
    if (stored) await stored(manifest);
    return { manifest, subject: parsed.subject?.digest ?? null };
  }

  /** The manifest a tag or digest names; MANIFEST_UNKNOWN when there is none. */
  async get(repo: RepositoryRecord, reference: string): Promise<StoredManifest> {
    const kind = checkReference(reference);
    const found = kind === 'digest' ? await this.store.findManifest(repo.id, reference) : await this.store.findManifestByTag(repo.id, reference);
    if (!found) throw new PalletError('MANIFEST_UNKNOWN', `manifest unknown to registry: ${reference}`, { reference });
    return found;
  }

  /** Deletes a manifest by digest (with its tags), or just a tag. */
  async delete(repo: RepositoryRecord, reference: string): Promise<void> {
    const kind = checkReference(reference);
    const deleted = kind === 'digest' ? await this.store.deleteManifest(repo.id, reference) : await this.store.deleteTag(repo.id, reference);
    if (!deleted) throw new PalletError('MANIFEST_UNKNOWN', `manifest unknown to registry: ${reference}`, { reference });
  }

  /** Tags sorted lexically, `limit` at a time after `last`. */
  async tags(repo: RepositoryRecord, limit: number | undefined, last: string | undefined): Promise<TagList> {
    if (limit === 0) return { tags: [] };
    const page = await this.store.listTags(repo.id, {
      ...(last !== undefined ? { last } : {}),
      ...(limit !== undefined ? { limit: limit + 1 } : {}),
    });
    if (limit !== undefined && page.length > limit) {
      const tags = page.slice(0, limit);
      return { tags, next: tags[tags.length - 1]! };
    }
    return { tags: page };
  }

  /** The referrers index of a subject digest, optionally filtered by artifact type. */
  async referrers(repo: RepositoryRecord | undefined, subject: string, artifactType?: string): Promise<{ mediaType: string; schemaVersion: 2; manifests: Descriptor[] }> {
    if (!isDigest(subject)) parseDigest(subject);
    const found = repo ? await this.store.listReferrers(repo.id, subject, artifactType) : [];
    return {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: found.map((m) => ({
        mediaType: m.mediaType,
        digest: m.digest,
        size: m.size,
        ...(m.artifactType ? { artifactType: m.artifactType } : {}),
        ...(m.annotations ? { annotations: m.annotations } : {}),
      })),
    };
  }
}
