/**
 * The config of an upstream proxy (a registry of kind `upstream`): validation of what the API
 * is given, the stored form (password sealed by a `SecretCodec`), the API view (no secret) and
 * the opened form for the upstream client.
 *
 * Contracts:
 * - On a PATCH, fields left out keep their stored values, with two exceptions: a change of
 *   source drops the previous URL, and a change of the URL's origin (scheme, host and port)
 *   drops the stored credentials unless the same request gives them again (a password is never
 *   carried to another host: whoever may edit the URL must not be able to collect it).
 * - Where a URL may point is checked by a `DestinationCheck` when it is set (`checkDestination`);
 *   the connection-time guarantee is `upstream/egress.ts`.
 */
import { isJsonObject, type JsonObject } from '../base/json.js';
import { PalletError } from '../base/errors.js';
import type { RegistryRecord } from '../metadata/store.js';
import type { PackageTypeSpec } from './package-types.js';

export const DOCKER_HUB_URL = 'https://registry-1.docker.io';
export const DEFAULT_TAG_TTL_SECONDS = 300;

/** A source id of the proxy's format (`PackageTypeSpec.sources`): `custom` or a well-known one. */
export type UpstreamSource = string;

/**
 * Encryption at rest of upstream secrets (`upstream/secret-box.ts`). `seal` output is what the
 * registry row keeps; `open` also accepts a value stored before sealing existed (plain text).
 */
export interface SecretCodec {
  seal(plain: string): string;
  open(stored: string): string;
  isSealed(stored: string): boolean;
}

/**
 * The upstream proxy config as stored in the registry row. The password is kept sealed by the
 * `SecretCodec` (plain in rows written before it existed, until `sealStoredSecrets` runs); it
 * is opened only for the upstream client and never put into a view.
 */
export interface StoredUpstream {
  source: UpstreamSource;
  url: string;
  auth: { type: 'anonymous' } | { type: 'basic'; username: string; password: string };
  tagTtlSeconds: number;
}

/** An upstream proxy's config with its secret opened, for the upstream client only. */
export interface UpstreamConfig {
  source: UpstreamSource;
  url: string;
  credentials: { username: string; password: string } | undefined;
  tagTtlSeconds: number;
}

/** The upstream proxy config as the API shows it: no secret. */
export interface UpstreamView {
  source: UpstreamSource;
  url: string;
  auth: { type: 'anonymous' } | { type: 'basic'; username: string };
  tagTtlSeconds: number;
}

/**
 * Where upstream connections may go (`upstream/egress.ts`), asked when a proxy's URL is set so
 * an admin learns early that it would be refused.
 */
export interface DestinationCheck {
  /** Why connections to `hostname` would be refused now; undefined when they would be allowed. */
  refusalOf(hostname: string): Promise<string | undefined>;
}

function invalid(message: string, field: string): PalletError {
  return new PalletError('INVALID_ARGUMENT', message, { field });
}

/** `scheme://host[:port]` of an upstream URL (`oci://` included). */
export function originOf(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}`.toLowerCase();
  } catch {
    return url;
  }
}

/** An upstream URL: no credentials, query or fragment; no trailing slash. */
function checkUpstreamUrl(value: unknown, spec: PackageTypeSpec): string {
  const allowed = spec.urlSchemes;
  const schemes = allowed.map((p) => `${p}//`).join(', ');
  if (typeof value !== 'string' || value.length === 0) {
    throw invalid(`upstream.url is required for a custom source: ${spec.urlHint} (${schemes} URL)`, 'upstream.url');
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid(`upstream.url ${JSON.stringify(value)} is not a valid URL`, 'upstream.url');
  }
  if (!allowed.includes(url.protocol)) {
    throw invalid(`upstream.url of a ${spec.type} upstream proxy must start with ${schemes}; got ${JSON.stringify(value)}`, 'upstream.url');
  }
  if (!url.host) throw invalid(`upstream.url ${JSON.stringify(value)} names no host`, 'upstream.url');
  if (url.username || url.password) {
    throw invalid('upstream.url must not carry credentials: put them in upstream.auth', 'upstream.url');
  }
  if (url.search || url.hash) throw invalid('upstream.url must not carry a query or fragment', 'upstream.url');
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
}

/**
 * The auth of a config. `previous` is the stored auth that an omitted field may keep; undefined
 * when nothing may be kept (a create, or a URL that `movedTo` another origin).
 */
function checkAuth(value: unknown, previous: StoredUpstream['auth'] | undefined, secrets: SecretCodec, movedTo?: string): StoredUpstream['auth'] {
  if (value === undefined) return previous ?? { type: 'anonymous' };
  if (!isJsonObject(value)) throw invalid('upstream.auth must be an object: {"type":"anonymous"} or {"type":"basic","username","password"}', 'upstream.auth');
  if (value.type === 'anonymous') return { type: 'anonymous' };
  if (value.type !== 'basic') throw invalid(`upstream.auth.type must be anonymous or basic; got ${JSON.stringify(value.type)}`, 'upstream.auth.type');
  const { username } = value;
  if (typeof username !== 'string' || username.length === 0) {
    throw invalid('upstream.auth.username is required for basic authentication', 'upstream.auth.username');
  }
  // A client that edits other settings cannot send back a password it was never shown: an
  // omitted password keeps the stored one (sealed as it is) — on the same origin only.
  if (value.password === undefined && previous?.type === 'basic' && previous.password.length > 0) {
    const kept = secrets.isSealed(previous.password) ? previous.password : secrets.seal(previous.password);
    return { type: 'basic', username, password: kept };
  }
  const password = value.password;
  if (typeof password !== 'string' || password.length === 0) {
    const moved = movedTo ? `: the stored one is not kept when upstream.url moves to another origin (${movedTo})` : ' for basic authentication';
    throw invalid(`upstream.auth.password (a password or access token) is required${moved}`, 'upstream.auth.password');
  }
  return { type: 'basic', username, password: secrets.seal(password) };
}

