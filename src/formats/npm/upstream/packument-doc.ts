/**
 * Upstream packuments as npm proxies serve them: reading an untrusted upstream document into a
 * checked form (`readPackument`), the tarball of a version (`tarballOf`), the ordered merge of
 * several registries' packuments (`mergePackuments`) and rendering with tarball URLs rewritten
 * to Pallet (`packumentObject`). Pure functions, no I/O.
 *
 * What an upstream document must be: a JSON object whose `name` is the package asked for (when
 * it has one) and whose `versions` is an object. A version is kept when its key is a plausible
 * version (no `/`, no spaces, at most 256 characters), it is an object and its `dist.tarball`
 * is an http(s) URL; others are left out (counted in `skipped`). `dist-tags` pointing at a
 * version that is not kept are dropped.
 */
import { PalletError } from '../../../base/errors.js';
import type { Checksum } from '../../../upstream/fetch-cache/commit.js';
import { tarballUrl } from '../packument.js';

export type JsonObject = Record<string, unknown>;

/** A checked packument of one registry. */
export interface PackumentDoc {
  name: string;
  distTags: Record<string, string>;
  /** version → its document (as the registry has it; `dist.tarball` is the registry's URL). */
  versions: Map<string, JsonObject>;
  /** `time` (created, modified, per version), when the document has it. */
  time: Record<string, string>;
  /** Package-level fields (description, readme, maintainers, …), without the ones above. */
  fields: JsonObject;
  /** Versions left out (see the module header). */
  skipped: number;
}

/** Fields of the abbreviated ("install") form besides name, modified, dist-tags and versions. */
const OWN_FIELDS = new Set(['_id', '_rev', 'name', 'dist-tags', 'versions', 'time', '_attachments']);
const VERSION_KEY = /^[0-9A-Za-z][0-9A-Za-z.+_~-]{0,255}$/;

