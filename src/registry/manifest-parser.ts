/**
 * Parses and validates a manifest document (OCI image manifest or index, Docker schema 2
 * manifest or manifest list) into what the store keeps: its media type, artifact type, subject,
 * annotations and the descriptors it references. Throws MANIFEST_INVALID saying what is wrong.
 */
import { MANIFEST_LIMITS, parseJsonBounded, type ParseLimits } from '../base/bounded-parse.js';
import { isJsonObject } from '../base/json.js';
import { isDigest } from '../base/digest.js';
import { isPalletError, PalletError } from '../base/errors.js';
import type { ManifestReference } from '../metadata/store.js';
import {
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  DOCKER_SCHEMA1,
  DOCKER_SCHEMA1_SIGNED,
  isForeignLayer,
  MANIFEST_MEDIA_TYPES,
  OCI_INDEX,
  OCI_MANIFEST,
} from './media-types.js';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: Platform;
  urls?: string[];
}

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
}

export interface ParsedManifest {
  mediaType: string;
  artifactType: string | null;
  subject: Descriptor | null;
  annotations: Record<string, string> | null;
  /** Config and layers (image manifest) or child manifests (index), in document order. */
  references: ManifestReference[];
  /** References the repository must already hold (foreign layers excluded). */
  required: ManifestReference[];
}

function invalid(message: string): PalletError {
  return new PalletError('MANIFEST_INVALID', `manifest invalid: ${message}`);
}



function stringMap(value: unknown, where: string): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (!isJsonObject(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw invalid(`${where} must be a map of strings`);
  }
  return value as Record<string, string>;
}

function descriptor(value: unknown, where: string): Descriptor {
  if (!isJsonObject(value)) throw invalid(`${where} must be a descriptor object`);
  const { mediaType, digest, size } = value;
  if (typeof mediaType !== 'string' || mediaType.length === 0) throw invalid(`${where}.mediaType is missing`);
  if (typeof digest !== 'string' || !isDigest(digest)) throw invalid(`${where}.digest is not a valid sha256 or sha512 digest`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw invalid(`${where}.size must be a non-negative integer`);
  const out: Descriptor = { mediaType, digest, size };
  if (value.artifactType !== undefined) {
    if (typeof value.artifactType !== 'string') throw invalid(`${where}.artifactType must be a string`);
    out.artifactType = value.artifactType;
  }
  const annotations = stringMap(value.annotations, `${where}.annotations`);
  if (annotations) out.annotations = annotations;
  if (value.urls !== undefined) {
    if (!Array.isArray(value.urls) || !value.urls.every((u) => typeof u === 'string')) throw invalid(`${where}.urls must be strings`);
    out.urls = value.urls as string[];
  }
  if (value.platform !== undefined) {
    const p = value.platform;
    if (!isJsonObject(p) || typeof p.architecture !== 'string' || typeof p.os !== 'string') {
      throw invalid(`${where}.platform needs architecture and os`);
    }
    out.platform = p as unknown as Platform;
  }
  return out;
}

function descriptors(value: unknown, where: string): Descriptor[] {
  if (!Array.isArray(value)) throw invalid(`${where} must be an array`);
  return value.map((d, i) => descriptor(d, `${where}[${i}]`));
}

/**
 * Parses `body` within MANIFEST_LIMITS (values, depth, time: see base/bounded-parse.ts; large
 * bodies are parsed off the event loop), then validates it. Its size was bounded by whoever read
 * it (`limits.manifestBytes` for pushes and upstream pulls).
 * `contentType` is the request's Content-Type; when the document names its own `mediaType`
 * the two must agree.
 */
export async function parseManifest(body: Buffer, contentType: string | undefined): Promise<ParsedManifest> {
  const limits: ParseLimits = { ...MANIFEST_LIMITS, maxBytes: Math.max(body.length, MANIFEST_LIMITS.maxBytes) };
  let doc: unknown;
  try {
    doc = await parseJsonBounded(body, limits);
  } catch (err) {
    if (isPalletError(err, 'TOO_LARGE') || isPalletError(err, 'UNAVAILABLE')) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    throw invalid(reason.startsWith('not valid JSON') ? 'body is not valid JSON' : reason);
  }
  return validateManifest(doc, contentType);
}

/** Validates a parsed manifest document (see parseManifest). */
export function validateManifest(doc: unknown, contentType: string | undefined): ParsedManifest {
  if (!isJsonObject(doc)) throw invalid('body must be a JSON object');
  const declared = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  const header = contentType?.split(';')[0]?.trim();
  if (declared === DOCKER_SCHEMA1 || declared === DOCKER_SCHEMA1_SIGNED || header === DOCKER_SCHEMA1 || header === DOCKER_SCHEMA1_SIGNED || doc.schemaVersion === 1) {
    throw invalid('Docker schema 1 manifests are not supported; push schema 2 or OCI');
  }
  if (doc.schemaVersion !== 2) throw invalid('schemaVersion must be 2');
  let mediaType = declared ?? (header && MANIFEST_MEDIA_TYPES.includes(header) ? header : undefined);
  if (!mediaType) {
    // An OCI document may omit mediaType; tell image manifest from index by shape.
    if (Array.isArray(doc.manifests)) mediaType = OCI_INDEX;
    else if (doc.config !== undefined) mediaType = OCI_MANIFEST;
    else throw invalid('unknown media type');
  }
  if (!MANIFEST_MEDIA_TYPES.includes(mediaType)) throw invalid(`unknown media type ${JSON.stringify(mediaType)}`);
  if (declared && header && MANIFEST_MEDIA_TYPES.includes(header) && header !== declared) {
    throw invalid(`Content-Type ${header} does not match the document's mediaType ${declared}`);
  }
  if (doc.artifactType !== undefined && typeof doc.artifactType !== 'string') throw invalid('artifactType must be a string');
  const annotations = stringMap(doc.annotations, 'annotations') ?? null;
  const subject = doc.subject === undefined ? null : descriptor(doc.subject, 'subject');

  const references: ManifestReference[] = [];
  const required: ManifestReference[] = [];
  let artifactType = (doc.artifactType as string | undefined) ?? null;
  if (mediaType === OCI_INDEX || mediaType === DOCKER_MANIFEST_LIST) {
    if (doc.config !== undefined || doc.layers !== undefined) throw invalid('an index has no config or layers');
    for (const d of descriptors(doc.manifests, 'manifests')) {
      const ref = { digest: d.digest, kind: 'manifest' as const, mediaType: d.mediaType, size: d.size };
      references.push(ref);
      required.push(ref);
    }
  } else {
    if (doc.manifests !== undefined) throw invalid('an image manifest has no manifests list');
    const config = descriptor(doc.config, 'config');
    const layers = doc.layers === undefined && mediaType === OCI_MANIFEST ? [] : descriptors(doc.layers, 'layers');
    if (mediaType === DOCKER_MANIFEST && (artifactType !== null || subject !== null)) {
      throw invalid('Docker schema 2 manifests carry no artifactType or subject');
    }
    // Referrers: an image manifest without artifactType is typed by its config.
    artifactType ??= config.mediaType;
    for (const d of [config, ...layers]) {
      const ref = { digest: d.digest, kind: 'blob' as const, mediaType: d.mediaType, size: d.size };
      references.push(ref);
      if (!(isForeignLayer(d.mediaType) && d.urls?.length)) required.push(ref);
    }
  }
  return { mediaType, artifactType, subject, annotations, references, required };
}
