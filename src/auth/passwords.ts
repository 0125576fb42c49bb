/**
 * Password hashing with argon2id (the `argon2` package: N-API bindings to the reference
 * implementation, prebuilt binaries shipped in the package). Runs only at login, token issue
 * and user changes, never per request: the hot paths use the caches in `authenticator.ts`.
 *
 * Parameters: the library's argon2id defaults (64 MiB, 3 passes, 4 lanes), above OWASP's
 * minimum; they are stored in each PHC string, so raising them later keeps old hashes valid.
 */
import argon2 from 'argon2';
import { PalletError } from '../base/errors.js';

export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 1024;

export async function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, { type: argon2.argon2id });
}

/** False for a wrong password or a malformed hash; never throws for either. */
export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  try {
    return await argon2.verify(hash, password);
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
