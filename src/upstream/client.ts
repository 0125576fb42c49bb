/**
 * An OCI distribution client for one upstream registry: manifest GET/HEAD, blob GET/HEAD, with
 * the registry's `WWW-Authenticate` challenge answered the way Docker clients do.
 *
 * Built on `node:http`/`node:https` rather than undici or fetch: response bodies stay plain
 * `Readable` streams with Node's backpressure (the proxy tees them into storage and a client),
 * one keep-alive agent per upstream bounds its sockets, the socket idle timeout covers connect,
 * headers and body stalls alike, and no dependency is added.
 *
 * Authentication:
 *   1. A request goes out with what the client learned so far: nothing, Basic credentials, or
 *      a cached Bearer token for the request's scope (`repository:<name>:pull`).
 *   2. On 401 the challenge is parsed. Basic → retry with the credentials. Bearer → GET the
 *      realm with `service` and `scope` (with the Basic credentials when configured and the
 *      realm may have them: `mayReceiveCredentials`), cache the token until `expires_in` (60 s
 *      when absent) minus a margin, retry. Concurrent requests for one scope share one token
 *      request.
 *   3. A 401/403 after that is DENIED (Docker Hub also answers this for repositories that do
 *      not exist); the caller decides what it means.
 * Redirects (Docker Hub sends blobs to a CDN) are followed up to 5 times, over http(s) only,
 * never from https to http, and to another origin than the request's only when
 * `redirectHosts` lists the host (`redirectAllowed`); credentials are never sent to another
 * origin. A response that came from another origin says so (`crossOrigin`): the caller must
 * not hand its bytes to a client before verifying them. Every response's
 * `ratelimit-remaining` is reported.
 *
 * Time limits: `timeoutMs` is an idle timer (connect, headers, body stalls); `deadlineMs` is a
 * total one, from the start of an operation (redirects, token requests and retries included)
 * to its response headers and, for small bodies (manifests, tokens, files read whole such as a
 * Helm index), to the end of the body. A trickling upstream therefore fails in bounded time.
 *
 * Every connection (the upstream, redirects, token realms) goes through the agents of the
 * `EgressPolicy` (`egress.ts`), which refuse loopback, private, link-local and other non-public
 * addresses unless allow-listed; a refusal is UNAVAILABLE with `detail.reason` EGRESS_REFUSED.
 *
 * Errors: 404 resolves to undefined; 401/403 → PalletError DENIED; 429 → TOOMANYREQUESTS (with
 * `detail.retryAfter` in seconds when the upstream sent `Retry-After`);
 * anything else (unreachable, timeout, 5xx, unexpected status) → UNAVAILABLE. All carry
 * `detail.upstream` (the base URL) and say what happened.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import { PalletError } from '../base/errors.js';
import { readLimited } from '../base/streams.js';
import { MANIFEST_MEDIA_TYPES } from '../registry/media-types.js';
import { parseChallenges, pickChallenge, type Challenge } from './challenge.js';
import type { EgressPolicy } from './egress.js';

const MAX_REDIRECTS = 5;
/** Tokens are renewed this long before the upstream says they expire. */
const TOKEN_MARGIN_MS = 10_000;
const DEFAULT_TOKEN_SECONDS = 60;
const MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024;
/** Tokens are per repository scope; past this many, expired ones are dropped. */
const MAX_CACHED_TOKENS = 1000;
const MANIFEST_ACCEPT = MANIFEST_MEDIA_TYPES.join(', ');

export interface Credentials {
  username: string;
  password: string;
}

export type RequestKind = 'ping' | 'manifest' | 'blob' | 'token' | 'file';

/** Hooks for metrics: every HTTP request sent, and the rate limit the upstream reports. */
export interface ClientObserver {
  request?(kind: RequestKind, method: string): void;
  rateLimit?(remaining: number): void;
}

