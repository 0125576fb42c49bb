/**
 * Authentication and authorization of `/v2`, Docker token auth style:
 * - Credentials: none (anonymous), HTTP basic (password or access token), or a bearer token,
 *   either a token-service JWT or an access token.
 * - Every repository request is checked for its action (pull, push, delete, see
 *   `ociAction`) before anything about the repository is revealed. Anonymous callers and JWT
 *   bearers without the action get 401 UNAUTHORIZED with the challenge
 *   `Bearer realm="<base>/v2/token",service="<host>",scope="repository:<name>:<actions>"`;
 *   authenticated users without it get 403 DENIED.
 * - `GET /v2/token` (the token service) authenticates basic credentials or none and returns
 *   a short-lived JWT granting, per requested scope, the requested actions the caller holds;
 *   nothing for a name that is not a valid repository name (at most 64 scopes per request).
 * - Anonymous callers may pull public registries directly; `/v2/` and `/v2/_catalog` challenge
 *   them, so clients fetch a token (an anonymous one lists public repositories only).
 * Credentials become a principal in `src/auth/credentials.ts` and the disclosure rule (a missing
 * space or registry is refused like a private one) is `src/auth/access-gate.ts`, as on every
 * surface; this file maps their outcomes to the Docker token-auth answers.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Resource } from '../../auth/access.js';
import type { Refusal } from '../../auth/access-gate.js';
import { ANONYMOUS, type OciAction, type Principal, type RepositoryGrant } from '../../auth/principal.js';
import { isPalletError, PalletError } from '../../base/errors.js';
import { externalBaseUrl } from '../../config/config.js';
import { authenticateRequest, principalOf } from '../../http/request-auth.js';
import type { RegistryRecord } from '../../metadata/store.js';
import type { RepositoryTarget } from '../../registry/repositories.js';
import type { Services } from '../../services.js';
import { sendOciError } from './errors.js';

const ALL_ACTIONS: readonly OciAction[] = ['pull', 'push', 'delete'];
/** Scopes one token request may ask for (clients ask for one to three). */
const MAX_SCOPES = 64;

/** The action a request needs, by route name and method. */
export function ociAction(route: string, method: string): OciAction {
  if (method === 'GET' || method === 'HEAD') return route === 'upload' ? 'push' : 'pull';
  if (method === 'DELETE') return route === 'upload' ? 'push' : 'delete';
  return 'push';
}

/** Quotes a challenge parameter value. */
const quote = (value: string): string => `"${value.replace(/["\\]/g, '\\$&')}"`;

export class OciAuth {
  readonly realm: string;
  readonly service: string;

  constructor(private readonly services: Services) {
    const base = externalBaseUrl(services.config);
    this.realm = `${base}/v2/token`;
    this.service = new URL(base).host;
  }

