/**
 * Turns presented credentials into a principal: a username and password (HTTP basic on `/v2`
 * and the REST API, the token service, the login form), or an access token (as the basic
 * password, or as `Authorization: Bearer` on the REST API).
 *
 * Hot path: a password is checked with the KDF once; the verified pair is then remembered for
 * `cacheMs` under a SHA-256 of username and password (never the password itself), so repeated
 * basic-auth requests cost one hash and a map lookup; concurrent misses share one KDF run, and
 * an expired entry is re-checked in the background against the stored hash (see `basic`).
 * Access tokens go through the cached
 * lookup of `access-tokens.ts`.
 *
 * Failures: every failed attempt is written to the audit log and counted by the throttle
 * (`login-throttle.ts`): a (username, address) pair that keeps failing waits before its next
 * password check, and failing answers are delayed; nothing is ever refused for others'
 * failures, a correct password is accepted, and a valid access token is never delayed.
 * Messages never say whether the user exists and never repeat what was presented.
 */
import { PalletError } from '../base/errors.js';
import type { UserRecord } from '../metadata/identity-store.js';
import type { AccessTokenService } from './access-tokens.js';
import { looksLikeAccessToken } from './access-tokens.js';
import type { AuditLog } from './audit.js';
import type { Principal } from './principal.js';
import type { LoginThrottle } from './login-throttle.js';
import { sha256Hex } from './secrets.js';
import { TtlCache } from './ttl-cache.js';
import type { UserService } from './users.js';

type UserPrincipal = Extract<Principal, { kind: 'user' }>;

export interface AuthenticatorDeps {
  users: UserService;
  tokens: AccessTokenService;
  throttle: LoginThrottle;
  audit: AuditLog;
  cacheMs: number;
}

const INVALID = 'invalid username or password';
/** How many cache periods a verified pair may be served while it is re-checked in the background. */
const STALE_FACTOR = 12;

export class Authenticator {
  /** Verified basic credentials by SHA-256 of user and password; kept stale for a while (see basic). */
  readonly #verified: TtlCache<{ user: UserRecord; verifiedAt: number }>;
  readonly #pending = new Map<string, Promise<UserRecord>>();

  constructor(private readonly deps: AuthenticatorDeps) {
    this.#verified = new TtlCache(deps.cacheMs * STALE_FACTOR);
  }

  /** Drops cached verifications of a user (after it changed). */
  forgetUser(userId: string): void {
    this.#verified.deleteWhere((v) => v.user.id === userId);
  }

  /**
   * Basic credentials: the password may be the user's password or one of the user's access
   * tokens. UNAUTHORIZED when wrong; TOOMANYREQUESTS only when a throttled attempt finds too
   * many others waiting (see `login-throttle.ts`). Verified pairs skip the throttle.
   */
  async basic(username: string, password: string, address: string): Promise<UserPrincipal> {
    if (looksLikeAccessToken(password)) return this.accessToken(password, address, username);
    const key = sha256Hex(`${username}\u0000${password}`);
    const now = Date.now();
    const cached = this.#verified.get(key, now);
    if (cached) {
      // Past `cacheMs` the pair is checked again in the background while this request goes
      // on: is the stored hash still the one the password was verified against (one read, no
      // KDF)? A password changed or a user disabled elsewhere stops working at most `cacheMs`
      // plus that read after the change.
      if (now - cached.verifiedAt >= this.deps.cacheMs) this.#revalidate(key, cached.user);
      return { kind: 'user', user: cached.user, via: 'password' };
    }
    // Single flight: requests arriving together with the same credentials (a client's parallel
    // connections) share one KDF run.
    let pending = this.#pending.get(key);
    if (!pending) {
      pending = this.#checkPassword(username, password, address, 'basic').finally(() => this.#pending.delete(key));
      this.#pending.set(key, pending);
    }
    const user = await pending;
    this.#verified.set(key, { user, verifiedAt: Date.now() });
    return { kind: 'user', user, via: 'password' };
  }

