/**
 * `/api/v1/users` (global administrators; a user may read and change its own password and
 * email) and `/api/v1/user/tokens` (the caller's own access tokens).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { NewAccessTokenInput } from '../auth/access-tokens.js';
import type { NewUserInput, UserPatchInput } from '../auth/users.js';
import type { Services } from '../services.js';
import { ApiAccess } from './access.js';
import { tokenCreateBody, tokenCreatedSchema, tokenListSchema, userCreateBody, userPatchBody, userSchema, usersQuery } from './identity-schemas.js';
import { pageRequest, type ListQuery } from './paging.js';
import { errorResponses, withErrors } from './responses.js';
import { listSchema } from './schemas.js';

interface UserParams {
  username: string;
}

export function userRoutes(app: FastifyInstance, services: Services): void {
  const { users, tokens } = services.auth;
  const access = new ApiAccess(services);

  app.post<{ Body: NewUserInput }>(
    '/users',
    { schema: { body: userCreateBody, response: withErrors({ 201: userSchema }) } },
    async (request, reply) => {
      access.requireAdmin(request, 'create users');
      const user = await users.create(request.body);
      return reply.code(201).header('Location', `/api/v1/users/${encodeURIComponent(user.username)}`).send(user);
    },
  );

  app.get<{ Querystring: ListQuery }>(
    '/users',
    { schema: { querystring: usersQuery, response: withErrors({ 200: listSchema(userSchema) }) } },
    async (request) => {
      access.requireAdmin(request, 'list users');
      return users.list(request.query.q, pageRequest(request.query));
    },
  );

  const isSelf = (request: FastifyRequest, username: string): boolean => {
    const principal = access.principal(request);
    return principal.kind === 'user' && principal.user.username === username;
  };

  app.get<{ Params: UserParams }>(
    '/users/:username',
    { schema: { response: withErrors({ 200: userSchema }) } },
    async (request) => {
      if (!isSelf(request, request.params.username)) access.requireAdmin(request, `read user ${request.params.username}`);
      return users.get(request.params.username);
    },
  );

  app.patch<{ Params: UserParams; Body: UserPatchInput }>(
    '/users/:username',
    { schema: { body: userPatchBody, response: withErrors({ 200: userSchema }) } },
    async (request) => {
      // Users change their own password and email (not through a narrow token); the rest is
      // for administrators.
      const { admin, disabled } = request.body;
      if (isSelf(request, request.params.username) && admin === undefined && disabled === undefined) {
        access.strongUser(request, 'changing a user');
      } else {
        access.requireAdmin(request, `change user ${request.params.username}`);
      }
      return users.update(request.params.username, request.body);
    },
  );

  app.delete<{ Params: UserParams }>(
    '/users/:username',
    { schema: { response: errorResponses } },
    async (request, reply) => {
      access.requireAdmin(request, 'delete users');
      await users.delete(request.params.username);
      return reply.code(204).send();
    },
  );

  // The caller's access tokens ----------------------------------------------------------------

  app.post<{ Body: NewAccessTokenInput }>(
    '/user/tokens',
    { schema: { body: tokenCreateBody, response: withErrors({ 201: tokenCreatedSchema }) } },
    async (request, reply) => {
      const { user } = access.strongUser(request, 'creating an access token');
      const { view, token } = await tokens.create(user, request.body);
      return reply.code(201).header('Cache-Control', 'no-store').send({ ...view, token });
    },
  );

  app.get(
    '/user/tokens',
    { schema: { response: withErrors({ 200: tokenListSchema }) } },
    async (request) => ({ items: await tokens.list(access.user(request).user) }),
  );

  app.delete<{ Params: { id: string } }>(
    '/user/tokens/:id',
    { schema: { response: errorResponses } },
    async (request, reply) => {
      const { user } = access.strongUser(request, 'revoking an access token');
      await tokens.revoke(user, request.params.id);
      return reply.code(204).send();
    },
  );

}
