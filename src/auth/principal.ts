/**
 * Who is asking: the result of authentication, which the access checks read.
 * - anonymous: no credentials.
 * - user: a local user, by password (basic auth or login), access token, or web session.
 * - grant: the bearer of a JWT from the Docker token service, holding exactly the repository
 *   actions the token names (only `/v2` accepts these).
 * - system: authentication is turned off (`auth.enabled: false`): every action is allowed.
 */
import type { AccessTokenRecord, UserRecord } from '../metadata/identity-store.js';

export type OciAction = 'pull' | 'push' | 'delete';

/** One `access` entry of a token-service JWT. */
export interface RepositoryGrant {
  type: 'repository';
  name: string;
  actions: OciAction[];
}

export type Principal =
  | { kind: 'anonymous' }
  | { kind: 'user'; user: UserRecord; via: 'password' | 'token' | 'session'; token?: AccessTokenRecord }
  | {
      kind: 'grant';
      subject: string | null;
      access: RepositoryGrant[];
      /** The token grants `registry:catalog:*`: list what the subject may pull. */
      catalog: boolean;
      /** The access token the JWT was issued for, if it was: the catalog honours its limits. */
      tokenId?: string;
    }
  | { kind: 'system' };

export const ANONYMOUS: Principal = { kind: 'anonymous' };
export const SYSTEM: Principal = { kind: 'system' };

/** The username behind a principal, for audit lines; null for anonymous. */
export function actorName(principal: Principal): string | null {
  switch (principal.kind) {
    case 'user':
      return principal.user.username;
    case 'grant':
      return principal.subject;
    case 'system':
      return 'system';
    default:
      return null;
  }
}
