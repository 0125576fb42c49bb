/**
 * Single byte ranges of a stored file, the way every surface that serves blobs and files answers
 * them (`/v2` blobs, `/pkg` files): `Range: bytes=a-b | a- | -n` read against the file's size,
 * RANGE_INVALID (416, with a `Content-Range` naming the size) when it is malformed or outside the
 * file, and the headers of a 200 or 206 answer. Another unit and a multi-range are ignored
 * (the whole file), as RFC 9110 has it.
 */
import type { FastifyReply } from 'fastify';
import { isPalletError, PalletError } from '../base/errors.js';
import type { ByteRange } from '../storage/driver.js';

/**
 * Parses `Range: bytes=a-b | a- | -n` against a size; undefined when absent. The end is clamped
 * to the size; a start past the end is left for the caller (`rangeWithin` refuses it).
 */
export function parseRange(header: string | undefined, size: number): ByteRange | undefined {
  if (!header) return undefined;
  const value = header.trim();
  // RFC 9110 §14.2: a range unit the server does not know MUST be ignored, and a server MAY
  // ignore a multi-range; either is the whole file (200), not a 416 claiming no part exists.
  if (!/^bytes=/i.test(value) || value.includes(',')) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/i.exec(value);
  if (!m || (m[1] === '' && m[2] === '')) throw new PalletError('RANGE_INVALID', `unsupported Range header ${JSON.stringify(header)}`, { size });
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) throw new PalletError('RANGE_INVALID', 'empty suffix range', { size });
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  return { start, end };
}

/** The range of `header` inside a file of `size` bytes; RANGE_INVALID when it is not inside. */
export function rangeWithin(header: string | undefined, size: number): ByteRange | undefined {
  const range = parseRange(header, size);
  if (range && range.start > range.end) throw new PalletError('RANGE_INVALID', `range ${header} is outside the ${size} bytes`, { size });
  return range;
}

/** Adds the `Content-Range` of a RANGE_INVALID answer (`bytes *` and the size in its detail). */
export function unsatisfiable(reply: FastifyReply, err: unknown): void {
  const size = isPalletError(err, 'RANGE_INVALID') ? err.detail?.size : undefined;
  if (typeof size === 'number') reply.header('Content-Range', `bytes */${size}`);
}

/** Status, Content-Range and Content-Length of a whole file (200) or one range of it (206). */
export function rangeHeaders(reply: FastifyReply, size: number, range: ByteRange | undefined): FastifyReply {
  reply.header('Accept-Ranges', 'bytes');
  if (!range) return reply.header('Content-Length', String(size));
  return reply
    .code(206)
    .header('Content-Range', `bytes ${range.start}-${range.end}/${size}`)
    .header('Content-Length', String(range.end - range.start + 1));
}
