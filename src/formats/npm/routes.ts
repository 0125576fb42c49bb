/**
 * The npm registry API of an npm registry, at `/pkg/<root>/<registry>/npm/` (the `registry=`
 * of `.npmrc`). npm's paths do not fit a router's patterns (a scoped name is `@scope%2fname` or
 * `@scope/name`, and `-rev/<rev>` or `-/<file>` may follow it), so each method has one wildcard
 * route whose path is parsed by `names.ts`:
 *
 *   GET    <name>                         packument (full, or abbreviated for install-v1
 *                                         Accept), ETag / If-None-Match → 304
 *   GET    <name>/<version or dist-tag>   one version's document
 *   GET    <name>/-/<file>.tgz            tarball
 *   PUT    <name>[/-rev/<rev>]            publish (with `_attachments`) or metadata update
 *   DELETE <name>/-rev/<rev>              unpublish the package
 *   DELETE <name>/-/<file>.tgz/-rev/<rev> unpublish the version of that tarball
 *   GET    -/package/<name>/dist-tags     dist-tags; PUT|POST …/<tag> sets one, DELETE removes
 *   GET    -/v1/search?text=&size=&from=  search
 *   GET    -/ping, -/whoami               npm ping, npm whoami
 *   PUT    -/user/org.couchdb.user:<name> npm login (legacy flow): an access token
 *   POST   -/v1/login                     web login: 404, which makes npm use the legacy flow
 *   POST   -/npm/v1/security/…            audit: the upstreams' answer, else an empty result
 *
 * Authentication is the `/pkg` glue's (`Authorization: Bearer <access token>`, what npm sends
 * for `_authToken`, or basic). Reads need `pull`, publishes and tag changes `push`, removing
 * versions or packages `delete`. Every state-changing request goes to the audit log.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isPalletError, PalletError } from '../../base/errors.js';
import { parseJsonBounded } from '../../base/bounded-parse.js';
import { readRequestBody } from '../../base/streams.js';
import { externalBaseUrl } from '../../config/config.js';
import { auditAction, requireAccess } from '../../http/pkg-access.js';
import { principalOf } from '../../http/request-auth.js';
import { actorName } from '../../auth/principal.js';
import type { Services } from '../../services.js';
import type { NpmSettings } from './config.js';
import { NPM_STATUS, sendNpmError } from './errors.js';
import { login } from './login.js';
import { CONTROL, parseNpmPath, type NpmPath } from './names.js';
import { ABBREVIATED_TYPE, abbreviate, serializePackument, type Packument, type SerializedPackument } from './packument.js';
import type { NpmPackages, NpmRequestContext } from './packages.js';
import type { NpmPublisher, PutOptions, PutResult } from './publisher.js';
import type { NpmMetrics } from './npm-metrics.js';

export interface NpmRouteOptions {
  services: Services;
  metrics: NpmMetrics;
  packages: NpmPackages;
  publisher: NpmPublisher;
  settings: NpmSettings;
}

/** Largest `from` of a search (far past any registry's packages; keeps the SQL offset an integer). */
const MAX_SEARCH_FROM = 1_000_000_000;

type Handler = (request: FastifyRequest, reply: FastifyReply, path: NpmPath) => Promise<FastifyReply>;

/**
 * The path below `/pkg/<root>/<registry>/npm/`, still URL-encoded, without the query. The
 * prefix's four segments are skipped however many slashes separate them (the router ignores
 * repeated slashes: `/pkg/acme//js/npm/-rev/1` must not read as package `npm`).
 */
function pathOf(request: FastifyRequest): string {
  const parts = request.url.split('?')[0]!.split('/');
  let i = 0;
  for (let seen = 0; i < parts.length && seen < 4; i++) if (parts[i] !== '') seen++;
  return parts.slice(i).join('/');
}

/** This registry's npm URL as the client reaches it (the configured base URL wins). */
export function registryUrlOf(request: FastifyRequest, services: Services): string {
  const { root, registry } = request.params as { root: string; registry: string };
  const base = services.config.baseUrl ? externalBaseUrl(services.config) : `${request.protocol}://${request.host}`;
  return `${base}/pkg/${encodeURIComponent(root)}/${encodeURIComponent(registry)}/npm`;
}

function contextOf(request: FastifyRequest, services: Services, reply?: FastifyReply): NpmRequestContext {
  const controller = new AbortController();
  if (reply) {
    request.raw.on('close', () => {
      if (!reply.raw.writableFinished) controller.abort();
    });
  }
  return { registryUrl: registryUrlOf(request, services), log: request.log, signal: controller.signal };
}