function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function httpUrl(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

/** Checks an upstream packument of `name` (see the module header); INVALID_ARGUMENT when it is not one. */
export function readPackument(value: unknown, name: string): PackumentDoc {
  if (!isObject(value)) throw new PalletError('INVALID_ARGUMENT', `the packument of ${name} is not a JSON object`);
  if (value.name !== undefined && value.name !== name) {
    throw new PalletError('INVALID_ARGUMENT', `the packument of ${name} names another package (${JSON.stringify(String(value.name).slice(0, 250))})`);
  }
  const rawVersions = value.versions ?? {};
  if (!isObject(rawVersions)) throw new PalletError('INVALID_ARGUMENT', `the packument of ${name} has no versions object`);
  const versions = new Map<string, JsonObject>();
  let skipped = 0;
  for (const [version, doc] of Object.entries(rawVersions)) {
    if (VERSION_KEY.test(version) && isObject(doc) && isObject(doc.dist) && httpUrl(doc.dist.tarball)) versions.set(version, doc);
    else skipped++;
  }
  const distTags: Record<string, string> = {};
  if (isObject(value['dist-tags'])) {
    for (const [tag, version] of Object.entries(value['dist-tags'])) if (typeof version === 'string' && versions.has(version)) distTags[tag] = version;
  }
  const time: Record<string, string> = {};
  if (isObject(value.time)) for (const [k, v] of Object.entries(value.time)) if (typeof v === 'string') time[k] = v;
  if (typeof value.modified === 'string' && !time.modified) time.modified = value.modified;
  const fields: JsonObject = {};
  for (const [k, v] of Object.entries(value)) if (!OWN_FIELDS.has(k) && k !== 'modified') fields[k] = v;
  return { name, distTags, versions, time, fields, skipped };
}

/** The tarball of a version: its upstream URL and the checksum it must match. */
export interface TarballRef {
  url: string;
  /** `sha512-…` (or another SRI) as the registry states it, when it does. */
  integrity: string | undefined;
  shasum: string | undefined;
  /** What the body is verified against: sha512 of `integrity`, else another SRI algorithm, else sha1 `shasum`. */
  checksum: Checksum | undefined;
}

const SRI_ALGORITHMS = ['sha512', 'sha384', 'sha256', 'sha1'];

/** The strongest checksum of an SRI string (`sha512-<base64> sha1-<base64>`), else of `shasum`. */
export function checksumOf(integrity: string | undefined, shasum: string | undefined): Checksum | undefined {
  if (integrity) {
    const entries = integrity
      .trim()
      .split(/\s+/)
      .map((entry) => /^(sha\d+)-([A-Za-z0-9+/=]+)(\?.*)?$/.exec(entry))
      .filter((m): m is RegExpExecArray => m !== null);
    for (const algorithm of SRI_ALGORITHMS) {
      const m = entries.find((e) => e[1] === algorithm);
      if (m) return { algorithm, value: m[2]!, encoding: 'base64' };
    }
  }
  if (shasum && /^[0-9a-f]{40}$/i.test(shasum)) return { algorithm: 'sha1', value: shasum.toLowerCase(), encoding: 'hex' };
  return undefined;
}

export function tarballOf(doc: PackumentDoc, version: string): TarballRef | undefined {
  const v = doc.versions.get(version);
  const dist = v && isObject(v.dist) ? v.dist : undefined;
  if (!dist || typeof dist.tarball !== 'string') return undefined;
  const integrity = typeof dist.integrity === 'string' ? dist.integrity : undefined;
  const shasum = typeof dist.shasum === 'string' ? dist.shasum : undefined;
  return { url: dist.tarball, integrity, shasum, checksum: checksumOf(integrity, shasum) };
}

/** The file name Pallet serves a version's tarball under: `<name without scope>-<version>.tgz`. */
export function tarballFileName(name: string, version: string): string {
  return `${name.slice(name.lastIndexOf('/') + 1)}-${version}.tgz`;
}

/** The version a Pallet tarball file name stands for; undefined when it is not one of `name`'s. */
export function versionOfFile(name: string, file: string): string | undefined {
  const bare = name.slice(name.lastIndexOf('/') + 1);
  if (!file.startsWith(`${bare}-`) || !file.endsWith('.tgz')) return undefined;
  const version = file.slice(bare.length + 1, -'.tgz'.length);
  return VERSION_KEY.test(version) ? version : undefined;
}

/** One registry's packument in a merge, with what it stands for (a registry id). */
export interface MergeSource<O> {
  origin: O;
  doc: PackumentDoc;
}

export interface MergedPackument<O> {
  doc: PackumentDoc;
  /** version → the source that supplied it. */
  origins: Map<string, O>;
}

/**
 * The ordered merge (DESIGN.md, issue 12): versions of the sources in order, the first one
 * wins per version; dist-tags tag by tag from the local registry (`ownTags`, when it sets
 * them), then from the first source that has the package; package-level fields and `time` of
 * a version from the source that supplied it. Tags naming a version no source has are dropped.
 */
export function mergePackuments<O>(name: string, sources: readonly MergeSource<O>[], ownTags?: Record<string, string>): MergedPackument<O> {
  const versions = new Map<string, JsonObject>();
  const origins = new Map<string, O>();
  const time: Record<string, string> = {};
  for (const { origin, doc } of sources) {
    for (const [version, v] of doc.versions) {
      if (versions.has(version)) continue;
      versions.set(version, v);
      origins.set(version, origin);
      if (doc.time[version]) time[version] = doc.time[version];
    }
    for (const key of ['created', 'modified'] as const) {
      const t = doc.time[key];
      if (t && (!time[key] || (key === 'created' ? t < time[key] : t > time[key]))) time[key] = t;
    }
  }
  const first = sources.find((s) => s.doc.versions.size > 0) ?? sources[0];
  const distTags: Record<string, string> = {};
  for (const [tag, version] of Object.entries({ ...(first?.doc.distTags ?? {}), ...(ownTags ?? {}) })) if (versions.has(version)) distTags[tag] = version;
  return { doc: { name, distTags, versions, time, fields: first?.doc.fields ?? {}, skipped: 0 }, origins };
}

/** Version fields the abbreviated form keeps (what npm install reads). */
const INSTALL_VERSION_FIELDS = [
  'name', 'version', 'deprecated', 'dependencies', 'optionalDependencies', 'devDependencies', 'bundleDependencies', 'bundledDependencies',
  'peerDependencies', 'peerDependenciesMeta', 'bin', 'directories', 'dist', 'engines', '_hasShrinkwrap', 'hasInstallScript', 'cpu', 'os', 'libc', 'funding', 'license', 'acceptDependencies',
];

/**
 * The packument as served: `form` full or install (abbreviated: name, modified, dist-tags and
 * the install fields of each version), every `dist.tarball` rewritten to
 * `<base>/<name>/-/<file>` (`base`: the registry's npm URL, no trailing slash).
 */
export function packumentObject(doc: PackumentDoc, form: 'full' | 'install', base: string): JsonObject {
  const versions: JsonObject = {};
  for (const [version, v] of doc.versions) {
    const dist = { ...(v.dist as JsonObject), tarball: tarballUrl(base, doc.name, version) };
    if (form === 'full') {
      versions[version] = { ...v, dist };
    } else {
      const out: JsonObject = {};
      for (const field of INSTALL_VERSION_FIELDS) if (v[field] !== undefined) out[field] = v[field];
      out.dist = dist;
      versions[version] = out;
    }
  }
  const modified = doc.time.modified;
  return form === 'full'
    ? { _id: doc.name, ...doc.fields, name: doc.name, 'dist-tags': doc.distTags, versions, time: doc.time }
    : { name: doc.name, ...(modified ? { modified } : {}), 'dist-tags': doc.distTags, versions };
}
