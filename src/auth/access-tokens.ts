/**
 * Access tokens: per user, named, with an expiry and scopes, optionally limited to one space
 * (and its projects) or one registry. The token (`pallet_` + 32 random bytes, base64url) is
 * returned once at creation and stored only as its SHA-256.
 *
 * Hot path: `authenticate` hashes the presented token once and looks the hash up through a
 * cache of `cacheMs`, so a request costs one SHA-256 and a map lookup. A revocation through
 * this process drops the cache entry at once; other replicas stop accepting the token within
 * `cacheMs`. Last-use times are batched in memory and written every few seconds.
 */
import { PalletError } from '../base/errors.js';
import type { AccessTokenRecord, IdentityStore, UserRecord } from '../metadata/identity-store.js';
import type { MetadataStore } from '../metadata/store.js';
import { isSameOrAncestor, isTokenScope, TOKEN_SCOPES, type TokenScope } from './roles.js';
import { ACCESS_TOKEN_PREFIX, randomSecret, sha256Hex } from './secrets.js';
import { TtlCache } from './ttl-cache.js';

export const MAX_TOKEN_DAYS = 3650;
const DAY_MS = 24 * 3600 * 1000;
const LAST_USED_FLUSH_MS = 5_000;

export interface AccessTokenView {
  id: string;
  name: string;
  scopes: string[];
  /** The space the token is limited to (path), or null. */
  space: string | null;
  /** The registry the token is limited to (`root/identifier`), or null. */
  registry: string | null;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
}

export interface NewAccessTokenInput {
  name: unknown;
  expiresInDays?: unknown;
  scopes?: unknown;
  space?: unknown;
  registry?: unknown;
}

export interface Authenticated {
  user: UserRecord;
  token: AccessTokenRecord;
}

function invalid(message: string, field: string): PalletError {
  return new PalletError('INVALID_ARGUMENT', message, { field });
}

export function looksLikeAccessToken(value: string): boolean {
  return value.startsWith(ACCESS_TOKEN_PREFIX);
}

export class AccessTokenService {
  readonly #cache: TtlCache<Authenticated | null>;
  readonly #lastUsed = new Map<string, number>();
  readonly #timer: NodeJS.Timeout;

  constructor(
    private readonly identity: IdentityStore,
    private readonly metadata: MetadataStore,
    private readonly options: { cacheMs: number; defaultDays: number; onError: (err: unknown) => void },
  ) {
    this.#cache = new TtlCache(options.cacheMs);
    this.#timer = setInterval(() => void this.flush(), LAST_USED_FLUSH_MS);
    this.#timer.unref();
  }

  /**
   * Creates a token of `user`. When `creator` (the token the request authenticated with) is
   * given, the new token never exceeds it: its scopes are a subset of the creator's, its space
   * or registry lies inside the creator's limit, and it expires no later (DENIED otherwise).
   * An omitted limit is not inherited (a limited creator must name one: DENIED); an omitted
   * expiry is the default, shortened to the creator's.
   */
  async create(user: UserRecord, input: NewAccessTokenInput, creator?: AccessTokenRecord): Promise<{ view: AccessTokenView; token: string }> {
    const name = input.name;
    if (typeof name !== 'string' || name.trim().length === 0 || name.length > 100) {
      throw invalid('name must be a non-empty string of at most 100 characters', 'name');
    }
    const days = input.expiresInDays ?? this.options.defaultDays;
    if (typeof days !== 'number' || !Number.isInteger(days) || days < 1 || days > MAX_TOKEN_DAYS) {
      throw invalid(`expiresInDays must be an integer from 1 to ${MAX_TOKEN_DAYS}`, 'expiresInDays');
    }
    const scopes = input.scopes ?? ['read'];
    if (!Array.isArray(scopes) || scopes.length === 0 || !scopes.every(isTokenScope)) {
      throw invalid(`scopes must be a non-empty list of ${TOKEN_SCOPES.join(', ')}`, 'scopes');
    }
    let spaceId: string | null = null;
    let registryId: string | null = null;
    if (input.space !== undefined && input.space !== null) {
      if (typeof input.space !== 'string') throw invalid('space must be a space path', 'space');
      const space = await this.metadata.findSpace(input.space);
      if (!space) throw new PalletError('NOT_FOUND', `space "${input.space}" does not exist`, { space: input.space });
      spaceId = space.id;
    }
    if (input.registry !== undefined && input.registry !== null) {
      const [root, identifier, ...rest] = typeof input.registry === 'string' ? input.registry.split('/') : [];
      if (!root || !identifier || rest.length > 0) throw invalid('registry must be "<root>/<identifier>"', 'registry');
      const rootSpace = await this.metadata.findSpace(root);
      const registry = rootSpace && (await this.metadata.findRegistry(rootSpace.id, identifier));
      if (!registry) throw new PalletError('NOT_FOUND', `registry "${root}/${identifier}" does not exist`, { registry: `${root}/${identifier}` });
      registryId = registry.id;
    }
    let expiresAt = Date.now() + days * DAY_MS;
    if (creator) {
      if (input.expiresInDays === undefined && creator.expiresAt !== null) expiresAt = Math.min(expiresAt, creator.expiresAt);
      await this.#checkWithin(creator, { scopes: scopes as string[], spaceId, registryId, expiresAt });
    }
    const token = randomSecret(ACCESS_TOKEN_PREFIX);
    const record = await this.identity.createAccessToken({
      userId: user.id,
      name: name.trim(),
      tokenHash: sha256Hex(token),
      scopes: [...new Set(scopes as TokenScope[])].sort((a, b) => TOKEN_SCOPES.indexOf(a) - TOKEN_SCOPES.indexOf(b)),
      spaceId,
      registryId,
      expiresAt,
    });
    return { view: await this.#view(record), token };
  }

  /** DENIED unless `inner` (scopes, limit, expiry) lies within what `outer` allows. */
  async #checkWithin(outer: AccessTokenRecord, inner: Pick<AccessTokenRecord, 'scopes' | 'spaceId' | 'registryId' | 'expiresAt'>): Promise<void> {
    const wider = inner.scopes.filter((s) => !outer.scopes.includes(s));
    if (wider.length > 0) {
      throw new PalletError('DENIED', `a token cannot grant scopes it does not hold: ${wider.join(', ')}`, { field: 'scopes' });
    }
    if (outer.expiresAt !== null && (inner.expiresAt === null || inner.expiresAt > outer.expiresAt)) {
      throw new PalletError('DENIED', 'a token cannot create a token that outlives it', { field: 'expiresInDays' });
    }
    if (outer.registryId !== null && inner.registryId !== outer.registryId) {
      throw new PalletError('DENIED', 'a token limited to a registry can only create tokens limited to that registry', { field: 'registry' });
    }
    if (outer.spaceId !== null) {
      const limit = await this.#spacePath(outer.spaceId);
      const inside = inner.registryId !== null ? await this.#registrySpacePath(inner.registryId) : inner.spaceId !== null ? await this.#spacePath(inner.spaceId) : undefined;
      if (limit === undefined || inside === undefined || !isSameOrAncestor(limit, inside)) {
        throw new PalletError('DENIED', 'a token limited to a space can only create tokens limited to that space, its projects or their registries', { field: 'space' });
      }
    }
  }

