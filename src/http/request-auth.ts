/**
 * The HTTP side of authentication, shared by every surface (`/v2`, `/pkg/…`, `/api/v1`): reads
 * the credentials off a request (Authorization header, session cookie, CSRF header) and hands
 * them to the one credentials module (`src/auth/credentials.ts`), which decides; the principal
 * is attached to the request. Each surface says which credentials it takes and maps a failure
 * to its own answer (challenge header, error shape).
 */
import type { FastifyRequest } from 'fastify';
import type { Auth } from '../auth/auth.js';
import { CSRF_HEADER, type Accepted } from '../auth/credentials.js';
import { ANONYMOUS, type Principal } from '../auth/principal.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is asking; set by the surface's authentication hook. */
    principal?: Principal;
  }
}

export { CSRF_HEADER };
export const SESSION_COOKIE = 'pallet_session';
export const CSRF_COOKIE = 'pallet_csrf';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Cookies of a request, by name (the first of duplicates). */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (!out.has(name)) {
      try {
        out.set(name, decodeURIComponent(part.slice(eq + 1).trim()));
      } catch {
        // A malformed escape in someone else's cookie is not ours to refuse.
      }
    }
  }
  return out;
}

/**
 * Who sent the request, as the surface's `accepted` credentials allow. `csrfExempt`: the
 * request creates the session (the login), so it has no CSRF token to echo yet.
 */
export async function authenticateRequest(request: FastifyRequest, auth: Auth, accepted: Accepted, csrfExempt = false): Promise<Principal> {
  const sessionId = accepted.sessions === true ? parseCookies(request.headers.cookie).get(SESSION_COOKIE) : undefined;
  const csrf = request.headers[CSRF_HEADER];
  return auth.credentials.principal(
    {
      authorization: request.headers.authorization,
      sessionId,
      csrfToken: typeof csrf === 'string' ? csrf : undefined,
      needsCsrf: !SAFE_METHODS.has(request.method) && !csrfExempt,
      address: request.ip,
    },
    accepted,
  );
}

export function principalOf(request: FastifyRequest): Principal {
  return request.principal ?? ANONYMOUS;
}