/**
 * Validates an upstream proxy config. With `previous` (a PATCH), fields left out keep their
 * stored values, except that a change of source drops the previous URL and a change of origin
 * drops the stored credentials (see the header).
 */
export function checkUpstreamConfig(spec: PackageTypeSpec, value: unknown, secrets: SecretCodec, previous?: StoredUpstream): StoredUpstream {
  if (!isJsonObject(value)) throw invalid('upstream must be an object with source, url, auth and tagTtlSeconds', 'upstream');
  const source = value.source ?? previous?.source ?? spec.defaultSource;
  const known = spec.sources.find((s) => s.id === source);
  if (typeof source !== 'string' || !known) {
    const ids = spec.sources.map((s) => s.id).join(' or ');
    throw invalid(`upstream.source of a ${spec.type} upstream proxy must be ${ids}; got ${JSON.stringify(source)}`, 'upstream.source');
  }
  let url: string;
  if (known.defaultUrl !== undefined) {
    if (value.url !== undefined && value.url !== known.defaultUrl) {
      throw invalid(`upstream.url is fixed to ${known.defaultUrl} for source ${source}; use source custom for another ${spec.urlHint}`, 'upstream.url');
    }
    url = known.defaultUrl;
  } else {
    const keep = previous && previous.source === source ? previous.url : undefined;
    url = checkUpstreamUrl(value.url ?? keep, spec);
  }
  const ttl = value.tagTtlSeconds ?? previous?.tagTtlSeconds ?? DEFAULT_TAG_TTL_SECONDS;
  if (typeof ttl !== 'number' || !Number.isSafeInteger(ttl) || ttl < 0) {
    throw invalid(`upstream.tagTtlSeconds must be an integer of at least 0; got ${JSON.stringify(ttl)}`, 'upstream.tagTtlSeconds');
  }
  const moved = previous !== undefined && originOf(url) !== originOf(previous.url);
  const auth = checkAuth(value.auth, moved ? undefined : previous?.auth, secrets, moved ? originOf(url) : undefined);
  return { source, url, auth, tagTtlSeconds: ttl };
}

/**
 * Refuses (INVALID_ARGUMENT) a proxy URL that `check` says connections may not reach now: a
 * literal non-public address, or a name resolving to one. Asked only for a new or changed URL;
 * Docker Hub's fixed URL is not asked about.
 */
export async function checkDestination(config: StoredUpstream, spec: PackageTypeSpec, check: DestinationCheck | undefined, previousUrl?: string): Promise<void> {
  const wellKnown = spec.sources.some((s) => s.id === config.source && s.defaultUrl === config.url);
  if (!check || wellKnown || config.url === previousUrl) return;
  const why = await check.refusalOf(new URL(config.url).hostname);
  if (why) {
    throw invalid(
      `upstream.url ${config.url} cannot be used: ${why}. An operator can allow an internal network with upstream.allowedNetworks (PALLET_UPSTREAM_ALLOWED_NETWORKS)`,
      'upstream.url',
    );
  }
}

/**
 * Reads a stored config back (written by `checkUpstreamConfig`, so trusted in shape). A row
 * written without a URL for a well-known source (before URLs were stored for them) gets the
 * Docker Hub URL, the only well-known source of that time.
 */
export function readStoredUpstream(json: JsonObject | null): StoredUpstream | undefined {
  if (!json) return undefined;
  const auth = isJsonObject(json.auth) && json.auth.type === 'basic'
    ? { type: 'basic' as const, username: String(json.auth.username ?? ''), password: String(json.auth.password ?? '') }
    : { type: 'anonymous' as const };
  const source = typeof json.source === 'string' ? json.source : 'custom';
  const url = typeof json.url === 'string' && json.url.length > 0 ? json.url : source === 'dockerhub' ? DOCKER_HUB_URL : '';
  return {
    source,
    url,
    auth,
    tagTtlSeconds: typeof json.tagTtlSeconds === 'number' ? json.tagTtlSeconds : DEFAULT_TAG_TTL_SECONDS,
  };
}

/**
 * The config of an upstream proxy with its password opened, for the upstream client; undefined
 * for a registry that is not an upstream proxy.
 */
export function readUpstreamConfig(record: RegistryRecord, secrets: SecretCodec): UpstreamConfig | undefined {
  if (record.kind !== 'upstream') return undefined;
  const stored = readStoredUpstream(record.upstream);
  if (!stored) return undefined;
  return {
    source: stored.source,
    url: stored.url,
    credentials: stored.auth.type === 'basic' ? { username: stored.auth.username, password: secrets.open(stored.auth.password) } : undefined,
    tagTtlSeconds: stored.tagTtlSeconds,
  };
}

export function toUpstreamView(stored: StoredUpstream | undefined): UpstreamView | null {
  if (!stored) return null;
  const auth: UpstreamView['auth'] = stored.auth.type === 'basic' ? { type: 'basic', username: stored.auth.username } : { type: 'anonymous' };
  return { source: stored.source, url: stored.url, auth, tagTtlSeconds: stored.tagTtlSeconds };
}

export function toJson(stored: StoredUpstream): JsonObject {
  return { ...stored, auth: { ...stored.auth } };
}

