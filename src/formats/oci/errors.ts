/**
 * The OCI error table: every domain error code mapped once to the distribution-spec code and
 * HTTP status a client sees. Handlers never choose a status for an error.
 */
import type { FastifyReply } from 'fastify';
import type { ErrorCode } from '../../base/errors.js';
import { retryAfterSeconds } from '../../base/retry.js';

export const OCI_ERRORS: Record<ErrorCode, { status: number; code: string }> = {
  BLOB_UNKNOWN: { status: 404, code: 'BLOB_UNKNOWN' },
  BLOB_UPLOAD_INVALID: { status: 400, code: 'BLOB_UPLOAD_INVALID' },
  BLOB_UPLOAD_UNKNOWN: { status: 404, code: 'BLOB_UPLOAD_UNKNOWN' },
  DIGEST_INVALID: { status: 400, code: 'DIGEST_INVALID' },
  MANIFEST_BLOB_UNKNOWN: { status: 400, code: 'MANIFEST_BLOB_UNKNOWN' },
  MANIFEST_INVALID: { status: 400, code: 'MANIFEST_INVALID' },
  MANIFEST_UNKNOWN: { status: 404, code: 'MANIFEST_UNKNOWN' },
  NAME_INVALID: { status: 400, code: 'NAME_INVALID' },
  NAME_UNKNOWN: { status: 404, code: 'NAME_UNKNOWN' },
  SIZE_INVALID: { status: 400, code: 'SIZE_INVALID' },
  UNAUTHORIZED: { status: 401, code: 'UNAUTHORIZED' },
  DENIED: { status: 403, code: 'DENIED' },
  UNSUPPORTED: { status: 405, code: 'UNSUPPORTED' },
  TOOMANYREQUESTS: { status: 429, code: 'TOOMANYREQUESTS' },
  RANGE_INVALID: { status: 416, code: 'RANGE_INVALID' },
  NOT_FOUND: { status: 404, code: 'NAME_UNKNOWN' },
  ALREADY_EXISTS: { status: 409, code: 'DENIED' },
  CONFLICT: { status: 409, code: 'DENIED' },
  INVALID_NAME: { status: 400, code: 'NAME_INVALID' },
  INVALID_ARGUMENT: { status: 400, code: 'UNSUPPORTED' },
  TOO_LARGE: { status: 413, code: 'SIZE_INVALID' },
  UNAVAILABLE: { status: 503, code: 'UNAVAILABLE' },
  // The spec has no code for a full disk; clients retry UNAVAILABLE, and 507 tells them why.
  INSUFFICIENT_STORAGE: { status: 507, code: 'UNAVAILABLE' },
};

/** Sends the error body; a 503 also says when to retry (`Retry-After`). */
export function sendOciError(reply: FastifyReply, code: ErrorCode, message: string, detail?: unknown): FastifyReply {
  const entry = OCI_ERRORS[code];
  // An upstream's rate limit is passed on with its Retry-After, so clients wait as long.
  const retryAfter = (detail as { retryAfter?: unknown } | null | undefined)?.retryAfter;
  if (code === 'TOOMANYREQUESTS' && typeof retryAfter === 'number') reply.header('Retry-After', String(retryAfter));
  if (entry.status === 503) reply.header('Retry-After', String(retryAfterSeconds(detail)));
  return reply
    .code(entry.status)
    .header('Content-Type', 'application/json')
    .send({ errors: [{ code: entry.code, message, detail: detail ?? null }] });
}
