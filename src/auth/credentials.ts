/**
 * Credentials → principal, for every HTTP surface (`/v2`, `/pkg/…`, `/api/v1`): the one place
 * that decides who sent a request. A surface says which kinds of credentials it takes
 * (`Accepted`); the HTTP glue (`src/http/request-auth.ts`) reads them off the request.
 *
 * In order:
 * 1. `Authorization: Basic <user:secret>`: the secret is the user's password or one of the
 *    user's access tokens (`Authenticator.basic`).
 * 2. `Authorization: Bearer <token>`: an access token; on a surface that takes the token
 *    service's JWTs (`/v2`), any other bearer is verified as one (an expired JWT of ours is
 *    routine, anything else is recorded as a failed login). A surface that takes no bearer at
 *    all (the token service itself) refuses it.
 * 3. The web session cookie, on a surface that takes sessions (`/api/v1` only): a request that
 *    changes state must echo the session's CSRF token, since a browser adds the cookie on its own.
 * 4. Nothing: anonymous. With authentication off (`auth.enabled: false`), always `SYSTEM`.
 *
 * Wrong credentials are UNAUTHORIZED (never anonymous: a client that sent a password wants to
 * know it was wrong); a missing or wrong CSRF token is DENIED. Malformed headers are UNAUTHORIZED.
 */
import { PalletError } from '../base/errors.js';
import { looksLikeAccessToken } from './access-tokens.js';
import type { Authenticator } from './authenticator.js';
import type { OciTokenSigner } from './oci-tokens.js';
import { ANONYMOUS, SYSTEM, type Principal } from './principal.js';
import type { SessionService } from './sessions.js';

export type PresentedCredentials = { type: 'basic'; username: string; password: string } | { type: 'bearer'; token: string };

/** The credentials in an `Authorization` header; undefined when absent. UNAUTHORIZED when malformed. */
export function parseAuthorization(header: string | undefined): PresentedCredentials | undefined {
  if (header === undefined || header === '') return undefined;
  const space = header.indexOf(' ');
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const value = space < 0 ? '' : header.slice(space + 1).trim();
  if (scheme === 'bearer' && value !== '') return { type: 'bearer', token: value };
  if (scheme === 'basic' && value !== '') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    // A NUL in the user name reached the database (PostgreSQL refuses it in text: a 500 for any caller).
    if (colon > 0 && !decoded.slice(0, colon).includes('\u0000')) return { type: 'basic', username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  throw new PalletError('UNAUTHORIZED', 'malformed Authorization header: expected Basic <base64 user:password> or Bearer <token>');
}

/** Which credentials a surface takes besides basic ones. */
export interface Accepted {
  /** `Authorization: Bearer` at all (default true; the token service takes basic only). */
  bearer?: boolean;
  /** The token service's JWTs, issued for this service name (`/v2` only). */
  jwtService?: string;
  /** Web sessions with CSRF protection (`/api/v1` only). */
  sessions?: boolean;
}

/** What a request presented, read off it by the surface's glue. */
export interface Presented {
  authorization: string | undefined;
  /** The session cookie's value, if any. */
  sessionId?: string | undefined;
  /** The `X-CSRF-Token` header, if any. */
  csrfToken?: string | undefined;
  /** Whether the request changes state (not GET, HEAD or OPTIONS) and is not the login itself. */
  needsCsrf?: boolean;
  /** The client address, for the throttle and the audit log. */
  address: string;
}

export const CSRF_HEADER = 'x-csrf-token';

export class CredentialResolver {
  constructor(
    private readonly deps: {
      enabled: boolean;
      authenticator: Authenticator;
      signer: OciTokenSigner;
      sessions: SessionService;
    },
  ) {}

  /** The principal behind what was presented, as the surface's `accepted` allows (see header). */
  async principal(presented: Presented, accepted: Accepted = {}): Promise<Principal> {
    if (!this.deps.enabled) return SYSTEM;
    const { authenticator } = this.deps;
    const creds = parseAuthorization(presented.authorization);
    if (creds?.type === 'basic') return authenticator.basic(creds.username, creds.password, presented.address);
    if (creds?.type === 'bearer') {
      if (accepted.bearer === false) throw new PalletError('UNAUTHORIZED', 'this endpoint takes basic credentials (a password or an access token)');
      if (accepted.jwtService === undefined || looksLikeAccessToken(creds.token)) return authenticator.accessToken(creds.token, presented.address);
      return this.#jwt(creds.token, accepted.jwtService, presented.address);
    }
    if (accepted.sessions === true && presented.sessionId) return this.#session(presented);
    return ANONYMOUS;
  }

  async #jwt(token: string, service: string, address: string): Promise<Principal> {
    try {
      return await this.deps.signer.verify(token, service);
    } catch (err) {
      // An expired token of ours is routine (long pushes); anything else counts as a failure.
      if (!(err instanceof PalletError && err.detail?.expired === true)) {
        await this.deps.authenticator.rejected(address, 'bearer', 'invalid or foreign JWT');
      }
      throw err;
    }
  }

  async #session(presented: Presented): Promise<Principal> {
    const found = await this.deps.sessions.resolve(presented.sessionId!);
    if (!found) return ANONYMOUS;
    if (presented.needsCsrf === true && !this.deps.sessions.checkCsrf(found.session, presented.csrfToken)) {
      throw new PalletError('DENIED', `missing or wrong CSRF token: send the session's token in the ${CSRF_HEADER} header`);
    }
    return { kind: 'user', user: found.user, via: 'session' };
  }
}
