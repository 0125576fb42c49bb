/**
 * `/api/v1/registries`: local registries and upstream proxies. A registry is addressed by its
 * root space and identifier (`/registries/acme/docker-local`), wherever in the root it lives.
 */
import type { FastifyInstance } from 'fastify';
import type { NewRegistryInput, RegistryPatchInput } from '../registry/registries.js';
import type { Services } from '../services.js';
import { pageRequest, type ListQuery } from './paging.js';
import { errorResponses, withErrors } from './responses.js';
import { listSchema, registriesQuery, registryCreateBody, registryPatchBody, registrySchema, setupSchema } from './schemas.js';

export interface RegistryParams {
  root: string;
  identifier: string;
}

interface RegistriesQuery extends ListQuery {
  space?: string;
  recursive?: boolean;
  packageType?: string;
  kind?: string;
}

export function registryRoutes(app: FastifyInstance, { registries }: Services): void {
  app.post<{ Body: NewRegistryInput }>(
    '/registries',
    { schema: { body: registryCreateBody, response: withErrors({ 201: registrySchema }) } },
    async (request, reply) => {
      const registry = await registries.create(request.body);
      return reply
        .code(201)
        .header('Location', `/api/v1/registries/${encodeURIComponent(registry.root)}/${encodeURIComponent(registry.identifier)}`)
        .send(registry);
    },
  );

  app.get<{ Querystring: RegistriesQuery }>(
    '/registries',
    { schema: { querystring: registriesQuery, response: withErrors({ 200: listSchema(registrySchema) }) } },
    async (request) => {
      const { space, recursive, packageType, kind, q } = request.query;
      return registries.list(
        {
          ...(space !== undefined ? { space } : {}),
          ...(recursive !== undefined ? { recursive } : {}),
          ...(packageType !== undefined ? { packageType } : {}),
          ...(kind !== undefined ? { kind } : {}),
          ...(q !== undefined ? { q } : {}),
        },
        pageRequest(request.query),
      );
    },
  );

  app.get<{ Params: RegistryParams }>(
    '/registries/:root/:identifier',
    { schema: { response: withErrors({ 200: registrySchema }) } },
    async (request) => registries.get(request.params.root, request.params.identifier),
  );

  app.patch<{ Params: RegistryParams; Body: RegistryPatchInput }>(
    '/registries/:root/:identifier',
    { schema: { body: registryPatchBody, response: withErrors({ 200: registrySchema }) } },
    async (request) => registries.update(request.params.root, request.params.identifier, request.body),
  );

  app.delete<{ Params: RegistryParams }>(
    '/registries/:root/:identifier',
    { schema: { response: errorResponses } },
    async (request, reply) => {
      await registries.delete(request.params.root, request.params.identifier);
      return reply.code(204).send();
    },
  );

  app.get<{ Params: RegistryParams }>(
    '/registries/:root/:identifier/setup',
    { schema: { response: withErrors({ 200: setupSchema }) } },
    async (request) => registries.setup(request.params.root, request.params.identifier),
  );
}
