/**
 * The S3 storage driver, for scale-out: every replica reads and writes the same bucket, through
 * any S3-compatible endpoint (AWS, MinIO, Ceph RGW, …; path-style addressing for the latter).
 *
 * Object layout: the object at key `a/b/c` is the S3 object `<prefix>a/b/c`. S3 cannot append
 * or truncate, so a *partial* object written by `writeAt` (an upload session) is a run of
 * chunk objects, one per `writeAt` call, named by the offset they start at:
 *
 *   <prefix>_parts/<key>/<offset as 16 digits>     the bytes [offset, offset + size)
 *
 * `_parts` is therefore a reserved first key segment. `stat`, `read`, `list` and `delete` see
 * the chunks of a key as the one object they make up; `move` assembles them into the
 * destination. Costs, in S3 requests:
 * - `write`: one PUT for objects up to `partSize` (8 MiB), a multipart upload above it (the
 *   source streams; at most `queueSize` parts are buffered), then one LIST to drop chunks of
 *   the same key.
 * - `writeAt`: one LIST of the key's chunks and one PUT (or multipart upload) of the new chunk;
 *   a retry at an offset inside a chunk also rewrites that chunk's head (GET + PUT).
 * - `move` of a whole object or of a single chunk: a server-side CopyObject (a multipart copy
 *   with UploadPartCopy above 5 GiB) and a DELETE — no bytes pass through Pallet.
 * - `move` of several chunks: a multipart upload assembled server-side with UploadPartCopy
 *   when every chunk but the last is at least 5 MiB (S3's smallest part); otherwise, or when
 *   the server does not implement UploadPartCopy, the chunks are streamed through this process
 *   into one new object (read and written once: 2× the upload's size in transfer). Docker and
 *   skopeo send a blob in one PATCH, so the common case is the server-side copy.
 * - `stat`/`read` of a key: one HEAD/GET; only a missing key (partial or absent) costs a LIST.
 *
 * Atomicity: S3 makes a PUT, a completed multipart upload and a copy visible whole or not at
 * all, so `write` and `move` never expose a partial object. An aborted multipart upload is
 * aborted on the server (lifecycle rules should still expire incomplete uploads after a day,
 * for a process killed mid-upload). `move` is copy-then-delete: a crash between the two leaves
 * the source behind, which the upload janitor or GC removes.
 */
import { Readable, Transform, addAbortSignal } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  S3ServiceException,
  UploadPartCopyCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { PalletError } from '../base/errors.js';
import { checkKey, checkOffset, notFound, offsetBeyondSize, resolveRange } from './checks.js';
import type { ByteRange, IoOptions, ObjectInfo, StorageDriver } from './driver.js';

const PARTS = '_parts';
const OFFSET_DIGITS = 16;
const MiB = 1024 * 1024;
/** S3's smallest multipart part (all but the last). */
const MIN_PART = 5 * MiB;
/** S3's largest single CopyObject / part. */
const MAX_COPY = 5 * 1024 * MiB;
/** Part size of multipart copies of objects above MAX_COPY. */
const COPY_PART = 512 * MiB;

