/**
 * Filling a proxy's cache from one upstream body: the body is teed (`tee.ts`) into the cache
 * writer and, optionally, the client whose miss started the fetch, under limits that keep a
 * hostile or broken upstream from costing more than a bounded amount of disk and time:
 *   - size: at most `maxBytes` (a larger Content-Length is refused before reading: `tooLarge`);
 *   - rate: at least `minBytesPerSecond` over every `windowMs` spent waiting for the upstream;
 *   - quota: the registry's and spaces' quotas are reserved as the bytes arrive (not only at the
 *     commit), so a proxy's cache cannot outgrow them; the reservations are dropped once the
 *     body has ended (the commit then reserves the blob's size itself);
 *   - interest: once nobody reads or waits for the fetch and it is older than the wait limit
 *     (`Flight.abandoned`), it stops.
 * A limit that trips stops the upstream, fails the client's stream, caches nothing, and lands
 * the flight with an error that names the setting. The outcome is counted and logged here.
 */
import type { Readable } from 'node:stream';
import { isPalletError, PalletError } from '../../base/errors.js';
import type { BlobRecord } from '../../metadata/store.js';
import type { QuotaGate } from '../../registry/quotas.js';
import { message, tooLarge, upstreamErrorReason } from './errors.js';
import type { Flight } from './flights.js';
import type { MetricLabels, UpstreamMetrics } from './metrics.js';
import { BlobTee } from './tee.js';
import type { UpstreamLog } from './upstreams.js';

/** Quota is reserved in steps of at least this many bytes (and at least 1/8 of what is held). */
const QUOTA_STEP = 1024 * 1024;

export interface FillLimits {
  /** Largest body; 0: none. */
  maxBytes: number;
  /** Slowest rate kept over each window; 0: none. */
  minBytesPerSecond: number;
  /** The rate window, and how long a client branch may stall. */
  windowMs: number;
}

export interface FillDeps {
  metrics: UpstreamMetrics;
  quotas?: QuotaGate;
}

export interface FillRequest {
  /** The proxy the body comes from (log and metric labels). */
  upstream: MetricLabels;
  log: UpstreamLog;
  flight: Flight;
  body: Readable;
  /** Whether to stream to the client that started the fetch (else it waits on the flight). */
  client: boolean;
  what: string;
  /** The repository the bytes are cached under (quota is reserved against it). */
  repositoryId: string;
  /** The digest, when known up front (a quota reservation for a linked digest is free). */
  digest: string | undefined;
  fields: (blob?: BlobRecord) => Record<string, unknown>;
  /** Writes the cache branch and commits it; rejects when the bytes do not verify. */
  write: (cache: Readable) => Promise<BlobRecord>;
  /** The error for bytes that failed verification. */
  mismatch: (err: unknown) => PalletError;
  /** Ends the flight (after the outcome is counted and logged). */
  land: (outcome: { blob: BlobRecord } | { error: unknown }) => void;
}

export interface Fill {
  tee: BlobTee;
  writing: Promise<BlobRecord>;
  started: number;
}

/** The guard run on every upstream chunk (see the module header). */
function guard(deps: FillDeps, req: FillRequest, limits: FillLimits): { check: (bytes: number, waitedMs: number) => Promise<void>; release: () => void } {
  let total = 0;
  let windowBytes = 0;
  let windowWait = 0;
  let reserved = 0;
  const held: Array<{ release(): Promise<void> }> = [];
  const release = (): void => {
    for (const h of held.splice(0)) void h.release().catch(() => undefined);
  };
  const check = async (bytes: number, waitedMs: number): Promise<void> => {
    total += bytes;
    if (limits.maxBytes > 0 && total > limits.maxBytes) throw tooLarge(req.upstream.label, req.what, limits.maxBytes);
    if (limits.minBytesPerSecond > 0) {
      windowBytes += bytes;
      windowWait += waitedMs;
      if (windowWait >= limits.windowMs) {
        if (windowBytes * 1000 < limits.minBytesPerSecond * windowWait) {
          throw new PalletError(
            'UNAVAILABLE',
            `upstream ${req.upstream.label} sent ${windowBytes} bytes of a ${req.what} in ${windowWait} ms, slower than ${limits.minBytesPerSecond} bytes/s (upstream.minBytesPerSecond); the fetch was stopped, nothing was cached`,
            { upstream: req.upstream.label, reason: 'TOO_SLOW' },
          );
        }
        windowBytes = 0;
        windowWait = 0;
      }
    }
    if (req.flight.abandoned) {
      throw new PalletError('UNAVAILABLE', `nobody reads or waits for the ${req.what} from upstream ${req.upstream.label} any more (upstream.flightWaitMs); the fetch was stopped`, {
        upstream: req.upstream.label,
        reason: 'ABANDONED',
      });
    }
    if (deps.quotas && total - reserved >= Math.max(QUOTA_STEP, reserved / 8)) {
      // Each step reserves its own bytes: a reservation naming the digest counts once per
      // registry and digest (see QuotaStore.reserve), so the steps would not add up with it.
      // A fetch runs only for a digest the registry does not link, so nothing here is free.
      held.push(await deps.quotas.reserve(req.repositoryId, total - reserved));
      reserved = total;
    }
  };
  return { check, release };
}

/**
 * Tees `req.body` into the cache (and the client when `req.client`), under `limits`; counts
 * fetched bytes and failures, logs the outcome, and lands the flight with the committed blob or
 * the error. Bytes that fail verification become `req.mismatch(err)`; a body the upstream broke
 * off is UNAVAILABLE (the next upstream is tried), never the client's "upload invalid".
 */
export function fillCache(deps: FillDeps, req: FillRequest, limits: FillLimits): Fill {
  const { metrics } = deps;
  const { log, upstream } = req;
  const limit = guard(deps, req, limits);
  const tee = new BlobTee(req.body, {
    client: req.client,
    stallMs: Math.max(1_000, Math.floor(limits.windowMs / 2)),
    onBytes: (n) => metrics.fetched(upstream, n),
    guard: limit.check,
  });
  if (tee.client) tee.client.once('close', req.flight.hold());
  const started = Date.now();
  let broken: unknown;
  req.body.on('error', (err) => (broken ??= err));
  req.body.once('end', limit.release);
  const writing = req.write(tee.cache).catch((err: unknown) => {
    const wrong = isPalletError(err, 'DIGEST_INVALID') || isPalletError(err, 'BLOB_UPLOAD_INVALID');
    metrics.error(upstream, wrong ? 'digest-mismatch' : upstreamErrorReason(err));
    log.warn({ upstream: req.upstream.label, ...req.fields(), reason: message(err) }, `upstream: ${req.what} fetch failed; nothing was cached`);
    if (broken !== undefined && !(err instanceof PalletError)) {
      throw new PalletError('UNAVAILABLE', `upstream ${req.upstream.label} broke off the ${req.what} body (${message(broken)}); nothing was cached`, {
        upstream: req.upstream.label,
      });
    }
    if (!wrong) throw err;
    throw req.mismatch(err);
  });
  tee.settle(writing);
  tee.start();
  writing.then(
    (blob) => {
      limit.release();
      req.land({ blob });
      log.info({ upstream: req.upstream.label, ...req.fields(blob), size: blob.size, ms: Date.now() - started }, `upstream: cached a ${req.what}`);
    },
    (err: unknown) => {
      limit.release();
      req.land({ error: err });
    },
  );
  return { tee, writing, started };
}
