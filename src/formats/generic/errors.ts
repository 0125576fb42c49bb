/**
 * The error table of generic files: every domain error code mapped once to an HTTP status.
 * Bodies are `{"error": "<message>"}` (curl and wget show the status; scripts read the body).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isPalletError, type ErrorCode } from '../../base/errors.js';
import { retryAfterSeconds } from '../../base/retry.js';
import { PKG_STATUS } from '../../http/pkg-errors.js';

/** The shared `/pkg` status table (`http/pkg-errors.ts`). */
export const GENERIC_STATUS: Readonly<Record<ErrorCode, number>> = PKG_STATUS;

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
