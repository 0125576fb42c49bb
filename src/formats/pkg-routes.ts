/**
 * The one `/pkg` dispatcher: mounts every format's own routes at
 * `/pkg/:root/:registry/<pkgPath>/…` (`PackageFormat.pkgPath`, `FormatParts.routes`), and owns
 * what no single format can:
 * - not-found answers for every path under `/pkg` (a format must not set its own handler:
 *   Fastify allows one per prefix, which is why this is the only one);
 * - HEAD for every GET route: the GET handler runs in the same scope (same hooks, auth and
 *   error handler) and its headers are sent without the body; a streamed body is destroyed
 *   unread (not drained, as Fastify's own HEAD routes do), a buffered one only measured;
 * - authentication of every request of a format's scope and the Basic challenge on its 401s
 *   (`src/http/pkg-access.ts`): a format's handlers only call `requireAccess(request, action)`.
 * Formats never see each other: each is registered in its own encapsulated scope, so its
 * content-type parsers, hooks and error handler stay its own.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { registerPkgAccess } from '../http/pkg-access.js';
import type { Services } from '../services.js';

interface Options {
  services: Services;
}

export async function pkgRoutes(app: FastifyInstance, { services }: Options): Promise<void> {
  for (const spec of services.packageTypes.all) {
    const parts = services.formats.get(spec.type);
    if (!spec.pkgPath || !parts?.routes) continue;
    const routes = parts.routes.bind(parts);
    await app.register(
      async (scope) => {
        registerPkgAccess(scope, services, { type: spec.type, label: spec.label });
        scope.addHook('onRoute', function (this: FastifyInstance, route: RouteOptions & { routePath: string }) {
          const methods = Array.isArray(route.method) ? route.method : [route.method];
          if (!methods.includes('GET') || methods.includes('HEAD')) return;
          // The GET's own options (route-level hooks, schema, constraints) come along, so a
          // route that checks something in a hook checks it for HEAD too.
          const onSend = route.onSend === undefined ? [] : Array.isArray(route.onSend) ? route.onSend : [route.onSend];
          this.route({ ...route, method: 'HEAD', url: route.routePath, onSend: [...onSend, headOnSend] });
        });
        await routes(scope);
      },
      { prefix: `/:root/:registry/${spec.pkgPath}` },
    );
  }
  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .header('Content-Type', 'application/json')
      .send({ error: `no package endpoint ${request.method} ${request.url.split('?')[0]}` }),
  );
}

/** The HEAD answer of a GET route's reply: its headers, a length for a buffered body, no body. */
async function headOnSend(_request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<null> {
  if (typeof payload === 'string' || Buffer.isBuffer(payload)) {
    if (!reply.hasHeader('content-length')) reply.header('Content-Length', String(Buffer.byteLength(payload)));
  } else if (payload !== null && typeof payload === 'object' && 'destroy' in payload && typeof payload.destroy === 'function') {
    payload.destroy();
  }
  return null;
}
