/**
 * Upload endpoints: `POST /v2/<name>/blobs/uploads/` (a monolithic upload with `?digest`, a
 * cross-repository mount with `?mount&from`, or a new session) and
 * `/v2/<name>/blobs/uploads/<id>` (GET status, PATCH a chunk, PUT the last chunk and the
 * digest, DELETE to cancel). Bodies stay streams: the bytes go from the socket through one
 * hash into the storage driver (`registry/blobs.ts`).
 */
import { isPalletError, PalletError } from '../../../base/errors.js';
import { principalOf } from '../../../http/request-auth.js';
import type { Principal } from '../../../auth/principal.js';
import type { RepositoryRecord } from '../../../metadata/store.js';
import type { RepositoryTarget } from '../../../registry/repositories.js';
import { contentLength, created, location, parseContentRange, uploadHeaders, uploadOwner, type Handler, type OciDeps, type Route } from './common.js';

export function uploadRoutes({ services, auth }: OciDeps): Route[] {
  const { repositories, blobs } = services;

  /** Mounts `digest` from repository `from` (same root space, pullable by the caller); the digest when mounted. */
  async function mountFrom(principal: Principal, target: RepositoryTarget, repo: RepositoryRecord, digest: string, from: string | undefined): Promise<string | undefined> {
    if (!from) return undefined;
    let source: RepositoryTarget;
    try {
      source = await repositories.resolve(from);
    } catch (err) {
      if (isPalletError(err, 'NAME_UNKNOWN') || isPalletError(err, 'NAME_INVALID')) return undefined;
      throw err;
    }
    if (source.root.id !== target.root.id) return undefined;
    if (!(await auth.allowed(principal, source, 'pull'))) return undefined;
    const sourceRepo = await services.store.findRepository(source.registry.id, source.name);
    if (!sourceRepo) return undefined;
    const blob = await blobs.mount(location(target, repo), sourceRepo.id, digest);
    return blob?.digest;
  }

  const start: Handler = async ({ request, reply, target, query }) => {
    const repo = await repositories.forPush(target);
    const l = location(target, repo);
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
  };

  const status: Handler = async ({ reply, target, param }) => {
    const repo = await repositories.forPull(target);
    const upload = await blobs.getUpload(location(target, repo), param);
    return uploadHeaders(reply.code(204), target, upload).send();
  };

  const chunk: Handler = async ({ request, reply, target, param }) => {
    const repo = await repositories.forPush(target);
    const upload = await blobs.getUpload(location(target, repo), param);
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
  };

  const finish: Handler = async ({ request, reply, target, param, query }) => {
    const repo = await repositories.forPush(target);
    const l = location(target, repo);
    const upload = await blobs.getUpload(l, param);
    if (!query.digest) throw new PalletError('DIGEST_INVALID', 'the digest query parameter is required to complete an upload');
    const length = contentLength(request);
    const range = parseContentRange(request.headers['content-range'] as string | undefined);
    const hasBody = (length ?? 0) > 0 || request.headers['transfer-encoding'] !== undefined;
    const blob = await blobs.finishUpload(l, upload, query.digest, hasBody ? request.raw : undefined, {
      ...(range ? { start: range.start, length: range.length } : length !== undefined ? { length } : {}),
    });
    return created(reply, `/v2/${target.fullName}/blobs/${blob.digest}`, blob.digest);
  };

  const cancel: Handler = async ({ reply, target, param }) => {
    const repo = await repositories.forPull(target);
    const upload = await blobs.getUpload(location(target, repo), param);
    await blobs.cancelUpload(upload);
    return reply.code(204).send();
  };

  return [
    { pattern: /^(.+)\/blobs\/uploads\/?$/, name: 'upload.start', methods: { POST: start } },
    { pattern: /^(.+)\/blobs\/uploads\/([^/]+)$/, name: 'upload', methods: { GET: status, PATCH: chunk, PUT: finish, DELETE: cancel } },
  ];
}
