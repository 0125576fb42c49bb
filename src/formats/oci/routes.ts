/**
 * The OCI Distribution Specification v1.1 at `/v2/<root>/<registry>/<image…>`: pull, push,
 * content discovery and content management, plus the referrers API.
 *
 * Request bodies stay streams here: blob bytes go from the socket through one hash into the
 * storage driver; only manifests (bounded by `limits.manifestBytes`) are read into memory.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isPalletError, PalletError } from '../../base/errors.js';
import { readRequestBody } from '../../base/streams.js';
import { isDigest } from '../../base/digest.js';
import { isTag } from '../../base/names.js';
import type { ByteRange } from '../../storage/driver.js';
import type { RepositoryTarget } from '../../registry/repositories.js';
import type { Services } from '../../services.js';
import type { Readable } from 'node:stream';
import type { BlobRecord, RegistryRecord, RepositoryRecord, UploadRecord } from '../../metadata/store.js';
import { principalOf } from '../../http/request-auth.js';
import type { Principal } from '../../auth/principal.js';
import { OciAuth, ociAction } from './auth.js';
import { OCI_ERRORS, sendOciError } from './errors.js';

interface Options {
  services: Services;
}

type Handler = (ctx: Context) => Promise<unknown>;

interface Context {
  request: FastifyRequest;
  reply: FastifyReply;
  target: RepositoryTarget;
  /** Path parameter after the repository name (reference, digest or upload id). */
  param: string;
  query: Record<string, string | undefined>;
}

interface Route {
  pattern: RegExp;
  name: string;
  methods: Partial<Record<string, Handler>>;
}

const STREAM_ERRORS = new Set(['ECONNRESET', 'ERR_STREAM_PREMATURE_CLOSE', 'ABORT_ERR', 'EPIPE']);

/** Parses `Range: bytes=a-b | a- | -n` against a blob size; undefined when absent. */
export function parseRange(header: string | undefined, size: number): ByteRange | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) throw new PalletError('RANGE_INVALID', `unsupported Range header ${JSON.stringify(header)}`, { size });
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) throw new PalletError('RANGE_INVALID', 'empty suffix range', { size });
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  return { start, end };
}

/** Parses a PATCH `Content-Range: <start>-<end>`; BLOB_UPLOAD_INVALID when malformed. */
export function parseContentRange(header: string | undefined): { start: number; length: number } | undefined {
  if (header === undefined) return undefined;
  const m = /^(?:bytes )?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  if (!m) throw new PalletError('BLOB_UPLOAD_INVALID', `malformed Content-Range ${JSON.stringify(header)}: expected <start>-<end>`);
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (end < start) throw new PalletError('RANGE_INVALID', `Content-Range ${header} ends before it starts`);
  return { start, length: end - start + 1 };
}

/**
 * Who an upload session counts against (`uploads.maxOpenSessionsPerUser`): the user, however
 * authenticated; without one (anonymous, or auth turned off) the client address.
 */
function uploadOwner(request: FastifyRequest): string {
  const principal = principalOf(request);
  if (principal.kind === 'user') return `user:${principal.user.username}`;
  if (principal.kind === 'grant' && principal.subject) return `user:${principal.subject}`;
  return `address:${request.ip}`;
}

function contentLength(request: FastifyRequest): number | undefined {
  const raw = request.headers['content-length'];
  return raw === undefined ? undefined : Number(raw);
}

function uploadHeaders(reply: FastifyReply, target: RepositoryTarget, upload: UploadRecord): FastifyReply {
  return reply
    .header('Location', `/v2/${target.fullName}/blobs/uploads/${upload.id}`)
    .header('Range', `0-${Math.max(0, upload.size - 1)}`)
    .header('Docker-Upload-UUID', upload.id)
    .header('Content-Length', '0');
}

/** 201 for stored content, pointing at where it can be read. */
function created(reply: FastifyReply, location: string, digest: string): FastifyReply {
  return reply.code(201).header('Location', location).header('Docker-Content-Digest', digest).header('Content-Length', '0').send();
}

