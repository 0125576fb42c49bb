/**
 * Blob misses of one OCI upstream proxy, over the fetch-and-cache core: link what the proxy
 * itself fetched and verified, or fetch it (one upstream GET per proxy and digest, teed into the
 * cache and, sometimes, the client: `fetch-cache/body-fetch.ts`).
 *
 * What may be linked into a proxy repository without fetching: only a blob this same proxy
 * registry already caches (fetched from its upstream and verified; whoever may pull one of its
 * repositories may pull them all). Never a blob the root space holds for another registry, and
 * never on the word of an upstream HEAD: an upstream that answers 200 to everything would
 * otherwise hand any blob whose digest is known to whoever may edit a proxy.
 *
 * Who streams: the miss that started the fetch streams from the tee only when the body is larger
 * than `SMALL_BLOB_BYTES`, of known size, asked whole, and served by the upstream's own origin;
 * otherwise it waits for the commit and reads the verified copy, so small blobs and bytes from a
 * redirected origin reach no client before they are verified.
 */
import { isPalletError, PalletError } from '../../base/errors.js';
import type { BlobRecord, MetadataStore, SpaceRecord } from '../../metadata/store.js';
import type { BlobService } from '../../registry/blobs.js';
import type { BlobRead, OpenBlobOptions } from '../../registry/pulls.js';
import type { FetchCache } from '../fetch-cache/fetch-cache.js';
import { BoundedMap } from '../fetch-cache/flights.js';
import type { Upstream, UpstreamLog } from '../fetch-cache/upstreams.js';

/** Blobs up to this size are verified before the client that started the fetch gets a byte. */
export const SMALL_BLOB_BYTES = 1024 * 1024;
/** How many (proxy, digest) → verified repository entries are remembered. */
const MAX_VERIFIED = 100_000;

export interface OciBlobDeps {
  store: MetadataStore;
  blobs: BlobService;
  cache: FetchCache;
}

export class OciBlobs {
  /** (proxy registry, digest) → a repository of that proxy that links the verified blob. */
  private readonly verified = new BoundedMap<string>(MAX_VERIFIED);

  constructor(private readonly deps: OciBlobDeps) {}

  /**
   * The repository of `name` in the proxy when it links the blob, after linking it there from
   * another repository of the same proxy that cached it; undefined otherwise.
   */
  async linkVerified(proxy: Upstream, name: string, digest: string): Promise<{ repositoryId: string; blob: BlobRecord } | undefined> {
    const { store, cache } = this.deps;
    const repo = await store.findRepository(proxy.registry.id, name);
    const own = repo && (await store.findLinkedBlob(repo.id, digest));
    if (repo && own) {
      cache.metrics.hit(proxy, 'blob');
      return { repositoryId: repo.id, blob: own };
    }
    const key = `${proxy.registry.id}\0${digest}`;
    const from = this.verified.get(key);
    const source = from ? await store.findLinkedBlob(from, digest) : undefined;
    // Only bytes verified against the digest are linked anew.
    if (!source?.verified) {
      this.verified.delete(key);
      return undefined;
    }
    const target = repo ?? (await store.ensureRepository(proxy.registry.id, name));
    let blob: BlobRecord;
    try {
      blob = await store.commitBlob(proxy.root.id, target.id, digest, source.size, { verified: true });
    } catch (err) {
      // Being swept by GC (its row is claimed): fetch it again instead, as an upload would.
      if (isPalletError(err, 'UNAVAILABLE')) return undefined;
      throw err;
    }
    cache.metrics.hit(proxy, 'blob');
    return { repositoryId: target.id, blob };
  }

  async readCached(root: SpaceRecord, repositoryId: string, digest: string, options: OpenBlobOptions): Promise<BlobRead> {
    const loc = { rootSpaceId: root.id, repositoryId };
    const blob = await this.deps.blobs.stat(loc, digest);
    const range = options.range?.(blob.size);
    const { stream } = await this.deps.blobs.open(loc, digest, range, options.signal);
    return { blob, range, stream };
  }

  blobUnknown(proxy: Upstream, name: string, digest: string): PalletError {
    return new PalletError('BLOB_UNKNOWN', `blob unknown to registry: ${name}@${digest} is not in upstream proxy ${proxy.label}`, { digest });
  }

  /** The blob's record from the proxy (its cache, else the upstream's HEAD: never linked). */
  async stat(proxy: Upstream, name: string, digest: string): Promise<BlobRecord> {
    const existing = await this.linkVerified(proxy, name, digest);
    if (existing) return existing.blob;
    const { cache } = this.deps;
    const key = `${name}\0${digest}`;
    if (cache.isNotFound(proxy, key)) throw this.blobUnknown(proxy, name, digest);
    const head = await proxy.client.headBlob(name, digest);
    if (!head) {
      cache.rememberNotFound(proxy, key);
      throw this.blobUnknown(proxy, name, digest);
    }
    if (head.size === undefined) {
      throw new PalletError('UNAVAILABLE', `upstream ${proxy.label} did not give the size of ${digest}`, { upstream: proxy.label });
    }
    return { digest, size: head.size, createdAt: Date.now(), verified: false };
  }

  /** A blob miss on one proxy (see the module header for who streams and who waits). */
  async fetch(proxy: Upstream, name: string, digest: string, options: OpenBlobOptions, log: UpstreamLog): Promise<BlobRead> {
    const verifiedKey = `${proxy.registry.id}\0${digest}`;
    const found = await this.deps.cache.fetchBody<BlobRead>({
      upstream: proxy,
      log,
      what: 'blob',
      kind: 'blob',
      subject: digest,
      fields: { name },
      flightKey: digest,
      notFoundKey: `${name}\0${digest}`,
      signal: options.signal,
      digest,
      retryAfter: (err) => isPalletError(err, 'BLOB_UNKNOWN'),
      findCached: async () => {
        const linked = await this.linkVerified(proxy, name, digest);
        return linked && this.readCached(proxy.root, linked.repositoryId, digest, options);
      },
      get: () => proxy.client.getBlob(name, digest),
      repository: async () => (await this.deps.store.ensureRepository(proxy.registry.id, name)).id,
      streams: (res) => {
        const size = res.size;
        // A bad range fails this request only (thrown); the fetch still fills the cache.
        const ranged = size !== undefined && options.range?.(size) !== undefined;
        return !ranged && !res.crossOrigin && size !== undefined && size > SMALL_BLOB_BYTES;
      },
      onCommitted: async (_blob, repositoryId) => {
        this.verified.set(verifiedKey, repositoryId);
      },
      streamed: (stream, res, startedAt) => ({ blob: { digest, size: res.size ?? 0, createdAt: startedAt, verified: false }, range: undefined, stream }),
      committed: (repositoryId) => this.readCached(proxy.root, repositoryId, digest, options),
    });
    if (!found) throw this.blobUnknown(proxy, name, digest);
    return found;
  }
}
