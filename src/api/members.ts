/**
 * `/api/v1/spaces/{path}/members`: who holds which role on a space. Readers list members;
 * `manage` sets and removes roles up to admin; making, changing or removing an owner needs
 * `own` (owners, global administrators).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Services } from '../services.js';
import { ApiAccess } from './access.js';
import { memberListSchema, memberPutBody, memberSchema } from './identity-schemas.js';
import { errorResponses, withErrors } from './responses.js';

interface MemberParams {
  path: string;
  username: string;
}

export function memberRoutes(app: FastifyInstance, services: Services): void {
  const { members } = services.auth;
  const access = new ApiAccess(services);

  /** manage on the space; own as well when an owner is made or unmade. */
  const checkChange = async (request: FastifyRequest<{ Params: MemberParams }>, newRole: unknown): Promise<void> => {
    const { path, username } = request.params;
    const space = await access.space(request, 'manage', path);
    const current = await members.find(space.path, username);
    if (newRole === 'owner' || current === 'owner') await access.space(request, 'own', space.path);
  };

  app.get<{ Params: { path: string } }>(
    '/spaces/:path/members',
    { schema: { response: withErrors({ 200: memberListSchema }) } },
    async (request) => {
      const space = await access.space(request, 'pull', request.params.path);
      return { items: await members.list(space.path) };
    },
  );

  app.put<{ Params: MemberParams; Body: { role: unknown } }>(
    '/spaces/:path/members/:username',
    { schema: { body: memberPutBody, response: withErrors({ 200: memberSchema }) } },
    async (request) => {
      await checkChange(request, request.body.role);
      return members.set(request.params.path, request.params.username, request.body.role);
    },
  );

  app.delete<{ Params: MemberParams }>(
    '/spaces/:path/members/:username',
    { schema: { response: errorResponses } },
    async (request, reply) => {
      await checkChange(request, undefined);
      await members.remove(request.params.path, request.params.username);
      return reply.code(204).send();
    },
  );
}
