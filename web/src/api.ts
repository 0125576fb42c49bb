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

export interface Page<T> {
  items: T[];
  total: number;
  page: number;
  size: number;
}

export type PackageType = 'docker' | 'helm';
export type RegistryKind = 'local' | 'upstream';

export interface UpstreamConfig {
  source: 'dockerhub' | 'custom';
  url: string;
  auth: { type: 'anonymous' } | { type: 'basic'; username?: string };
  tagTtlSeconds: number;
}

export interface Registry {
  space: string;
  root: string;
  identifier: string;
  packageType: PackageType;
  kind: RegistryKind;
  description: string;
  labels: string[];
  public: boolean;
  upstreams: string[];
  upstream: UpstreamConfig | null;
  url: string;
  sizeBytes: number;
  artifactCount: number;
  downloadCount: number;
  createdAt: string;
  updatedAt: string;
}

export interface Space {
  path: string;
  name: string;
  parent: string | null;
  root: string;
  description: string;
}

export interface User {
  username: string;
  email: string;
  admin: boolean;
}

export interface Artifact {
  name: string;
  versionCount: number;
  latestVersion: string | null;
  sizeBytes: number;
  downloadCount: number;
  updatedAt: string;
  cached: boolean;
}

export interface Version {
  digest: string;
  tags: string[];
  mediaType: string;
  artifactType: string | null;
  size: number;
  manifestSize: number;
  createdAt: string;
  downloadCount: number;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export interface VersionDetail extends Version {
  name: string;
  annotations: Record<string, string> | null;
  subject: string | null;
  manifest: Record<string, unknown>;
  config: Descriptor | null;
  layers: Descriptor[];
  platforms: Array<Descriptor & { platform: { architecture: string; os: string; variant?: string } | null }> | null;
  chart: Record<string, unknown> | null;
}

export interface SetupSteps {
  packageType: PackageType;
  steps: Array<{ title: string; commands: string[]; note?: string }>;
}

export interface NewToken {
  id: string;
  name: string;
  token: string;
  expiresAt: string | null;
}

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
