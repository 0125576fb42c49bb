/**
 * What the OCI handler modules share: the route table's types (a route is a path pattern and
 * a handler per method, run after `/v2` has authenticated the caller and authorized the
 * route's action on the repository), and the small HTTP helpers of the distribution spec
 * (ranges, Content-Range, upload headers, 201 answers).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { PalletError } from '../../../base/errors.js';
import type { RepositoryRecord, UploadRecord } from '../../../metadata/store.js';
import type { RepositoryTarget } from '../../../registry/repositories.js';
import type { Services } from '../../../services.js';
import type { ByteRange } from '../../../storage/driver.js';
import { principalOf } from '../../../http/request-auth.js';
import type { OciAuth } from '../auth.js';

/** What every handler module is built over. */
export interface OciDeps {
  services: Services;
  auth: OciAuth;
}

/** One request to a repository endpoint, after authorization. */
export interface Context {
  request: FastifyRequest;
  reply: FastifyReply;
  target: RepositoryTarget;
  /** Path parameter after the repository name (reference, digest or upload id). */
  param: string;
  query: Record<string, string | undefined>;
}

export type Handler = (ctx: Context) => Promise<unknown>;

/** A repository endpoint: `pattern` captures the repository name (and the parameter after it). */
export interface Route {
  pattern: RegExp;
  /** Names the endpoint in metrics and messages; `upload` changes which action a method needs (`ociAction`). */
  name: string;
  methods: Partial<Record<string, Handler>>;
}

/** Where a repository's blobs and uploads are kept, for the blob service. */
export function location(target: RepositoryTarget, repo: RepositoryRecord): { rootSpaceId: string; repositoryId: string } {
  return { rootSpaceId: target.root.id, repositoryId: repo.id };
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
export function uploadOwner(request: FastifyRequest): string {
  const principal = principalOf(request);
  if (principal.kind === 'user') return `user:${principal.user.username}`;
  if (principal.kind === 'grant' && principal.subject) return `user:${principal.subject}`;
  return `address:${request.ip}`;
}

export function contentLength(request: FastifyRequest): number | undefined {
  const raw = request.headers['content-length'];
  return raw === undefined ? undefined : Number(raw);
}

export function uploadHeaders(reply: FastifyReply, target: RepositoryTarget, upload: UploadRecord): FastifyReply {
  return reply
    .header('Location', `/v2/${target.fullName}/blobs/uploads/${upload.id}`)
    .header('Range', `0-${Math.max(0, upload.size - 1)}`)
    .header('Docker-Upload-UUID', upload.id)
    .header('Content-Length', '0');
}

/** 201 for stored content, pointing at where it can be read. */
export function created(reply: FastifyReply, location: string, digest: string): FastifyReply {
  return reply.code(201).header('Location', location).header('Docker-Content-Digest', digest).header('Content-Length', '0').send();
}

