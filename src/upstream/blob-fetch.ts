/**
 * Blob and file misses of one upstream proxy: wait for a fetch of the same content already
 * running on that proxy, link what the proxy itself fetched and verified, or fetch it (one
 * upstream GET teed into the cache and, sometimes, the client: `cache-fill.ts`).
 *
 * What may be linked into a proxy repository without fetching: only a blob this same proxy
 * registry already caches (fetched from its upstream and verified; whoever may pull one of its
 * repositories may pull them all). Never a blob the root space holds for another registry, and
 * never on the word of an upstream HEAD: an upstream that answers 200 to everything would
 * otherwise hand any blob whose digest is known to whoever may edit a proxy.
 *
 * Single flight: concurrent misses of one digest on one proxy share one GET (key: proxy
 * registry + digest, so a slow upstream delays nobody on another proxy). The miss that started
 * it streams from the tee — only when the body is larger than `SMALL_BLOB_BYTES`, of known
 * size, asked whole, and served by the upstream's own origin; otherwise it waits for the commit
 * and reads the verified copy, so small blobs and bytes from a redirected origin reach no
 * client before they are verified. Waiters wait at most `flightWaitMs`, then fail UNAVAILABLE
 * (the next upstream in the list is tried).
 */
import { Transform, type Readable } from 'node:stream';
import { Hasher } from '../base/digest.js';
import { isPalletError, PalletError } from '../base/errors.js';
import type { BlobRecord, MetadataStore, RegistryRecord, SpaceRecord } from '../metadata/store.js';
import type { BlobService } from '../registry/blobs.js';
import type { BlobRead, OpenBlobOptions } from '../registry/pulls.js';
import type { QuotaGate } from '../registry/quotas.js';
import type { UpstreamConfig } from '../registry/upstream-config.js';
import { fillCache, tooLarge, type FillLimits, type FillLog } from './cache-fill.js';
import type { RegistryClient } from './client.js';
import { BoundedMap, WaitExpired, type ExpiringSet, type Flight, Flights } from './flights.js';
import type { UpstreamMetrics } from './metrics.js';

/** Blobs up to this size are verified before the client that started the fetch gets a byte. */
export const SMALL_BLOB_BYTES = 1024 * 1024;
/** How many (proxy, digest) → verified repository entries are remembered. */
const MAX_VERIFIED = 100_000;

/** One proxy as a pull sees it. */
export interface Proxy {
  root: SpaceRecord;
  registry: RegistryRecord;
  config: UpstreamConfig;
  client: RegistryClient;
  /** `<root>/<identifier>`, for logs and metric labels. */
  label: string;
}

/**
 * A file that is not an OCI blob, fetched by URL into a proxy's cache with the blob rules
 * (a classic Helm repository's chart archive): one tee, one fetch per digest (per URL when the
 * digest is not known up front), verified before it is committed.
 */
export interface FileFetch {
  root: SpaceRecord;
  /** The upstream proxy the file is cached under. */
  registry: RegistryRecord;
  /** The proxy repository that links the cached file. */
  name: string;
  url: string;
  /** `sha256:…` the file must hash to; undefined: computed while streaming and stored. */
  digest: string | undefined;
  /** Runs once the file is committed, before concurrent waiters are released. */
  onCached(blob: BlobRecord, repositoryId: string): Promise<void>;
  /** The cached copy, asked again after waiting for a concurrent fetch. */
  findCached(): Promise<FileRead | undefined>;
}

export interface FileRead {
  stream: Readable;
  size: number | undefined;
  digest: string | undefined;
}

export interface BlobFetchDeps {
  store: MetadataStore;
  blobs: BlobService;
  metrics: UpstreamMetrics;
  log: FillLog;
  quotas?: QuotaGate;
  /** Upstream 404s, shared with the manifest path. */
  notFound: ExpiringSet;
  reason(err: unknown): string;
}

