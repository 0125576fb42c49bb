/**
 * Thin fetch wrappers over the management API (`/api/v1`, see API.md) that end-to-end tests
 * use to set up spaces and registries. Requests authenticate as the bootstrap `admin` user;
 * any non-2xx answer throws an `ApiError` with the status and body.
 */
import type { PalletServer } from './server.js';

export class ApiError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(`${method} ${path} answered ${status}: ${body}`);
    this.name = 'ApiError';
  }
}

export interface RegistryInput {
  space: string;
  identifier: string;
  packageType: 'docker' | 'helm';
  kind: 'local' | 'upstream';
  description?: string;
  labels?: string[];
  public?: boolean;
  upstreams?: string[];
  /** The config of an upstream proxy (kind `upstream`). */
  upstream?: {
    source: 'dockerhub' | 'custom';
    url?: string;
    auth?: { type: 'anonymous' } | { type: 'basic'; username: string; password: string };
    tagTtlSeconds?: number;
  };
}

export interface Space {
  path: string;
  [field: string]: unknown;
}

export interface Registry {
  space: string;
  identifier: string;
  packageType: string;
  kind: string;
  [field: string]: unknown;
}

type Target = Pick<PalletServer, 'url' | 'adminPassword'>;

async function request<T>(server: Target, method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {
    authorization: `Basic ${Buffer.from(`admin:${server.adminPassword}`).toString('base64')}`,
  };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  if (!res.ok) throw new ApiError(method, path, res.status, text);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** `GET /api/v1/<path>` as JSON. */
export function getJson<T>(server: Target, path: string): Promise<T> {
  return request<T>(server, 'GET', `/api/v1/${path.replace(/^\//, '')}`);
}

/** `POST /api/v1/spaces`; `path` may be nested (`acme/payments`) when the parent exists. */
export function createSpace(server: Target, path: string, description?: string): Promise<Space> {
  return request<Space>(server, 'POST', '/api/v1/spaces', { path, ...(description !== undefined ? { description } : {}) });
}

/** `POST /api/v1/registries` */
export function createRegistry(server: Target, input: RegistryInput): Promise<Registry> {
  return request<Registry>(server, 'POST', '/api/v1/registries', input);
}

/** A space with one local Docker registry in it: the usual starting point of an OCI test. */
export async function createDockerRegistry(server: Target, space: string, identifier: string): Promise<Registry> {
  await createSpace(server, space);
  return createRegistry(server, { space, identifier, packageType: 'docker', kind: 'local' });
}
