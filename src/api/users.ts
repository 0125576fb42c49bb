/**
 * `/api/v1/users` (global administrators; a user may read and change its own password, giving
 * the current one, and email) and `/api/v1/user/tokens` (the caller's own access tokens).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isUnlimited } from '../auth/access.js';
import type { NewAccessTokenInput } from '../auth/access-tokens.js';
import { PalletError } from '../base/errors.js';
import type { NewUserInput, UserPatchInput } from '../auth/users.js';
import type { Services } from '../services.js';
import { ApiAccess } from './access.js';
import { tokenCreateBody, tokenCreatedSchema, tokenListSchema, userCreateBody, userPatchBody, userSchema, usersQuery } from './identity-schemas.js';
import { pageRequest, type ListQuery } from '../base/paging.js';
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

  app.patch<{ Params: UserParams; Body: UserPatchInput & { currentPassword?: unknown } }>(
    '/users/:username',
    { schema: { body: userPatchBody, response: withErrors({ 200: userSchema }) } },
    async (request) => {
      // Users change their own password and email (not through a narrow or limited token); the
      // rest is for administrators. Changing one's own password needs the current one, however
      // the request authenticated; an administrator resetting another user's does not.
      const { admin, disabled, password, currentPassword, ...rest } = request.body;
      const self = isSelf(request, request.params.username);
      if (self && admin === undefined && disabled === undefined) {
        const principal = access.strongUser(request, 'changing a user');
        if (principal.token && !isUnlimited(principal.token)) {
          throw new PalletError('DENIED', 'changing a user needs a password, a session or an access token without a space or registry limit');
        }
      } else {
        access.requireAdmin(request, `change user ${request.params.username}`);
      }
      if (self && password !== undefined) {
        const { user } = access.user(request);
        if (typeof currentPassword !== 'string' || currentPassword === '') {
          throw new PalletError('INVALID_ARGUMENT', 'currentPassword is required to change your own password', { field: 'currentPassword' });
        }
        await services.auth.authenticator.confirmPassword(user, currentPassword, request.ip);
      }
      return users.update(request.params.username, {
        ...rest,
        ...(admin !== undefined ? { admin } : {}),
        ...(disabled !== undefined ? { disabled } : {}),
        ...(password !== undefined ? { password } : {}),
      });
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
      const { user, token: creator } = access.strongUser(request, 'creating an access token');
      const { view, token } = await tokens.create(user, request.body, creator);
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
      const { user, token: by } = access.strongUser(request, 'revoking an access token');
      await tokens.revoke(user, request.params.id, by);
      return reply.code(204).send();
    },
  );

}
