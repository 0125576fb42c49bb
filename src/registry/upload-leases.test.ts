/**
 * The upload-session lease at the domain level (SQLite + filesystem, the blob services of two
 * replicas over them): a held lease refuses a second writer before it reads a byte, an
 * expired lease (a crashed writer) is taken over, a writer that lost its lease records nothing
 * and cannot touch the bytes of the writer that took over, and open sessions are bounded per
 * owner.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { isPalletError } from '../base/errors.js';
import type { MetadataStore } from '../metadata/store.js';
import type { BlobLocation, BlobService } from './blobs.js';
import { openTestServices, type TestServices } from '../../test/helpers/services.js';

const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Emits `data` in 4 KiB pieces, `delayMs` apart; `read` counts the bytes pulled so far. */
function slow(data: Buffer, delayMs: number): Readable & { pulled: number } {
  let offset = 0;
  const stream = new Readable({
    read() {
      setTimeout(() => {
        if (offset >= data.length) {
          this.push(null);
          return;
        }
        const piece = data.subarray(offset, offset + 4096);
        offset += piece.length;
        (stream as Readable & { pulled: number }).pulled = offset;
        this.push(piece);
      }, delayMs);
    },
  }) as Readable & { pulled: number };
  stream.pulled = 0;
  return stream;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

describe('upload session leases', () => {
  let t: TestServices;
  let store: MetadataStore;
  let a: BlobService;
  let b: BlobService;
  let loc: BlobLocation;
  before(async () => {
    t = await openTestServices({ uploads: { leaseSeconds: 0.3, maxOpenSessionsPerUser: 2 } });
    store = t.services.store;
    a = t.services.blobs;
    b = (await t.replica()).blobs;
    const space = await store.createSpace({ path: 'acme', parentId: null, description: '' });
    const registry = await store.createRegistry({
      spaceId: space.id,
      identifier: 'docker-local',
      packageType: 'docker',
      kind: 'local',
      description: '',
      labels: [],
      public: false,
      upstream: null,
    });
    const repo = await store.ensureRepository(registry.id, 'app');
    loc = { rootSpaceId: space.id, repositoryId: repo.id };
  });
  after(async () => t.close());

  it('refuses a second writer without reading its body while the lease is held', async () => {
    const upload = await a.startUpload(loc);
    const first = a.writeChunk(upload, slow(randomBytes(64 * 1024), 2));
    await sleep(20);
    const second = slow(randomBytes(64 * 1024), 0);
    await assert.rejects(b.writeChunk(upload, second), (err) => isPalletError(err, 'BLOB_UPLOAD_INVALID'));
    assert.equal(second.pulled, 0, 'the refused body was not read');
    const done = await first;
    assert.equal(done.size, 64 * 1024);
    await a.cancelUpload(upload);
  });

  it('takes over the lease of a writer that died', async () => {
    const upload = await a.startUpload(loc);
    // A writer that took the lease and crashed: the lease stays until it expires.
    assert.ok(await store.acquireUploadLease(upload.id, 'crashed-writer', Date.now() + 400, Date.now()));
    await assert.rejects(b.writeChunk(upload, Readable.from([randomBytes(10)])), (err) => isPalletError(err, 'BLOB_UPLOAD_INVALID'));
    await sleep(450);
    const data = randomBytes(3000);
    const written = await b.writeChunk(upload, Readable.from([data]));
    assert.equal(written.size, data.length);
    const blob = await a.finishUpload(loc, written, sha256(data));
    assert.equal(blob.digest, sha256(data));
    assert.ok((await readAll((await a.open(loc, blob.digest)).stream)).equals(data));
  });

  it('a writer that lost its lease records nothing and cannot change what the new holder stored', async () => {
    const upload = await a.startUpload(loc);
    const prefix = randomBytes(5000);
    const withPrefix = await a.writeChunk(upload, Readable.from([prefix]));
    const stale = randomBytes(96 * 1024);
    const staleWrite = a.writeChunk(withPrefix, slow(stale, 3)).then(
      () => undefined,
      (err: unknown) => err,
    );
    await sleep(30);
    // A's renewals stop reaching the database (a partition): its lease lapses and B takes it.
    assert.ok(await store.acquireUploadLease(upload.id, 'partition', Date.now() + 1, Number.MAX_SAFE_INTEGER));
    await sleep(5);
    const fresh = randomBytes(20 * 1024);
    const winner = Buffer.concat([prefix, fresh]);
    const blob = await b.finishUpload(loc, { ...withPrefix }, sha256(winner), Readable.from([fresh]));
    const staleError = await staleWrite;
    assert.ok(isPalletError(staleError, 'BLOB_UPLOAD_INVALID') || isPalletError(staleError, 'BLOB_UPLOAD_UNKNOWN'), String(staleError));
    const served = await readAll((await b.open(loc, blob.digest)).stream);
    assert.equal(sha256(served), sha256(winner));
  });

  it('bounds the open sessions per owner, with an error naming the limit', async () => {
    const one = await a.startUpload(loc, 'user:alice');
    await a.startUpload(loc, 'user:alice');
    await assert.rejects(b.startUpload(loc, 'user:alice'), (err) => {
      assert.ok(isPalletError(err, 'TOOMANYREQUESTS'));
      assert.match(err.message, /2 per user \(uploads\.maxOpenSessionsPerUser\)/);
      return true;
    });
    await b.startUpload(loc, 'user:bob');
    await a.cancelUpload(one);
    await b.startUpload(loc, 'user:alice');
  });

  it('concurrent session starts never exceed the bound', async () => {
    const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).startUpload(loc, 'user:carol')));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 2);
  });
});