  #revalidate(key: string, verified: UserRecord): void {
    if (this.#pending.has(key)) return;
    const check = this.deps.users.stillValid(verified).then((user) => {
      if (user) {
        this.#verified.set(key, { user, verifiedAt: Date.now() });
        return user;
      }
      this.#verified.delete(key);
      throw new PalletError('UNAUTHORIZED', INVALID);
    });
    const settled = check.finally(() => this.#pending.delete(key));
    settled.catch(() => undefined);
    this.#pending.set(key, settled);
  }

  /** A login (UI or token service): always runs the KDF, records the login time. */
  async login(username: string, password: string, address: string): Promise<UserRecord> {
    const user = await this.#checkPassword(username, password, address, 'login');
    await this.deps.users.recordLogin(user);
    return user;
  }

  /**
   * Checks that `password` is the user's current password (before a password change): a
   * failure counts like a failed login. DENIED when it is not.
   */
  async confirmPassword(user: UserRecord, password: string, address: string): Promise<void> {
    try {
      const checked = await this.#checkPassword(user.username, password, address, 'password-change');
      if (checked.id === user.id) return;
    } catch (err) {
      if (!(err instanceof PalletError && err.code === 'UNAUTHORIZED')) throw err;
    }
    throw new PalletError('DENIED', 'the current password is wrong', { field: 'currentPassword' });
  }

  /** An access token, optionally presented with a username that must be its owner's. Never delayed when valid. */
  async accessToken(token: string, address: string, username?: string): Promise<UserPrincipal> {
    const found = looksLikeAccessToken(token) ? await this.deps.tokens.authenticate(token) : undefined;
    if (!found || (username !== undefined && found.user.username !== username)) {
      await this.#failed(username, address, 'token', found ? 'token of another user' : 'unknown, expired or revoked token');
      throw new PalletError('UNAUTHORIZED', username === undefined ? 'invalid access token' : INVALID);
    }
    return { kind: 'user', user: found.user, via: 'token', token: found.token };
  }

  /** Records a failed presentation that never reached a check here (a bad bearer JWT). */
  async rejected(address: string, method: string, reason: string): Promise<void> {
    await this.#failed(undefined, address, method, reason);
  }

  async #checkPassword(username: string, password: string, address: string, method: string): Promise<UserRecord> {
    // No user has one, and PostgreSQL refuses a NUL in text (the lookup, the throttle's and the audit's rows): a 500 before.
    if (username.includes('\u0000')) throw new PalletError('UNAUTHORIZED', INVALID);
    await this.#throttled(username, address, () => this.deps.throttle.beforeCheck(username, address));
    const result = await this.deps.users.checkLogin(username, password);
    if ('reason' in result) {
      await this.#failed(username, address, method, result.reason);
      throw new PalletError('UNAUTHORIZED', INVALID);
    }
    this.deps.throttle.succeed(username, address);
    return result.user;
  }

  /** Runs a throttle wait; a refusal (too many waiting) is audited, then thrown. */
  async #throttled(username: string | undefined, address: string, wait: () => Promise<void>): Promise<void> {
    try {
      await wait();
    } catch (err) {
      if (err instanceof PalletError && err.code === 'TOOMANYREQUESTS') {
        await this.deps.audit.record({ actor: username ?? null, action: 'auth.rate_limited', target: username ?? '', outcome: 'failure', address, details: {} });
      }
      throw err;
    }
  }

  async #failed(username: string | undefined, address: string, method: string, reason: string): Promise<void> {
    await this.deps.audit.record({
      actor: username ?? null,
      action: 'auth.failure',
      target: username ?? '',
      outcome: 'failure',
      address,
      details: { method, reason },
    });
    await this.#throttled(username, address, () => this.deps.throttle.afterFailure(username, address));
  }
}