export interface RegistryClientOptions {
  /** Base URL, no trailing slash (`https://registry-1.docker.io`, `http://127.0.0.1:5001`). */
  url: string;
  /** Docker Hub: one-segment names are official images under `library/`. */
  dockerHub?: boolean;
  /** Prefix of every repository name on the upstream (the path of an `oci://host/path` URL). */
  namePrefix?: string;
  credentials?: Credentials;
  /** Longest wait for a connection, response headers or the next body bytes. */
  timeoutMs: number;
  /** Longest an operation may take to its response headers, and to the end of a small body. */
  deadlineMs: number;
  /**
   * Hosts besides the request's own origin that redirects may go to: `host`, `host:port`,
   * `*.suffix` or `*` (see `redirectAllowed`).
   */
  redirectHosts?: readonly string[];
  /** Where connections may go; every request of this client uses its agents. */
  egress: EgressPolicy;
  /**
   * Hosts besides the upstream's own that may receive `credentials` as its token service
   * (Docker Hub's `auth.docker.io`); see `mayReceiveCredentials`.
   */
  tokenRealmHosts?: readonly string[];
  userAgent?: string;
  observer?: ClientObserver;
}

export interface ManifestHead {
  /** `Docker-Content-Digest`, when the upstream sends it. */
  digest: string | undefined;
  mediaType: string | undefined;
  size: number | undefined;
}

export interface ManifestResponse extends ManifestHead {
  body: Buffer;
}

export interface BlobResponse {
  /** `Content-Length`; undefined when the upstream streams without one. */
  size: number | undefined;
  /** The body; the caller must consume or destroy it. */
  body: Readable;
  /** The body comes from another origin than the one asked (a redirect): verify before serving. */
  crossOrigin: boolean;
}

/** The answer of `exchangeFile`: any status but the errors it throws; the caller consumes or destroys `body`. */
export interface FileExchange extends BlobResponse {
  status: number;
  headers: IncomingMessage['headers'];
}

export interface FileOptions {
  /**
   * A large body the caller streams (a chart archive): the deadline covers the headers only.
   * Otherwise the whole body must arrive within the deadline (an index, a provenance file).
   */
  stream?: boolean;
}

/** An absolute time an operation must be answered by. */
interface Deadline {
  at: number;
  ms: number;
}