/** `-/package/<name>/dist-tags[/<tag>]` → name and tag. */
function distTagPath(segments: readonly string[]): { name: string; tag?: string } | undefined {
  if (segments[0] !== 'package') return undefined;
  let rest = segments.slice(1);
  let name = rest[0];
  if (name === undefined) return undefined;
  if (name.startsWith('@') && !name.includes('/')) {
    name = `${name}/${rest[1] ?? ''}`;
    rest = rest.slice(1);
  }
  if (rest[1] !== 'dist-tags' || rest.length > 3) return undefined;
  return rest.length === 3 ? { name, tag: rest[2]! } : { name };
}

/**
 * A small JSON body (a dist-tag's version, a login), parsed within bounds: a login takes
 * anonymous bodies, and a few MB of nested arrays held JSON.parse (and the event loop) seconds.
 */
async function readJson(request: FastifyRequest, limit: number): Promise<unknown> {
  const body = await readRequestBody(request.raw, limit);
  try {
    return await parseJsonBounded(body, { maxBytes: limit, maxNodes: 1_000, maxDepth: 8, maxAliases: 0, timeoutMs: 2_000 });
  } catch (err) {
    if (isPalletError(err, 'INVALID_ARGUMENT')) throw new PalletError('INVALID_ARGUMENT', `the body is not a small JSON document: ${err.message}`);
    throw err;
  }
}

/**
 * The handlers of the npm registry API, one per endpoint family; `npmRoutes` dispatches to them
 * by the parsed path. Each checks its action with `requireAccess` before touching anything.
 */
class NpmApi {
  /** Serialized forms of packuments that are shared objects (a registry's cached own ones). */
  readonly #bodies = new WeakMap<Packument, { full?: SerializedPackument; abbreviated?: SerializedPackument }>();

  constructor(private readonly o: NpmRouteOptions) {}

