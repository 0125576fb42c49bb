/**
 * The management REST API plugin, registered under `/api/v1`. One encapsulated scope: every
 * error in it (domain, schema validation, malformed JSON, unknown route) answers in the API's
 * `{"code","message","details"}` shape, and every route in it must be in the OpenAPI document
 * (the server refuses to start otherwise, so a test catches a route added without docs).
 */
import type { FastifyInstance } from 'fastify';
import { API_BODY_LIMITS, parseJsonBounded } from '../base/bounded-parse.js';
import { PalletError } from '../base/errors.js';
import type { Services } from '../services.js';
import { ApiAccess } from './access.js';
import { artifactRoutes } from './artifacts.js';
import { cleanupRoutes } from './cleanup.js';
import { AUDIT_ACTIONS, AUDITED_METHODS, auditHook, auditKey, auditRoutes } from './audit.js';
import { apiErrorHandler, sendApiError } from './errors.js';
import { isDocumented, openApiDocument } from './openapi.js';
import { packageTypeRoutes } from './package-types.js';
import { registryRoutes } from './registries.js';
import { formatEnums, registrySchemas } from './schemas.js';
import { externalBaseUrl } from '../config/config.js';
import { memberRoutes } from './members.js';
import { sessionRoutes } from './sessions.js';
import { spaceRoutes } from './spaces.js';
import { userRoutes } from './users.js';

export interface ApiOptions {
  services: Services;
}

export async function apiRoutes(app: FastifyInstance, { services }: ApiOptions): Promise<void> {
  app.setErrorHandler(apiErrorHandler);
  app.setNotFoundHandler((request, reply) =>
    sendApiError(reply, 404, 'NOT_FOUND', `no API endpoint ${request.method} ${request.url.split('?')[0]}`, {
      method: request.method,
    }),
  );

  const registered: Array<{ method: string; url: string }> = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) registered.push({ method, url: route.url });
  });
  app.addHook('onReady', async () => {
    const missing = registered.filter((r) => !isDocumented(r.method, r.url, app.prefix)).map((r) => `${r.method} ${r.url}`);
    if (missing.length > 0) throw new Error(`API routes missing from the OpenAPI document (src/api/openapi.ts): ${missing.join(', ')}`);
    const unaudited = registered
      .filter((r) => AUDITED_METHODS.has(r.method) && AUDIT_ACTIONS[auditKey(r.method, r.url, app.prefix)] === undefined)
      .map((r) => `${r.method} ${r.url}`);
    if (unaudited.length > 0) throw new Error(`state-changing API routes without an audit action (src/api/audit.ts): ${unaudited.join(', ')}`);
  });

  // JSON bodies are parsed within API_BODY_LIMITS (values, depth, time; large ones off the
  // event loop: see base/bounded-parse.ts); Fastify's bodyLimit bounds their bytes first.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, async (_request: unknown, body: Buffer) => {
    if (body.length === 0) throw new PalletError('INVALID_ARGUMENT', 'the request body is empty but Content-Type says application/json');
    try {
      return await parseJsonBounded(body, API_BODY_LIMITS);
    } catch (err) {
      if (err instanceof PalletError && err.code === 'INVALID_ARGUMENT') throw new PalletError('INVALID_ARGUMENT', `the request body is refused: ${err.message}`, err.detail);
      throw err;
    }
  });

  // Every request is authenticated first (see access.ts); each route checks its permission.
  const access = new ApiAccess(services);
  app.addHook('onRequest', async (request) => access.authenticate(request));
  app.addHook('onResponse', auditHook(services, app.prefix));

  // The package types (and so the registry schemas and the document) are those this process serves.
  const { packageTypes } = services;
  const enums = formatEnums(packageTypes.all);
  const document = openApiDocument(enums);
  app.get('/openapi.json', async () => document);
  packageTypeRoutes(app, packageTypes.all, externalBaseUrl(services.config));
  spaceRoutes(app, services);
  registryRoutes(app, services, registrySchemas(enums));
  cleanupRoutes(app, services);
  artifactRoutes(app, services);
  userRoutes(app, services);
  memberRoutes(app, services);
  sessionRoutes(app, services);
  auditRoutes(app, services);
}