export interface S3DriverOptions {
  /** `https://s3.example.com`; empty for AWS's regional endpoint. */
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key` (MinIO, Ceph). */
  forcePathStyle: boolean;
  /** Key prefix inside the bucket (e.g. `pallet/`); empty for the bucket root. */
  prefix?: string;
  /** Size of buffered parts in uploads; 8 MiB by default. */
  partSize?: number;
  /** How many parts of one upload are sent at once; 4 by default. */
  queueSize?: number;
}

interface Chunk {
  offset: number;
  size: number;
  /** The S3 key of the chunk object. */
  s3Key: string;
  modifiedAt: Date;
}

export class S3Driver implements StorageDriver {
  readonly name = 's3';
  readonly client: S3Client;
  readonly bucket: string;
  readonly #prefix: string;
  readonly #partSize: number;
  readonly #queueSize: number;
  /** Cleared once the server answered NotImplemented to UploadPartCopy. */
  #partCopy = true;

  constructor(options: S3DriverOptions) {
    if (!options.bucket) throw new PalletError('INVALID_ARGUMENT', 'the s3 storage driver needs a bucket (s3.bucket, PALLET_S3_BUCKET)');
    this.bucket = options.bucket;
    this.#prefix = options.prefix ?? '';
    this.#partSize = Math.max(options.partSize ?? 8 * MiB, MIN_PART);
    this.#queueSize = options.queueSize ?? 4;
    this.client = new S3Client({
      region: options.region || 'us-east-1',
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      forcePathStyle: options.forcePathStyle,
      ...(options.accessKeyId
        ? { credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey } }
        : {}),
      // Checksums only where S3 requires them: the default (a CRC trailer in aws-chunked
      // encoding on every upload) is not understood by many S3-compatible servers, and blobs
      // are verified by digest anyway.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    // Around the whole call (retries included): an endpoint that cannot be reached or keeps
    // failing, or a full backend, becomes a domain error rather than a 500.
    this.client.middlewareStack.add(
      (next) => async (args) => {
        try {
          return await next(args);
        } catch (err) {
          throw s3Fault(err);
        }
      },
      { step: 'initialize', name: 'palletFaults' },
    );
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    const s3Key = this.#key(key);
    const head = await this.#head(s3Key);
    if (head) return head;
    const chunks = await this.#chunks(key);
    if (chunks.length === 0) return undefined;
    return { size: sizeOf(chunks), modifiedAt: latest(chunks) };
  }

  async read(key: string, options: IoOptions & { range?: ByteRange } = {}): Promise<Readable> {
    const s3Key = this.#key(key);
    const { signal } = options;
    signal?.throwIfAborted();
    if (options.range === undefined) {
      const body = await this.#get(s3Key, undefined, signal);
      if (body) return withSignal(body, signal);
    } else {
      // A range needs the size first (to resolve it with HTTP semantics and to tell a missing
      // key from an unsatisfiable range).
      const head = await this.#head(s3Key);
      if (head) {
        const range = resolveRange(options.range, head.size, key);
        const body = await this.#get(s3Key, range, signal);
        if (body) return withSignal(body, signal);
        throw notFound(key);
      }
    }
    const chunks = await this.#chunks(key);
    if (chunks.length === 0) throw notFound(key);
    const size = sizeOf(chunks);
    const range = options.range === undefined ? (size === 0 ? undefined : { start: 0, end: size - 1 }) : resolveRange(options.range, size, key);
    return withSignal(Readable.from(this.#concat(chunks, range, signal), { objectMode: false }), signal);
  }

  async write(key: string, source: Readable | Buffer, options: IoOptions = {}): Promise<number> {
    const s3Key = this.#key(key);
    options.signal?.throwIfAborted();
    const size = await this.#upload(s3Key, source, options.signal);
    // A whole object replaces the partial one of the same key.
    await this.#deleteKeys((await this.#chunks(key)).map((c) => c.s3Key));
    return size;
  }

  async writeAt(key: string, offset: number, source: Readable | Buffer, options: IoOptions = {}): Promise<number> {
    const s3Key = this.#key(key);
    checkOffset(offset);
    options.signal?.throwIfAborted();
    let chunks = await this.#chunks(key);
    if (chunks.length === 0) {
      // A whole object at the key becomes its first chunk (a rare path: the domain writes
      // upload sessions only with writeAt).
      const head = await this.#head(s3Key);
      if (head && offset > 0) {
        await this.#copy(s3Key, this.#chunkKey(key, 0), head.size);
        chunks = [{ offset: 0, size: head.size, s3Key: this.#chunkKey(key, 0), modifiedAt: head.modifiedAt }];
      }
      if (head) await this.#delete(s3Key);
    }
    const size = sizeOf(chunks);
    if (offset > size) throw offsetBeyondSize(key, offset, size);
    // Truncate to `offset`: chunks starting after it go; one straddling it keeps its head.
    await this.#deleteKeys(chunks.filter((c) => c.offset > offset).map((c) => c.s3Key));
    const straddling = chunks.find((c) => c.offset < offset && c.offset + c.size > offset);
    if (straddling) {
      const head = await this.#get(straddling.s3Key, { start: 0, end: offset - straddling.offset - 1 }, options.signal);
      if (!head) throw notFound(key);
      await this.#upload(straddling.s3Key, head, options.signal);
    }
    // Overwrites a chunk that started exactly at `offset`, atomically.
    const written = await this.#upload(this.#chunkKey(key, offset), source, options.signal);
    return offset + written;
  }

  async move(from: string, to: string): Promise<void> {
    const fromKey = this.#key(from);
    const toKey = this.#key(to);
    const head = await this.#head(fromKey);
    if (head) {
      await this.#copy(fromKey, toKey, head.size);
      await this.#deleteKeys((await this.#chunks(to)).map((c) => c.s3Key));
      await this.#delete(fromKey);
      return;
    }
    const chunks = await this.#chunks(from);
    if (chunks.length === 0) throw notFound(from);
    await this.#assemble(chunks, toKey);
    await this.#deleteKeys((await this.#chunks(to)).map((c) => c.s3Key));
    await this.#deleteKeys(chunks.map((c) => c.s3Key));
  }

  async delete(key: string): Promise<void> {
    const s3Key = this.#key(key);
    await this.#delete(s3Key);
    await this.#deleteKeys((await this.#chunks(key)).map((c) => c.s3Key));
  }

  async deletePrefix(prefix: string): Promise<void> {
    this.#key(prefix);
    let batch: string[] = [];
    for (const prefixed of [`${this.#prefix}${prefix}/`, `${this.#prefix}${PARTS}/${prefix}/`]) {
      for await (const object of this.#listRaw(prefixed)) {
        batch.push(object.key);
        if (batch.length === 1000) {
          await this.#deleteKeys(batch);
          batch = [];
        }
      }
    }
    await this.#deleteKeys(batch);
  }

  async *list(prefix: string): AsyncIterable<string> {
    this.#key(prefix);
    const strip = this.#prefix.length;
    for await (const object of this.#listRaw(`${this.#prefix}${prefix}/`)) yield object.key.slice(strip);
    // Partial objects, once each: `_parts/<key>/<offset>` → `<key>`. Their chunks need not be
    // adjacent in S3's order (`a/0/…` sorts between `a/000…` chunks), hence the set.
    const seen = new Set<string>();
    const partsStrip = strip + PARTS.length + 1;
    for await (const object of this.#listRaw(`${this.#prefix}${PARTS}/${prefix}/`)) {
      const key = object.key.slice(partsStrip, object.key.lastIndexOf('/'));
      if (!seen.has(key)) yield key;
      seen.add(key);
    }
  }

  /**
   * A presigned GET URL of the object, valid for `expiresInSeconds`, for redirecting clients
   * to the bucket. Undefined for a partial object (only whole objects can be presigned).
   */
  async presignedUrl(key: string, expiresInSeconds: number): Promise<string | undefined> {
    const s3Key = this.#key(key);
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: s3Key }), { expiresIn: expiresInSeconds });
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  // Helpers ------------------------------------------------------------------------------------

  #key(key: string): string {
    checkKey(key);
    if (key === PARTS || key.startsWith(`${PARTS}/`)) {
      throw new PalletError('INVALID_ARGUMENT', `storage key ${JSON.stringify(key)}: "${PARTS}" is reserved`, { key });
    }
    return `${this.#prefix}${key}`;
  }

  #chunkKey(key: string, offset: number): string {
    return `${this.#prefix}${PARTS}/${key}/${String(offset).padStart(OFFSET_DIGITS, '0')}`;
  }

  /** The chunks of a partial object, by offset. */
  async #chunks(key: string): Promise<Chunk[]> {
    const chunks: Chunk[] = [];
    const dir = `${this.#prefix}${PARTS}/${key}/`;
    for await (const object of this.#listRaw(dir)) {
      const rest = object.key.slice(dir.length);
      if (!/^\d+$/.test(rest)) continue; // a deeper key's chunk, not this key's
      chunks.push({ offset: Number(rest), size: object.size, s3Key: object.key, modifiedAt: object.modifiedAt });
    }
    return chunks.sort((a, b) => a.offset - b.offset);
  }

  async *#listRaw(prefix: string): AsyncIterable<{ key: string; size: number; modifiedAt: Date }> {
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined) continue;
        yield { key: object.Key, size: object.Size ?? 0, modifiedAt: object.LastModified ?? new Date(0) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async #head(s3Key: string): Promise<ObjectInfo | undefined> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: s3Key }));
      return { size: head.ContentLength ?? 0, modifiedAt: head.LastModified ?? new Date(0) };
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  /** The object's body (or an inclusive range of it); undefined when it is missing. */
  async #get(s3Key: string, range: ByteRange | undefined, signal?: AbortSignal): Promise<Readable | undefined> {
    try {
      const out = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: s3Key, ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }),
        signal ? { abortSignal: signal } : {},
      );
      if (!(out.Body instanceof Readable)) throw new Error('the S3 client returned a non-stream body');
      if (range === undefined) return out.Body;
      // Some S3-compatible servers serve more than asked (a 200 with the whole object, or a
      // `bytes=0-0` read as `0-`); what they say they served tells how to cut it down.
      const served = /^bytes (\d+)-(\d+)\//.exec(out.ContentRange ?? '');
      const servedStart = served ? Number(served[1]) : 0;
      const servedEnd = served ? Number(served[2]) : Number.POSITIVE_INFINITY;
      if (servedStart === range.start && servedEnd === range.end) return out.Body;
      const body = out.Body;
      const cut = slicer(range.start - servedStart, range.end - range.start + 1);
      body.once('error', (err) => cut.destroy(err));
      cut.once('close', () => body.destroy());
      return body.pipe(cut);
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  /** Streams `source` into one object (single PUT or multipart); resolves to its size. */
  async #upload(s3Key: string, source: Readable | Buffer, signal?: AbortSignal): Promise<number> {
    signal?.throwIfAborted();
    let size = 0;
    let body: Readable | Buffer;
    let piping: Promise<void> | undefined;
    if (Buffer.isBuffer(source)) {
      body = source;
      size = source.length;
    } else {
      const counter = new Transform({
        transform(chunk: Buffer | string, _encoding, done) {
          const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
          size += bytes.length;
          done(null, bytes);
        },
      });
      body = counter;
      piping = pipeline(source, counter, signal ? { signal } : {});
    }
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: s3Key, Body: body },
      partSize: this.#partSize,
      queueSize: this.#queueSize,
      leavePartsOnError: false,
    });
    const onAbort = (): void => {
      void upload.abort().catch(() => undefined);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const [result] = await Promise.allSettled([upload.done(), piping]);
      // The source's own error (or the abort) says more than the upload's reaction to it.
      if (piping) await piping;
      if (result.status === 'rejected') throw result.reason;
      signal?.throwIfAborted();
      return size;
    } catch (err) {
      if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : abortError();
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Server-side copy of a whole object, multipart above 5 GiB. */
  async #copy(fromKey: string, toKey: string, size: number): Promise<void> {
    const source = `${this.bucket}/${encodeKey(fromKey)}`;
    if (size <= MAX_COPY) {
      await this.client.send(new CopyObjectCommand({ Bucket: this.bucket, Key: toKey, CopySource: source }));
      return;
    }
    const ranges: ByteRange[] = [];
    for (let start = 0; start < size; start += COPY_PART) ranges.push({ start, end: Math.min(start + COPY_PART, size) - 1 });
    await this.#multipartCopy(toKey, ranges.map((range) => ({ source, range })));
  }

  /** Makes one object at `toKey` out of the chunks, server-side where S3 allows it. */
  async #assemble(chunks: Chunk[], toKey: string): Promise<void> {
    const only = chunks.length === 1 ? chunks[0] : undefined;
    if (only) {
      await this.#copy(only.s3Key, toKey, only.size);
      return;
    }
    const copyable = chunks.every((c, i) => c.size <= MAX_COPY && (i === chunks.length - 1 || c.size >= MIN_PART));
    if (copyable && this.#partCopy && chunks.length <= 10_000) {
      try {
        await this.#multipartCopy(
          toKey,
          chunks.map((c) => ({ source: `${this.bucket}/${encodeKey(c.s3Key)}` })),
        );
        return;
      } catch (err) {
        if (!(err instanceof S3ServiceException && err.name === 'NotImplemented')) throw err;
        this.#partCopy = false;
      }
    }
    const size = sizeOf(chunks);
    const range = size === 0 ? undefined : { start: 0, end: size - 1 };
    await this.#upload(toKey, Readable.from(this.#concat(chunks, range), { objectMode: false }));
  }

  async #multipartCopy(toKey: string, parts: Array<{ source: string; range?: ByteRange }>): Promise<void> {
    const created = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: toKey }));
    const uploadId = created.UploadId;
    if (!uploadId) throw new Error('S3 CreateMultipartUpload returned no upload id');
    try {
      const done: CompletedPart[] = [];
      for (const [i, part] of parts.entries()) {
        const out = await this.client.send(
          new UploadPartCopyCommand({
            Bucket: this.bucket,
            Key: toKey,
            UploadId: uploadId,
            PartNumber: i + 1,
            CopySource: part.source,
            ...(part.range ? { CopySourceRange: `bytes=${part.range.start}-${part.range.end}` } : {}),
          }),
        );
        done.push({ PartNumber: i + 1, ETag: out.CopyPartResult?.ETag });
      }
      await this.client.send(
        new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: toKey, UploadId: uploadId, MultipartUpload: { Parts: done } }),
      );
    } catch (err) {
      await this.client
        .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: toKey, UploadId: uploadId }))
        .catch(() => undefined);
      throw err;
    }
  }

  /** The bytes of `range` (inclusive) of the object the chunks make up, one chunk at a time. */
  async *#concat(chunks: Chunk[], range: ByteRange | undefined, signal?: AbortSignal): AsyncGenerator<Buffer> {
    if (range === undefined) return;
    for (const chunk of chunks) {
      const start = Math.max(range.start, chunk.offset);
      const end = Math.min(range.end, chunk.offset + chunk.size - 1);
      if (start > end) continue;
      const body = await this.#get(chunk.s3Key, { start: start - chunk.offset, end: end - chunk.offset }, signal);
      if (!body) throw new PalletError('NOT_FOUND', 'a chunk of a partial object vanished while it was read', { key: chunk.s3Key });
      for await (const bytes of body) yield bytes as Buffer;
    }
  }

  async #delete(s3Key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: s3Key }));
  }

  async #deleteKeys(s3Keys: string[]): Promise<void> {
    for (let i = 0; i < s3Keys.length; i += 1000) {
      const batch = s3Keys.slice(i, i + 1000);
      if (batch.length === 1) {
        await this.#delete(batch[0]!);
        continue;
      }
      const out = await this.client.send(
        new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }),
      );
      const failed = (out.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length > 0) {
        throw new Error(`S3 DeleteObjects failed for ${failed.length} keys: ${failed[0]?.Code ?? ''} ${failed[0]?.Message ?? ''}`);
      }
    }
  }
}

