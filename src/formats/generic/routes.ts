/**
 * Generic files over HTTP, at `/pkg/<root>/<registry>/generic/`:
 *   PUT    <package>/<version>/<file path>   the raw body is the file (optional header
 *                                           X-Checksum-Sha256: its SHA-256, verified);
 *                                           201 stored, 200 the same bytes again, 409 other
 *                                           bytes at the path (unless the registry allows
 *                                           overwrite and the caller may delete)
 *   GET    <package>/<version>/<file path>   the file (own files, then the upstream proxies in
 *   HEAD                                    order); single `Range` → 206 / 416, `ETag` = digest
 *                                           with If-None-Match → 304, If-Range
 *   DELETE <package>/<version>/<file path>   one file; `<package>/<version>`: the version;
 *                                           `<package>`: every version
 * Names are read from the raw URL (`coordinates.ts`). Auth is the core's: `pull` to read,
 * `push` to upload, `delete` to delete; uploads and deletes go to the audit log.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PalletError } from '../../base/errors.js';
import type { Services } from '../../services.js';
import { rangeHeaders, rangeWithin, unsatisfiable } from '../../http/byte-ranges.js';
import { auditAction, requireAccess } from '../../http/pkg-access.js';
import type { RegistryRef } from '../../registry/registries.js';
import { resolveInOrder } from '../../upstream/fetch-cache/resolve.js';
import { coordinatesOf, fileOf, type FileCoordinates } from './coordinates.js';
import { genericErrorHandler } from './errors.js';
import type { GenericFiles, StoredFile } from './generic-files.js';
import type { GenericMetrics } from './generic-metrics.js';
import type { GenericUpstreams, ProxiedFile } from './generic-upstream.js';
import { allowsOverwrite } from './settings.js';

export interface GenericRouteDeps {
  services: Services;
  files: GenericFiles;
  upstreams: GenericUpstreams;
  metrics: GenericMetrics;
}

/** An AbortSignal that fires when the client goes away before its answer is sent. */
function clientGone(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return controller.signal;
}

/** `X-Checksum-Sha256` as a digest; DIGEST_INVALID when it is not 64 hex digits. */
function statedDigest(request: FastifyRequest): string | undefined {
  const header = request.headers['x-checksum-sha256'];
  if (header === undefined) return undefined;
  const value = (Array.isArray(header) ? header.join(',') : header).trim().replace(/^sha256:/i, '');
  if (!/^[0-9a-fA-F]{64}$/.test(value)) throw new PalletError('DIGEST_INVALID', 'X-Checksum-Sha256 must be the SHA-256 of the file: 64 hexadecimal digits');
  return `sha256:${value.toLowerCase()}`;
}

function contentLength(request: FastifyRequest): number | undefined {
  const raw = request.headers['content-length'];
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw)) throw new PalletError('INVALID_ARGUMENT', `malformed Content-Length ${JSON.stringify(raw)}`);
  return Number(raw);
}

/** Whether an If-None-Match header names `etag` (or `*`). */
function matches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t === etag || t === `W/${etag}`;
  });
}

export async function genericRoutes(app: FastifyInstance, deps: GenericRouteDeps): Promise<void> {
  const { files, metrics } = deps;
  // Bodies stay streams: the upload handler hands the raw request to the blob commit path.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));
  app.setErrorHandler(genericErrorHandler);

  app.put('/*', async (request, reply) => {
    request.metricsRoute = 'generic.upload';
    auditAction(request, 'generic.upload');
    const ref = await requireAccess(request, 'push');
    const file = fileOf(coordinatesOf(request.raw.url ?? ''));
    auditAction(request, 'generic.upload', file.package, file.version, file.path);
    const digest = statedDigest(request);
    const length = contentLength(request);
    // Replacing a file destroys what was there: that takes the delete permission too.
    const replace = allowsOverwrite(ref.registry) && (await mayDelete(request));
    try {
      const { outcome, record } = await files.upload(ref, file, request.raw, { length, digest, replace, signal: clientGone(reply) });
      metrics.uploaded(outcome === 'inserted' ? 'created' : outcome === 'same' ? 'unchanged' : 'replaced', outcome === 'same' ? 0 : record.size);
      request.log.info({ registry: `${ref.root.path}/${ref.registry.identifier}`, ...file, digest: record.digest, outcome }, 'generic: file uploaded');
      return reply
        .code(outcome === 'same' ? 200 : 201)
        .header('ETag', `"${record.digest}"`)
        .send({ package: file.package, version: file.version, path: file.path, digest: record.digest, size: record.size });
    } catch (err) {
      metrics.uploaded(err instanceof PalletError && err.code === 'CONFLICT' ? 'conflict' : 'failed');
      throw err;
    }
  });

  app.get('/*', async (request, reply) => {
    request.metricsRoute = 'generic.download';
    const ref = await requireAccess(request, 'pull');
    const file = fileOf(coordinatesOf(request.raw.url ?? ''));
    const signal = clientGone(reply);
    const streams = request.method === 'GET' && request.headers.range === undefined;
    const found = await resolve(deps, ref, file, request, streams, signal);
    if ('streaming' in found) {
      const { stream, size } = found.streaming;
      if (size !== undefined) reply.header('Content-Length', String(size));
      countDownload(reply, metrics, size ?? 0);
      return downloadHeaders(reply, file.path).send(stream);
    }
    return sendStored(request, reply, found.cached, metrics, signal);
  });

  app.delete('/*', async (request, reply) => {
    request.metricsRoute = 'generic.delete';
    auditAction(request, 'generic.delete');
    const ref = await requireAccess(request, 'delete');
    const c = coordinatesOf(request.raw.url ?? '');
    auditAction(request, 'generic.delete', ...[c.package, c.version, c.path].filter((p): p is string => p !== undefined));
    if (c.version === undefined) await files.deleteArtifact(ref.registry, c.package, request.log);
    else if (c.path === undefined) await files.deleteVersion(ref.registry, c.package, c.version);
    else await files.deleteFile(ref.registry, { package: c.package, version: c.version, path: c.path });
    return reply.code(204).send();
  });
}

