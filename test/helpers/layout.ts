/**
 * Reads OCI image layouts on disk (image-spec `image-layout.md`): `oci-layout`, `index.json`
 * and content-addressed `blobs/<alg>/<hex>`. Reading a layout re-hashes every blob, so two
 * layouts with the same blob names hold byte-identical content.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

export const MEDIA_TYPES = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const;

export const REF_NAME = 'org.opencontainers.image.ref.name';

export interface Platform {
  os: string;
  architecture: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
}

export interface Layout {
  dir: string;
  index: ImageIndex;
  /** digest → size, for every blob under `blobs/`, each verified against its name. */
  blobs: Map<string, number>;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function fail(what: string, value: unknown): never {
  throw new Error(`not a valid ${what}: ${JSON.stringify(value)?.slice(0, 300)}`);
}

export function asDescriptor(value: unknown): Descriptor {
  if (!isRecord(value) || typeof value.mediaType !== 'string' || typeof value.digest !== 'string' || typeof value.size !== 'number') {
    return fail('descriptor', value);
  }
  const out: Descriptor = { mediaType: value.mediaType, digest: value.digest, size: value.size };
  const p = value.platform;
  if (p !== undefined) {
    if (!isRecord(p) || typeof p.os !== 'string' || typeof p.architecture !== 'string') return fail('platform', p);
    out.platform = { os: p.os, architecture: p.architecture };
  }
  if (value.annotations !== undefined) {
    if (!isRecord(value.annotations)) return fail('annotations', value.annotations);
    out.annotations = Object.fromEntries(Object.entries(value.annotations).map(([k, v]) => [k, String(v)]));
  }
  return out;
}

export function parseIndex(text: string): ImageIndex {
  const value: unknown = JSON.parse(text);
  if (!isRecord(value) || value.schemaVersion !== 2 || !Array.isArray(value.manifests)) return fail('image index', value);
  return {
    schemaVersion: 2,
    ...(typeof value.mediaType === 'string' ? { mediaType: value.mediaType } : {}),
    manifests: value.manifests.map(asDescriptor),
  };
}

export function parseManifest(text: string): ImageManifest {
  const value: unknown = JSON.parse(text);
  if (!isRecord(value) || value.schemaVersion !== 2 || !Array.isArray(value.layers)) return fail('image manifest', value);
  return {
    schemaVersion: 2,
    ...(typeof value.mediaType === 'string' ? { mediaType: value.mediaType } : {}),
    config: asDescriptor(value.config),
    layers: value.layers.map(asDescriptor),
  };
}

/** `sha256:<hex>` of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

export function sha256(data: string | Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function blobPath(layoutDir: string, digest: string): string {
  const [algorithm, hex] = digest.split(':');
  if (!algorithm || !hex) throw new Error(`not a digest: ${digest}`);
  return join(layoutDir, 'blobs', algorithm, hex);
}

export async function readBlob(layoutDir: string, digest: string): Promise<Buffer> {
  return readFile(blobPath(layoutDir, digest));
}

/** Reads and verifies a whole layout; throws when a blob does not hash to its name. */
export async function readLayout(dir: string): Promise<Layout> {
  const marker: unknown = JSON.parse(await readFile(join(dir, 'oci-layout'), 'utf8'));
  if (!isRecord(marker) || typeof marker.imageLayoutVersion !== 'string') fail('oci-layout file', marker);
  const index = parseIndex(await readFile(join(dir, 'index.json'), 'utf8'));
  const blobs = new Map<string, number>();
  for (const algorithm of await readdir(join(dir, 'blobs'))) {
    if (algorithm !== 'sha256') throw new Error(`unexpected digest algorithm directory ${algorithm} in ${dir}`);
    for (const hex of await readdir(join(dir, 'blobs', algorithm))) {
      const path = join(dir, 'blobs', algorithm, hex);
      const digest = await sha256File(path);
      if (digest !== `sha256:${hex}`) throw new Error(`${path} hashes to ${digest}`);
      const { size } = await stat(path);
      blobs.set(digest, size);
    }
  }
  return { dir, index, blobs };
}

/** The descriptor that `index.json` names `ref`; throws when there is none. */
export function refDescriptor(layout: Layout, ref: string): Descriptor {
  const found = layout.index.manifests.filter((d) => d.annotations?.[REF_NAME] === ref);
  if (found.length !== 1) throw new Error(`${layout.dir}: expected one manifest named ${ref}, found ${found.length}`);
  return found[0]!;
}

/** Blobs as sorted `digest size` lines: easy to compare with deepStrictEqual and to read in a diff. */
export function blobList(layout: Layout): string[] {
  return [...layout.blobs].map(([digest, size]) => `${digest} ${size}`).sort();
}
