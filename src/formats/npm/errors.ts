/**
 * The error table of the npm registry API: every domain error code mapped once to an HTTP
 * status. Bodies are npm's `{"error": "<message>"}`, which the npm CLI prints.
 */
import type { FastifyReply } from 'fastify';
import type { ErrorCode } from '../../base/errors.js';
import { retryAfterSeconds } from '../../base/retry.js';

export const NPM_STATUS: Record<ErrorCode, number> = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  TOOMANYREQUESTS: 429,
  RANGE_INVALID: 416,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  CONFLICT: 409,
  INVALID_NAME: 400,
  INVALID_ARGUMENT: 400,
  TOO_LARGE: 413,
  UNAVAILABLE: 503,
  INSUFFICIENT_STORAGE: 507,
};

/** An upstream served bytes that do not match the checksum its metadata states: a bad gateway, not "try later". */
function isUpstreamMismatch(code: ErrorCode, detail: unknown): boolean {
  return code === 'UNAVAILABLE' && detail !== null && typeof detail === 'object' && (detail as { reason?: unknown }).reason === 'DIGEST_MISMATCH';
}

/** Sends npm's error body; a 503 also says when to retry (`Retry-After`). */
export function sendNpmError(reply: FastifyReply, code: ErrorCode, message: string, detail?: unknown): FastifyReply {
  if (isUpstreamMismatch(code, detail)) return reply.code(502).header('Content-Type', 'application/json').send({ error: message });
  if (NPM_STATUS[code] === 503) reply.header('Retry-After', String(retryAfterSeconds(detail)));
  return reply.code(NPM_STATUS[code]).header('Content-Type', 'application/json').send({ error: message });
}
