/**
 * Plain-HTTP OCI pushes as the bootstrap admin (HTTP basic, which Pallet accepts on /v2), for
 * tests that need many small pushes and the raw answer of each request: a monolithic blob
 * upload per blob (`POST …/blobs/uploads/?digest=`), then the manifest by tag.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { PalletServer } from './server.js';

type Target = Pick<PalletServer, 'url' | 'adminPassword'>;

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

export interface Answer {
  method: string;
  path: string;
  status: number;
  headers: Headers;
  body: Buffer;
}

export const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

export function basicAuth(server: Target): string {
  return `Basic ${Buffer.from(`admin:${server.adminPassword}`).toString('base64')}`;
}

/** One request as the admin; rejects only when no HTTP answer came (reset, refused). */
export async function send(server: Target, method: string, path: string, body?: Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: basicAuth(server), ...headers },
    ...(body ? { body: Uint8Array.from(body) } : {}),
    signal: AbortSignal.timeout(60_000),
  });
  return { method, path, status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

/** An error carrying the answer that stopped a push. */
export class PushFailed extends Error {
  constructor(readonly answer: Answer) {
    super(`${answer.method} ${answer.path} answered ${answer.status}: ${answer.body.toString().slice(0, 300)}`);
    this.name = 'PushFailed';
  }
}

async function pushBlob(server: Target, repo: string, data: Buffer, seen: (a: Answer) => void): Promise<string> {
  const digest = sha256(data);
  const answer = await send(server, 'POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, data, { 'content-type': 'application/octet-stream' });
  seen(answer);
  if (answer.status !== 201) throw new PushFailed(answer);
  return digest;
}

/**
 * Pushes a one-layer image (`layerBytes` of random data) as `repo:tag`; resolves to the
 * manifest digest. `seen` gets every answer; the first non-201 rejects with `PushFailed`.
 */
export async function pushImage(
  server: Target,
  repo: string,
  tag: string,
  options: { layerBytes?: number; seen?: (a: Answer) => void } = {},
): Promise<string> {
  const seen = options.seen ?? (() => undefined);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed: randomBytes(8).toString('hex') }));
  const layer = randomBytes(options.layerBytes ?? 16 * 1024);
  const configDigest = await pushBlob(server, repo, config, seen);
  const layerDigest = await pushBlob(server, repo, layer, seen);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layer.length }],
    }),
  );
  const answer = await send(server, 'PUT', `/v2/${repo}/manifests/${tag}`, manifest, { 'content-type': OCI_MANIFEST });
  seen(answer);
  if (answer.status !== 201) throw new PushFailed(answer);
  return sha256(manifest);
}