interface Exchange {
  res: IncomingMessage;
  crossOrigin: boolean;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

type AuthState = { scheme: 'none' } | { scheme: 'basic' } | { scheme: 'bearer'; realm: string; service: string | undefined };

function header(res: IncomingMessage, name: string): string | undefined {
  const value = res.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function lengthOf(res: IncomingMessage): number | undefined {
  const raw = header(res, 'content-length');
  if (raw === undefined) return undefined;
  const n = Number(raw);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** Longest `Retry-After` passed on to clients, in seconds. */
const MAX_RETRY_AFTER_SECONDS = 24 * 3600;

/** A `Retry-After` value (seconds or an HTTP date) in whole seconds from now; undefined when invalid. */
export function retryAfterSeconds(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  const seconds = /^\d+$/.test(text) ? Number(text) : Math.ceil((Date.parse(text) - now) / 1000);
  if (!Number.isFinite(seconds)) return undefined;
  return Math.min(Math.max(seconds, 0), MAX_RETRY_AFTER_SECONDS);
}

/**
 * Whether a token realm may receive an upstream's Basic credentials: only on the upstream's own
 * host or a host in `trustedHosts`, and never over http when the upstream is https. Other
 * realms are asked anonymously: a challenge must not be able to send the password elsewhere.
 */
export function mayReceiveCredentials(upstreamUrl: string, realm: string, trustedHosts: readonly string[]): boolean {
  const upstream = new URL(upstreamUrl);
  const target = new URL(realm);
  if (target.protocol !== 'https:' && (upstream.protocol === 'https:' || target.protocol !== 'http:')) return false;
  const host = target.hostname.toLowerCase();
  return host === upstream.hostname.toLowerCase() || trustedHosts.some((h) => h.toLowerCase() === host);
}

/**
 * Whether a redirect from `from` (a hop of a request made to `origin`) may go to `to`: http(s)
 * only, never from https to http, and to another origin than `origin` only when `hosts` lists its host — `host` (any port), `host:port`,
 * `*.suffix` (subdomains of suffix) or `*` (any host; the egress policy still refuses
 * non-public addresses). Returns why not, or undefined when it may.
 */
export function redirectRefusal(origin: string, from: URL, to: URL, hosts: readonly string[]): string | undefined {
  if (to.protocol !== 'http:' && to.protocol !== 'https:') return `a ${to.protocol} URL (only http and https are followed)`;
  if (from.protocol === 'https:' && to.protocol === 'http:') return `${to.origin} (from https to plain http)`;
  if (to.origin === origin) return undefined;
  const hostname = to.hostname.toLowerCase();
  const host = to.host.toLowerCase();
  const listed = hosts.some((entry) => {
    const e = entry.trim().toLowerCase();
    if (e === '*') return true;
    if (e.startsWith('*.')) return hostname.endsWith(e.slice(1));
    return e === host || e === hostname;
  });
  return listed ? undefined : `${to.origin}, which is neither the upstream's own origin nor listed in upstream.redirectHosts`;
}

/**
 * The base URL and repository name prefix of an upstream URL: `oci://host/path` (a helm
 * proxy of an OCI registry) is `https://host` with names under `path/`, or `http://host` for a
 * loopback host (what Docker assumes of 127.0.0.0/8 too); http(s) URLs are used as they are.
 */
export function registryEndpoint(url: string): { url: string; namePrefix?: string } {
  if (!url.startsWith('oci://')) return { url };
  const parsed = new URL(`https://${url.slice('oci://'.length)}`);
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  const loopback = host === 'localhost' || host === '::1' || /^127\./.test(host);
  const prefix = parsed.pathname.replace(/^\/+|\/+$/g, '');
  return { url: `${loopback ? 'http' : 'https'}://${parsed.host}`, ...(prefix ? { namePrefix: prefix } : {}) };
}

export class RegistryClient {
  readonly url: string;
  /** One keep-alive agent per scheme (redirects and token realms may use the other one). */
  private readonly agents: { http: HttpAgent; https: HttpsAgent };
  private auth: AuthState = { scheme: 'none' };
  private readonly tokens = new Map<string, CachedToken>();
  private readonly pendingTokens = new Map<string, Promise<CachedToken>>();

  constructor(private readonly options: RegistryClientOptions) {
    this.url = options.url.replace(/\/+$/, '');
    const pool = { keepAlive: true, maxSockets: 64 };
    this.agents = { http: options.egress.httpAgent(pool), https: options.egress.httpsAgent(pool) };
  }

  /** The name on the upstream: Docker Hub's official images live under `library/`. */
  upstreamName(name: string): string {
    const prefix = this.options.namePrefix ? `${this.options.namePrefix}/` : '';
    return this.options.dockerHub && !name.includes('/') ? `library/${name}` : `${prefix}${name}`;
  }

  /**
   * `GET /v2/`: resolves to the challenge the upstream answers with (undefined when it lets
   * anonymous clients in), and learns the auth scheme from it.
   */
  async ping(): Promise<Challenge | undefined> {
    const { res } = await this.send('ping', 'GET', `${this.url}/v2/`, {}, this.deadline());
    res.resume();
    if (res.statusCode === 401) {
      const challenge = pickChallenge(parseChallenges(res.headers['www-authenticate']));
      if (challenge) this.learn(challenge);
      return challenge;
    }
    if (res.statusCode !== 200) throw this.statusError(res, 'GET /v2/');
    return undefined;
  }

  /** HEAD of a manifest by tag or digest; undefined when the upstream has none. */
  async headManifest(name: string, reference: string): Promise<ManifestHead | undefined> {
    const { res } = await this.request('manifest', 'HEAD', name, `manifests/${reference}`, { accept: MANIFEST_ACCEPT });
    res.resume();
    if (res.statusCode === 404) return undefined;
    if (res.statusCode !== 200) throw this.statusError(res, `HEAD manifest ${name}:${reference}`);
    return this.manifestHead(res);
  }

  /** GET of a manifest, at most `maxBytes` long; undefined when the upstream has none. */
  async getManifest(name: string, reference: string, maxBytes: number): Promise<ManifestResponse | undefined> {
    const { res } = await this.request('manifest', 'GET', name, `manifests/${reference}`, { accept: MANIFEST_ACCEPT, small: true });
    if (res.statusCode === 404) {
      res.resume();
      return undefined;
    }
    if (res.statusCode !== 200) {
      res.resume();
      throw this.statusError(res, `GET manifest ${name}:${reference}`);
    }
    let body: Buffer;
    try {
      body = await readLimited(res, maxBytes);
    } catch (err) {
      throw this.failure(err, `GET manifest ${name}:${reference}`);
    }
    return { ...this.manifestHead(res), size: body.length, body };
  }

  /** HEAD of a blob; undefined when the upstream has none. */
  async headBlob(name: string, digest: string): Promise<{ size: number | undefined } | undefined> {
    const { res } = await this.request('blob', 'HEAD', name, `blobs/${digest}`, {});
    res.resume();
    if (res.statusCode === 404) return undefined;
    if (res.statusCode !== 200) throw this.statusError(res, `HEAD blob ${name}@${digest}`);
    return { size: lengthOf(res) };
  }

  /** GET of a blob: its length and body stream; undefined when the upstream has none. */
  async getBlob(name: string, digest: string): Promise<BlobResponse | undefined> {
    const { res, crossOrigin } = await this.request('blob', 'GET', name, `blobs/${digest}`, {});
    if (res.statusCode === 404) {
      res.resume();
      return undefined;
    }
    if (res.statusCode !== 200) {
      res.resume();
      throw this.statusError(res, `GET blob ${name}@${digest}`);
    }
    return { size: lengthOf(res), body: res, crossOrigin };
  }

  /**
   * GET of a plain file by URL (a classic chart repository's `index.yaml` or chart archive):
   * the configured Basic credentials go to the upstream's own origin only, also on a 401
   * challenge. Resolves to the length and body stream; undefined on 404. The whole body must
   * arrive within the deadline unless `options.stream` (see `FileOptions`).
   */
  async getFile(href: string, options: FileOptions = {}): Promise<BlobResponse | undefined> {
    const url = new URL(href);
    const own = url.origin === new URL(this.url).origin;
    const basic = own ? this.basicHeader() : undefined;
    const deadline = this.deadline();
    const small = !options.stream;
    let { res, crossOrigin } = await this.send('file', 'GET', url.href, this.auth.scheme === 'basic' && basic ? { authorization: basic } : {}, deadline, small);
    if (res.statusCode === 401 && basic && this.auth.scheme !== 'basic') {
      res.resume();
      this.auth = { scheme: 'basic' };
      ({ res, crossOrigin } = await this.send('file', 'GET', url.href, { authorization: basic }, deadline, small));
    }
    if (res.statusCode === 404) {
      res.resume();
      return undefined;
    }
    if (res.statusCode !== 200) {
      res.resume();
      throw this.statusError(res, `GET ${url.pathname}`);
    }
    return { size: lengthOf(res), body: res, crossOrigin };
  }

  /**
   * One request to a URL on the upstream with the caller's headers (an `Accept` for a format's
   * metadata, `If-None-Match`) and an optional small body (a POST a format forwards): resolves to
   * the response whatever its status, except 401/403 → DENIED, 429 → TOOMANYREQUESTS and 5xx →
   * UNAVAILABLE (their bodies are discarded). The configured credentials go with the first
   * request when `bearer` or Basic is known to be wanted, and always on a 401, to the upstream's
   * own origin only (redirects elsewhere drop them). `bearer`: the password is sent as
   * `Authorization: Bearer <password>` (a registry token, as npm registries take it).
   */
  async exchangeFile(method: 'GET' | 'POST', href: string, options: { headers?: OutgoingHttpHeaders; body?: Buffer; stream?: boolean; bearer?: boolean } = {}): Promise<FileExchange> {
    const url = new URL(href);
    const own = url.origin === new URL(this.url).origin;
    const c = this.options.credentials;
    const auth = own && c ? (options.bearer ? `Bearer ${c.password}` : this.basicHeader()) : undefined;
    const deadline = this.deadline();
    const small = !options.stream;
    const base: OutgoingHttpHeaders = { ...options.headers, ...(options.body ? { 'content-length': options.body.length } : {}) };
    const first = options.bearer || this.auth.scheme === 'basic';
    let { res, crossOrigin } = await this.send('file', method, url.href, first && auth ? { ...base, authorization: auth } : base, deadline, small, options.body);
    if (res.statusCode === 401 && auth && !first) {
      res.resume();
      this.auth = { scheme: 'basic' };
      ({ res, crossOrigin } = await this.send('file', method, url.href, { ...base, authorization: auth }, deadline, small, options.body));
    }
    const status = res.statusCode ?? 0;
    if (status === 401 || status === 403 || status === 429 || status >= 500) {
      res.resume();
      throw this.statusError(res, `${method} ${url.pathname}`);
    }
    return { status, headers: res.headers, size: lengthOf(res), body: res, crossOrigin };
  }

  /** Closes idle sockets; requests in flight finish. */
  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  private manifestHead(res: IncomingMessage): ManifestHead {
    return {
      digest: header(res, 'docker-content-digest'),
      mediaType: header(res, 'content-type')?.split(';')[0]?.trim(),
      size: lengthOf(res),
    };
  }

  /**
   * Sends a request for repository `name` (local name; mapped to the upstream's), answering one
   * authentication challenge.
   */
  private async request(kind: RequestKind, method: string, name: string, path: string, extra: { accept?: string; small?: boolean }): Promise<Exchange> {
    const remote = this.upstreamName(name);
    const scope = `repository:${remote}:pull`;
    const url = `${this.url}/v2/${remote}/${path}`;
    const headers: OutgoingHttpHeaders = extra.accept ? { accept: extra.accept } : {};
    const deadline = this.deadline();
    const small = extra.small ?? false;
    const firstExchange = await this.send(kind, method, url, { ...headers, ...(await this.authorization(scope, deadline)) }, deadline, small);
    const first = firstExchange.res;
    if (first.statusCode !== 401) return firstExchange;
    first.resume();
    const challenge = pickChallenge(parseChallenges(first.headers['www-authenticate']));
    if (!challenge) throw this.statusError(first, `${method} ${remote}/${path}`);
    this.learn(challenge);
    if (challenge.scheme === 'bearer') this.forgetToken(challenge, scope);
    const auth = await this.authorization(challenge.params.scope ?? scope, deadline, challenge);
    if (Object.keys(auth).length === 0) throw this.statusError(first, `${method} ${remote}/${path}`);
    return this.send(kind, method, url, { ...headers, ...auth }, deadline, small);
  }

  /** A deadline `deadlineMs` from now. */
  private deadline(): Deadline {
    return { at: Date.now() + this.options.deadlineMs, ms: this.options.deadlineMs };
  }

  private learn(challenge: Challenge): void {
    if (challenge.scheme === 'bearer' && challenge.params.realm) {
      this.auth = { scheme: 'bearer', realm: challenge.params.realm, service: challenge.params.service };
    } else if (challenge.scheme === 'basic') {
      this.auth = { scheme: 'basic' };
    }
  }

  private tokenKey(realm: string, service: string | undefined, scope: string): string {
    return `${realm}\n${service ?? ''}\n${scope}`;
  }

  private forgetToken(challenge: Challenge, scope: string): void {
    this.tokens.delete(this.tokenKey(challenge.params.realm ?? '', challenge.params.service, challenge.params.scope ?? scope));
  }

  private basicHeader(): string | undefined {
    const c = this.options.credentials;
    return c ? `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}` : undefined;
  }

  /** The Authorization header for a request in `scope`, from what the client learned. */
  private async authorization(scope: string, deadline: Deadline, challenge?: Challenge): Promise<OutgoingHttpHeaders> {
    const state = this.auth;
    if (state.scheme === 'basic') {
      const basic = this.basicHeader();
      return basic ? { authorization: basic } : {};
    }
    if (state.scheme !== 'bearer') return {};
    const realm = challenge?.params.realm ?? state.realm;
    const service = challenge ? challenge.params.service : state.service;
    const token = await this.token(realm, service, scope, deadline);
    return { authorization: `Bearer ${token.token}` };
  }

  /** A cached token for the scope, or one fetched now (shared by concurrent callers). */
  private async token(realm: string, service: string | undefined, scope: string, deadline: Deadline): Promise<CachedToken> {
    const key = this.tokenKey(realm, service, scope);
    const cached = this.tokens.get(key);
    if (cached && cached.expiresAt > Date.now()) return cached;
    let pending = this.pendingTokens.get(key);
    if (!pending) {
      pending = this.fetchToken(realm, service, scope, deadline).finally(() => this.pendingTokens.delete(key));
      this.pendingTokens.set(key, pending);
    }
    const token = await pending;
    if (this.tokens.size >= MAX_CACHED_TOKENS) {
      const now = Date.now();
      for (const [k, t] of this.tokens) if (t.expiresAt <= now) this.tokens.delete(k);
      if (this.tokens.size >= MAX_CACHED_TOKENS) this.tokens.clear();
    }
    this.tokens.set(key, token);
    return token;
  }

  private async fetchToken(realm: string, service: string | undefined, scope: string, deadline: Deadline): Promise<CachedToken> {
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new PalletError('UNAVAILABLE', `upstream ${this.url} names an invalid token realm ${JSON.stringify(realm)}`, { upstream: this.url });
    }
    if (service) url.searchParams.set('service', service);
    url.searchParams.set('scope', scope);
    const basic = mayReceiveCredentials(this.url, url.href, this.options.tokenRealmHosts ?? []) ? this.basicHeader() : undefined;
    const { res } = await this.send('token', 'GET', url.href, basic ? { authorization: basic } : {}, deadline, true);
    if (res.statusCode !== 200) {
      res.resume();
      throw this.statusError(res, `token request to ${url.origin}${url.pathname}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse((await readLimited(res, MAX_TOKEN_RESPONSE_BYTES)).toString('utf8'));
    } catch (err) {
      throw this.failure(err, `token request to ${url.origin}${url.pathname}`);
    }
    const body = (parsed !== null && typeof parsed === 'object' ? parsed : {}) as Record<string, unknown>;
    const token = typeof body.token === 'string' && body.token ? body.token : body.access_token;
    if (typeof token !== 'string' || token.length === 0) {
      throw new PalletError('UNAVAILABLE', `the token service of ${this.url} answered without a token`, { upstream: this.url });
    }
    const seconds = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_SECONDS;
    return { token, expiresAt: Date.now() + Math.max(seconds * 1000 - TOKEN_MARGIN_MS, (seconds * 1000) / 2) };
  }

  /**
   * One HTTP exchange, following redirects (see the header for which); resolves once the
   * response headers are in. `small`: the deadline also covers the body.
   */
  private async send(kind: RequestKind, method: string, href: string, headers: OutgoingHttpHeaders, deadline: Deadline, small = false, body?: Buffer): Promise<Exchange> {
    let url = new URL(href);
    const origin = url.origin;
    for (let hop = 0; ; hop++) {
      const sameOrigin = url.origin === origin;
      const outgoing: OutgoingHttpHeaders = {
        'user-agent': this.options.userAgent ?? 'pallet-upstream',
        ...(sameOrigin ? headers : Object.fromEntries(Object.entries(headers).filter(([k]) => k !== 'authorization'))),
      };
      this.options.observer?.request?.(kind, method);
      const res = await this.exchange(method, url, outgoing, deadline, small, body);
      const remaining = header(res, 'ratelimit-remaining');
      if (remaining !== undefined) {
        const n = Number.parseInt(remaining, 10);
        if (Number.isFinite(n)) this.options.observer?.rateLimit?.(n);
      }
      const status = res.statusCode ?? 0;
      const location = header(res, 'location');
      if ([301, 302, 303, 307, 308].includes(status) && location) {
        res.resume();
        if (hop >= MAX_REDIRECTS) throw new PalletError('UNAVAILABLE', `upstream ${this.url} redirected more than ${MAX_REDIRECTS} times`, { upstream: this.url });
        let next: URL;
        try {
          next = new URL(location, url);
        } catch {
          throw new PalletError('UNAVAILABLE', `upstream ${this.url} redirected to an invalid URL`, { upstream: this.url, reason: 'REDIRECT_REFUSED' });
        }
        const why = redirectRefusal(origin, url, next, this.options.redirectHosts ?? []);
        if (why) {
          throw new PalletError('UNAVAILABLE', `upstream ${this.url} redirected ${method} ${url.pathname} to ${why}; the redirect was not followed`, {
            upstream: this.url,
            reason: 'REDIRECT_REFUSED',
          });
        }
        url = next;
        continue;
      }
      return { res, crossOrigin: url.origin !== origin };
    }
  }

  /**
   * One request. The idle timer (`timeoutMs`) stays armed while the body streams; the deadline
   * fires once headers are late, or for a `small` body once the body is not complete by then.
   */
  private exchange(method: string, url: URL, headers: OutgoingHttpHeaders, deadline: Deadline, small: boolean, body?: Buffer): Promise<IncomingMessage> {
    const timeoutMs = this.options.timeoutMs;
    return new Promise((resolve, reject) => {
      const https = url.protocol === 'https:';
      if (!https && url.protocol !== 'http:') {
        reject(new PalletError('UNAVAILABLE', `upstream ${this.url} sent Pallet to a ${url.protocol} URL (only http and https are followed)`, { upstream: this.url, reason: 'REDIRECT_REFUSED' }));
        return;
      }
      const late = (what: string): Error =>
        Object.assign(new Error(`${what} within ${deadline.ms} ms (upstream.deadlineMs)`), { code: 'ETIMEDOUT' });
      let res: IncomingMessage | undefined;
      const timer = setTimeout(() => {
        if (res) res.destroy(late('the body did not arrive in full'));
        else req.destroy(late('no response headers'));
      }, Math.max(0, deadline.at - Date.now()));
      const send = https ? httpsRequest : httpRequest;
      const req = send(url, { method, headers, agent: https ? this.agents.https : this.agents.http }, (response) => {
        res = response;
        response.once('error', () => undefined);
        if (!small) clearTimeout(timer);
        else response.once('close', () => clearTimeout(timer));
        resolve(response);
      });
      req.setTimeout(timeoutMs, () => {
        const err = Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' });
        req.destroy(err);
      });
      req.once('error', (err) => {
        if (!res) clearTimeout(timer);
        reject(this.failure(err, `${method} ${url.pathname}`));
      });
      req.end(body);
    });
  }

  private failure(err: unknown, what: string): PalletError {
    if (err instanceof PalletError && err.code !== 'TOO_LARGE') return err;
    const message = err instanceof Error ? err.message : String(err);
    return new PalletError('UNAVAILABLE', `upstream ${this.url} could not be reached (${what}: ${message})`, {
      upstream: this.url,
      reason: (err as NodeJS.ErrnoException | undefined)?.code ?? 'error',
    });
  }

  private statusError(res: IncomingMessage, what: string): PalletError {
    const status = res.statusCode ?? 0;
    const detail = { upstream: this.url, status };
    if (status === 401 || status === 403) {
      return new PalletError('DENIED', `upstream ${this.url} denied ${what} (${status})`, detail);
    }
    if (status === 429) {
      const retryAfter = retryAfterSeconds(header(res, 'retry-after'));
      return new PalletError('TOOMANYREQUESTS', `upstream ${this.url} is rate-limiting this proxy (${what}: 429)`, {
        ...detail,
        ...(retryAfter !== undefined ? { retryAfter } : {}),
      });
    }
    return new PalletError('UNAVAILABLE', `upstream ${this.url} failed ${what} (${status})`, detail);
  }
}
