/**
 * `/api/v1/registries/{root}/{identifier}/artifacts`: artifacts, their versions and version
 * details, and deletion of both. An artifact name with slashes is one URL-encoded segment
 * (`team%2Fapp`); a `{version}` is a digest or a tag.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Services } from '../services.js';
import { ApiAccess } from './access.js';
import { pageRequest, type ListQuery } from '../base/paging.js';
import type { RegistryParams } from './registries.js';
import { errorResponses, withErrors } from './responses.js';
import { artifactSchema, artifactsQuery, formatEnums, listSchema, versionDetailSchema, versionSchema, versionsQuery } from './schemas.js';

interface ArtifactParams extends RegistryParams {
  name: string;
}

interface VersionParams extends ArtifactParams {
  version: string;
}

const BASE = '/registries/:root/:identifier/artifacts';

export function artifactRoutes(app: FastifyInstance, services: Services): void {
  const { artifacts } = services;
  const access = new ApiAccess(services);
  const check = (request: FastifyRequest<{ Params: RegistryParams }>, action: 'pull' | 'delete') =>
    access.registry(request, action, request.params.root, request.params.identifier);

  app.get<{ Params: RegistryParams; Querystring: ListQuery }>(
    BASE,
    { schema: { querystring: artifactsQuery, response: withErrors({ 200: listSchema(artifactSchema) }) } },
    async (request) => {
      await check(request, 'pull');
      return artifacts.list(request.params.root, request.params.identifier, request.query.q, pageRequest(request.query));
    },
  );

  app.get<{ Params: ArtifactParams }>(
    `${BASE}/:name`,
    { schema: { response: withErrors({ 200: artifactSchema }) } },
    async (request) => {
      await check(request, 'pull');
      const { params } = request;
      return artifacts.get(params.root, params.identifier, params.name);
    },
  );

  app.delete<{ Params: ArtifactParams }>(
    `${BASE}/:name`,
    { schema: { response: errorResponses } },
    async (request, reply) => {
      await check(request, 'delete');
      const { params } = request;
      await artifacts.deleteArtifact(params.root, params.identifier, params.name, request.log);
      return reply.code(204).send();
    },
  );

  app.get<{ Params: ArtifactParams; Querystring: ListQuery }>(
    `${BASE}/:name/versions`,
    { schema: { querystring: versionsQuery, response: withErrors({ 200: listSchema(versionSchema) }) } },
    async (request) => {
      await check(request, 'pull');
      const { params, query } = request;
      return artifacts.versions(params.root, params.identifier, params.name, query.q, pageRequest(query));
    },
  );

  app.get<{ Params: VersionParams }>(
    `${BASE}/:name/versions/:version`,
    { schema: { response: withErrors({ 200: versionDetailSchema(formatEnums(services.packageTypes.all)) }) } },
    async (request) => {
      await check(request, 'pull');
      const { params } = request;
      return artifacts.version(params.root, params.identifier, params.name, params.version);
    },
  );

  app.delete<{ Params: VersionParams }>(
    `${BASE}/:name/versions/:version`,
    { schema: { response: errorResponses } },
    async (request, reply) => {
      await check(request, 'delete');
      const { params } = request;
      await artifacts.deleteVersion(params.root, params.identifier, params.name, params.version, request.log);
      return reply.code(204).send();
    },
  );
}
