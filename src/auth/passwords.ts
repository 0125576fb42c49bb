/**
 * Password hashing with argon2id (`@node-rs/argon2`: the Rust argon2 crate behind N-API, one
 * prebuilt binary per platform as an optional dependency; the `argon2` package's prebuilt
 * linux-x64 binary crashed Node 20 here). Runs only at login, token issue and user changes,
 * never per request: the hot paths use the caches in `authenticator.ts`.
 *
 * Parameters: 64 MiB, 3 passes, 4 lanes, above OWASP's minimum; they are stored in each PHC
 * string, so raising them later keeps old hashes valid.
 */
import { hash, verify } from '@node-rs/argon2';
import { PalletError } from '../base/errors.js';

export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 1024;

export async function hashPassword(password: string): Promise<string> {
  // 2 is Algorithm.Argon2id (a const enum, which isolated modules cannot import).
  return hash(password, { algorithm: 2, memoryCost: 65_536, timeCost: 3, parallelism: 4 });
}

/** False for a wrong password or a malformed hash; never throws for either. */
export async function verifyPassword(storedHash: string, password: string): Promise<boolean> {
  try {
    return await verify(storedHash, password);
  } catch {
    return false;
  }
}

/** INVALID_ARGUMENT unless 8 to 1024 characters. The message never repeats the password. */
export function checkPassword(value: unknown, field = 'password'): string {
  if (typeof value !== 'string') throw new PalletError('INVALID_ARGUMENT', `${field} must be a string`, { field });
  if (value.length < MIN_PASSWORD_LENGTH || value.length > MAX_PASSWORD_LENGTH) {
    throw new PalletError('INVALID_ARGUMENT', `${field} must be ${MIN_PASSWORD_LENGTH} to ${MAX_PASSWORD_LENGTH} characters long`, { field });
  }
  return value;
}