  async #spacePath(id: string): Promise<string | undefined> {
    return (await this.metadata.findSpaceById(id))?.path;
  }

  async #registrySpacePath(id: string): Promise<string | undefined> {
    const registry = await this.metadata.findRegistryById(id);
    return registry ? this.#spacePath(registry.spaceId) : undefined;
  }

  async list(user: UserRecord): Promise<AccessTokenView[]> {
    const records = await this.identity.listAccessTokens(user.id);
    return Promise.all(records.map((r) => this.#view(r)));
  }

  /**
   * Revokes one of the user's tokens; NOT_FOUND when the user has none with this id. Through a
   * token (`by`), only that token itself or one within its limits (DENIED otherwise).
   */
  async revoke(user: UserRecord, id: string, by?: AccessTokenRecord): Promise<void> {
    if (by && by.id !== id) {
      const target = (await this.identity.listAccessTokens(user.id)).find((t) => t.id === id);
      if (target) await this.#checkWithin(by, target);
    }
    if (!(await this.identity.deleteAccessToken(user.id, id))) {
      throw new PalletError('NOT_FOUND', `access token ${id} does not exist`, { id });
    }
    this.#cache.deleteWhere((v) => v?.token.id === id);
  }

  /**
   * The token's user and record when the token exists, has not expired and its user is
   * enabled; undefined otherwise. Records the use.
   */
  async authenticate(token: string, now = Date.now()): Promise<Authenticated | undefined> {
    const hash = sha256Hex(token);
    let found = this.#cache.get(hash, now);
    if (found === undefined) {
      const record = await this.identity.findAccessTokenByHash(hash);
      const user = record && (await this.identity.findUserById(record.userId));
      found = record && user ? { user, token: record } : null;
      this.#cache.set(hash, found, undefined, now);
    }
    if (!found || found.user.disabled) return undefined;
    if (found.token.expiresAt !== null && found.token.expiresAt <= now) return undefined;
    this.#lastUsed.set(found.token.id, now);
    return found;
  }

  /** Drops cached lookups of a user's tokens (after the user changed). */
  forgetUser(userId: string): void {
    this.#cache.deleteWhere((v) => v?.user.id === userId);
  }

  async flush(): Promise<void> {
    if (this.#lastUsed.size === 0) return;
    const uses = [...this.#lastUsed];
    this.#lastUsed.clear();
    try {
      await this.identity.touchAccessTokens(uses);
    } catch (err) {
      this.options.onError(err);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }

  async #view(r: AccessTokenRecord): Promise<AccessTokenView> {
    let space: string | null = null;
    let registry: string | null = null;
    if (r.spaceId !== null) space = (await this.metadata.findSpaceById(r.spaceId))?.path ?? null;
    if (r.registryId !== null) {
      const reg = await this.metadata.findRegistryById(r.registryId);
      const root = reg && (await this.metadata.findSpaceById(reg.rootSpaceId));
      registry = reg && root ? `${root.path}/${reg.identifier}` : null;
    }
    return {
      id: r.id,
      name: r.name,
      scopes: r.scopes,
      space,
      registry,
      createdAt: new Date(r.createdAt).toISOString(),
      expiresAt: r.expiresAt === null ? null : new Date(r.expiresAt).toISOString(),
      lastUsedAt: r.lastUsedAt === null ? null : new Date(r.lastUsedAt).toISOString(),
    };
  }
}