export interface BlobFetchOptions {
  notFoundTtlMs: number;
  /** Longest wait for another pull's fetch; also when a fetch nobody holds stops. */
  flightWaitMs: number;
  limits: FillLimits;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class BlobFetcher {
  private readonly flights: Flights;
  /** (proxy registry, digest) → a repository of that proxy that links the verified blob. */
  private readonly verified = new BoundedMap<string>(MAX_VERIFIED);

  constructor(
    private readonly deps: BlobFetchDeps,
    private readonly options: BlobFetchOptions,
  ) {
    this.flights = new Flights(options.flightWaitMs);
  }

  /**
   * The repository of `name` in the proxy when it links the blob, after linking it there from
   * another repository of the same proxy that cached it; undefined otherwise.
   */
  async linkVerified(proxy: Proxy, name: string, digest: string): Promise<{ repositoryId: string; blob: BlobRecord } | undefined> {
    const { store, metrics } = this.deps;
    const repo = await store.findRepository(proxy.registry.id, name);
    const own = repo && (await store.findLinkedBlob(repo.id, digest));
    if (repo && own) {
      metrics.hit(proxy.label, 'blob');
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
    metrics.hit(proxy.label, 'blob');
    return { repositoryId: target.id, blob };
  }

  async readCached(root: SpaceRecord, repositoryId: string, digest: string, options: OpenBlobOptions): Promise<BlobRead> {
    const loc = { rootSpaceId: root.id, repositoryId };
    const blob = await this.deps.blobs.stat(loc, digest);
    const range = options.range?.(blob.size);
    const { stream } = await this.deps.blobs.open(loc, digest, range, options.signal);
    return { blob, range, stream };
  }

  blobUnknown(proxy: Proxy, name: string, digest: string): PalletError {
    return new PalletError('BLOB_UNKNOWN', `blob unknown to registry: ${name}@${digest} is not in upstream proxy ${proxy.label}`, { digest });
  }

  /** A blob miss on one proxy (see the module header for who streams and who waits). */
  async fetchBlob(proxy: Proxy, name: string, digest: string, options: OpenBlobOptions): Promise<BlobRead> {
    const flightKey = `${proxy.registry.id}\0${digest}`;
    for (let running = this.flights.get(flightKey); running; running = this.flights.get(flightKey)) {
      await this.waitFor(running, proxy, digest, options.signal, (err) => isPalletError(err, 'BLOB_UNKNOWN'));
      const linked = await this.linkVerified(proxy, name, digest);
      if (linked) return this.readCached(proxy.root, linked.repositoryId, digest, options);
    }
    const linked = await this.linkVerified(proxy, name, digest);
    if (linked) return this.readCached(proxy.root, linked.repositoryId, digest, options);
    const negativeKey = `${proxy.registry.id}\0${name}\0${digest}`;
    if (this.deps.notFound.has(negativeKey)) throw this.blobUnknown(proxy, name, digest);
    if (this.flights.has(flightKey)) return this.fetchBlob(proxy, name, digest, options);

    // Registered before the first await below, so concurrent misses find it.
    const flight = this.flights.open(flightKey);
    const land = (err: unknown): never => {
      this.flights.land(flightKey, flight, { error: err });
      throw err;
    };
    const { metrics, notFound } = this.deps;
    let res;
    try {
      res = await proxy.client.getBlob(name, digest);
    } catch (err) {
      metrics.error(proxy.label, this.deps.reason(err));
      return land(err);
    }
    if (!res) {
      notFound.add(negativeKey, this.options.notFoundTtlMs);
      return land(this.blobUnknown(proxy, name, digest));
    }
    metrics.miss(proxy.label, 'blob');
    const size = res.size;
    const max = this.options.limits.maxBytes;
    let repositoryId: string;
    try {
      if (max > 0 && size !== undefined && size > max) throw tooLarge(proxy.label, 'blob', max, size);
      repositoryId = (await this.deps.store.ensureRepository(proxy.registry.id, name)).id;
    } catch (err) {
      res.body.destroy();
      if (isPalletError(err, 'UNAVAILABLE')) metrics.error(proxy.label, this.deps.reason(err));
      return land(err);
    }
    flight.repositoryId = repositoryId;
    // A bad range fails this request only; the fetch still fills the cache.
    let wantsRange = false;
    let rangeError: unknown;
    try {
      wantsRange = size !== undefined && options.range?.(size) !== undefined;
    } catch (err) {
      rangeError = err;
    }
    const stream = rangeError === undefined && !wantsRange && !res.crossOrigin && size !== undefined && size > SMALL_BLOB_BYTES;
    const { tee, started } = fillCache(
      this.deps,
      {
        label: proxy.label,
        flight,
        body: res.body,
        client: stream,
        what: 'blob',
        repositoryId,
        digest,
        fields: () => ({ name, digest }),
        write: (cache) => this.deps.blobs.putBlob({ rootSpaceId: proxy.root.id, repositoryId }, digest, cache, size !== undefined ? { length: size } : {}),
        mismatch: (err) =>
          new PalletError('UNAVAILABLE', `upstream ${proxy.label} served content for ${digest} that does not match it (${message(err)}); it was not cached`, {
            upstream: proxy.label,
            digest,
          }),
        land: (outcome) => {
          if ('blob' in outcome) this.verified.set(flightKey, repositoryId);
          this.flights.land(flightKey, flight, outcome);
        },
      },
      this.options.limits,
    );
    if (tee.client && size !== undefined) return { blob: { digest, size, createdAt: started, verified: false }, range: undefined, stream: tee.client };
    if (rangeError !== undefined) throw rangeError;
    await this.waitFor(flight, proxy, digest, options.signal, () => false);
    return this.readCached(proxy.root, repositoryId, digest, options);
  }

  /**
   * Waits for a flight at most `flightWaitMs`. Its failure is rethrown unless `ignore` says the
   * caller may go on (then asks again); waiting too long is UNAVAILABLE naming the setting.
   */
  private async waitFor(flight: Flight, proxy: Proxy, what: string, signal: AbortSignal | undefined, ignore: (err: unknown) => boolean): Promise<void> {
    try {
      await flight.wait(signal);
    } catch (err) {
      if (err instanceof WaitExpired) {
        this.deps.metrics.error(proxy.label, 'wait-expired');
        throw new PalletError(
          'UNAVAILABLE',
          `a fetch of ${what} from upstream ${proxy.label} has not finished within ${err.waitedMs} ms (upstream.flightWaitMs); not waiting longer`,
          { upstream: proxy.label, reason: 'WAIT_EXPIRED' },
        );
      }
      if (!ignore(err)) throw err;
    }
  }

  /**
   * Fetches a file by URL into the proxy's cache (see `FileFetch`); undefined when the upstream
   * answers 404 (remembered for `notFoundTtlMs`). The miss that starts the fetch streams from
   * the tee unless the file comes from another origin (then it waits for the verified copy);
   * concurrent misses wait for the commit and read the cache, as for blobs.
   */
  async fetchFile(proxy: Proxy, f: FileFetch): Promise<FileRead | undefined> {
    const flightKey = f.digest ? `${f.registry.id}\0${f.digest}` : `${f.registry.id}\0${f.url}`;
    for (let running = this.flights.get(flightKey); running; running = this.flights.get(flightKey)) {
      await this.waitFor(running, proxy, f.url, undefined, () => true);
      const cached = await f.findCached();
      if (cached) {
        this.deps.metrics.hit(proxy.label, 'chart');
        return cached;
      }
    }
    const negativeKey = `${f.registry.id}\0${f.url}`;
    if (this.deps.notFound.has(negativeKey)) return undefined;

    // Registered before the first await below, so concurrent misses find it.
    const flight = this.flights.open(flightKey);
    const land = (err: unknown): never => {
      this.flights.land(flightKey, flight, { error: err });
      throw err;
    };
    const { metrics } = this.deps;
    let res;
    try {
      res = await proxy.client.getFile(f.url, { stream: true });
    } catch (err) {
      metrics.error(proxy.label, this.deps.reason(err));
      return land(err);
    }
    if (!res) {
      this.deps.notFound.add(negativeKey, this.options.notFoundTtlMs);
      this.flights.land(flightKey, flight, { error: new PalletError('NOT_FOUND', `${f.url} is not on the upstream`) });
      return undefined;
    }
    metrics.miss(proxy.label, 'chart');
    const size = res.size;
    const max = this.options.limits.maxBytes;
    let repositoryId: string;
    try {
      if (max > 0 && size !== undefined && size > max) throw tooLarge(proxy.label, 'file', max, size);
      repositoryId = (await this.deps.store.ensureRepository(f.registry.id, f.name)).id;
    } catch (err) {
      res.body.destroy();
      return land(err);
    }
    flight.repositoryId = repositoryId;
    const { tee } = fillCache(
      this.deps,
      {
        label: proxy.label,
        flight,
        body: res.body,
        client: !res.crossOrigin,
        what: 'file',
        repositoryId,
        digest: f.digest,
        fields: (blob) => ({ url: f.url, digest: blob ? blob.digest : f.digest }),
        write: async (cache) => {
          const blob = await this.commitFile({ rootSpaceId: f.root.id, repositoryId }, f.digest, cache, size);
          await f.onCached(blob, repositoryId);
          return blob;
        },
        mismatch: (err) =>
          new PalletError('UNAVAILABLE', `upstream ${proxy.label} served ${f.url} with content that does not match ${f.digest ?? 'its size'} (${message(err)}); it was not cached`, {
            upstream: proxy.label,
          }),
        land: (outcome) => this.flights.land(flightKey, flight, outcome),
      },
      this.options.limits,
    );
    if (tee.client) return { stream: tee.client, size, digest: f.digest };
    await this.waitFor(flight, proxy, f.url, undefined, () => false);
    return f.findCached();
  }

  /** Commits a file under `digest`, or under the digest of its bytes when none is given. */
  private async commitFile(loc: { rootSpaceId: string; repositoryId: string }, digest: string | undefined, cache: Readable, size: number | undefined): Promise<BlobRecord> {
    const { blobs } = this.deps;
    const length = size !== undefined ? { length: size } : {};
    if (digest) return blobs.putBlob(loc, digest, cache, length);
    // No digest up front: hash while the bytes go to the upload session, then commit under it.
    const hasher = new Hasher('sha256');
    const hashing = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hasher.update(chunk);
        done(null, chunk);
      },
    });
    cache.once('error', (err) => hashing.destroy(err));
    const upload = await blobs.startUpload(loc);
    try {
      const written = await blobs.writeChunk(upload, cache.pipe(hashing), { ...length, algorithm: 'sha256' });
      return await blobs.finishUpload(loc, written, hasher.digest());
    } catch (err) {
      await blobs.cancelUpload(upload);
      throw err;
    }
  }
}
