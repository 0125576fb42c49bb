/**
 * Authentication and permission checks of the REST API.
 *
 * Credentials (`src/auth/credentials.ts` decides, for every surface): `Authorization: Basic`
 * (password or access token) or `Bearer <access token>`; else, on this surface only, the
 * session cookie of a UI login; else anonymous. A cookie-authenticated request that changes
 * state (POST, PUT, PATCH, DELETE) must echo the session's CSRF token in `X-CSRF-Token` (the
 * login response and the `pallet_csrf` cookie carry it); header-authenticated requests need
 * none, since a browser never adds those headers on its own.
 *
 * A space or registry the caller may not see answers exactly like one that does not exist
 * (`src/auth/access-gate.ts` has the rule, `src/http/registry-access.ts` the loaders).
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
import type { FastifyRequest } from 'fastify';
import type { Viewer } from '../auth/access.js';
import { denial } from '../auth/access.js';
import type { Principal } from '../auth/principal.js';
import type { Action } from '../auth/roles.js';
import { PalletError } from '../base/errors.js';
import { decideRegistry, decideSpace } from '../http/registry-access.js';
import { authenticateRequest, principalOf } from '../http/request-auth.js';
import type { RegistryRecord, SpaceRecord } from '../metadata/store.js';
import type { Services } from '../services.js';

export { CSRF_COOKIE, CSRF_HEADER, parseCookies, SESSION_COOKIE } from '../http/request-auth.js';

type UserPrincipal = Extract<Principal, { kind: 'user' }>;

export class ApiAccess {
  constructor(private readonly services: Services) {}

  get #auth() {
    return this.services.auth;
  }

  /** The API's onRequest hook: sets `request.principal` (the API also takes web sessions). */
  async authenticate(request: FastifyRequest): Promise<void> {
    const login = request.routeOptions.url?.endsWith('/auth/login') === true;
    request.principal = await authenticateRequest(request, this.#auth, { sessions: true }, login);
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

  /** The space at `path` after checking `action` on it (NOT_FOUND or the refusal: `src/auth/access-gate.ts`). */
  async space(request: FastifyRequest, action: Action, path: string): Promise<SpaceRecord> {
    const decision = await decideSpace(this.services, principalOf(request), action, path);
    // Refused: 401 for anonymous callers, 403 for the others (the API takes no JWTs).
    if (decision.outcome === 'refused') throw denial(principalOf(request), action, `space ${path}`);
    return decision.value;
  }

  /** Checks `action` on the registry (NOT_FOUND or the refusal: `src/auth/access-gate.ts`). */
  async registry(request: FastifyRequest, action: Action, root: string, identifier: string): Promise<RegistryRecord> {
    const decision = await decideRegistry(this.services, principalOf(request), action, root, identifier);
    if (decision.outcome === 'refused') throw denial(principalOf(request), action, `registry ${root}/${identifier}`);
    return decision.value.registry;
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
