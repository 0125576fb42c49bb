/**
 * Blob endpoints, `/v2/<name>/blobs/<digest>`: GET (whole or a byte range, or a 307 to the
 * bucket when `s3.redirectSeconds` is set) and HEAD go through `services.pulls`; DELETE removes
 * the repository's link to the blob (GC reclaims the bytes).
 */
import type { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { principalOf } from '../../../http/request-auth.js';
import { PalletError } from '../../../base/errors.js';
import { rangeHeaders, rangeWithin, unsatisfiable } from '../../../http/byte-ranges.js';
import type { BlobRecord } from '../../../metadata/store.js';
import type { RepositoryTarget } from '../../../registry/repositories.js';
import type { ByteRange } from '../../../storage/driver.js';
import { location, type Handler, type OciDeps, type Route } from './common.js';

export function blobRoutes({ services, auth }: OciDeps): Route {
  const { blobs, config } = services;

  /**
   * A client about to push checks each blob with HEAD and skips those it finds: for a caller
   * who may push here, the answer restarts the link's GC grace (like an upload's 201), so its
   * manifest finds the blob. Pull-only callers do not keep garbage alive; a link that went
   * between the lookup and the touch is BLOB_UNKNOWN.
   */
  async function refreshForPusher(request: FastifyRequest, target: RepositoryTarget, digest: string): Promise<void> {
    if (target.registry.kind !== 'local' || !(await auth.allowed(principalOf(request), target, 'push'))) return;
    const repo = await services.store.findRepository(target.registry.id, target.name);
    if (repo && !(await blobs.refreshLink(location(target, repo), digest))) {
      throw new PalletError('BLOB_UNKNOWN', 'blob unknown to registry', { digest });
    }
  }

  const get: Handler = async ({ request, reply, target, param }) => {
    // Scale-out: with s3.redirectSeconds set, the bucket serves whole-blob GETs (307 to a
    // presigned URL) once this registry has said the repository holds the blob.
    if (request.method === 'GET' && request.headers.range === undefined && config.s3.redirectSeconds > 0) {
      const blob = await services.pulls.statBlob(target, param, { log: request.log });
      const redirect = await blobs.redirectUrl(target.root.id, blob.digest, config.s3.redirectSeconds);
      if (redirect !== undefined) {
        return reply.code(307).header('Location', redirect).header('Docker-Content-Digest', blob.digest).send();
      }
    }
    const rangeOf = (size: number): ByteRange | undefined => rangeWithin(request.headers.range, size);
    let found: { blob: BlobRecord; range: ByteRange | undefined; stream?: Readable };
    try {
      if (request.method === 'HEAD') {
        const blob = await services.pulls.statBlob(target, param, { log: request.log });
        await refreshForPusher(request, target, blob.digest);
        found = { blob, range: rangeOf(blob.size) };
      } else {
        found = await services.pulls.openBlob(target, param, { range: rangeOf, log: request.log });
      }
    } catch (err) {
      unsatisfiable(reply, err);
      throw err;
    }
    const { blob, range } = found;
    reply.header('Docker-Content-Digest', blob.digest).header('Content-Type', 'application/octet-stream').header('ETag', `"${blob.digest}"`);
    rangeHeaders(reply, blob.size, range);
    if (!found.stream) return reply.send();
    return reply.send(found.stream);
  };

  const remove: Handler = async ({ reply, target, param }) => {
    const repo = await services.repositories.forPull(target);
    await blobs.deleteLink(location(target, repo), param);
    return reply.code(202).header('Content-Length', '0').send();
  };

  return { pattern: /^(.+)\/blobs\/([^/]+)$/, name: 'blob', methods: { GET: get, HEAD: get, DELETE: remove } };
}
