/**
 * Web sessions of the UI. A login creates a session id (the httpOnly cookie) and a CSRF token
 * bound to that session (readable by the UI, which echoes it in a header on every
 * state-changing request); both are stored only as SHA-256. A session ends at logout, at its
 * expiry (`ttlMs` after login, not extended), or when its user changes password or is disabled.
 */
import type { IdentityStore, SessionRecord, UserRecord } from '../metadata/identity-store.js';
import { randomSecret, safeEqual, sha256Hex } from './secrets.js';

export interface NewSession {
  id: string;
  csrfToken: string;
  expiresAt: number;
}

export class SessionService {
  #lastSweep = 0;

  constructor(
    private readonly store: IdentityStore,
    private readonly ttlMs: number,
  ) {}

  async create(user: UserRecord, now = Date.now()): Promise<NewSession> {
    await this.#sweep(now);
    const id = randomSecret();
    const csrfToken = randomSecret();
    const expiresAt = now + this.ttlMs;
    await this.store.createSession({ idHash: sha256Hex(id), userId: user.id, csrfHash: sha256Hex(csrfToken), createdAt: now, expiresAt });
    return { id, csrfToken, expiresAt };
  }

  /** The live session and its enabled user; undefined when unknown, expired or disabled. */
  async resolve(id: string, now = Date.now()): Promise<{ session: SessionRecord; user: UserRecord } | undefined> {
    const session = await this.store.findSession(sha256Hex(id));
    if (!session) return undefined;
    if (session.expiresAt <= now) {
      await this.store.deleteSession(session.idHash);
      return undefined;
    }
    const user = await this.store.findUserById(session.userId);
    if (!user || user.disabled) return undefined;
    return { session, user };
  }

  /** Whether `presented` is this session's CSRF token. */
  checkCsrf(session: SessionRecord, presented: string | undefined): boolean {
    return presented !== undefined && presented !== '' && safeEqual(sha256Hex(presented), session.csrfHash);
  }

  async destroy(id: string): Promise<void> {
    await this.store.deleteSession(sha256Hex(id));
  }

  /** Removes expired sessions at most once a minute. */
  async #sweep(now: number): Promise<void> {
    if (now - this.#lastSweep < 60_000) return;
    this.#lastSweep = now;
    await this.store.deleteExpiredSessions(now);
  }
}
