/**
 * Manifest endpoints, `/v2/<name>/manifests/<reference>`: GET and HEAD go through
 * `services.pulls` (the registry's own content, then its upstream proxies); PUT reads the body
 * within `limits.manifestBytes` and stores it (tags, subject, policies: `registry/manifests.ts`);
 * DELETE removes a manifest by digest or a tag.
 */
import { isDigest } from '../../../base/digest.js';
import { PalletError } from '../../../base/errors.js';
import { isTag } from '../../../base/names.js';
import { readRequestBody } from '../../../base/streams.js';
import { contentLength, created, type Handler, type OciDeps, type Route } from './common.js';

export function manifestRoutes({ services }: OciDeps): Route {
  const { repositories, manifests, downloads, config } = services;

  const get: Handler = async ({ request, reply, target, param }) => {
    // Nothing can be stored under a reference that is neither a tag nor a digest (its PUT is
    // refused with 400): 404, as Distribution and the conformance suite answer.
    if (!isTag(param) && !isDigest(param)) throw new PalletError('MANIFEST_UNKNOWN', `manifest unknown to registry: ${param}`, { reference: param });
    const manifest = await services.pulls.manifest(target, param, { log: request.log });
    reply
      .header('Content-Type', manifest.mediaType)
      .header('Docker-Content-Digest', manifest.digest)
      .header('ETag', `"${manifest.digest}"`)
      .header('Content-Length', String(manifest.payload.length));
    if (request.method === 'HEAD') return reply.send();
    downloads.record(manifest.id);
    return reply.send(manifest.payload);
  };

  const put: Handler = async ({ request, reply, target, param }) => {
    const repo = await repositories.forPush(target);
    const length = contentLength(request);
    if (length !== undefined && length > config.limits.manifestBytes) {
      throw new PalletError('TOO_LARGE', `manifest exceeds the limit of ${config.limits.manifestBytes} bytes`);
    }
    const body = await readRequestBody(request.raw, config.limits.manifestBytes);
    const { manifest, subject } = await manifests.put(repo, param, request.headers['content-type'], body);
    if (subject) reply.header('OCI-Subject', subject);
    return created(reply, `/v2/${target.fullName}/manifests/${manifest.digest}`, manifest.digest);
  };

  const remove: Handler = async ({ reply, target, param }) => {
    const repo = await repositories.forPull(target);
    await manifests.delete(repo, param);
    return reply.code(202).header('Content-Length', '0').send();
  };

  return { pattern: /^(.+)\/manifests\/([^/]+)$/, name: 'manifest', methods: { GET: get, HEAD: get, PUT: put, DELETE: remove } };
}
