/**
 * `/api/v1/spaces`: create, list, read, describe and delete spaces. A nested space's path is
 * one URL-encoded segment (`acme%2Fpayments`).
 */
import type { FastifyInstance } from 'fastify';
import type { NewSpaceInput } from '../registry/spaces.js';
import type { Services } from '../services.js';
import { pageRequest, type ListQuery } from './paging.js';
import { errorResponses, withErrors } from './responses.js';
import { listSchema, spaceCreateBody, spacePatchBody, spaceSchema, spacesQuery } from './schemas.js';

interface PathParams {
  path: string;
}

export function spaceRoutes(app: FastifyInstance, { spaces }: Services): void {
  app.post<{ Body: NewSpaceInput }>(
    '/spaces',
    { schema: { body: spaceCreateBody, response: withErrors({ 201: spaceSchema }) } },
    async (request, reply) => {
      const space = await spaces.create(request.body);
      return reply.code(201).header('Location', `/api/v1/spaces/${encodeURIComponent(space.path)}`).send(space);
    },
  );

  app.get<{ Querystring: ListQuery }>(
    '/spaces',
    { schema: { querystring: spacesQuery, response: withErrors({ 200: listSchema(spaceSchema) }) } },
    async (request) => spaces.list(request.query.q, pageRequest(request.query)),
  );

  app.get<{ Params: PathParams }>(
    '/spaces/:path',
    { schema: { response: withErrors({ 200: spaceSchema }) } },
    async (request) => spaces.get(request.params.path),
  );

  app.patch<{ Params: PathParams; Body: { description?: unknown } }>(
    '/spaces/:path',
    { schema: { body: spacePatchBody, response: withErrors({ 200: spaceSchema }) } },
    async (request) => spaces.update(request.params.path, request.body),
  );

  app.delete<{ Params: PathParams }>(
    '/spaces/:path',
    { schema: { response: errorResponses } },
    async (request, reply) => {
      await spaces.delete(request.params.path);
      return reply.code(204).send();
    },
  );
}
