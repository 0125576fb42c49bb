/**
 * The error table of generic files: every domain error code mapped once to an HTTP status.
 * Bodies are `{"error": "<message>"}` (curl and wget show the status; scripts read the body).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isPalletError, type ErrorCode } from '../../base/errors.js';
import { retryAfterSeconds } from '../../base/retry.js';

export const GENERIC_STATUS: Record<ErrorCode, number> = {
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

/** The scope's error handler: the table above; a 5xx is logged; anything untyped is a 500. */
export function genericErrorHandler(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  reply.header('Content-Type', 'application/json');
  if (isPalletError(err)) {
    const status = GENERIC_STATUS[err.code];
    if (status >= 500) request.log.error({ err }, 'request failed');
    if (status === 503) reply.header('Retry-After', String(retryAfterSeconds(err.detail)));
    return reply.code(status).send({ error: err.message });
  }
  const status = (err as { statusCode?: number }).statusCode;
  if (status && status >= 400 && status < 500) return reply.code(status).send({ error: (err as Error).message });
  request.log.error({ err }, 'request failed');
  return reply.code(500).send({ error: 'internal error' });
}