export async function ociRoutes(app: FastifyInstance, { services }: Options): Promise<void> {
  const { repositories, blobs, manifests, downloads, config } = services;

  // Bodies are consumed by the handlers as streams, whatever their Content-Type.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));

  app.setErrorHandler((err, request, reply) => {
    if (isPalletError(err)) {
      if (OCI_ERRORS[err.code].status >= 500) request.log.error({ err }, 'request failed');
      return sendOciError(reply, err.code, err.message, err.detail);
    }
    const code = (err as NodeJS.ErrnoException).code;
    if (code && STREAM_ERRORS.has(code)) {
      request.log.info({ code }, 'request body ended early');
      return sendOciError(reply, 'BLOB_UPLOAD_INVALID', 'the request body ended before it was complete');
    }
    const status = (err as { statusCode?: number }).statusCode;
    if (status && status < 500) return sendOciError(reply, 'UNSUPPORTED', (err as Error).message);
    request.log.error({ err }, 'request failed');
    return reply.code(500).send({ errors: [{ code: 'UNKNOWN', message: 'internal error', detail: null }] });
  });

  app.addHook('onSend', async (_request, reply) => {
    reply.header('Docker-Distribution-API-Version', 'registry/2.0');
  });

  // Every /v2 request is authenticated first (see auth.ts); the token service does its own.
  const ociAuth = new OciAuth(services);
  app.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.url === '/v2/token') return;
    request.principal = await ociAuth.authenticate(request, reply);
  });
  ociAuth.registerTokenRoute(app);

  const pull = async (target: RepositoryTarget): Promise<RepositoryRecord> => repositories.forPull(target);
  const loc = (target: RepositoryTarget, repo: RepositoryRecord) => ({ rootSpaceId: target.root.id, repositoryId: repo.id });

  // Pulls go through `services.pulls`: the registry's own content, then its upstream proxies.
  const manifestGet: Handler = async ({ request, reply, target, param }) => {
    // Nothing can be stored under a reference that is neither a tag nor a digest (its PUT is
    // refused with 400): 404, as Distribution and the conformance suite answer.
    if (!isTag(param) && !isDigest(param)) throw new PalletError('MANIFEST_UNKNOWN', `manifest unknown to registry: ${param}`, { reference: param });
    const manifest = await services.pulls.manifest(target, param);
    reply
      .header('Content-Type', manifest.mediaType)
      .header('Docker-Content-Digest', manifest.digest)
      .header('ETag', `"${manifest.digest}"`)
      .header('Content-Length', String(manifest.payload.length));
    if (request.method === 'HEAD') return reply.send();
    downloads.record(manifest.id);
    return reply.send(manifest.payload);
  };

  const blobGet: Handler = async ({ request, reply, target, param }) => {
    // Scale-out: with s3.redirectSeconds set, the bucket serves whole-blob GETs (307 to a
    // presigned URL) once this registry has said the repository holds the blob.
    if (request.method === 'GET' && request.headers.range === undefined && config.s3.redirectSeconds > 0) {
      const blob = await services.pulls.statBlob(target, param);
      const location = await blobs.redirectUrl(target.root.id, blob.digest, config.s3.redirectSeconds);
      if (location !== undefined) {
        return reply.code(307).header('Location', location).header('Docker-Content-Digest', blob.digest).send();
      }
    }
    const rangeOf = (size: number): ByteRange | undefined => {
      const range = parseRange(request.headers.range, size);
      if (range && range.start > range.end) throw new PalletError('RANGE_INVALID', 'range outside the blob', { size });
      return range;
    };
    let found: { blob: BlobRecord; range: ByteRange | undefined; stream?: Readable };
    try {
      if (request.method === 'HEAD') {
        const blob = await services.pulls.statBlob(target, param);
        await refreshForPusher(request, target, blob.digest);
        found = { blob, range: rangeOf(blob.size) };
      } else {
        found = await services.pulls.openBlob(target, param, { range: rangeOf });
      }
    } catch (err) {
      const size = isPalletError(err, 'RANGE_INVALID') ? err.detail?.size : undefined;
      if (typeof size === 'number') reply.header('Content-Range', `bytes */${size}`);
      throw err;
    }
    const { blob, range } = found;
    reply
      .header('Docker-Content-Digest', blob.digest)
      .header('Accept-Ranges', 'bytes')
      .header('Content-Type', 'application/octet-stream')
      .header('ETag', `"${blob.digest}"`);
    if (range) {
      reply.code(206).header('Content-Range', `bytes ${range.start}-${range.end}/${blob.size}`);
      reply.header('Content-Length', String(range.end - range.start + 1));
    } else {
      reply.header('Content-Length', String(blob.size));
    }
    if (!found.stream) return reply.send();
    return reply.send(found.stream);
  };

  const routes: Route[] = [
    {
      pattern: /^(.+)\/manifests\/([^/]+)$/,
      name: 'manifest',
      methods: {
        GET: manifestGet,
        HEAD: manifestGet,
        PUT: async ({ request, reply, target, param }) => {
          const repo = await repositories.forPush(target);
          const length = contentLength(request);
          if (length !== undefined && length > config.limits.manifestBytes) {
            throw new PalletError('TOO_LARGE', `manifest exceeds the limit of ${config.limits.manifestBytes} bytes`);
          }
          const body = await readRequestBody(request.raw, config.limits.manifestBytes);
          const { manifest, subject } = await manifests.put(repo, param, request.headers['content-type'], body);
          if (subject) reply.header('OCI-Subject', subject);
          return created(reply, `/v2/${target.fullName}/manifests/${manifest.digest}`, manifest.digest);
        },
        DELETE: async ({ reply, target, param }) => {
          const repo = await pull(target);
          await manifests.delete(repo, param);
          return reply.code(202).header('Content-Length', '0').send();
        },
      },
    },
    {
      pattern: /^(.+)\/blobs\/uploads\/?$/,
      name: 'upload.start',
      methods: {
        POST: async ({ request, reply, target, query }) => {
          const repo = await repositories.forPush(target);
          const l = loc(target, repo);
          if (query.mount) {
            const mounted = await mountFrom(principalOf(request), target, repo, query.mount, query.from);
            if (mounted) {
              request.raw.resume();
              return created(reply, `/v2/${target.fullName}/blobs/${mounted}`, mounted);
            }
          }
          if (query.digest) {
            const length = contentLength(request);
            const blob = await blobs.putBlob(l, query.digest, request.raw, length !== undefined ? { length } : {});
            return created(reply, `/v2/${target.fullName}/blobs/${blob.digest}`, blob.digest);
          }
          request.raw.resume();
          const upload = await blobs.startUpload(l, uploadOwner(request));
          return uploadHeaders(reply.code(202), target, upload).send();
        },
      },
    },
    {
      pattern: /^(.+)\/blobs\/uploads\/([^/]+)$/,
      name: 'upload',
      methods: {
        GET: async ({ reply, target, param }) => {
          const repo = await pull(target);
          const upload = await blobs.getUpload(loc(target, repo), param);
          return uploadHeaders(reply.code(204), target, upload).send();
        },
        PATCH: async ({ request, reply, target, param }) => {
          const repo = await repositories.forPush(target);
          const upload = await blobs.getUpload(loc(target, repo), param);
          const range = parseContentRange(request.headers['content-range'] as string | undefined);
          const length = contentLength(request);
          if (range && length !== undefined && range.length !== length) {
            throw new PalletError('BLOB_UPLOAD_INVALID', `Content-Range covers ${range.length} bytes but Content-Length is ${length}`);
          }
          const updated = await blobs.writeChunk(upload, request.raw, {
            ...(range ? { start: range.start, length: range.length } : {}),
            ...(length !== undefined && !range ? { length } : {}),
          });
          return uploadHeaders(reply.code(202), target, updated).send();
        },
        PUT: async ({ request, reply, target, param, query }) => {
          const repo = await repositories.forPush(target);
          const l = loc(target, repo);
          const upload = await blobs.getUpload(l, param);
          if (!query.digest) throw new PalletError('DIGEST_INVALID', 'the digest query parameter is required to complete an upload');
          const length = contentLength(request);
          const range = parseContentRange(request.headers['content-range'] as string | undefined);
          const hasBody = (length ?? 0) > 0 || request.headers['transfer-encoding'] !== undefined;
          const blob = await blobs.finishUpload(
            l,
            upload,
            query.digest,
            hasBody ? request.raw : undefined,
            { ...(range ? { start: range.start, length: range.length } : length !== undefined ? { length } : {}) },
          );
          return created(reply, `/v2/${target.fullName}/blobs/${blob.digest}`, blob.digest);
        },
        DELETE: async ({ reply, target, param }) => {
          const repo = await pull(target);
          const upload = await blobs.getUpload(loc(target, repo), param);
          await blobs.cancelUpload(upload);
          return reply.code(204).send();
        },
      },
    },
    {
      pattern: /^(.+)\/blobs\/([^/]+)$/,
      name: 'blob',
      methods: {
        GET: blobGet,
        HEAD: blobGet,
        DELETE: async ({ reply, target, param }) => {
          const repo = await pull(target);
          await blobs.deleteLink(loc(target, repo), param);
          return reply.code(202).header('Content-Length', '0').send();
        },
      },
    },
    {
      pattern: /^(.+)\/tags\/list$/,
      name: 'tags',
      methods: {
        GET: async ({ reply, target, query }) => {
          const repo = await pull(target);
          const n = query.n === undefined ? undefined : Number(query.n);
          if (n !== undefined && (!Number.isInteger(n) || n < 0)) {
            throw new PalletError('INVALID_ARGUMENT', `n must be a non-negative integer, got ${JSON.stringify(query.n)}`);
          }
          const list = await manifests.tags(repo, n, query.last);
          if (list.next !== undefined) {
            reply.header('Link', `</v2/${target.fullName}/tags/list?n=${n}&last=${encodeURIComponent(list.next)}>; rel="next"`);
          }
          return reply.send({ name: target.fullName, tags: list.tags });
        },
      },
    },
    {
      pattern: /^(.+)\/referrers\/([^/]+)$/,
      name: 'referrers',
      methods: {
        GET: async ({ reply, target, param, query }) => {
          const repo = await services.store.findRepository(target.registry.id, target.name);
          const index = await manifests.referrers(repo, param, query.artifactType);
          if (query.artifactType) reply.header('OCI-Filters-Applied', 'artifactType');
          return reply.header('Content-Type', index.mediaType).send(Buffer.from(JSON.stringify(index)));
        },
      },
    },
  ];

  /**
   * A client about to push checks each blob with HEAD and skips those it finds: for a caller
   * who may push here, the answer restarts the link's GC grace (like an upload's 201), so its
   * manifest finds the blob. Pull-only callers do not keep garbage alive; a link that went
   * between the lookup and the touch is BLOB_UNKNOWN.
   */
  async function refreshForPusher(request: FastifyRequest, target: RepositoryTarget, digest: string): Promise<void> {
    if (target.registry.kind !== 'local' || !(await ociAuth.allowed(principalOf(request), target, 'push'))) return;
    const repo = await services.store.findRepository(target.registry.id, target.name);
    if (repo && !(await blobs.refreshLink(loc(target, repo), digest))) {
      throw new PalletError('BLOB_UNKNOWN', 'blob unknown to registry', { digest });
    }
  }

  /** Mounts `digest` from repository `from` (same root space, pullable by the caller); the digest when mounted. */
  async function mountFrom(
    principal: Principal,
    target: RepositoryTarget,
    repo: RepositoryRecord,
    digest: string,
    from: string | undefined,
  ): Promise<string | undefined> {
    if (!from) return undefined;
    let source: RepositoryTarget;
    try {
      source = await repositories.resolve(from);
    } catch (err) {
      if (isPalletError(err, 'NAME_UNKNOWN') || isPalletError(err, 'NAME_INVALID')) return undefined;
      throw err;
    }
    if (source.root.id !== target.root.id) return undefined;
    if (!(await ociAuth.allowed(principal, source, 'pull'))) return undefined;
    const sourceRepo = await services.store.findRepository(source.registry.id, source.name);
    if (!sourceRepo) return undefined;
    const blob = await blobs.mount(loc(target, repo), sourceRepo.id, digest);
    return blob?.digest;
  }

  app.get('/v2/', async (request, reply) => {
    request.metricsRoute = 'oci.base';
    if (principalOf(request).kind === 'anonymous') return ociAuth.sendChallenge(reply, 'authentication required');
    return reply.header('Content-Type', 'application/json').send({});
  });
  app.get('/v2', async (_request, reply) => reply.redirect('/v2/', 301));

  app.get('/v2/_catalog', async (request, reply) => {
    request.metricsRoute = 'oci.catalog';
    if (principalOf(request).kind === 'anonymous') {
      return ociAuth.sendChallenge(reply, 'authentication required to list repositories', 'registry:catalog:*');
    }
    const query = request.query as Record<string, string | undefined>;
    const n = query.n === undefined ? undefined : Number(query.n);
    if (n !== undefined && (!Number.isInteger(n) || n < 0)) {
      throw new PalletError('INVALID_ARGUMENT', `n must be a non-negative integer, got ${JSON.stringify(query.n)}`);
    }
    const names = await catalog(principalOf(request));
    const after = query.last === undefined ? names : names.filter((name) => name > query.last!);
    const page = n === undefined ? after : after.slice(0, n);
    if (n !== undefined && n > 0 && after.length > n) {
      reply.header('Link', `</v2/_catalog?n=${n}&last=${encodeURIComponent(page[page.length - 1]!)}>; rel="next"`);
    }
    return reply.send({ repositories: page });
  });

  /** Every repository name (with at least one manifest) the caller may pull, sorted. */
  async function catalog(principal: Principal): Promise<string[]> {
    const visible = await ociAuth.catalogFilter(principal);
    const registries: RegistryRecord[] = [];
    for (const r of await services.store.listRegistries()) if (await visible(r)) registries.push(r);
    const byId = new Map(registries.map((r) => [r.id, r]));
    const spaces = new Map((await services.store.listSpaces()).map((s) => [s.id, s]));
    const artifacts = await services.store.listArtifacts(registries.map((r) => r.id));
    const names: string[] = [];
    for (const a of artifacts) {
      if (a.versionCount === 0) continue;
      const registry = byId.get(a.registryId);
      const root = registry && spaces.get(registry.rootSpaceId);
      if (registry && root) names.push(`${root.path}/${registry.identifier}/${a.name}`);
    }
    return names.sort();
  }

  app.route({
    method: ['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE'],
    url: '/v2/*',
    handler: async (request, reply) => {
      const path = (request.params as { '*': string })['*'];
      for (const route of routes) {
        const m = route.pattern.exec(path);
        if (!m) continue;
        request.metricsRoute = `oci.${route.name}.${request.method.toLowerCase()}`;
        const handler = route.methods[request.method];
        if (!handler) {
          throw new PalletError('UNSUPPORTED', `${request.method} is not supported on ${route.name} endpoints`);
        }
        const target = await ociAuth.target(request, reply, m[1]!, ociAction(route.name, request.method));
        // Fastify has decoded the path once already; decoding again turned `%25` into a URIError.
        const param = m[2] ?? '';
        return handler({ request, reply, target, param, query: request.query as Record<string, string | undefined> });
      }
      request.metricsRoute = 'oci.unknown';
      throw new PalletError('NAME_UNKNOWN', `no OCI endpoint at /v2/${path}`);
    },
  });
}