  /** The packument's body and ETag, serialized once per (frozen, shared) packument object. */
  #serialized(full: Packument, abbreviated: boolean): SerializedPackument {
    const make = () => serializePackument(abbreviated ? abbreviate(full) : full);
    if (!Object.isFrozen(full)) return make();
    const entry = this.#bodies.get(full) ?? {};
    this.#bodies.set(full, entry);
    const form = abbreviated ? 'abbreviated' : 'full';
    return (entry[form] ??= make());
  }

  readonly packument: Handler = async (request, reply, path) => {
    if (path.kind !== 'package' || path.rev !== undefined) throw notFound(request);
    request.metricsRoute = 'npm.packument';
    const ref = await requireAccess(request, 'pull');
    const accept = String(request.headers.accept ?? '');
    const write = (request.query as Record<string, unknown>).write !== undefined;
    const abbreviated = accept.includes(ABBREVIATED_TYPE) && !write;
    const full = await this.o.packages.packument(ref, path.name, { ...contextOf(request, this.o.services), abbreviated, write });
    const { body, etag } = this.#serialized(full, abbreviated);
    reply.header('ETag', etag).header('Vary', 'Accept, Authorization').header('Cache-Control', 'no-cache');
    const match = request.headers['if-none-match'];
    if (typeof match === 'string' && match.split(',').some((m) => m.trim() === etag)) return reply.code(304).send();
    return reply.header('Content-Type', abbreviated ? ABBREVIATED_TYPE : 'application/json').send(body);
  };

  readonly version: Handler = async (request, reply, path) => {
    if (path.kind !== 'version') throw notFound(request);
    request.metricsRoute = 'npm.version';
    const ref = await requireAccess(request, 'pull');
    const full = await this.o.packages.packument(ref, path.name, contextOf(request, this.o.services));
    const number = full['dist-tags'][path.spec] ?? path.spec;
    const found = Object.hasOwn(full.versions, number) ? full.versions[number] : undefined;
    if (!found) throw new PalletError('NOT_FOUND', `no version or dist-tag ${path.spec} of ${path.name}`, { name: path.name });
    return reply.header('Content-Type', 'application/json').send(found);
  };

  readonly tarball: Handler = async (request, reply, path) => {
    if (path.kind !== 'tarball' || path.rev !== undefined) throw notFound(request);
    request.metricsRoute = 'npm.tarball';
    const ref = await requireAccess(request, 'pull');
    const found = await this.o.packages.openTarball(ref, path.name, path.file, contextOf(request, this.o.services, reply));
    if (found.digest !== undefined) {
      const etag = `"${found.digest}"`;
      reply.header('ETag', etag);
      if (request.headers['if-none-match'] === etag) {
        found.stream.destroy();
        return reply.code(304).send();
      }
    }
    if (request.method === 'GET') this.o.metrics.download(`${ref.root.path}/${ref.registry.identifier}`);
    if (found.size !== undefined) reply.header('Content-Length', String(found.size));
    return reply.header('Content-Type', 'application/octet-stream').send(found.stream);
  };

  readonly registryGet: Handler = async (request, reply, path) => {
    const segments = path.kind === 'registry' ? path.segments : [];
    const key = segments.join('/');
    if (key === 'ping') {
      request.metricsRoute = 'npm.ping';
      await requireAccess(request, 'pull');
      return reply.send({});
    }
    if (key === 'whoami') {
      request.metricsRoute = 'npm.whoami';
      await requireAccess(request, 'pull');
      const principal = principalOf(request);
      const username = actorName(principal);
      if (username === null) throw new PalletError('UNAUTHORIZED', 'you are not logged in');
      return reply.send({ username });
    }
    if (key === 'v1/search') return this.search(request, reply);
    const tags = distTagPath(segments);
    if (tags && tags.tag === undefined) {
      request.metricsRoute = 'npm.dist-tags';
      const ref = await requireAccess(request, 'pull');
      return reply.send(await this.o.packages.distTags(ref, tags.name, contextOf(request, this.o.services)));
    }
    throw notFound(request);
  };

  readonly search = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    request.metricsRoute = 'npm.search';
    const ref = await requireAccess(request, 'pull');
    const query = request.query as Record<string, string | undefined>;
    const text = String(query.text ?? '').slice(0, 256);
    if (CONTROL.test(text)) throw new PalletError('INVALID_ARGUMENT', 'the search text holds a control character');
    const size = Math.min(Math.max(Number.parseInt(query.size ?? '20', 10) || 20, 1), this.o.settings.maxSearchResults);
    // Bounded: an offset past what either database takes as an integer was a 500.
    const from = Math.min(Math.max(Number.parseInt(query.from ?? '0', 10) || 0, 0), MAX_SEARCH_FROM);
    return reply.send(await this.o.packages.search(ref, text, size, from, registryUrlOf(request, this.o.services)));
  };

  readonly setTag: Handler = async (request, reply, path) => {
    const tags = path.kind === 'registry' ? distTagPath(path.segments) : undefined;
    if (!tags?.tag) throw notFound(request);
    request.metricsRoute = 'npm.dist-tag';
    auditAction(request, 'npm.dist-tag.set', tags.name, tags.tag);
    const ref = await requireAccess(request, 'push');
    const version = await readJson(request, this.o.settings.jsonBytes);
    if (typeof version !== 'string') throw new PalletError('INVALID_ARGUMENT', 'the body must be a JSON string: the version to tag');
    auditAction(request, 'npm.dist-tag.set', tags.name, tags.tag, version);
    return reply.code(201).send({ ok: true, ...(await this.o.packages.setDistTag(ref, tags.name, tags.tag, version)) });
  };

  readonly registryPut: Handler = async (request, reply, path) => {
    const segments = path.kind === 'registry' ? path.segments : [];
    if (segments[0] === 'user' && segments.length === 2 && segments[1]!.startsWith('org.couchdb.user:')) {
      request.metricsRoute = 'npm.login';
      const user = segments[1]!.slice('org.couchdb.user:'.length);
      auditAction(request, 'npm.login', user);
      const body = await readJson(request, this.o.settings.jsonBytes);
      return reply.code(201).send(await login(request, this.o.services, user, body));
    }
    return this.setTag(request, reply, path);
  };

  readonly registryPost: Handler = async (request, reply, path) => {
    const segments = path.kind === 'registry' ? path.segments : [];
    const key = segments.join('/');
    if (key === 'v1/login') throw new PalletError('NOT_FOUND', 'web login is not supported: npm falls back to username and password');
    if (key === 'npm/v1/security/advisories/bulk' || key === 'npm/v1/security/audits/quick') {
      request.metricsRoute = 'npm.audit';
      const ref = await requireAccess(request, 'pull');
      const body = await readRequestBody(request.raw, this.o.settings.jsonBytes);
      const endpoint = key.endsWith('bulk') ? 'advisories/bulk' : 'audits/quick';
      const answer = await this.o.packages.audit(ref, endpoint, body, contextOf(request, this.o.services));
      return reply.send(answer);
    }
    return this.setTag(request, reply, path);
  };

  readonly put: Handler = async (request, reply, path) => {
    if (path.kind === 'registry') return this.registryPut(request, reply, path);
    if (path.kind !== 'package') throw notFound(request);
    request.metricsRoute = 'npm.publish';
    auditAction(request, 'npm.publish', path.name);
    const ref = await requireAccess(request, 'push');
    const principal = principalOf(request);
    const user = principal.kind === 'user' ? { name: principal.user.username, email: principal.user.email } : undefined;
    const label = `${ref.root.path}/${ref.registry.identifier}`;
    const putOptions: PutOptions = {
      ...(path.rev !== undefined ? { rev: path.rev } : {}),
      ...(request.headers['content-length'] !== undefined ? { declaredLength: Number(request.headers['content-length']) } : {}),
      ...(user !== undefined ? { user, owner: `user:${user.name}` } : { owner: `address:${request.ip}` }),
      mayDelete: async () => {
        auditAction(request, 'npm.unpublish', path.name);
        await requireAccess(request, 'delete');
      },
    };
    let result: PutResult;
    try {
      result = await this.o.publisher.put(ref, path.name, request.raw, putOptions);
    } catch (err) {
      // A refused publish is counted (`npm publish` sends no `-rev`; metadata updates do).
      if (path.rev === undefined) {
        const status = isPalletError(err) ? NPM_STATUS[err.code] : 500;
        this.o.metrics.publish(label, status === 409 ? 'conflict' : status < 500 ? 'invalid' : 'failed');
      }
      throw err;
    }
    if (result.kind === 'published') {
      this.o.metrics.publish(label, 'published');
      auditAction(request, 'npm.publish', path.name, result.version);
      request.log.info({ registry: label, package: path.name, version: result.version }, 'npm: version published');
    } else if (result.removed.length > 0) {
      auditAction(request, 'npm.unpublish', path.name, result.removed.join(','));
    } else {
      auditAction(request, 'npm.update', path.name);
    }
    return reply.code(result.kind === 'published' ? 201 : 200).send({ ok: true, id: path.name });
  };

  readonly del: Handler = async (request, reply, path) => {
    if (path.kind === 'registry') {
      const tags = distTagPath(path.segments);
      if (!tags?.tag) throw notFound(request);
      request.metricsRoute = 'npm.dist-tag';
      auditAction(request, 'npm.dist-tag.remove', tags.name, tags.tag);
      const ref = await requireAccess(request, 'push');
      return reply.send({ ok: true, ...(await this.o.packages.removeDistTag(ref, tags.name, tags.tag)) });
    }
    if (path.kind === 'version') throw notFound(request);
    request.metricsRoute = 'npm.unpublish';
    auditAction(request, 'npm.unpublish', path.name);
    const ref = await requireAccess(request, 'delete');
    if (path.kind === 'package') {
      const removed = await this.o.publisher.unpublishPackage(ref, path.name, path.rev);
      auditAction(request, 'npm.unpublish', path.name, '*');
      return reply.send({ ok: true, id: path.name, removed: removed.map((v) => v.version) });
    }
    const version = await this.o.publisher.deleteTarball(ref, path.name, path.file, path.rev);
    if (version !== undefined) auditAction(request, 'npm.unpublish', path.name, version);
    return reply.send({ ok: true });
  };
}

