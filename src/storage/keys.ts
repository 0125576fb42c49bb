/**
 * The one module that names storage keys. Layout:
 *
 *   blobs/<root-space-id>/<algorithm>/<hex[0:2]>/<hex>   a verified blob, shared by every
 *                                                        repository of one root space
 *   uploads/<upload-id>/data                             bytes of an upload session so far
 *
 * A blob key only ever appears through `move` of a verified upload, so a reader never sees a
 * partial blob. Deduplication is per root space: the same digest pushed to two registries of
 * one organization is stored once.
 */
import { parseDigest, type Digest } from '../base/digest.js';

export function blobKey(rootSpaceId: string, digest: Digest): string {
  const { algorithm, hex } = parseDigest(digest);
  return `blobs/${rootSpaceId}/${algorithm}/${hex.slice(0, 2)}/${hex}`;
}

export function rootBlobsPrefix(rootSpaceId: string): string {
  return `blobs/${rootSpaceId}`;
}

export function uploadDataKey(uploadId: string): string {
  return `uploads/${uploadId}/data`;
}

export function uploadPrefix(uploadId: string): string {
  return `uploads/${uploadId}`;
}

export const BLOBS_PREFIX = 'blobs';
export const UPLOADS_PREFIX = 'uploads';

/** The root space and digest a blob key names; undefined for any other key. */
export function parseBlobKey(key: string): { rootSpaceId: string; digest: Digest } | undefined {
  const match = /^blobs\/([^/]+)\/(sha256|sha512)\/([0-9a-f]{2})\/([0-9a-f]+)$/.exec(key);
  if (!match || !match[4]!.startsWith(match[3]!)) return undefined;
  return { rootSpaceId: match[1]!, digest: `${match[2]}:${match[4]}` as Digest };
}

/** The upload session id a key under `uploads/` belongs to; undefined for any other key. */
export function uploadIdOfKey(key: string): string | undefined {
  return /^uploads\/([^/]+)\//.exec(key)?.[1];
}
