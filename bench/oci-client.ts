/**
 * The OCI distribution calls the workloads make, identical for every registry: upload sessions
 * (POST, then PUT or PATCH…PUT), blob GET and manifest PUT/GET. Each call verifies the
 * response the spec promises (status, Location, Docker-Content-Digest, byte counts) and throws
 * otherwise.
 */
import type { Readable } from 'node:stream';
import { header, HttpClient, RequestFailed, type Response } from './http-client.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';

/** `Location` of an upload response, resolved against the server (it may be relative). */
function location(client: HttpClient, res: Response, context: string): URL {
  return client.url(header(res, 'Location', context));
}

function withDigest(url: URL, digest: string): string {
  const out = new URL(url.href);
  out.searchParams.set('digest', digest);
  return out.href;
}

function checkDigest(res: Response, digest: string, context: string): void {
  const got = header(res, 'Docker-Content-Digest', context);
  if (got !== digest) throw new Error(`${context}: Docker-Content-Digest is ${got}, expected ${digest}`);
}

export class OciClient {
  constructor(
    readonly http: HttpClient,
    /** `bench/docker-local/<image>` */
    readonly repository: string,
  ) {}

  private path(rest: string): string {
    return `/v2/${this.repository}/${rest}`;
  }

  /** POST …/blobs/uploads/ → 202 and the session's Location. */
  async startUpload(): Promise<URL> {
    const res = await this.http.expect(202, 'POST', this.path('blobs/uploads/'));
    return location(this.http, res, 'POST blobs/uploads');
  }

  /** Monolithic upload: POST for a session, then one PUT ?digest= carrying the whole body. */
  async pushMonolithic(digest: string, size: number, body: Buffer | (() => Readable)): Promise<void> {
    const session = await this.startUpload();
    const res = await this.http.expect(201, 'PUT', withDigest(session, digest), {
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      body: Buffer.isBuffer(body) ? body : body(),
    });
    checkDigest(res, digest, 'PUT upload');
  }

  /**
   * Chunked upload: POST for a session, one PATCH per chunk (`Content-Range: start-end`,
   * following each response's Location, which may carry state), then PUT ?digest= with no body.
   */
  async pushChunked(digest: string, size: number, chunkBytes: number, chunk: (start: number, end: number) => Readable): Promise<void> {
    let session = await this.startUpload();
    for (let start = 0; start < size; start += chunkBytes) {
      const end = Math.min(size, start + chunkBytes);
      const res = await this.http.expect(202, 'PATCH', session.href, {
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': String(end - start),
          'content-range': `${start}-${end - 1}`,
        },
        body: chunk(start, end),
      });
      const range = header(res, 'Range', 'PATCH upload');
      if (range !== `0-${end - 1}`) {
        throw new RequestFailed('PATCH', session.href, res.status, res.headers, '', `Range is ${range}, expected 0-${end - 1}`);
      }
      session = location(this.http, res, 'PATCH upload');
    }
    const res = await this.http.expect(201, 'PUT', withDigest(session, digest));
    checkDigest(res, digest, 'PUT upload');
  }

  /** GET the blob, reading and discarding the body; throws unless exactly `size` bytes arrive. */
  async pullBlob(digest: string, size: number): Promise<void> {
    const res = await this.http.expect(200, 'GET', this.path(`blobs/${digest}`), { discard: true });
    checkDigest(res, digest, 'GET blob');
    if (res.bytes !== size) throw new Error(`GET blob ${digest}: received ${res.bytes} bytes, expected ${size}`);
  }

  async putManifest(reference: string, manifest: Buffer, digest: string): Promise<void> {
    const res = await this.http.expect(201, 'PUT', this.path(`manifests/${reference}`), {
      headers: { 'content-type': OCI_MANIFEST },
      body: manifest,
    });
    checkDigest(res, digest, 'PUT manifest');
  }

  async getManifest(reference: string): Promise<Response> {
    return this.http.expect(200, 'GET', this.path(`manifests/${reference}`), { headers: { accept: OCI_MANIFEST } });
  }

  manifestUrl(reference: string): string {
    return this.http.url(this.path(`manifests/${reference}`)).href;
  }
}