function sizeOf(chunks: Chunk[]): number {
  const last = chunks[chunks.length - 1];
  return last === undefined ? 0 : last.offset + last.size;
}

function latest(chunks: Chunk[]): Date {
  return new Date(Math.max(...chunks.map((c) => c.modifiedAt.getTime())));
}

function isMissing(err: unknown): boolean {
  if (!(err instanceof S3ServiceException)) return false;
  return err.name === 'NoSuchKey' || err.name === 'NotFound' || err.$metadata.httpStatusCode === 404;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);
/** What S3-compatible servers answer when their disks are full (MinIO, Ceph RGW). */
const FULL_NAMES = new Set(['XMinioStorageFull', 'StorageFull', 'QuotaExceeded']);

/**
 * S3 failures of the service rather than of the request: unreachable or 5xx after the SDK's
 * retries → UNAVAILABLE, a full backend (507, MinIO's XMinioStorageFull, RGW's QuotaExceeded) →
 * INSUFFICIENT_STORAGE. Everything else (missing keys, 4xx, aborts) passes through as it is.
 */
function s3Fault(err: unknown): unknown {
  if (!(err instanceof Error) || err.name === 'AbortError') return err;
  const status = err instanceof S3ServiceException ? err.$metadata.httpStatusCode : undefined;
  const code = 'code' in err && typeof err.code === 'string' ? err.code : undefined;
  let mapped: PalletError | undefined;
  if (status === 507 || FULL_NAMES.has(err.name)) {
    mapped = new PalletError('INSUFFICIENT_STORAGE', 'the object store is full; delete content, then run pallet gc');
  } else if ((status !== undefined && status >= 500 && status !== 501) || (code !== undefined && NETWORK_CODES.has(code)) || err.name === 'TimeoutError') {
    mapped = new PalletError('UNAVAILABLE', 'the object store is unavailable; retry later');
  }
  if (!mapped) return err;
  mapped.cause = err;
  return mapped;
}

/** CopySource is URL-encoded, slashes kept. */
function encodeKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

/** Passes on `length` bytes after skipping `skip`, then ends (destroying the source). */
function slicer(skip: number, length: number): Transform {
  let position = 0;
  const end = skip + length;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      const from = Math.max(skip - position, 0);
      const to = Math.min(end - position, chunk.length);
      position += chunk.length;
      if (to > from) this.push(chunk.subarray(from, to));
      done();
    },
  });
}

function abortError(): Error {
  return new DOMException('This operation was aborted', 'AbortError');
}

/** Makes the stream fail with an AbortError when the signal aborts, like a file stream does. */
function withSignal(stream: Readable, signal: AbortSignal | undefined): Readable {
  return signal ? addAbortSignal(signal, stream) : stream;
}
