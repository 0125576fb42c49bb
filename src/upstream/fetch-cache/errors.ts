/**
 * How the fetch-and-cache core classifies errors: which local answers mean "not here" (ask
 * the upstreams), which upstream answers mean "could not ask" (serve stale, try the next
 * upstream), the `reason` label of a failed upstream request, and the size-limit error.
 */
import { formatBytes } from '../../base/bytes.js';
import { isPalletError, PalletError, type ErrorCode } from '../../base/errors.js';
import { isEgressRefused } from '../egress.js';

/** Answers that mean "not here" (try the next place in the resolution order). */
const MISSES: readonly ErrorCode[] = ['NAME_UNKNOWN', 'MANIFEST_UNKNOWN', 'BLOB_UNKNOWN'];
/** Upstream answers that mean "could not ask" (serve stale, try the next upstream). */
const FAILURES: readonly ErrorCode[] = ['UNAVAILABLE', 'TOOMANYREQUESTS'];

export function isMiss(err: unknown): boolean {
  return err instanceof PalletError && MISSES.includes(err.code);
}

export function isFailure(err: unknown): boolean {
  return err instanceof PalletError && FAILURES.includes(err.code);
}

export function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** `detail.reason` of upstream errors → the `reason` label of their metric. */
const REASONS: Record<string, string> = {
  REDIRECT_REFUSED: 'redirect-refused',
  TOO_LARGE: 'too-large',
  TOO_SLOW: 'too-slow',
  ABANDONED: 'abandoned',
  WAIT_EXPIRED: 'wait-expired',
  DIGEST_MISMATCH: 'digest-mismatch',
};

/** The `reason` label of `pallet_upstream_errors_total` for a failed upstream request. */
export function upstreamErrorReason(err: unknown): string {
  if (isPalletError(err, 'TOOMANYREQUESTS')) return 'rate-limited';
  if (isPalletError(err, 'DENIED') && typeof err.detail?.quotaBytes === 'number') return 'quota';
  if (isPalletError(err, 'DENIED')) return 'denied';
  if (err instanceof PalletError && isEgressRefused({ code: err.detail?.reason })) return 'address-refused';
  const reason = err instanceof PalletError ? REASONS[String(err.detail?.reason)] : undefined;
  if (reason) return reason;
  return 'unavailable';
}

/** The error for a body over `maxBytes` (`size`: its Content-Length, when that says so). */
export function tooLarge(label: string, what: string, maxBytes: number, size?: number): PalletError {
  const said = size !== undefined ? `announced ${size} bytes for` : 'sent more bytes than allowed for';
  return new PalletError(
    'UNAVAILABLE',
    `upstream ${label} ${said} a ${what}; the limit is ${maxBytes} bytes (${formatBytes(maxBytes)}, upstream.maxBlobBytes); nothing was cached`,
    { upstream: label, reason: 'TOO_LARGE' },
  );
}