async function mayDelete(request: FastifyRequest): Promise<boolean> {
  try {
    await requireAccess(request, 'delete');
    return true;
  } catch (err) {
    if (err instanceof PalletError && (err.code === 'DENIED' || err.code === 'UNAUTHORIZED')) return false;
    throw err;
  }
}

/** The file in the resolution order: the registry's own, then its upstream proxies in order. */
async function resolve(deps: GenericRouteDeps, { root, registry }: RegistryRef, file: FileCoordinates, request: FastifyRequest, streams: boolean, signal: AbortSignal): Promise<ProxiedFile> {
  const { files, upstreams, services } = deps;
  const name = `${file.package}/${file.version}/${file.path}`;
  return resolveInOrder<ProxiedFile>({
    own: registry.kind === 'local' ? async () => wrap(await files.find(root, registry, file)) : undefined,
    upstreams: async () => (registry.kind === 'local' ? services.store.listUpstreams(registry.id) : [registry]),
    cached: async (proxies) => {
      for (const proxy of proxies) {
        const cached = await upstreams.cached(root, proxy, file);
        if (cached) return { cached };
      }
      return undefined;
    },
    attempt: (proxy) => upstreams.fetch(root, proxy, file, { streams, signal, log: request.log }),
    labelOf: (proxy) => `${root.path}/${proxy.identifier}`,
    notFound: (_proxies, notes) => new PalletError('NOT_FOUND', `no file ${name} in ${root.path}/${registry.identifier}${notes.length ? ` (${notes.join('; ')})` : ''}`),
    failed: (failure, _proxies, notes) => new PalletError('UNAVAILABLE', `no file ${name}: its upstreams could not be asked (${notes.join('; ') || failure.message})`, failure.detail),
    log: request.log,
    fields: { file: name },
  });
}

const wrap = (cached: StoredFile | undefined): ProxiedFile | undefined => cached && { cached };

/** Answers with a stored file: 304, 416, 206 or 200 with its headers (no body for HEAD). */
async function sendStored(request: FastifyRequest, reply: FastifyReply, file: StoredFile, metrics: GenericMetrics, signal: AbortSignal): Promise<FastifyReply> {
  const { digest, size, createdAt } = file.record;
  const etag = `"${digest}"`;
  reply
    .header('ETag', etag)
    .header('X-Checksum-Sha256', digest.slice('sha256:'.length))
    .header('Last-Modified', new Date(createdAt).toUTCString())
    .header('Cache-Control', 'no-cache');
  if (matches(request.headers['if-none-match'], etag)) return reply.code(304).send();
  const ifRange = request.headers['if-range'];
  let range;
  try {
    range = ifRange === undefined || ifRange === etag ? rangeWithin(request.headers.range, size) : undefined;
  } catch (err) {
    unsatisfiable(reply, err);
    throw err;
  }
  downloadHeaders(reply, file.record.path);
  rangeHeaders(reply, size, range);
  if (request.method === 'HEAD') return reply.send();
  const stream = await file.open(range, signal);
  countDownload(reply, metrics, range ? range.end - range.start + 1 : size);
  return reply.send(stream);
}

/**
 * A file is bytes to save, never a page: served as octet-stream, not sniffed, and as an
 * attachment named after its last segment, so an uploaded HTML or SVG file cannot run in a
 * browser on the registry's origin (where the web UI's session lives).
 */
function downloadHeaders(reply: FastifyReply, path: string): FastifyReply {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return reply
    .header('Content-Type', 'application/octet-stream')
    .header('X-Content-Type-Options', 'nosniff')
    .header('Content-Disposition', `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`);
}

function countDownload(reply: FastifyReply, metrics: GenericMetrics, bytes: number): void {
  reply.raw.once('finish', () => metrics.downloaded(bytes));
}
