/**
 * `/api/v1/registries`: local registries and upstream proxies. A registry is addressed by its
 * root space and identifier (`/registries/acme/docker-local`), wherever in the root it lives.
 */
import type { FastifyInstance } from 'fastify';
import type { NewRegistryInput, RegistryPatchInput } from '../registry/registries.js';
import type { Services } from '../services.js';
import { ApiAccess } from './access.js';
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

export function registryRoutes(app: FastifyInstance, services: Services): void {
  const { registries } = services;
  const access = new ApiAccess(services);

  app.post<{ Body: NewRegistryInput }>(
    '/registries',
    { schema: { body: registryCreateBody, response: withErrors({ 201: registrySchema }) } },
    async (request, reply) => {
      if (typeof request.body.space === 'string' && (await services.store.findSpace(request.body.space))) {
        await access.space(request, 'manage', request.body.space);
      } else {
        access.requireAdmin(request, 'create registries outside an existing space');
      }
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
      if (space !== undefined) {
        // A space the caller cannot see answers like GET /spaces/{path} (404 or the refusal).
        const found = await services.store.findSpace(space);
        if (!found || !(await access.visibleSpaces(request))(found)) await access.space(request, 'pull', space);
      }
      const viewer = await access.viewer(request);
      return registries.list(
        {
          ...(space !== undefined ? { space } : {}),
          ...(recursive !== undefined ? { recursive } : {}),
          ...(packageType !== undefined ? { packageType } : {}),
          ...(kind !== undefined ? { kind } : {}),
          ...(q !== undefined ? { q } : {}),
        },
        pageRequest(request.query),
        (r, spacePath) => viewer.can('pull', { spacePath, registry: { id: r.id, public: r.public } }),
      );
    },
  );

  app.get<{ Params: RegistryParams }>(
    '/registries/:root/:identifier',
    { schema: { response: withErrors({ 200: registrySchema }) } },
    async (request) => {
      await access.registry(request, 'pull', request.params.root, request.params.identifier);
      return registries.get(request.params.root, request.params.identifier);
    },
  );

  app.patch<{ Params: RegistryParams; Body: RegistryPatchInput }>(
    '/registries/:root/:identifier',
    { schema: { body: registryPatchBody, response: withErrors({ 200: registrySchema }) } },
    async (request) => {
      await access.registry(request, 'manage', request.params.root, request.params.identifier);
      return registries.update(request.params.root, request.params.identifier, request.body);
    },
  );

  app.delete<{ Params: RegistryParams }>(
    '/registries/:root/:identifier',
    { schema: { response: errorResponses } },
    async (request, reply) => {
      await access.registry(request, 'manage', request.params.root, request.params.identifier);
      await registries.delete(request.params.root, request.params.identifier);
      return reply.code(204).send();
    },
  );

  app.get<{ Params: RegistryParams }>(
    '/registries/:root/:identifier/setup',
    { schema: { response: withErrors({ 200: setupSchema }) } },
    async (request) => {
      await access.registry(request, 'pull', request.params.root, request.params.identifier);
      return registries.setup(request.params.root, request.params.identifier);
    },
  );
}
