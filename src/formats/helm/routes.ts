/**
 * The classic Helm chart repository of a helm registry, at `/pkg/<root>/<registry>/helm/`:
 *   GET    index.yaml                         the index (ETag / If-None-Match → 304)
 *   GET    charts/<name>-<version>.tgz[.prov]  chart and provenance files (also at the top level,
 *                                             where `helm repo index` puts them)
 *   POST   api/charts                         ChartMuseum upload: multipart fields `chart` and
 *                                             `prov`, or the archive as the raw body; `?force`
 *                                             replaces an existing version
 *   DELETE api/charts/<name>/<version>        ChartMuseum delete
 * Authentication and access are the shared `/pkg` glue's (`src/http/pkg-access.ts`): HTTP basic
 * (password or access token, what `helm repo add --username --password` sends) or `Bearer
 * <access token>`; anonymous callers may read public registries; a refusal is 401 with a Basic
 * challenge for anonymous callers, 403 for the others, the same for a missing registry. Reading
 * needs `pull`, uploading `push`, deleting `delete` on the registry. Uploads and deletes go to
 * the audit log (`chart.upload`, `chart.delete`), successful or not, like the management API's.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import Busboy from 'busboy';
import { isPalletError, PalletError } from '../../base/errors.js';
import { readRequestBody } from '../../base/streams.js';
import { auditAction, requireAccess } from '../../http/pkg-access.js';
import type { ChartService } from './charts.js';
import type { Services } from '../../services.js';
import { HELM_STATUS, sendHelmError } from './errors.js';

interface Options {
  services: Services;
  charts: ChartService;
  /** Largest chart archive (or provenance file) an upload may carry (`helm.chartBytes`). */
  chartBytes: number;
}

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

/**
 * Registers the chart repository's routes, relative to `/pkg/:root/:registry/helm` (see
 * pkg-routes.ts, which also authenticates every request of the scope: `requireAccess`).
 */
export async function helmRoutes(app: FastifyInstance, { services, charts, chartBytes }: Options): Promise<void> {
  // Bodies stay streams; the upload handler reads them (multipart or raw) within its limit.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));
  app.setErrorHandler(helmErrorHandler);

  app.get('/index.yaml', async (request, reply) => {
    request.metricsRoute = 'helm.index';
    const ref = await requireAccess(request, 'pull');
    const index = await charts.index(ref, request.log);
    reply.header('ETag', index.etag).header('Cache-Control', 'no-cache');
    if (request.headers['if-none-match'] === index.etag) return reply.code(304).send();
    return reply.header('Content-Type', 'application/x-yaml').send(index.body);
  });

  const download = (request: FastifyRequest, reply: FastifyReply, file: string) => downloadChartFile(services, charts, request, reply, file);
  app.get('/charts/:file', async (request, reply) => download(request, reply, (request.params as { file: string }).file));
  app.get('/:file', async (request, reply) => {
    const file = (request.params as { file: string }).file;
    if (!/\.(tgz|prov)$/.test(file)) throw new PalletError('NOT_FOUND', `no chart repository file ${file}`);
    return download(request, reply, file);
  });

  app.post('/api/charts', async (request, reply) => {
    request.metricsRoute = 'helm.upload';
    auditAction(request, 'chart.upload');
    const query = request.query as Record<string, string | undefined>;
    const force = query.force !== undefined && query.force !== 'false' && query.force !== '0';
    const ref = await requireAccess(request, 'push');
    // Replacing a version destroys what was there: that takes the delete permission too.
    if (force) await requireAccess(request, 'delete');
    const length = Number(request.headers['content-length'] ?? 0);
    if (length > 2 * chartBytes + 64 * 1024) throw new PalletError('TOO_LARGE', `the upload exceeds the limit of ${chartBytes} bytes per file`);
    const type = String(request.headers['content-type'] ?? '');
    const body = type.startsWith('multipart/form-data') ? await readMultipart(request, chartBytes) : { chart: await readRequestBody(request.raw, chartBytes) };
    if (!body.chart || body.chart.length === 0) throw new PalletError('INVALID_ARGUMENT', 'no chart in the upload: send a multipart field "chart" or the archive as the body');
    const { chart, replaced } = await charts.upload(ref, body.chart, body.prov, force);
    auditAction(request, 'chart.upload', chart.name, chart.version);
    request.log.info({ registry: `${ref.root.path}/${ref.registry.identifier}`, chart: chart.name, version: chart.version, replaced }, 'helm: chart uploaded');
    return reply.code(201).send({ saved: true, name: chart.name, version: chart.version });
  });

  app.delete('/api/charts/:name/:version', async (request, reply) => {
    request.metricsRoute = 'helm.delete';
    const { name, version } = request.params as { name: string; version: string };
    auditAction(request, 'chart.delete', name, version);
    const ref = await requireAccess(request, 'delete');
    await charts.deleteVersion(ref, name, version);
    return reply.send({ deleted: true });
  });
}

/** ChartMuseum's error bodies (`errors.ts`); a 5xx is logged. */
function helmErrorHandler(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (isPalletError(err)) {
    if (HELM_STATUS[err.code] >= 500) request.log.error({ err }, 'request failed');
    return sendHelmError(reply, err.code, err.message, err.detail);
  }
  const status = (err as { statusCode?: number }).statusCode;
  if (status && status < 500) return reply.code(status).send({ error: (err as Error).message });
  request.log.error({ err }, 'request failed');
  return reply.code(500).send({ error: 'internal error' });
}

/** Streams a chart or provenance file; a client that goes away aborts an upstream read it alone holds. */
async function downloadChartFile(services: Services, charts: ChartService, request: FastifyRequest, reply: FastifyReply, file: string): Promise<FastifyReply> {
  request.metricsRoute = 'helm.chart';
  const ref = await requireAccess(request, 'pull');
  const controller = new AbortController();
  request.raw.on('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  const found = await charts.openFile(ref, file, { signal: controller.signal, log: request.log });
  if (found.manifestId && request.method === 'GET') services.downloads.record(found.manifestId);
  const type = file.endsWith('.prov') ? 'application/pgp-signature' : 'application/gzip';
  reply.header('Content-Type', type);
  if (found.size !== undefined) reply.header('Content-Length', String(found.size));
  if (found.digest !== undefined) reply.header('ETag', `"${found.digest}"`);
  return reply.send(found.stream as Readable);
}
