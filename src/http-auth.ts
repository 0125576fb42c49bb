/**
 * What the HTTP surfaces (OCI `/v2`, the REST API) share about authentication: the principal
 * attached to each request, and parsing of the `Authorization` header. The decisions live in
 * `src/auth/`; each surface decides which credentials it accepts (the REST API adds session
 * cookies, `/v2` adds token-service JWTs) and how a refusal looks.
 */
import type { FastifyRequest } from 'fastify';
import { PalletError } from './base/errors.js';
import { ANONYMOUS, type Principal } from './auth/principal.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is asking; set by the surface's authentication hook. */
    principal?: Principal;
  }
}

export type PresentedCredentials = { type: 'basic'; username: string; password: string } | { type: 'bearer'; token: string };

/** The credentials in an `Authorization` header; undefined when absent. UNAUTHORIZED when malformed. */
export function parseAuthorization(header: string | undefined): PresentedCredentials | undefined {
  if (header === undefined || header === '') return undefined;
  const space = header.indexOf(' ');
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const value = space < 0 ? '' : header.slice(space + 1).trim();
  if (scheme === 'bearer' && value !== '') return { type: 'bearer', token: value };
  if (scheme === 'basic' && value !== '') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) return { type: 'basic', username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  throw new PalletError('UNAUTHORIZED', 'malformed Authorization header: expected Basic <base64 user:password> or Bearer <token>');
}

export function principalOf(request: FastifyRequest): Principal {
  return request.principal ?? ANONYMOUS;
}
