/**
 * The classic Helm chart repository of a helm registry, at `/pkg/<root>/<registry>/helm/`:
 *   GET    index.yaml                         the index (ETag / If-None-Match → 304)
 *   GET    charts/<name>-<version>.tgz[.prov]  chart and provenance files (also at the top level,
 *                                             where `helm repo index` puts them)
 *   POST   api/charts                         ChartMuseum upload: multipart fields `chart` and
 *                                             `prov`, or the archive as the raw body; `?force`
 *                                             replaces an existing version
 *   DELETE api/charts/<name>/<version>        ChartMuseum delete
 * Authentication: HTTP basic (password or access token, what `helm repo add --username
 * --password` sends) or `Bearer <access token>`; anonymous callers may read public registries.
 * A refusal is 401 with a Basic challenge for anonymous callers, 403 for the others. Reading
 * needs `pull`, uploading `push`, deleting `delete` on the registry. Uploads and deletes go to
 * the audit log (`chart.upload`, `chart.delete`), successful or not, like the management API's.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import Busboy from 'busboy';
import { looksLikeAccessToken } from '../../auth/access-tokens.js';
import { actorName, ANONYMOUS, SYSTEM, type Principal } from '../../auth/principal.js';
import type { Action } from '../../auth/roles.js';
import { isPalletError, PalletError } from '../../base/errors.js';
import { readRequestBody } from '../../base/streams.js';
import { parseAuthorization, principalOf } from '../../http-auth.js';
import type { ChartService } from './charts.js';
import type { RegistryRef } from '../../registry/registries.js';
import type { Services } from '../../services.js';
import { HELM_STATUS, sendHelmError } from './errors.js';

interface Options {
  services: Services;
  charts: ChartService;
  /** Largest chart archive (or provenance file) an upload may carry (`helm.chartBytes`). */
  chartBytes: number;
}

const CHALLENGE = 'Basic realm="Pallet Helm repository", charset="UTF-8"';

/**
 * What a multipart upload may hold (ChartMuseum sends two files, `chart` and `prov`): crossing
 * any of these refuses the upload instead of silently dropping parts. Text fields are ignored
 * but still read, so their size is bounded too.
 */
const MULTIPART_LIMITS = { files: 2, fields: 10, parts: 12, fieldSize: 64 * 1024, fieldNameSize: 200, headerPairs: 20 };

/** Reads a multipart upload: the `chart` (or first file) and `prov` fields, each bounded. */
async function readMultipart(request: FastifyRequest, limit: number): Promise<{ chart?: Buffer; prov?: Buffer }> {
  return new Promise((resolve, reject) => {
    let parser: Busboy.Busboy;
    try {
      parser = Busboy({ headers: request.headers, limits: { ...MULTIPART_LIMITS, fileSize: limit } });
    } catch (err) {
      reject(new PalletError('INVALID_ARGUMENT', `malformed multipart upload: ${(err as Error).message}`));
      return;
    }
    const tooMany = (what: string, max: number) => () => {
      request.raw.unpipe(parser);
      reject(new PalletError('INVALID_ARGUMENT', `malformed multipart upload: too many ${what} (at most ${max})`));
    };
    parser.on('partsLimit', tooMany('parts', MULTIPART_LIMITS.parts));
    parser.on('filesLimit', tooMany('files', MULTIPART_LIMITS.files));
    parser.on('fieldsLimit', tooMany('fields', MULTIPART_LIMITS.fields));
    parser.on('field', (name: string, _value: string, info: { nameTruncated: boolean; valueTruncated: boolean }) => {
      if (info.nameTruncated || info.valueTruncated) tooMany(`bytes in field ${JSON.stringify(name.slice(0, 50))}`, MULTIPART_LIMITS.fieldSize)();
    });
    const out: { chart?: Buffer; prov?: Buffer } = {};
    const pending: Array<Promise<void>> = [];
    parser.on('file', (field, stream) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      pending.push(
        new Promise<void>((done, fail) => {
          stream.on('limit', () => fail(new PalletError('TOO_LARGE', `the ${field} file exceeds the limit of ${limit} bytes`)));
          stream.on('end', () => {
            const bytes = Buffer.concat(chunks);
            if (field === 'prov') out.prov = bytes;
            else if (field === 'chart' || out.chart === undefined) out.chart = bytes;
            done();
          });
        }),
      );
    });
    parser.on('error', (err: Error) => reject(new PalletError('INVALID_ARGUMENT', `malformed multipart upload: ${err.message}`)));
    parser.on('close', () => Promise.all(pending).then(() => resolve(out), reject));
    request.raw.pipe(parser);
  });
}

