/**
 * `/api/v1/auth`: the UI's login, logout and current user. A login sets two cookies, both
 * SameSite=Strict, Path=/, Secure when the base URL is https, and lasting as long as the
 * session: `pallet_session` (httpOnly: the session id) and `pallet_csrf` (readable by the UI:
 * the CSRF token to echo in `X-CSRF-Token`). Logout ends the session and clears both.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { toUserView } from '../auth/users.js';
import { externalBaseUrl } from '../config/config.js';
import type { Services } from '../services.js';
import { ApiAccess, CSRF_COOKIE, parseCookies, SESSION_COOKIE } from './access.js';
import { loginBody, loginSchema, meSchema } from './identity-schemas.js';
import { errorResponses, withErrors } from './responses.js';

export function sessionRoutes(app: FastifyInstance, services: Services): void {
  const { auth } = services;
  const access = new ApiAccess(services);
  const secure = externalBaseUrl(services.config).startsWith('https:') ? '; Secure' : '';

  const setCookies = (reply: FastifyReply, session: string, csrf: string, maxAge: number): void => {
    reply.header('Set-Cookie', [
      `${SESSION_COOKIE}=${session}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${secure}`,
      `${CSRF_COOKIE}=${csrf}; Path=/; SameSite=Strict; Max-Age=${maxAge}${secure}`,
    ]);
  };

  app.post<{ Body: { username: string; password: string } }>(
    '/auth/login',
    { schema: { body: loginBody, response: withErrors({ 200: loginSchema }) } },
    async (request, reply) => {
      const user = await auth.authenticator.login(request.body.username, request.body.password, request.ip);
      const session = await auth.sessions.create(user);
      setCookies(reply, session.id, session.csrfToken, Math.floor((session.expiresAt - Date.now()) / 1000));
      request.principal = { kind: 'user', user, via: 'session' };
      return reply.header('Cache-Control', 'no-store').send({
        user: toUserView({ ...user, lastLoginAt: Date.now() }),
        csrfToken: session.csrfToken,
        expiresAt: new Date(session.expiresAt).toISOString(),
      });
    },
  );

  app.post('/auth/logout', { schema: { response: errorResponses } }, async (request, reply) => {
    const id = parseCookies(request.headers.cookie).get(SESSION_COOKIE);
    if (id) await auth.sessions.destroy(id);
    setCookies(reply, '', '', 0);
    return reply.code(204).send();
  });

  app.get('/auth/me', { schema: { response: withErrors({ 200: meSchema }) } }, async (request) => {
    const principal = access.user(request);
    const token = principal.token ? (await auth.tokens.list(principal.user)).find((t) => t.id === principal.token?.id) ?? null : null;
    return { user: toUserView(principal.user), authenticatedBy: principal.via, token };
  });
}
