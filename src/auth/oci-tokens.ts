/**
 * The Docker token service's JWTs: short-lived, ES256-signed tokens that carry exactly the
 * repository actions granted (`access` claim, as in the Docker token spec).
 *
 * The signing key is generated on first start and stored in the database (`signing_keys`), so
 * every replica signs and verifies with the same key and tokens survive restarts; its private
 * half is sealed with the server's secret box when one is given (as for upstream passwords). Verification
 * accepts only ES256 with a key of ours (by `kid`): `alg: none`, other algorithms and other
 * keys are refused, as are a wrong issuer or audience and expired tokens. Verified tokens are
 * cached (by SHA-256) for a few seconds, never past their expiry, so the hot path does no
 * signature check for repeated requests.
 */
import { randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, errors, exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type JWK } from 'jose';
import { PalletError } from '../base/errors.js';
import type { IdentityStore, SigningKeyRecord } from '../metadata/identity-store.js';
import type { OciAction, Principal, RepositoryGrant } from './principal.js';
import { sha256Hex } from './secrets.js';
import { TtlCache } from './ttl-cache.js';

export const TOKEN_ISSUER = 'pallet';
const ALGORITHM = 'ES256';
const KEY_NAME = 'oci-token';
/** Private claim: the access token a JWT was issued for. */
const TOKEN_ID_CLAIM = 'pallet_tid';
const OCI_ACTIONS: readonly OciAction[] = ['pull', 'push', 'delete'];

type Key = Awaited<ReturnType<typeof importJWK>>;

export interface IssuedToken {
  token: string;
  expiresIn: number;
  issuedAt: string;
}

type GrantPrincipal = Extract<Principal, { kind: 'grant' }>;

/** Seals secrets at rest (the server's AES-GCM box, `upstream.secretKey`); optional. */
export interface SecretSealer {
  seal(plain: string): string;
  open(stored: string): string;
  isSealed(stored: string): boolean;
}

export class OciTokenSigner {
  #signing: { kid: string; key: Key } | undefined;
  readonly #verifying = new Map<string, Key>();
  readonly #cache: TtlCache<GrantPrincipal>;

  constructor(
    private readonly store: IdentityStore,
    private readonly options: { ttlSeconds: number; cacheMs: number; secrets?: SecretSealer },
  ) {
    this.#cache = new TtlCache(options.cacheMs);
  }

  /** Loads the stored key, generating and storing one on the very first start. */
  async init(): Promise<void> {
    const { publicKey, privateKey } = await generateKeyPair(ALGORITHM, { extractable: true });
    const publicJwk = await exportJWK(publicKey);
    const candidate: SigningKeyRecord = {
      name: KEY_NAME,
      kid: await calculateJwkThumbprint(publicJwk),
      algorithm: ALGORITHM,
      privateJwk: this.#seal(JSON.stringify(await exportJWK(privateKey))),
      publicJwk: JSON.stringify(publicJwk),
      createdAt: Date.now(),
    };
    const stored = await this.store.ensureSigningKey(candidate);
    if (stored.algorithm !== ALGORITHM) throw new Error(`signing key ${stored.name} uses ${stored.algorithm}, expected ${ALGORITHM}`);
    this.#signing = { kid: stored.kid, key: await importJWK(JSON.parse(this.#open(stored.privateJwk)) as JWK, ALGORITHM) };
    for (const k of await this.store.listSigningKeys()) {
      if (k.algorithm === ALGORITHM) this.#verifying.set(k.kid, await importJWK(JSON.parse(k.publicJwk) as JWK, ALGORITHM));
    }
  }

  #seal(privateJwk: string): string {
    return this.options.secrets ? this.options.secrets.seal(privateJwk) : privateJwk;
  }

  /** The stored private JWK in the clear (keys stored before sealing existed are plain JSON). */
  #open(stored: string): string {
    const secrets = this.options.secrets;
    if (!secrets?.isSealed(stored)) return stored;
    try {
      return secrets.open(stored);
    } catch {
      throw new Error('the token signing key cannot be decrypted: it was sealed with another server key (did upstream.secretKey change, or differ between replicas?)');
    }
  }

  get ttlSeconds(): number {
    return this.options.ttlSeconds;
  }

  async issue(subject: string | null, audience: string, access: RepositoryGrant[], catalog: boolean, tokenId?: string): Promise<IssuedToken> {
    if (!this.#signing) throw new Error('OciTokenSigner.init() was not awaited');
    const now = Math.floor(Date.now() / 1000);
    const claims: Record<string, unknown> = {
      access: [...access, ...(catalog ? [{ type: 'registry', name: 'catalog', actions: ['*'] }] : [])],
      ...(tokenId !== undefined ? { [TOKEN_ID_CLAIM]: tokenId } : {}),
    };
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: ALGORITHM, kid: this.#signing.kid, typ: 'JWT' })
      .setIssuer(TOKEN_ISSUER)
      .setSubject(subject ?? '')
      .setAudience(audience)
      .setIssuedAt(now)
      .setNotBefore(now - 5)
      .setExpirationTime(now + this.options.ttlSeconds)
      .setJti(randomUUID())
      .sign(this.#signing.key);
    return { token, expiresIn: this.options.ttlSeconds, issuedAt: new Date(now * 1000).toISOString() };
  }

  /** The grant a valid token carries; UNAUTHORIZED for anything else. */
  async verify(token: string, audience: string): Promise<GrantPrincipal> {
    const cacheKey = sha256Hex(token);
    const cached = this.#cache.get(cacheKey);
    if (cached) return cached;
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(
        token,
        (header) => {
          const key = header.kid === undefined ? undefined : this.#verifying.get(header.kid);
          if (!key) throw new Error('unknown signing key');
          return key;
        },
        { algorithms: [ALGORITHM], issuer: TOKEN_ISSUER, audience },
      ));
    } catch (err) {
      // jose checks the signature before the claims: an expired token was ours. Callers do not
      // count those as failed logins (a client refreshes its token on the 401).
      if (err instanceof errors.JWTExpired) throw new PalletError('UNAUTHORIZED', 'the bearer token has expired', { expired: true });
      throw new PalletError('UNAUTHORIZED', 'invalid bearer token');
    }
    const principal = toGrant(payload);
    const exp = typeof payload.exp === 'number' ? payload.exp * 1000 : Date.now();
    this.#cache.set(cacheKey, principal, exp);
    return principal;
  }
}

function toGrant(payload: Record<string, unknown>): GrantPrincipal {
  const access: RepositoryGrant[] = [];
  let catalog = false;
  for (const entry of Array.isArray(payload.access) ? (payload.access as unknown[]) : []) {
    if (entry === null || typeof entry !== 'object') continue;
    const { type, name, actions } = entry as Record<string, unknown>;
    if (typeof name !== 'string' || !Array.isArray(actions)) continue;
    if (type === 'registry' && name === 'catalog') catalog = true;
    if (type !== 'repository') continue;
    access.push({ type, name, actions: actions.filter((a): a is OciAction => OCI_ACTIONS.includes(a as OciAction)) });
  }
  const subject = typeof payload.sub === 'string' && payload.sub !== '' ? payload.sub : null;
  const tokenId = payload[TOKEN_ID_CLAIM];
  return { kind: 'grant', subject, access, catalog, ...(typeof tokenId === 'string' ? { tokenId } : {}) };
}
