/**
 * Authentication and permission checks of the REST API.
 *
 * Credentials, in order: `Authorization: Basic` (password or access token) or `Bearer <access
 * token>`; else the session cookie of a UI login; else anonymous. A cookie-authenticated
 * request that changes state (POST, PUT, PATCH, DELETE) must echo the session's CSRF token in
 * `X-CSRF-Token` (the login response and the `pallet_csrf` cookie carry it); header-authenticated
 * requests need none, since a browser never adds those headers on its own.
 *
 * Who may do what (`src/auth/roles.ts` has the role table):
 * - root spaces: global administrators create them; a project: `manage` on its parent.
 * - a space: readers (and anyone with a role below it, or with a public registry in it) see it;
 *   `manage` changes it; `own` deletes it.
 * - registries and upstream proxies: `manage` on their space creates, changes and deletes them;
 *   `pull` (or public) reads them, their setup and their artifacts; `delete` removes versions.
 * - members: readers list them; `manage` sets and removes roles up to admin; `own` is needed to
 *   make, change or remove an owner.
 * - users and the audit log: global administrators, never through a token limited to a space
 *   or registry (a user may read and change its own email, and its password giving the
 *   current one).
 * - access tokens: any user lists its own; creating or revoking one needs a password, a session
 *   or a token with the `admin` scope, and a token creates or revokes only tokens within its
 *   own scopes, limit and expiry (`access-tokens.ts`), so a narrow token cannot mint a broader one.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Viewer } from '../auth/access.js';
import { denial } from '../auth/access.js';
import { ANONYMOUS, SYSTEM, type Principal } from '../auth/principal.js';
import type { Action } from '../auth/roles.js';
import { isPalletError, PalletError } from '../base/errors.js';
import { parseAuthorization, principalOf } from '../http-auth.js';
import type { RegistryRecord, SpaceRecord } from '../metadata/store.js';
import type { Services } from '../services.js';

export const SESSION_COOKIE = 'pallet_session';
export const CSRF_COOKIE = 'pallet_csrf';
export const CSRF_HEADER = 'x-csrf-token';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

type UserPrincipal = Extract<Principal, { kind: 'user' }>;

/** Cookies of a request, by name (the first of duplicates). */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (!out.has(name)) out.set(name, decodeURIComponent(part.slice(eq + 1).trim()));
  }
  return out;
}

export class ApiAccess {
  constructor(private readonly services: Services) {}

