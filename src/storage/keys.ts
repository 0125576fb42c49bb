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
