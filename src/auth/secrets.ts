/**
 * Random secrets and their stored form: high-entropy tokens (access tokens, session ids, CSRF
 * tokens) are stored as hex SHA-256 only, which is enough for 256-bit random values and keeps
 * their check to one fast hash; passwords, which are guessable, use the KDF in `passwords.ts`.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Prefix of access tokens: lets a client, a log scrubber and the server recognise one. */
export const ACCESS_TOKEN_PREFIX = 'pallet_';

/** 32 random bytes, base64url, with an optional prefix. */
export function randomSecret(prefix = ''): string {
  return `${prefix}${randomBytes(32).toString('base64url')}`;
}

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** Constant-time comparison of two strings (false when lengths differ). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
