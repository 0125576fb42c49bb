/**
 * `npm login` / `npm adduser`, legacy flow (`PUT /-/user/org.couchdb.user:<name>` with
 * `{name, password}`): the password is checked by the core (`Authenticator.login`, with its
 * throttling and audit of failures), the user must be able to read this registry, and the
 * answer carries a new Pallet access token, which npm stores as `_authToken` and sends as
 * `Authorization: Bearer`. The token is limited to this registry and has the scopes read, write
 * and delete (what publish, dist-tag and unpublish need); what it may do is still bounded by the
 * user's roles. Accounts are never created here: an unknown user or a wrong password is 401.
 * npm tries web login first (`POST /-/v1/login`); the routes answer that with 404, which npm
 * takes as "not supported" and falls back to this flow.
 */
import type { FastifyRequest } from 'fastify';
import { PalletError } from '../../base/errors.js';
import { requireAccess } from '../../http/pkg-access.js';
import type { Services } from '../../services.js';

export interface LoginAnswer {
  ok: true;
  id: string;
  rev: string;
  token: string;
}

export async function login(request: FastifyRequest, services: Services, urlName: string, body: unknown): Promise<LoginAnswer> {
  const fields = body !== null && typeof body === 'object' ? (body as Record<string, unknown>) : {};
  const { name, password } = fields;
  if (typeof name !== 'string' || name === '' || typeof password !== 'string' || password === '') {
    throw new PalletError('INVALID_ARGUMENT', 'a login carries "name" and "password"');
  }
  if (name !== urlName) throw new PalletError('INVALID_ARGUMENT', `the login names user ${JSON.stringify(name)} but the URL names ${JSON.stringify(urlName)}`);
  const user = await services.auth.authenticator.login(name, password, request.ip);
  // From here on the request acts as that user (for the registry check below).
  request.principal = { kind: 'user', user, via: 'password' };
  const ref = await requireAccess(request, 'pull');
  const created = await services.auth.tokens.create(user, {
    name: `npm login ${new Date().toISOString()}`,
    scopes: ['read', 'write', 'delete'],
    registry: `${ref.root.path}/${ref.registry.identifier}`,
  });
  return { ok: true, id: `org.couchdb.user:${name}`, rev: '1-0', token: created.token };
}
