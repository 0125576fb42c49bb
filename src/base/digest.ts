/**
 * Content digests (`sha256:<64 hex>`, `sha512:<128 hex>`) and one-pass hashing.
 */
import { createHash, type Hash } from 'node:crypto';
import { PalletError } from './errors.js';

export type DigestAlgorithm = 'sha256' | 'sha512';
export type Digest = string;

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
const DIGEST_RE = /^(sha256|sha512):([a-f0-9]+)$/;
/** The spec's grammar for any digest; only the algorithms above are supported. */
const ANY_DIGEST_RE = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
}

/** Parses a digest; throws DIGEST_INVALID for a malformed one or an unsupported algorithm. */
export function parseDigest(value: string): ParsedDigest {
  const m = DIGEST_RE.exec(value);
  if (m) {
    const algorithm = m[1] as DigestAlgorithm;
    const hex = m[2]!;
    if (hex.length === HEX_LENGTH[algorithm]) return { algorithm, hex };
  }
  const detail = { digest: value };
  if (ANY_DIGEST_RE.test(value) && !DIGEST_RE.test(value)) {
    throw new PalletError('DIGEST_INVALID', 'unsupported digest algorithm (sha256 and sha512 are supported)', detail);
  }
  throw new PalletError('DIGEST_INVALID', 'provided digest is malformed', detail);
}

export function isDigest(value: string): boolean {
  const m = DIGEST_RE.exec(value);
  return !!m && m[2]!.length === HEX_LENGTH[m[1] as DigestAlgorithm];
}

export function digestOf(data: Buffer, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

/** A running hash that names its algorithm. */
export class Hasher {
  private readonly hash: Hash;
  bytes = 0;
  constructor(readonly algorithm: DigestAlgorithm) {
    this.hash = createHash(algorithm);
  }
  update(chunk: Buffer): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
  }
  digest(): Digest {
    return `${this.algorithm}:${this.hash.digest('hex')}`;
  }
}
