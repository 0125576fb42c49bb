/**
 * Encryption at rest of secrets the server keeps (upstream passwords and tokens, the OCI token
 * signing key): AES-256-GCM with a random 96-bit IV per value, sealed as
 * `enc:v1:<iv>:<tag>:<ciphertext>` (base64url parts). The key comes from the operator
 * (`upstream.secretKey`, any string: a 256-bit key is derived from it with scrypt) or is
 * generated once and kept in the database (`server_secrets`), so every replica shares it.
 *
 * A value without the `enc:v1:` prefix is a secret stored before encryption existed: `open`
 * returns it as it is, and `RegistryService.sealStoredSecrets` re-writes it sealed at startup.
 */
import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';
import { PalletError } from './errors.js';

/**
 * Encryption at rest of a stored secret. `seal` output is what a row keeps; `open` also accepts
 * a value stored before sealing existed (plain text).
 */
export interface SecretCodec {
  seal(plain: string): string;
  open(stored: string): string;
  isSealed(stored: string): boolean;
}

/** Where a generated key is kept once, so every replica shares it (`server_secrets`). */
export interface ServerSecrets {
  /** The stored value of `name`; `create()`'s value, stored, when there is none yet. */
  serverSecret(name: string, create: () => string): Promise<string>;
}

const PREFIX = 'enc:v1:';
const KEY_BYTES = 32;
const IV_BYTES = 12;
/** Name of the generated key in `server_secrets`. */
export const UPSTREAM_KEY_NAME = 'upstream.secretKey';

/** A 256-bit key from an operator-supplied string. */
export function deriveKey(secret: string): Buffer {
  return scryptSync(secret, 'pallet upstream secrets v1', KEY_BYTES);
}

/** A fresh random key, base64, for `server_secrets`. */
export function generateKey(): string {
  return randomBytes(KEY_BYTES).toString('base64');
}

/** Decodes a stored generated key. */
export function decodeKey(stored: string): Buffer {
  const key = Buffer.from(stored, 'base64');
  if (key.length !== KEY_BYTES) throw new PalletError('UNAVAILABLE', 'the stored upstream secret key is not 256 bits long');
  return key;
}

export class SecretBox implements SecretCodec {
  constructor(private readonly key: Buffer) {
    if (key.length !== KEY_BYTES) throw new Error('SecretBox needs a 256-bit key');
  }

  isSealed(value: string): boolean {
    return value.startsWith(PREFIX);
  }

  seal(plain: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return `${PREFIX}${iv.toString('base64url')}:${cipher.getAuthTag().toString('base64url')}:${data.toString('base64url')}`;
  }

  /** The plain value; UNAVAILABLE when it was sealed with another key or was tampered with. */
  open(value: string): string {
    if (!this.isSealed(value)) return value;
    const [iv, tag, data] = value.slice(PREFIX.length).split(':');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv ?? '', 'base64url'));
      decipher.setAuthTag(Buffer.from(tag ?? '', 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(data ?? '', 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new PalletError(
        'UNAVAILABLE',
        'an upstream password cannot be decrypted: it was sealed with another server key (upstream.secretKey changed?); set the password again',
      );
    }
  }
}

/** The key upstream secrets are sealed with: the configured one, else the database's (created once). */
export async function resolveUpstreamKey(configured: string, store: ServerSecrets): Promise<Buffer> {
  if (configured !== '') return deriveKey(configured);
  return decodeKey(await store.serverSecret(UPSTREAM_KEY_NAME, generateKey));
}
