/**
 * The error table of the npm registry API: every domain error code mapped once to an HTTP
 * status. Bodies are npm's `{"error": "<message>"}`, which the npm CLI prints.
 */
import type { FastifyReply } from 'fastify';
import type { ErrorCode } from '../../base/errors.js';
import { retryAfterSeconds } from '../../base/retry.js';
import { PKG_STATUS } from '../../http/pkg-errors.js';

/** The shared `/pkg` status table (`http/pkg-errors.ts`). */
export const NPM_STATUS: Readonly<Record<ErrorCode, number>> = PKG_STATUS;

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
