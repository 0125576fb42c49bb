/**
 * The UI's only way to the server: JSON calls to `/api/v1` with the session cookie. State-changing
 * calls echo the `pallet_csrf` cookie in `X-CSRF-Token` (see docs/auth.md). Every non-2xx answer
 * becomes an `ApiError` carrying the API's `{code, message, details}`; a 401 also tells the app
 * (event `pallet:unauthorized`) so it can show the login page.
 */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/**
 * The API's types, generated from the server's OpenAPI document (web/generated/, written by
 * scripts/gen-api-types.ts): package types and upstream sources are plain strings there, since
 * the formats a server serves come from `GET /package-types` at run time.
 */
export type {
  Artifact,
  ArtifactList,
  Me,
  PackageType,
  PackageTypeList,
  Registry,
  RegistryList,
  Setup,
  Space,
  SpaceList,
  TokenCreated,
  User,
  Version,
  VersionDetail,
  VersionList,
} from '../generated/api-types.js';

function csrfToken(): string | undefined {
  const match = /(?:^|;\s*)pallet_csrf=([^;]*)/.exec(document.cookie);
  return match?.[1] ? decodeURIComponent(match[1]) : undefined;
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD') {
    const csrf = csrfToken();
    if (csrf) headers['x-csrf-token'] = csrf;
  }
  let res: Response;
  try {
    res = await fetch(`/api/v1${path}`, {
      method,
      headers,
      credentials: 'same-origin',
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch {
    throw new ApiError(0, 'UNAVAILABLE', 'The server cannot be reached. Check your connection and try again.');
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const err = (json ?? {}) as { code?: string; message?: string; details?: Record<string, unknown> };
    if (res.status === 401 && path !== '/auth/login') window.dispatchEvent(new Event('pallet:unauthorized'));
    throw new ApiError(res.status, err.code ?? 'INTERNAL', err.message ?? `The server answered ${res.status}.`, err.details ?? {});
  }
  return json as T;
}

/** `?a=1&b=2` from the defined entries of `params` (empty when none). */
export function query(params: Record<string, string | number | boolean | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== '') search.set(key, String(value));
  const text = search.toString();
  return text ? `?${text}` : '';
}

export const enc = encodeURIComponent;

export function registryPath(r: { root: string; identifier: string }): string {
  return `/registries/${enc(r.root)}/${enc(r.identifier)}`;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
