/**
 * Stages one published tarball in a blob upload session while its base64 is decoded, hashing
 * it in the same pass with the three algorithms npm and Pallet need: sha256 (the blob's content
 * address), sha512 (`dist.integrity`) and sha1 (`dist.shasum`). Nothing is committed until the
 * caller has checked the document around it: then `commit()` moves the bytes into place as a
 * blob of the package's repository; `cancel()` discards them.
 *
 *   decoded bytes ─► hashes (sha256, sha512, sha1), gzip magic check ─► PassThrough ─► writeChunk
 *
 * The PassThrough is the backpressure: a write waits for `drain`, or fails as soon as the
 * session's writer fails (storage full, lease lost).
 */
import { createHash, type Hash } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { PalletError } from '../../base/errors.js';
import type { BlobRecord } from '../../metadata/store.js';
import type { BlobLocation, BlobService } from '../../registry/blobs.js';
import type { AttachmentSink } from './publish-body.js';

const GZIP_MAGIC = [0x1f, 0x8b];

export interface StagedTarball {
  /** Its key under `_attachments`. */
  file: string;
  size: number;
  /** `sha256:<hex>`. */
  digest: string;
  /** `sha512-<base64>`. */
  integrity: string;
  /** sha1, hex. */
  shasum: string;
}

type UploadRecord = Awaited<ReturnType<BlobService['startUpload']>>;

export class TarballUpload implements AttachmentSink {
  readonly #blobs: BlobService;
  readonly #loc: BlobLocation;
  readonly #file: string;
  readonly #pass = new PassThrough({ highWaterMark: 1024 * 1024 });
  readonly #sha256: Hash = createHash('sha256');
  readonly #sha512: Hash = createHash('sha512');
  readonly #sha1: Hash = createHash('sha1');
  #upload: UploadRecord;
  #written: Promise<UploadRecord>;
  #size = 0;
  #head = Buffer.alloc(0);
  #staged: StagedTarball | undefined;
  #settled = false;

  private constructor(blobs: BlobService, loc: BlobLocation, file: string, upload: UploadRecord) {
    this.#blobs = blobs;
    this.#loc = loc;
    this.#file = file;
    this.#upload = upload;
    this.#written = blobs.writeChunk(upload, this.#pass);
    // Awaited in end()/cancel(); a failure before then is seen by the next write.
    this.#written.catch(() => undefined);
  }

  /** Opens an upload session in the package's repository for the attachment `file`. */
  static async start(blobs: BlobService, loc: BlobLocation, file: string, owner?: string): Promise<TarballUpload> {
    return new TarballUpload(blobs, loc, file, await blobs.startUpload(loc, owner));
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.#head.length < GZIP_MAGIC.length) {
      this.#head = Buffer.concat([this.#head, chunk.subarray(0, GZIP_MAGIC.length)]).subarray(0, GZIP_MAGIC.length);
      this.#checkMagic(false);
    }
    this.#size += chunk.length;
    this.#sha256.update(chunk);
    this.#sha512.update(chunk);
    this.#sha1.update(chunk);
    if (!this.#pass.write(chunk)) {
      await Promise.race([
        once(this.#pass, 'drain'),
        this.#written.then(() => {
          throw new Error('the tarball writer stopped before the tarball ended');
        }),
      ]);
    }
  }

  async end(): Promise<void> {
    this.#checkMagic(true);
    this.#pass.end();
    this.#upload = await this.#written;
    this.#staged = {
      file: this.#file,
      size: this.#size,
      digest: `sha256:${this.#sha256.digest('hex')}`,
      integrity: `sha512-${this.#sha512.digest('base64')}`,
      shasum: this.#sha1.digest('hex'),
    };
  }

  /** What was staged; undefined until the attachment's data ended. */
  get staged(): StagedTarball | undefined {
    return this.#staged;
  }

  /** Commits the staged bytes as a blob of the repository (the digest is checked again). */
  async commit(): Promise<BlobRecord> {
    if (!this.#staged) throw new Error('commit before the tarball ended');
    this.#settled = true;
    try {
      return await this.#blobs.finishUpload(this.#loc, this.#upload, this.#staged.digest);
    } catch (err) {
      // A commit that failed (storage, quota, a lost lease) leaves no session behind.
      await this.#blobs.cancelUpload(this.#upload).catch(() => undefined);
      throw err;
    }
  }

  /** Discards whatever was staged (no-op after commit). */
  async cancel(): Promise<void> {
    if (this.#settled) return;
    this.#settled = true;
    if (!this.#staged) this.#pass.destroy(new Error('publish refused'));
    await this.#written.catch(() => undefined);
    await this.#blobs.cancelUpload(this.#upload).catch(() => undefined);
  }

  #checkMagic(final: boolean): void {
    const short = this.#head.length < GZIP_MAGIC.length;
    if ((short && final) || (!short && !GZIP_MAGIC.every((b, i) => this.#head[i] === b))) {
      throw new PalletError('INVALID_ARGUMENT', `the attachment ${this.#file} is not a gzip-compressed tarball`);
    }
  }
}
