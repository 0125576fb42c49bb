/**
 * The error table of the classic chart repository: every domain error code mapped once to an
 * HTTP status. Bodies are ChartMuseum's `{"error": "<message>"}`, which Helm plugins show.
 */
import type { FastifyReply } from 'fastify';
import type { ErrorCode } from '../../base/errors.js';
import { retryAfterSeconds } from '../../base/retry.js';
import { PKG_STATUS } from '../../http/pkg-errors.js';

/** The shared `/pkg` status table (`http/pkg-errors.ts`). */
export const HELM_STATUS: Readonly<Record<ErrorCode, number>> = PKG_STATUS;

/** Sends the error body; a 503 also says when to retry (`Retry-After`). */
export function sendHelmError(reply: FastifyReply, code: ErrorCode, message: string, detail?: unknown): FastifyReply {
  if (HELM_STATUS[code] === 503) reply.header('Retry-After', String(retryAfterSeconds(detail)));
  return reply.code(HELM_STATUS[code]).header('Content-Type', 'application/json').send({ error: message });
}