/** Registers the chart repository's routes, relative to `/pkg/:root/:registry/helm` (see pkg-routes.ts). */
export async function helmRoutes(app: FastifyInstance, { services, charts, chartBytes }: Options): Promise<void> {
  const auth = services.auth;

  // Bodies stay streams; the upload handler reads them (multipart or raw) within its limit.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));

  app.setErrorHandler((err, request, reply) => {
    if (isPalletError(err)) {
      if (HELM_STATUS[err.code] >= 500) request.log.error({ err }, 'request failed');
      if (err.code === 'UNAUTHORIZED') reply.header('WWW-Authenticate', CHALLENGE);
      return sendHelmError(reply, err.code, err.message, err.detail);
    }
    const status = (err as { statusCode?: number }).statusCode;
    if (status && status < 500) return reply.code(status).send({ error: (err as Error).message });
    request.log.error({ err }, 'request failed');
    return reply.code(500).send({ error: 'internal error' });
  });

  app.addHook('onRequest', async (request) => {
    request.principal = await authenticate(request);
  });

  /** Audit targets of the state-changing routes, set by their handlers (`root/registry/name/version`). */
  const audited = new WeakMap<FastifyRequest, { action: string; target: string }>();
  app.addHook('onResponse', async (request, reply) => {
    const entry = audited.get(request);
    if (!entry) return;
    await services.auth.audit.record({
      actor: actorName(principalOf(request)),
      action: entry.action,
      target: entry.target,
      outcome: reply.statusCode < 400 ? 'success' : 'failure',
      address: request.ip,
      details: { status: reply.statusCode },
    });
  });
  const audit = (request: FastifyRequest, action: string, ...parts: string[]) => {
    const { root, registry: identifier } = request.params as { root: string; registry: string };
    audited.set(request, { action, target: [root, identifier, ...parts].join('/') });
  };

  async function authenticate(request: FastifyRequest): Promise<Principal> {
    if (!auth.enabled) return SYSTEM;
    const creds = parseAuthorization(request.headers.authorization);
    if (!creds) return ANONYMOUS;
    if (creds.type === 'basic') return auth.authenticator.basic(creds.username, creds.password, request.ip);
    if (!looksLikeAccessToken(creds.token)) throw new PalletError('UNAUTHORIZED', 'the chart repository takes basic credentials or an access token');
    return auth.authenticator.accessToken(creds.token, request.ip);
  }

  /** Resolves the registry and checks `action` on it; a missing one is refused like a private one. */
  async function registry(request: FastifyRequest, action: Action): Promise<RegistryRef> {
    const { root, registry: identifier } = request.params as { root: string; registry: string };
    const principal = principalOf(request);
    const what = `${action} on ${root}/${identifier}`;
    const refuse = (): never => {
      if (principal.kind === 'anonymous') throw new PalletError('UNAUTHORIZED', `authentication required: ${what}`);
      throw new PalletError('DENIED', `requested access to the resource is denied: ${what}`);
    };
    let ref: RegistryRef;
    try {
      ref = await services.registries.getRef(root, identifier);
    } catch (err) {
      if (!isPalletError(err, 'NOT_FOUND')) throw err;
      const space = await services.store.findSpace(root);
      if (auth.access.isGlobalAdmin(principal) || (space && (await auth.access.can(principal, 'pull', { spacePath: space.path })))) throw err;
      return refuse();
    }
    const spacePath = (await auth.access.spacePath(ref.registry.spaceId)) ?? root;
    if (!(await auth.access.can(principal, action, { spacePath, registry: { id: ref.registry.id, public: ref.registry.public } }))) refuse();
    if (ref.registry.packageType !== 'helm') {
      throw new PalletError('NOT_FOUND', `${root}/${identifier} is a ${ref.registry.packageType} registry, not a helm chart repository`);
    }
    return ref;
  }

  const service = (): ChartService => charts;
  const base = '';

  app.get(`${base}/index.yaml`, async (request, reply) => {
    request.metricsRoute = 'helm.index';
    const ref = await registry(request, 'pull');
    const index = await service().index(ref);
    reply.header('ETag', index.etag).header('Cache-Control', 'no-cache');
    if (request.headers['if-none-match'] === index.etag) return reply.code(304).send();
    return reply.header('Content-Type', 'application/x-yaml').send(index.body);
  });

  const download = async (request: FastifyRequest, reply: FastifyReply, file: string) => {
    request.metricsRoute = 'helm.chart';
    const ref = await registry(request, 'pull');
    const controller = new AbortController();
    request.raw.on('close', () => {
      if (!reply.raw.writableFinished) controller.abort();
    });
    const found = await service().openFile(ref, file, controller.signal);
    if (found.manifestId) services.downloads.record(found.manifestId);
    const type = file.endsWith('.prov') ? 'application/pgp-signature' : 'application/gzip';
    reply.header('Content-Type', type);
    if (found.size !== undefined) reply.header('Content-Length', String(found.size));
    if (found.digest !== undefined) reply.header('ETag', `"${found.digest}"`);
    return reply.send(found.stream as Readable);
  };
  app.get(`${base}/charts/:file`, async (request, reply) => download(request, reply, (request.params as { file: string }).file));
  app.get(`${base}/:file`, async (request, reply) => {
    const file = (request.params as { file: string }).file;
    if (!/\.(tgz|prov)$/.test(file)) throw new PalletError('NOT_FOUND', `no chart repository file ${file}`);
    return download(request, reply, file);
  });

  app.post(`${base}/api/charts`, async (request, reply) => {
    request.metricsRoute = 'helm.upload';
    audit(request, 'chart.upload');
    const query = request.query as Record<string, string | undefined>;
    const force = query.force !== undefined && query.force !== 'false' && query.force !== '0';
    const ref = await registry(request, 'push');
    // Replacing a version destroys what was there: that takes the delete permission too.
    if (force) await registry(request, 'delete');
    const limit = chartBytes;
    const length = Number(request.headers['content-length'] ?? 0);
    if (length > 2 * limit + 64 * 1024) throw new PalletError('TOO_LARGE', `the upload exceeds the limit of ${limit} bytes per file`);
    const type = String(request.headers['content-type'] ?? '');
    const body = type.startsWith('multipart/form-data') ? await readMultipart(request, limit) : { chart: await readRequestBody(request.raw, limit) };
    if (!body.chart || body.chart.length === 0) throw new PalletError('INVALID_ARGUMENT', 'no chart in the upload: send a multipart field "chart" or the archive as the body');
    const { chart, replaced } = await service().upload(ref, body.chart, body.prov, force);
    audit(request, 'chart.upload', chart.name, chart.version);
    request.log.info({ registry: `${ref.root.path}/${ref.registry.identifier}`, chart: chart.name, version: chart.version, replaced }, 'helm: chart uploaded');
    return reply.code(201).send({ saved: true, name: chart.name, version: chart.version });
  });

  app.delete(`${base}/api/charts/:name/:version`, async (request, reply) => {
    request.metricsRoute = 'helm.delete';
    const { name, version } = request.params as { name: string; version: string };
    audit(request, 'chart.delete', name, version);
    const ref = await registry(request, 'delete');
    await service().deleteVersion(ref, name, version);
    return reply.send({ deleted: true });
  });
}
