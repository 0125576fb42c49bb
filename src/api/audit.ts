/**
 * The audit trail of the management API: `GET /api/v1/audit` (global administrators), and the
 * hook that records every state-changing API request (its action name from AUDIT_ACTIONS, the
 * actor, the target named by path parameters or, on creation, by the body's name fields; never
 * a body otherwise). Failed authentications are recorded by the authenticator itself. Field
 * sizes, repeated failures and retention are bounded by `src/auth/audit.ts`.
 * `plugin.ts` refuses to start when a state-changing route has no action name here.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { actorName } from '../auth/principal.js';
import { principalOf } from '../http/request-auth.js';
import type { Services } from '../services.js';
import { ApiAccess } from './access.js';
import { auditQuery, auditSchema } from './identity-schemas.js';
import { withErrors } from './responses.js';
import { listSchema } from './schemas.js';

type Target = (params: Record<string, string>, body: Record<string, unknown>) => string;

const join = (...parts: unknown[]): string => parts.filter((p) => typeof p === 'string' && p !== '').join('/');
const byParams: Target = (p) => join(p.path, p.root, p.identifier, p.name, p.version, p.username, p.id);

/** `METHOD /route` (without the prefix) → action name and target. */
export const AUDIT_ACTIONS: Record<string, { action: string; target: Target }> = {
  'POST /spaces': { action: 'space.create', target: (_p, b) => join(b.path) },
  'PATCH /spaces/:path': { action: 'space.update', target: byParams },
  'DELETE /spaces/:path': { action: 'space.delete', target: byParams },
  'POST /registries': { action: 'registry.create', target: (_p, b) => join(b.space, b.identifier) },
  'PATCH /registries/:root/:identifier': { action: 'registry.update', target: byParams },
  'DELETE /registries/:root/:identifier': { action: 'registry.delete', target: byParams },
  'POST /registries/:root/:identifier/cleanup': { action: 'registry.cleanup', target: byParams },
  'DELETE /registries/:root/:identifier/artifacts/:name': { action: 'artifact.delete', target: byParams },
  'DELETE /registries/:root/:identifier/artifacts/:name/versions/:version': { action: 'version.delete', target: byParams },
  'POST /users': { action: 'user.create', target: (_p, b) => join(b.username) },
  'PATCH /users/:username': { action: 'user.update', target: byParams },
  'DELETE /users/:username': { action: 'user.delete', target: byParams },
  'POST /user/tokens': { action: 'token.create', target: (_p, b) => join(b.name) },
  'DELETE /user/tokens/:id': { action: 'token.revoke', target: byParams },
  'PUT /spaces/:path/members/:username': { action: 'member.set', target: byParams },
  'DELETE /spaces/:path/members/:username': { action: 'member.remove', target: byParams },
  'POST /auth/login': { action: 'auth.login', target: (_p, b) => join(b.username) },
  'POST /auth/logout': { action: 'auth.logout', target: () => '' },
};

export const AUDITED_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export function auditKey(method: string, url: string, prefix: string): string {
  return `${method} ${url.slice(prefix.length)}`;
}

/** The onResponse hook of the API plugin. */
export function auditHook(services: Services, prefix: string) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!AUDITED_METHODS.has(request.method) || request.routeOptions.url === undefined) return;
    const entry = AUDIT_ACTIONS[auditKey(request.method, request.routeOptions.url, prefix)];
    if (!entry) return;
    // A failed login is already recorded (with its reason) by the authenticator.
    if (entry.action === 'auth.login' && reply.statusCode >= 400) return;
    const principal = principalOf(request);
    // An anonymous request that succeeded changed nothing (a logout without a session): not
    // worth a row anyone on the network could add.
    if (principal.kind === 'anonymous' && reply.statusCode < 400) return;
    const params = (request.params ?? {}) as Record<string, string>;
    const body = request.body !== null && typeof request.body === 'object' ? (request.body as Record<string, unknown>) : {};
    await services.auth.audit.record({
      actor: actorName(principal) ?? (entry.action === 'auth.login' ? join(body.username) : null),
      action: entry.action,
      target: entry.target(params, body),
      outcome: reply.statusCode < 400 ? 'success' : 'failure',
      address: request.ip,
      details: { status: reply.statusCode, ...(typeof body.role === 'string' ? { role: body.role } : {}) },
    });
  };
}

export function auditRoutes(app: FastifyInstance, services: Services): void {
  const access = new ApiAccess(services);
  app.get<{ Querystring: { page?: number; size?: number; actor?: string; action?: string; outcome?: 'success' | 'failure' } }>(
    '/audit',
    { schema: { querystring: auditQuery, response: withErrors({ 200: listSchema(auditSchema) }) } },
    async (request) => {
      access.requireAdmin(request, 'read the audit log');
      const { page = 1, size = 50, actor, action, outcome } = request.query;
      const { items, total } = await services.auth.audit.list({
        ...(actor !== undefined ? { actor } : {}),
        ...(action !== undefined ? { action } : {}),
        ...(outcome !== undefined ? { outcome } : {}),
        limit: size,
        offset: (page - 1) * size,
      });
      return { items, total, page, size };
    },
  );
}
