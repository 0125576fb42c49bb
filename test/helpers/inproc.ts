/**
 * An in-process Pallet (SQLite and the filesystem driver in a temp dir, built by `buildApp` and
 * driven through `inject()`) with OCI push/pull helpers, for integration tests of GC, quotas and
 * cleanup. Every request authenticates as the bootstrap admin, so tests hold with auth on.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { buildApp, createLogger, type App } from '../../src/app.js';
import { digestOf } from '../../src/base/digest.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { FORMATS, formatConfigSections } from '../../src/formats/index.js';
import type { PackageFormat } from '../../src/formats/format.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

export interface Harness {
  app: App;
  dataDir: string;
  auth: Record<string, string>;
  /** A JSON API call; resolves to status and parsed body. */
  call<T = unknown>(method: string, url: string, body?: unknown): Promise<{ status: number; json: T; text: string }>;
  close(): Promise<void>;
}

export interface Blob {
  digest: string;
  size: number;
  data: Buffer;
}

export interface PushedImage {
  digest: string;
  blobs: Blob[];
}

/**
 * `flags` are config overrides by key path (`{ gc: { graceSeconds: 0 } }`); `logger` builds the
 * process logger from the config (the default one, silent unless `flags.logLevel` says otherwise);
 * `formats` is the format list to serve (the registered one when omitted).
 */
export async function startInProcess(flags: Record<string, unknown> = {}, logger?: (config: Config) => Logger, formats: readonly PackageFormat[] = FORMATS): Promise<Harness> {
  const dataDir = await mkdtemp(join(tmpdir(), 'pallet-inproc-'));
  const adminPassword = `inproc-${randomBytes(6).toString('hex')}`;
  const config = loadConfig({
    env: {},
    flags: { dataDir, logLevel: 'silent', baseUrl: 'http://registry.test', adminPassword, ...flags },
    sections: formatConfigSections(formats),
  });
  const app = await buildApp(config, logger ? logger(config) : createLogger(config), formats);
  const auth = { authorization: `Basic ${Buffer.from(`admin:${adminPassword}`).toString('base64')}` };
  return {
    app,
    dataDir,
    auth,
    async call<T>(method: string, url: string, body?: unknown) {
      const res = await app.server.inject({
        method: method as 'GET',
        url,
        headers: auth,
        ...(body !== undefined ? { payload: body as Record<string, unknown> } : {}),
      });
      return { status: res.statusCode, text: res.body, json: (res.body ? JSON.parse(res.body) : undefined) as T };
    },
    async close() {
      await app.server.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export async function createDockerRegistry(h: Harness, space: string, identifier: string): Promise<void> {
  const s = await h.call('POST', '/api/v1/spaces', { path: space });
  assert.ok(s.status === 201 || s.status === 409, s.text);
  const r = await h.call('POST', '/api/v1/registries', { space, identifier, packageType: 'docker', kind: 'local' });
  assert.equal(r.status, 201, r.text);
}

export function blob(data: Buffer): Blob {
  return { digest: digestOf(data), size: data.length, data };
}

/** Monolithic single-POST upload; resolves to the status (201 on success). */
export async function pushBlob(h: Harness, repo: string, b: Blob): Promise<{ status: number; body: string }> {
  const res = await h.app.server.inject({
    method: 'POST',
    url: `/v2/${repo}/blobs/uploads/?digest=${b.digest}`,
    payload: b.data,
    headers: { ...h.auth, 'content-type': 'application/octet-stream' },
  });
  return { status: res.statusCode, body: res.body };
}

/** Pushes config and layers, then the manifest under `tag`; throws on any failure. */
export async function pushImage(h: Harness, repo: string, tag: string, layers: Buffer[]): Promise<PushedImage> {
  const config = blob(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed: randomBytes(6).toString('hex') })));
  const blobs = [config, ...layers.map(blob)];
  for (const b of blobs) {
    const res = await pushBlob(h, repo, b);
    assert.equal(res.status, 201, `blob push to ${repo}: ${res.body}`);
  }
  const doc = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: config.digest, size: config.size },
    layers: blobs.slice(1).map((l) => ({ mediaType: OCI_LAYER, digest: l.digest, size: l.size })),
  };
  const body = Buffer.from(JSON.stringify(doc));
  const res = await h.app.server.inject({
    method: 'PUT',
    url: `/v2/${repo}/manifests/${tag}`,
    payload: body,
    headers: { ...h.auth, 'content-type': OCI_MANIFEST },
  });
  assert.equal(res.statusCode, 201, `manifest push to ${repo}:${tag}: ${res.body}`);
  return { digest: digestOf(body), blobs };
}

/** Pulls the manifest by tag and every blob it references; asserts the bytes are the pushed ones. */
export async function assertPullsCompletely(h: Harness, repo: string, tag: string, image: PushedImage): Promise<void> {
  const manifest = await h.app.server.inject({ method: 'GET', url: `/v2/${repo}/manifests/${tag}`, headers: { ...h.auth, accept: OCI_MANIFEST } });
  assert.equal(manifest.statusCode, 200, `manifest ${repo}:${tag}: ${manifest.body}`);
  assert.equal(digestOf(manifest.rawPayload), image.digest);
  for (const b of image.blobs) {
    const res = await h.app.server.inject({ method: 'GET', url: `/v2/${repo}/blobs/${b.digest}`, headers: h.auth });
    assert.equal(res.statusCode, 200, `blob ${b.digest} of ${repo}:${tag}: ${res.body}`);
    assert.ok(res.rawPayload.equals(b.data), `blob ${b.digest} of ${repo}:${tag} has the pushed bytes`);
  }
}

export async function deleteManifest(h: Harness, repo: string, digest: string): Promise<void> {
  const res = await h.app.server.inject({ method: 'DELETE', url: `/v2/${repo}/manifests/${digest}`, headers: h.auth });
  assert.equal(res.statusCode, 202, res.body);
}

/** Hex digests of every blob file the filesystem driver holds. */
export async function blobFiles(dataDir: string): Promise<Set<string>> {
  const entries = await readdir(join(dataDir, 'storage', 'blobs'), { recursive: true, withFileTypes: true }).catch(() => []);
  return new Set(entries.filter((e) => e.isFile()).map((e) => `sha256:${e.name}`));
}
