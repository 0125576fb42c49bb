/**
 * `/api/v1/spaces`: create, list, read, describe and delete spaces. A nested space's path is
 * one URL-encoded segment (`acme%2Fpayments`).
 */
import type { FastifyInstance } from 'fastify';
import type { NewSpaceInput } from '../registry/spaces.js';
import type { Services } from '../services.js';
import { ApiAccess } from './access.js';
import { pageRequest, type ListQuery } from '../base/paging.js';
import { errorResponses, withErrors } from './responses.js';
import { listSchema, spaceCreateBody, spacePatchBody, spaceSchema, spacesQuery } from './schemas.js';

interface PathParams {
  path: string;
}

export function spaceRoutes(app: FastifyInstance, services: Services): void {
  const { spaces } = services;
  const access = new ApiAccess(services);

  app.post<{ Body: NewSpaceInput }>(
    '/spaces',
    { schema: { body: spaceCreateBody, response: withErrors({ 201: spaceSchema }) } },
    async (request, reply) => {
      // A project needs manage on its (existing) parent; a root space, a global administrator.
      const segments = typeof request.body.path === 'string' ? request.body.path.split('/') : [];
      const parent = segments.length > 1 ? await services.store.findSpace(segments.slice(0, -1).join('/')) : undefined;
      if (parent) await access.space(request, 'manage', parent.path);
      else access.requireAdmin(request, 'create root spaces');
      const space = await spaces.create(request.body);
      return reply.code(201).header('Location', `/api/v1/spaces/${encodeURIComponent(space.path)}`).send(space);
    },
  );

  app.get<{ Querystring: ListQuery }>(
    '/spaces',
    { schema: { querystring: spacesQuery, response: withErrors({ 200: listSchema(spaceSchema) }) } },
    async (request) => spaces.list(request.query.q, pageRequest(request.query), await access.visibleSpaces(request)),
  );

  app.get<{ Params: PathParams }>(
    '/spaces/:path',
    { schema: { response: withErrors({ 200: spaceSchema }) } },
    async (request) => {
      const visible = await access.visibleSpaces(request);
      const space = await services.store.findSpace(request.params.path);
      if (space && visible(space)) return spaces.get(space.path);
      // Missing, or hidden from the caller: NOT_FOUND or the refusal, as ApiAccess.space decides.
      await access.space(request, 'pull', request.params.path);
      return spaces.get(request.params.path);
    },
  );

  app.patch<{ Params: PathParams; Body: { description?: unknown } }>(
    '/spaces/:path',
    { schema: { body: spacePatchBody, response: withErrors({ 200: spaceSchema }) } },
    async (request) => {
      await access.space(request, 'manage', request.params.path);
      if ((request.body as { quotaBytes?: unknown }).quotaBytes !== undefined) {
        // A quota bounds the space's own admins: it is set from above (the parent space's
        // admins; for a root space, global administrators).
        const path = request.params.path;
        const parent = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : undefined;
        if (parent === undefined) access.requireAdmin(request, `set the quota of root space ${path}`);
        else await access.space(request, 'manage', parent);
      }
      return spaces.update(request.params.path, request.body);
    },
  );

  app.delete<{ Params: PathParams }>(
    '/spaces/:path',
    { schema: { response: errorResponses } },
    async (request, reply) => {
      await access.space(request, 'own', request.params.path);
      await spaces.delete(request.params.path);
      return reply.code(204).send();
    },
  );
}
