/**
 * The one module that names storage keys. Layout:
 *
 *   blobs/<root-space-id>/<algorithm>/<hex[0:2]>/<hex>   a verified blob, shared by every
 *                                                        repository of one root space
 *   uploads/<upload-id>/data                             bytes of a session opened before
 *                                                        0007_upload_integrity (one object)
 *   uploads/<upload-id>/segments/<start>-<writer>        bytes of a session from offset
 *                                                        <start> (16 digits), written only
 *                                                        by <writer> (one process)
 *   uploads/<upload-id>/staged-<holder>                  a session's bytes assembled and
 *                                                        hashed by the commit <holder>
 *   quarantine/<root-space-id>/<alg>/<hex>/<time>        bytes that `pallet scrub --repair`
 *                                                        found not to match their digest
 *
 * A blob key only ever appears through `move` of a verified upload, so a reader never sees a
 * partial blob (or bytes that do not hash to its digest). Deduplication is per root space: the same digest pushed to two registries of
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

/** The object a session's writer appends to from session offset `start`. */
export function uploadSegmentKey(uploadId: string, start: number, writer: string): string {
  if (!/^[A-Za-z0-9-]+$/.test(writer)) throw new Error(`invalid upload writer id ${JSON.stringify(writer)}`);
  return `uploads/${uploadId}/segments/${String(start).padStart(16, '0')}-${writer}`;
}

/** Where a commit assembles (and hashes) a session's bytes before moving them into place. */
export function uploadStagedKey(uploadId: string, holder: string): string {
  if (!/^[A-Za-z0-9-]+$/.test(holder)) throw new Error(`invalid upload holder id ${JSON.stringify(holder)}`);
  return `uploads/${uploadId}/staged-${holder}`;
}

/** Where `pallet scrub --repair` keeps bytes that do not match their digest, for inspection. */
export function quarantineKey(rootSpaceId: string, digest: Digest, at: number): string {
  const { algorithm, hex } = parseDigest(digest);
  return `${QUARANTINE_PREFIX}/${rootSpaceId}/${algorithm}/${hex}/${at}`;
}

export function uploadPrefix(uploadId: string): string {
  return `uploads/${uploadId}`;
}

export const BLOBS_PREFIX = 'blobs';
export const UPLOADS_PREFIX = 'uploads';
export const QUARANTINE_PREFIX = 'quarantine';

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