  get #auth() {
    return this.services.auth;
  }

  /** The API's onRequest hook: sets `request.principal`, enforcing CSRF for sessions. */
  async authenticate(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (!this.#auth.enabled) {
      request.principal = SYSTEM;
      return;
    }
    const creds = parseAuthorization(request.headers.authorization);
    if (creds?.type === 'basic') {
      request.principal = await this.#auth.authenticator.basic(creds.username, creds.password, request.ip);
      return;
    }
    if (creds?.type === 'bearer') {
      request.principal = await this.#auth.authenticator.accessToken(creds.token, request.ip);
      return;
    }
    const sessionId = parseCookies(request.headers.cookie).get(SESSION_COOKIE);
    const found = sessionId ? await this.#auth.sessions.resolve(sessionId) : undefined;
    if (!found) {
      request.principal = ANONYMOUS;
      return;
    }
    const exempt = request.routeOptions.url?.endsWith('/auth/login') === true;
    if (!SAFE_METHODS.has(request.method) && !exempt) {
      const header = request.headers[CSRF_HEADER];
      if (!this.#auth.sessions.checkCsrf(found.session, typeof header === 'string' ? header : undefined)) {
        throw new PalletError('DENIED', `missing or wrong CSRF token: send the session's token in the ${CSRF_HEADER} header`);
      }
    }
    request.principal = { kind: 'user', user: found.user, via: 'session' };
    void reply;
  }

  principal(request: FastifyRequest): Principal {
    return principalOf(request);
  }

  /** The authenticated user; UNAUTHORIZED for anonymous callers. */
  user(request: FastifyRequest): UserPrincipal {
    const principal = principalOf(request);
    if (principal.kind !== 'user') {
      throw new PalletError('UNAUTHORIZED', principal.kind === 'system' ? 'authentication is off: there is no current user' : 'authentication required');
    }
    return principal;
  }

  /** The user, authenticated by password or session, or by a token with the `admin` scope. */
  strongUser(request: FastifyRequest, what: string): UserPrincipal {
    const principal = this.user(request);
    if (principal.token && !principal.token.scopes.includes('admin')) {
      throw new PalletError('DENIED', `${what} needs a password, a session or an access token with the admin scope`);
    }
    return principal;
  }

  requireAdmin(request: FastifyRequest, what: string): void {
    this.#auth.access.requireGlobalAdmin(principalOf(request), what);
  }

  async viewer(request: FastifyRequest): Promise<Viewer> {
    return this.#auth.access.viewer(principalOf(request));
  }

  /** The space at `path` after checking `action` on it (NOT_FOUND: see `#load`). */
  async space(request: FastifyRequest, action: Action, path: string): Promise<SpaceRecord> {
    const space = await this.#load(request, action, path, `space ${path}`, () => this.services.spaces.getRecord(path));
    await this.#auth.access.require(principalOf(request), action, { spacePath: space.path }, `space ${space.path}`);
    return space;
  }

  /** Checks `action` on the registry (NOT_FOUND: see `#load`). */
  async registry(request: FastifyRequest, action: Action, root: string, identifier: string): Promise<RegistryRecord> {
    const what = `registry ${root}/${identifier}`;
    const { registry } = await this.#load(request, action, root, what, () => this.services.registries.getRef(root, identifier));
    const spacePath = (await this.#auth.access.spacePath(registry.spaceId)) ?? root;
    await this.#auth.access.require(principalOf(request), action, { spacePath, registry: { id: registry.id, public: registry.public } }, what);
    return registry;
  }

  /**
   * Loads a space or registry. NOT_FOUND reaches only callers who may look inside its root
   * space (a role there or below it, or a global administrator); others get the same refusal
   * as for an existing private one, so names of private spaces and registries do not leak.
   */
  async #load<T>(request: FastifyRequest, action: Action, path: string, what: string, load: () => Promise<T>): Promise<T> {
    try {
      return await load();
    } catch (err) {
      if (!isPalletError(err, 'NOT_FOUND')) throw err;
      const principal = principalOf(request);
      if (this.#auth.access.isGlobalAdmin(principal)) throw err;
      const root = path.split('/')[0] ?? '';
      const viewer = await this.viewer(request);
      if ((await this.services.store.findSpace(root)) && (viewer.can('pull', { spacePath: root }) || viewer.hasRoleBelow(root))) throw err;
      throw denial(principal, action, what);
    }
  }

  /**
   * Which spaces the caller sees: those it holds a role on (directly or through an ancestor),
   * those above a space it holds a role on, and those holding a public registry (and theirs
   * ancestors).
   */
  async visibleSpaces(request: FastifyRequest): Promise<(space: SpaceRecord) => boolean> {
    const viewer = await this.viewer(request);
    const spaces = await this.services.store.listSpaces();
    const pathById = new Map(spaces.map((s) => [s.id, s.path]));
    const publicPaths = (await this.services.store.listRegistries())
      .filter((r) => r.public)
      .map((r) => pathById.get(r.spaceId))
      .filter((p): p is string => p !== undefined);
    return (space) =>
      viewer.can('pull', { spacePath: space.path }) ||
      viewer.hasRoleBelow(space.path) ||
      publicPaths.some((p) => p === space.path || p.startsWith(`${space.path}/`));
  }

  /** Throws the refusal for `action` on `what`. */
  deny(request: FastifyRequest, action: string, what: string): never {
    throw denial(principalOf(request), action, what);
  }
}