  get #auth() {
    return this.services.auth;
  }

  /** Who sent the request. UNAUTHORIZED (with a challenge) for wrong credentials. */
  async authenticate(request: FastifyRequest, reply: FastifyReply): Promise<Principal> {
    try {
      return await authenticateRequest(request, this.#auth, { jwtService: this.service });
    } catch (err) {
      if (isPalletError(err, 'UNAUTHORIZED')) this.challenge(reply);
      throw err;
    }
  }

  /** Sets the Bearer challenge, with a scope when one is known. */
  challenge(reply: FastifyReply, scope?: string, error?: string): void {
    const parts = [`realm=${quote(this.realm)}`, `service=${quote(this.service)}`];
    if (scope) parts.push(`scope=${quote(scope)}`);
    if (error) parts.push(`error=${quote(error)}`);
    reply.header('WWW-Authenticate', `Bearer ${parts.join(',')}`);
  }

  /**
   * Resolves the repository and checks the request's action on it. A missing space or
   * registry is NAME_UNKNOWN only for callers who may know; others get the refusal a private
   * one gives (`src/auth/access-gate.ts`).
   */
  async target(request: FastifyRequest, reply: FastifyReply, name: string, action: OciAction): Promise<RepositoryTarget> {
    const principal = principalOf(request);
    const decision = await this.#auth.gate.decide(
      principal,
      action,
      { container: name.split('/')[0], repository: name },
      async () => {
        const target = await this.services.repositories.resolve(name);
        const resource = await this.#resource(target.registry);
        if (!resource) throw new PalletError('NAME_UNKNOWN', `repository name not known to registry: ${name}`, { name });
        return { value: target, resource };
      },
      (err) => isPalletError(err, 'NAME_UNKNOWN'),
    );
    if (decision.outcome === 'refused') this.refuse(decision.refusal, reply, name, action);
    return decision.value;
  }

  /** Throws the refusal for `action` on repository `name`, with the challenge it calls for. */
  refuse(refusal: Refusal, reply: FastifyReply, name: string, action: OciAction): never {
    const scope = `repository:${name}:${action === 'pull' ? 'pull' : `pull,${action}`}`;
    if (refusal !== 'denied') {
      this.challenge(reply, scope, refusal === 'insufficient-scope' ? 'insufficient_scope' : undefined);
      throw new PalletError('UNAUTHORIZED', `authentication required: ${action} access to ${name}`, { name, action });
    }
    throw new PalletError('DENIED', `requested access to the resource is denied: ${action} on ${name}`, { name, action });
  }

  /** Whether the principal may do `action` on the resolved repository. */
  async allowed(principal: Principal, target: RepositoryTarget, action: OciAction): Promise<boolean> {
    const resource = await this.#resource(target.registry);
    return resource !== undefined && this.#auth.gate.allows(principal, action, resource, target.fullName);
  }

  /** What access to a registry is checked against; undefined when its space is gone. */
  async #resource(registry: RegistryRecord): Promise<Resource | undefined> {
    const spacePath = await this.#auth.access.spacePath(registry.spaceId);
    return spacePath === undefined ? undefined : { spacePath, registry: { id: registry.id, public: registry.public } };
  }

  /** The OCI actions the principal holds on a registry. */
  async #registryActions(principal: Principal, registry: RegistryRecord): Promise<Set<string>> {
    const resource = await this.#resource(registry);
    return resource ? this.#auth.access.actions(principal, resource) : new Set();
  }

  /** The requested actions the principal holds on repository `name` (token service). */
  async grant(principal: Principal, name: string, requested: readonly OciAction[]): Promise<OciAction[]> {
    let target: RepositoryTarget;
    try {
      target = await this.services.repositories.resolve(name);
    } catch (err) {
      // An invalid name (`a/b/../../c`, `a/b/c:tag`) is granted nothing, whoever asks.
      if (isPalletError(err, 'NAME_INVALID')) return [];
      if (!isPalletError(err, 'NAME_UNKNOWN')) throw err;
      const out: OciAction[] = [];
      for (const action of requested) if (await this.#auth.gate.heldWhereUnknown(principal, action, name.split('/')[0]!)) out.push(action);
      return out;
    }
    const held = await this.#registryActions(principal, target.registry);
    return requested.filter((a) => held.has(a));
  }

  /** Whether a catalog listing may include the registry's repositories. */
  async catalogFilter(principal: Principal): Promise<(registry: RegistryRecord) => Promise<boolean>> {
    const lister = await this.#catalogPrincipal(principal);
    return async (registry) => (await this.#registryActions(lister, registry)).has('pull');
  }

  /** A JWT lists what its subject (through the same access token, if any) may pull. */
  async #catalogPrincipal(principal: Principal): Promise<Principal> {
    if (principal.kind !== 'grant') return principal;
    if (!principal.catalog || principal.subject === null) return ANONYMOUS;
    const user = await this.#auth.identity.findUser(principal.subject);
    if (!user || user.disabled) return ANONYMOUS;
    if (principal.tokenId === undefined) return { kind: 'user', user, via: 'password' };
    const token = (await this.#auth.identity.listAccessTokens(user.id)).find((t) => t.id === principal.tokenId);
    return token ? { kind: 'user', user, via: 'token', token } : ANONYMOUS;
  }

  /** `GET /v2/token`: the Docker token service. */
  registerTokenRoute(app: FastifyInstance): void {
    app.get('/v2/token', async (request, reply) => {
      request.metricsRoute = 'oci.token';
      reply.header('Cache-Control', 'no-store');
      const query = request.query as Record<string, string | string[] | undefined>;
      // The token service takes basic credentials (a password or an access token) or none.
      const principal = await authenticateRequest(request, this.#auth, { bearer: false });
      const scopes = [query.scope ?? []].flat().flatMap((s) => s.split(' ')).filter(Boolean);
      if (scopes.length > MAX_SCOPES) throw new PalletError('INVALID_ARGUMENT', `at most ${MAX_SCOPES} scopes per token request`, { count: scopes.length });
      const access: RepositoryGrant[] = [];
      let catalog = false;
      for (const scope of scopes) {
        const parsed = parseScope(scope);
        if (!parsed) continue;
        if (parsed.type === 'registry') {
          catalog = catalog || parsed.name === 'catalog';
          continue;
        }
        const actions = await this.grant(principal, parsed.name, parsed.actions);
        access.push({ type: 'repository', name: parsed.name, actions });
      }
      const subject = principal.kind === 'user' ? principal.user.username : null;
      const tokenId = principal.kind === 'user' ? principal.token?.id : undefined;
      const issued = await this.#auth.signer.issue(subject, this.service, access, catalog, tokenId);
      return reply.send({ token: issued.token, access_token: issued.token, expires_in: issued.expiresIn, issued_at: issued.issuedAt });
    });
  }

  /** Sends an UNAUTHORIZED answer with the challenge (for routes outside the error handler). */
  sendChallenge(reply: FastifyReply, message: string, scope?: string): FastifyReply {
    this.challenge(reply, scope);
    return sendOciError(reply, 'UNAUTHORIZED', message);
  }
}

/** `repository:<name>:<a,b>` or `registry:catalog:*`; undefined for anything else. */
export function parseScope(scope: string): { type: 'repository' | 'registry'; name: string; actions: OciAction[] } | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last <= first) return undefined;
  const type = scope.slice(0, first);
  const name = scope.slice(first + 1, last);
  const raw = scope.slice(last + 1).split(',');
  if (type !== 'repository' && type !== 'registry') return undefined;
  const actions = raw.includes('*') ? [...ALL_ACTIONS] : ALL_ACTIONS.filter((a) => raw.includes(a));
  return { type, name, actions };
}
