/**
 * How long a client is told to wait (`Retry-After`) after a 503: the `retryAfterSeconds` that
 * the error's detail names (a database outage sets it), or a few seconds.
 */
export const DEFAULT_RETRY_AFTER_SECONDS = 5;

export function retryAfterSeconds(detail?: unknown): number {
  const value = detail !== null && typeof detail === 'object' && 'retryAfterSeconds' in detail ? detail.retryAfterSeconds : undefined;
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : DEFAULT_RETRY_AFTER_SECONDS;
}
