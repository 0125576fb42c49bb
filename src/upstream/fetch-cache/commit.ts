/**
 * Committing one upstream body into the blob store, with its digest known up front (an OCI
 * blob, a chart the index names by SHA-256) or learned while the bytes stream (a file whose
 * metadata states no SHA-256, or another checksum: npm's sha1/sha512, Maven's .sha1). The
 * learned path, in order: open an upload session; stream the body into it while hashing it with
 * SHA-256 and with the stated checksum's algorithm; compare the stated checksum; commit under the
 * SHA-256 (or the known digest, which the commit verifies). Any mismatch or error cancels the
 * session: nothing is linked, nothing counts against quota. With no checksum to compare, the
 * SHA-256 is the upload session's own running hash (`BlobService.putBlobLearned`), one pass.
 */
import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { Hasher } from '../../base/digest.js';
import { PalletError } from '../../base/errors.js';
import type { BlobRecord } from '../../metadata/store.js';
import type { BlobLocation, BlobService } from '../../registry/blobs.js';

/** A checksum the format's metadata states for a file, besides (or instead of) its digest. */
export interface Checksum {
  /** A `node:crypto` hash name: `sha1`, `sha512`, `md5`, `sha256`. */
  algorithm: string;
  /** The expected value, in `encoding`. */
  value: string;
  encoding: 'hex' | 'base64';
}

export interface CommitBody {
  /** `sha256:…` the bytes must hash to; undefined: learned while streaming. */
  digest: string | undefined;
  /** Content-Length, when the upstream gave one (a different count is refused). */
  size: number | undefined;
  checksum?: Checksum | undefined;
}

/** Commits `body` (see the module header); DIGEST_INVALID when it does not match. */
export async function commitBody(blobs: BlobService, loc: BlobLocation, body: Readable, c: CommitBody): Promise<BlobRecord> {
  const length = c.size !== undefined ? { length: c.size } : {};
  if (c.digest && !c.checksum) return blobs.putBlob(loc, c.digest, body, length);
  // Only the SHA-256 to learn: the session's running hash is the one pass over the bytes.
  if (!c.checksum) return blobs.putBlobLearned(loc, body, length);
  const sha256 = new Hasher('sha256');
  const stated = c.checksum ? createHash(c.checksum.algorithm) : undefined;
  const hashing = new Transform({
    transform(chunk: Buffer, _enc, done) {
      sha256.update(chunk);
      stated?.update(chunk);
      done(null, chunk);
    },
  });
  body.once('error', (err) => hashing.destroy(err));
  const upload = await blobs.startUpload(loc);
  try {
    const written = await blobs.writeChunk(upload, body.pipe(hashing), { ...length, algorithm: 'sha256' });
    if (c.checksum && stated) {
      const computed = stated.digest(c.checksum.encoding);
      if (computed !== c.checksum.value) {
        throw new PalletError('DIGEST_INVALID', `the ${c.checksum.algorithm} checksum of the content is ${computed}, not ${c.checksum.value}`, {
          algorithm: c.checksum.algorithm,
          computed,
        });
      }
    }
    return await blobs.finishUpload(loc, written, c.digest ?? sha256.digest());
  } catch (err) {
    await blobs.cancelUpload(upload);
    throw err;
  }
}
