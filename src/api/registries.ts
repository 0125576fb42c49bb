/**
 * `/api/v1/registries`: local registries and upstream proxies. A registry is addressed by its
 * root space and identifier (`/registries/acme/docker-local`), wherever in the root it lives.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isPalletError } from '../base/errors.js';
import type { NewRegistryInput, RegistryPatchInput } from '../registry/registries.js';
import type { Services } from '../services.js';
import { ApiAccess } from './access.js';
import { pageRequest, type ListQuery } from '../base/paging.js';
import { errorResponses, withErrors } from './responses.js';
import { listSchema, type RegistrySchemas } from './schemas.js';

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

/** `schemas`: built for the package types the process serves (`registrySchemas`). */
export function registryRoutes(app: FastifyInstance, services: Services, schemas: RegistrySchemas): void {
  const { registries } = services;
  const access = new ApiAccess(services);

  /**
   * A registry pulls through its upstream proxies with their stored credentials and serves
   * their caches, so listing a proxy is using it: the caller (and its token's limits) must be
   * allowed to pull from every proxy it adds. Proxies already on the list may stay.
   */
  async function usableUpstreams(request: FastifyRequest, root: string, upstreams: unknown, current: readonly string[]): Promise<void> {
    // A malformed list, or one in a root space that does not exist: the domain refuses it with its message.
    if (!Array.isArray(upstreams) || !(await services.store.findSpace(root))) return;
    for (const name of upstreams) {
      if (typeof name !== 'string' || current.includes(name)) continue;
      try {
        await access.registry(request, 'pull', root, name);
      } catch (err) {
        // An unknown name gets the domain's clear 400; one the caller may not use is refused.
        if (isPalletError(err, 'NOT_FOUND')) continue;
        throw err;
      }
    }
  }

  app.post<{ Body: NewRegistryInput }>(
    '/registries',
    { schema: { body: schemas.createBody, response: withErrors({ 201: schemas.registry }) } },
    async (request, reply) => {
      if (typeof request.body.space === 'string' && (await services.store.findSpace(request.body.space))) {
        await access.space(request, 'manage', request.body.space);
      } else {
        access.requireAdmin(request, 'create registries outside an existing space');
      }
      if (typeof request.body.space === 'string') await usableUpstreams(request, request.body.space.split('/')[0]!, request.body.upstreams, []);
      const registry = await registries.create(request.body);
      return reply
        .code(201)
        .header('Location', `/api/v1/registries/${encodeURIComponent(registry.root)}/${encodeURIComponent(registry.identifier)}`)
        .send(registry);
    },
  );

  app.get<{ Querystring: RegistriesQuery }>(
    '/registries',
    { schema: { querystring: schemas.query, response: withErrors({ 200: listSchema(schemas.registry) }) } },
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
    { schema: { response: withErrors({ 200: schemas.registry }) } },
    async (request) => {
      await access.registry(request, 'pull', request.params.root, request.params.identifier);
      return registries.get(request.params.root, request.params.identifier);
    },
  );

  app.patch<{ Params: RegistryParams; Body: RegistryPatchInput }>(
    '/registries/:root/:identifier',
    { schema: { body: schemas.patchBody, response: withErrors({ 200: schemas.registry }) } },
    async (request) => {
      await access.registry(request, 'manage', request.params.root, request.params.identifier);
      // A registry's quota bounds its project's admins: it is set by the organization's.
      if ((request.body as { quotaBytes?: unknown }).quotaBytes !== undefined) await access.space(request, 'manage', request.params.root);
      if (request.body.upstreams !== undefined) {
        const current = await registries.get(request.params.root, request.params.identifier);
        await usableUpstreams(request, request.params.root, request.body.upstreams, current.upstreams ?? []);
      }
      return registries.update(request.params.root, request.params.identifier, request.body);
    },
  );

  app.delete<{ Params: RegistryParams }>(
    '/registries/:root/:identifier',
    { schema: { response: errorResponses } },
    async (request, reply) => {
      await access.registry(request, 'manage', request.params.root, request.params.identifier);
      await registries.delete(request.params.root, request.params.identifier, request.log);
      return reply.code(204).send();
    },
  );

  app.get<{ Params: RegistryParams }>(
    '/registries/:root/:identifier/setup',
    { schema: { response: withErrors({ 200: schemas.setup }) } },
    async (request) => {
      await access.registry(request, 'pull', request.params.root, request.params.identifier);
      return registries.setup(request.params.root, request.params.identifier);
    },
  );
}
