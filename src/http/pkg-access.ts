/**
 * Authentication and access for every package format's routes under
 * `/pkg/<root>/<registry>/<format>/…`, so that a format writes no auth code:
 *
 *   registerPkgAccess(scope, services, format)   once per format scope (the /pkg dispatcher)
 *   const ref = await requireAccess(request, 'push')   in a format's handler, with its action
 *   auditAction(request, 'chart.upload', name, version) a state-changing handler's audit entry
 *
 * Credentials: HTTP basic (password or access token, what package clients send) or `Bearer
 * <access token>`; no sessions, no token-service JWTs (`src/auth/credentials.ts`). Anonymous
 * callers may read public registries. `requireAccess` resolves the registry named by the
 * route's `:root` and `:registry`, checks the action and refuses an unknown registry exactly
 * like a private one (`src/auth/access-gate.ts`); a registry of another format is NOT_FOUND to
 * callers allowed to see it. Refusals are UNAUTHORIZED (anonymous) or DENIED, which the
 * format's error handler maps to 401 and 403; every 401 of the scope carries a Basic challenge.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { actorName } from '../auth/principal.js';
import type { Action } from '../auth/roles.js';
import { PalletError } from '../base/errors.js';
import type { RegistryRef } from '../registry/registries.js';
import type { Services } from '../services.js';
import { decideRegistry } from './registry-access.js';
import { authenticateRequest, principalOf } from './request-auth.js';

/** What the glue needs to know of a format. */
export interface PkgFormatInfo {
  /** Its package type id: `requireAccess` serves registries of this type only. */
  type: string;
  /** Its label, for the challenge's realm and messages. */
  label: string;
}

interface PkgAccessContext {
  services: Services;
  format: PkgFormatInfo;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by `registerPkgAccess` for the routes of a format scope. */
    pkgAccess?: PkgAccessContext;
  }
}

/** Audit entries of state-changing requests, set by their handlers (`auditAction`). */
const audited = new WeakMap<FastifyRequest, { action: string; target: string }>();

/**
 * Records the request in the audit log once it is answered, successful or not, like the
 * management API's changes: `action` (`chart.upload`) on `<root>/<registry>/<parts…>`. A later
 * call for the same request replaces the target (once the handler knows the name and version).
 */
export function auditAction(request: FastifyRequest, action: string, ...parts: string[]): void {
  const { root, registry: identifier } = request.params as { root: string; registry: string };
  audited.set(request, { action, target: [root, identifier, ...parts].join('/') });
}

/** The Basic challenge of a format's 401 answers. */
export function basicChallenge(format: PkgFormatInfo): string {
  return `Basic realm="Pallet ${format.label} repository", charset="UTF-8"`;
}

/** Authenticates every request of the scope (see the header) and adds the challenge to 401s. */
export function registerPkgAccess(app: FastifyInstance, services: Services, format: PkgFormatInfo): void {
  const context: PkgAccessContext = { services, format };
  const challenge = basicChallenge(format);
  app.addHook('onRequest', async (request) => {
    request.pkgAccess = context;
    request.principal = await authenticateRequest(request, services.auth, {});
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    if (reply.statusCode === 401 && !reply.hasHeader('www-authenticate')) reply.header('WWW-Authenticate', challenge);
    return payload;
  });
  app.addHook('onResponse', async (request, reply) => {
    const entry = audited.get(request);
    if (!entry) return;
    await services.auth.audit.record({
      actor: actorName(principalOf(request)),
      action: entry.action,
      target: entry.target,
      outcome: reply.statusCode < 400 ? 'success' : 'failure',
      address: request.ip,
      details: { status: reply.statusCode },
    });
  });
}

/**
 * The registry of the route (`:root`, `:registry`) after checking `action` on it. NOT_FOUND for
 * a missing registry (or one of another format) only to callers who may know; everyone else
 * gets UNAUTHORIZED or DENIED, whether it exists or not.
 */
export async function requireAccess(request: FastifyRequest, action: Action): Promise<RegistryRef> {
  const context = request.pkgAccess;
  if (!context) throw new Error('requireAccess called outside a scope set up by registerPkgAccess');
  const { root, registry: identifier } = request.params as { root: string; registry: string };
  const principal = principalOf(request);
  const decision = await decideRegistry(context.services, principal, action, root, identifier);
  if (decision.outcome === 'refused') {
    const what = `${action} on ${root}/${identifier}`;
    if (decision.refusal === 'unauthenticated') throw new PalletError('UNAUTHORIZED', `authentication required: ${what}`);
    throw new PalletError('DENIED', `requested access to the resource is denied: ${what}`);
  }
  const ref = decision.value;
  if (ref.registry.packageType !== context.format.type) {
    throw new PalletError('NOT_FOUND', `${root}/${identifier} is a ${ref.registry.packageType} registry, not a ${context.format.label} repository`);
  }
  return ref;
}
