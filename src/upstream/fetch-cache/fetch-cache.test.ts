/**
 * The fetch-and-cache core on its own (SQLite + filesystem, an adapter written inline, no
 * upstream server): single flight, the negative cache, back-off with stale serving, a digest
 * learned while streaming and checked against a stated checksum, and a cache write that
 * finishes after the client that started it went away.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { isPalletError, PalletError } from '../../base/errors.js';
import type { BlobRecord, MetadataStore, RegistryRecord, SpaceRecord } from '../../metadata/store.js';
import type { BlobService } from '../../registry/blobs.js';
import { EgressPolicy } from '../egress.js';
import { SecretBox } from '../../base/secret-box.js';
import { openTestServices, type TestServices } from '../../../test/helpers/services.js';
import type { BodyFetch, UpstreamBody } from './body-fetch.js';
import { FetchCache } from './fetch-cache.js';
import { UpstreamMetrics } from './metrics.js';
import type { Upstream } from './upstreams.js';

const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const quiet = { info: () => undefined, warn: () => undefined };

/** `data` in 16 KiB pieces, `delayMs` apart. */
function trickle(data: Buffer, delayMs: number): Readable {
  let offset = 0;
  return new Readable({
    read() {
      setTimeout(() => {
        if (offset >= data.length) {
          this.push(null);
          return;
        }
        const piece = data.subarray(offset, offset + 16 * 1024);
        offset += piece.length;
        this.push(piece);
      }, delayMs);
    },
  });
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

describe('the fetch-and-cache core', () => {
  let testServices: TestServices;
  let store: MetadataStore;
  let blobs: BlobService;
  let metrics: Registry;
  let cache: FetchCache;
  let root: SpaceRecord;
  let registry: RegistryRecord;
  let upstream: Upstream;
  let repositoryId: string;

  before(async () => {
    testServices = await openTestServices();
    ({ store, blobs } = testServices.services);
    metrics = new Registry();
    cache = new FetchCache(
      { blobs, secrets: new SecretBox(randomBytes(32)), metrics: new UpstreamMetrics(metrics), log: quiet, egress: new EgressPolicy({ allowedNetworks: '127.0.0.1/32' }) },
      { timeoutMs: 5_000, deadlineMs: 5_000, notFoundTtlMs: 60_000, flightWaitMs: 10_000, maxBlobBytes: 0, minBytesPerSecond: 0 },
    );
    root = await store.createSpace({ path: 'acme', parentId: null, description: '' });
    registry = await store.createRegistry({
      spaceId: root.id,
      identifier: 'proxy',
      packageType: 'helm',
      kind: 'upstream',
      description: '',
      labels: [],
      public: false,
      // Never contacted: every request of these tests is the adapter's own `get`.
      upstream: { source: 'custom', url: 'http://127.0.0.1:9', auth: { type: 'anonymous' }, tagTtlSeconds: 60 },
    });
    upstream = cache.upstream(root, registry)!;
    repositoryId = (await store.ensureRepository(registry.id, 'files')).id;
  });

  after(async () => {
    cache.close();
    await testServices.close();
  });

  /** An adapter for one file whose body `body()` gives; `gets` counts the upstream requests. */
  function adapter(name: string, body: () => UpstreamBody | undefined, over: Partial<BodyFetch<Buffer>> = {}): BodyFetch<Buffer> & { gets: number; commits: BlobRecord[] } {
    const state = { gets: 0, commits: [] as BlobRecord[] };
    let cached: string | undefined;
    const read = async (): Promise<Buffer | undefined> => {
      if (!cached) return undefined;
      const { stream } = await blobs.open({ rootSpaceId: root.id, repositoryId }, cached);
      return readAll(stream);
    };
    return Object.assign(state, {
      upstream,
      log: quiet,
      what: 'file',
      kind: 'file' as const,
      subject: name,
      fields: { name },
      flightKey: name,
      notFoundKey: name,
      digest: undefined,
      retryAfter: () => true,
      findCached: read,
      get: async () => {
        state.gets += 1;
        await sleep(20);
        return body();
      },
      repository: async () => repositoryId,
      streams: () => false,
      onCommitted: async (blob: BlobRecord) => {
        cached = blob.digest;
        state.commits.push(blob);
      },
      streamed: (stream: Readable) => {
        throw new Error(`not streamed in this test ${String(stream)}`);
      },
      committed: read,
      ...over,
    });
  }

  it('fetches once for two concurrent misses of the same content', async () => {
    const data = randomBytes(200 * 1024);
    const f = adapter('one', () => ({ size: data.length, body: trickle(data, 2), crossOrigin: false }));
    const [a, b] = await Promise.all([cache.fetchBody(f), cache.fetchBody(f)]);
    assert.equal(f.gets, 1, 'one upstream request');
    assert.deepEqual(a, data);
    assert.deepEqual(b, data);
    assert.deepEqual(await cache.fetchBody(f), data, 'then served from the cache');
    assert.equal(f.gets, 1);
    let runs = 0;
    const work = async (): Promise<number> => {
      runs += 1;
      await sleep(20);
      return runs;
    };
    assert.deepEqual(await Promise.all([cache.once(upstream, 'doc', work), cache.once(upstream, 'doc', work)]), [1, 1]);
    assert.equal(runs, 1, 'one run of a shared small fetch');
  });

  it('remembers that the upstream does not have it', async () => {
    const f = adapter('missing', () => undefined);
    assert.equal(await cache.fetchBody(f), undefined);
    assert.equal(await cache.fetchBody(f), undefined);
    assert.equal(f.gets, 1, 'the 404 was remembered');
    const text = await metrics.metrics();
    assert.doesNotMatch(text, /pallet_upstream_cache_misses_total\{upstream="acme\/proxy",format="helm",kind="file"\} [2-9]/);
  });

  it('backs off after a failed revalidation and serves the cached copy stale meanwhile', async () => {
    let asked = 0;
    const revalidation = (checkedAt: number | undefined, ttlMs = 60_000) => ({
      upstream,
      key: 'index',
      checkedAt,
      ttlMs,
      cached: () => 'cached copy',
      revalidate: async () => {
        asked += 1;
        throw new PalletError('UNAVAILABLE', 'upstream down');
      },
      servesStale: (err: unknown) => isPalletError(err, 'UNAVAILABLE'),
      kind: 'index' as const,
      what: 'index',
      log: quiet,
      fields: {},
    });
    assert.equal(await cache.revalidated(revalidation(Date.now())), 'cached copy', 'fresh: a hit');
    assert.equal(asked, 0);
    assert.equal(await cache.revalidated(revalidation(0)), 'cached copy', 'due, upstream down: stale');
    assert.equal(asked, 1);
    assert.equal(cache.isBackingOff(upstream), true);
    assert.equal(await cache.revalidated(revalidation(0)), 'cached copy', 'backing off: stale without asking');
    assert.equal(asked, 1, 'the upstream was left alone');
    await assert.rejects(cache.revalidated(revalidation(undefined)), /upstream down/, 'nothing cached: the error');
    assert.match(await metrics.metrics(), /pallet_upstream_stale_serves_total\{upstream="acme\/proxy",format="helm"\} 2/);
    // The back-off is at most the TTL.
    const other = await store.createRegistry({ spaceId: root.id, identifier: 'short', packageType: 'helm', kind: 'upstream', description: '', labels: [], public: false, upstream: { source: 'custom', url: 'http://127.0.0.1:9', auth: { type: 'anonymous' }, tagTtlSeconds: 1 } });
    const short = { ...revalidation(0, 30), upstream: cache.upstream(root, other)! };
    await cache.revalidated(short);
    await sleep(50);
    assert.equal(cache.isBackingOff(short.upstream), false);
  });

  it('learns the digest while streaming, and caches nothing when a stated checksum is wrong', async () => {
    const data = randomBytes(300 * 1024);
    const digest = sha256(data);
    const wrong = adapter('wrong', () => ({ size: data.length, body: trickle(data, 0), crossOrigin: false }), {
      checksum: { algorithm: 'sha512', value: 'x'.repeat(128), encoding: 'hex' },
    });
    await assert.rejects(cache.fetchBody(wrong), (err) => isPalletError(err, 'UNAVAILABLE') && /does not match/.test(err.message));
    assert.equal(wrong.commits.length, 0);
    assert.equal(await store.findLinkedBlob(repositoryId, digest), undefined, 'nothing linked');
    assert.match(await metrics.metrics(), /pallet_upstream_errors_total\{upstream="acme\/proxy",format="helm",reason="digest-mismatch"\} 1/);
    const sha512 = createHash('sha512').update(data).digest('base64');
    const right = adapter('right', () => ({ size: data.length, body: trickle(data, 0), crossOrigin: false }), {
      checksum: { algorithm: 'sha512', value: sha512, encoding: 'base64' },
    });
    assert.deepEqual(await cache.fetchBody(right), data);
    assert.equal(right.commits[0]?.digest, digest, 'committed under the SHA-256 it learned');
    assert.ok(await store.findLinkedBlob(repositoryId, digest));
  });

  it('refuses a body that does not match the digest known in advance', async () => {
    const data = randomBytes(64 * 1024);
    const f = adapter('known', () => ({ size: data.length, body: trickle(data, 0), crossOrigin: false }), { digest: sha256(Buffer.from('other')) });
    await assert.rejects(cache.fetchBody(f), /does not match/);
    assert.equal(f.commits.length, 0);
  });

  it('finishes the cache write when the client that started the fetch goes away', async () => {
    const data = randomBytes(2 * 1024 * 1024);
    let done!: (blob: BlobRecord) => void;
    const committed = new Promise<BlobRecord>((resolve) => (done = resolve));
    const f = adapter('gone', () => ({ size: data.length, body: trickle(data, 1), crossOrigin: false }), {
      streams: () => true,
      streamed: (stream) => {
        // The client reads one chunk and hangs up.
        stream.once('data', () => stream.destroy());
        return Buffer.alloc(0);
      },
      onCommitted: async (blob) => done(blob),
    });
    assert.deepEqual(await cache.fetchBody(f), Buffer.alloc(0));
    const blob = await committed;
    assert.equal(blob.digest, sha256(data));
    const { stream } = await blobs.open({ rootSpaceId: root.id, repositoryId }, blob.digest);
    assert.deepEqual(await readAll(stream), data, 'the whole body was cached');
  });
});
