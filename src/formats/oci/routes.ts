/**
 * The OCI Distribution Specification v1.1 at `/v2/<root>/<registry>/<image…>`: pull, push,
 * content discovery and content management, plus the referrers API. This plugin owns what is
 * common to every `/v2` request (body parsing, the error table, authentication, the version
 * header) and dispatches repository requests through the route table (`route-table.ts`,
 * handlers in `handlers/`) after authorizing the route's action (`auth.ts`).
 *
 * Request bodies stay streams here: blob bytes go from the socket through one hash into the
 * storage driver; only manifests (bounded by `limits.manifestBytes`) are read into memory.
 */
import type { FastifyInstance } from 'fastify';
import { isPalletError, PalletError } from '../../base/errors.js';
import type { Services } from '../../services.js';
import { OciAuth, ociAction } from './auth.js';
import { OCI_ERRORS, sendOciError } from './errors.js';
import { registerBaseRoutes } from './handlers/catalog.js';
import { routeTable } from './route-table.js';

interface Options {
  services: Services;
}

const STREAM_ERRORS = new Set(['ECONNRESET', 'ERR_STREAM_PREMATURE_CLOSE', 'ABORT_ERR', 'EPIPE']);

export async function ociRoutes(app: FastifyInstance, { services }: Options): Promise<void> {
  // Bodies are consumed by the handlers as streams, whatever their Content-Type.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));

  app.setErrorHandler((err, request, reply) => {
    if (isPalletError(err)) {
      if (OCI_ERRORS[err.code].status >= 500) request.log.error({ err }, 'request failed');
      return sendOciError(reply, err.code, err.message, err.detail);
    }
    const code = (err as NodeJS.ErrnoException).code;
    if (code && STREAM_ERRORS.has(code)) {
      request.log.info({ code }, 'request body ended early');
      return sendOciError(reply, 'BLOB_UPLOAD_INVALID', 'the request body ended before it was complete');
    }
    const status = (err as { statusCode?: number }).statusCode;
    if (status && status < 500) return sendOciError(reply, 'UNSUPPORTED', (err as Error).message);
    request.log.error({ err }, 'request failed');
    return reply.code(500).send({ errors: [{ code: 'UNKNOWN', message: 'internal error', detail: null }] });
  });

  app.addHook('onSend', async (_request, reply) => {
    reply.header('Docker-Distribution-API-Version', 'registry/2.0');
  });

  // Every /v2 request is authenticated first (see auth.ts); the token service does its own.
  const ociAuth = new OciAuth(services);
  app.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.url === '/v2/token') return;
    request.principal = await ociAuth.authenticate(request, reply);
  });
  ociAuth.registerTokenRoute(app);

  const deps = { services, auth: ociAuth };
  registerBaseRoutes(app, deps);
  const routes = routeTable(deps);

  app.route({
    method: ['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE'],
    url: '/v2/*',
    handler: async (request, reply) => {
      const path = (request.params as { '*': string })['*'];
      for (const route of routes) {
        const m = route.pattern.exec(path);
        if (!m) continue;
        request.metricsRoute = `oci.${route.name}.${request.method.toLowerCase()}`;
        const handler = route.methods[request.method];
        if (!handler) {
          throw new PalletError('UNSUPPORTED', `${request.method} is not supported on ${route.name} endpoints`);
        }
        const target = await ociAuth.target(request, reply, m[1]!, ociAction(route.name, request.method));
        // Fastify has decoded the path once already; decoding again turned `%25` into a URIError.
        const param = m[2] ?? '';
        return handler({ request, reply, target, param, query: request.query as Record<string, string | undefined> });
      }
      request.metricsRoute = 'oci.unknown';
      throw new PalletError('NAME_UNKNOWN', `no OCI endpoint at /v2/${path}`);
    },
  });
}