export async function npmRoutes(app: FastifyInstance, options: NpmRouteOptions): Promise<void> {
  // Bodies stay streams: the publish reader scans them as they arrive, the rest read bounded.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));
  app.setErrorHandler(npmErrorHandler);
  const api = new NpmApi(options);

  const dispatch =
    (byKind: Partial<Record<NpmPath['kind'], Handler>>) =>
    async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
      const path = parseNpmPath(pathOf(request));
      const handler = byKind[path.kind];
      if (!handler) throw notFound(request);
      return handler(request, reply, path);
    };

  app.get('/*', dispatch({ package: api.packument, version: api.version, tarball: api.tarball, registry: api.registryGet }));
  app.put('/*', dispatch({ package: api.put, registry: api.registryPut }));
  app.post('/*', dispatch({ registry: api.registryPost }));
  app.delete('/*', dispatch({ package: api.del, tarball: api.del, registry: api.del }));
}

function notFound(request: FastifyRequest): PalletError {
  return new PalletError('NOT_FOUND', `no npm registry endpoint ${request.method} /${pathOf(request).slice(0, 300)}`);
}

/** npm's error bodies (`errors.ts`); a 5xx is logged. */
function npmErrorHandler(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (isPalletError(err)) {
    if (NPM_STATUS[err.code] >= 500) request.log.error({ err }, 'request failed');
    return sendNpmError(reply, err.code, err.message, err.detail);
  }
  const status = (err as { statusCode?: number }).statusCode;
  if (status && status < 500) return reply.code(status).send({ error: (err as Error).message });
  request.log.error({ err }, 'request failed');
  return reply.code(500).send({ error: 'internal error' });
}
