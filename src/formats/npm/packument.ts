/**
 * The packument: npm's document of one package (all its versions, dist-tags, times), built
 * from the database on every read and never stored. Two shapes, as the npm registry serves them:
 *
 *   full         (`Accept: application/json`): package-level fields, `_id`, `_rev`, `time`,
 *                every version's package.json with `dist`;
 *   abbreviated  (`Accept: application/vnd.npm.install-v1+json`, what `npm install` asks for):
 *                `name`, `modified`, `dist-tags`, and per version only what installing needs.
 *
 * Tarball URLs (`dist.tarball`) point at this Pallet registry (`tarballUrl`), whatever a client
 * or an upstream said. An upstream's packument is the same type, so merging one into a local
 * registry's answer is a matter of `versions`/`time`/`dist-tags` (see NOTES-npm.md).
 */
import { createHash } from 'node:crypto';
import { namePath, tarballFileName } from './names.js';
import type { NpmPackageRecord, NpmVersionRecord } from './store/npm-store.js';

export const ABBREVIATED_TYPE = 'application/vnd.npm.install-v1+json';

export interface PackumentDist {
  tarball: string;
  integrity?: string;
  shasum?: string;
  [field: string]: unknown;
}

/** One version in a packument: its package.json plus `dist` (and `deprecated` when set). */
export interface PackumentVersion {
  name: string;
  version: string;
  dist: PackumentDist;
  deprecated?: string;
  [field: string]: unknown;
}

export interface Packument {
  name: string;
  'dist-tags': Record<string, string>;
  versions: Record<string, PackumentVersion>;
  /** Full form: `created`, `modified` and one ISO time per version. */
  time?: Record<string, string>;
  /** Abbreviated form: when the package last changed (ISO). */
  modified?: string;
  _id?: string;
  _rev?: string;
  [field: string]: unknown;
}

/** The fields of a version an abbreviated packument keeps (npm's "install-v1" list). */
const INSTALL_FIELDS = [
  'name',
  'version',
  'deprecated',
  'dependencies',
  'optionalDependencies',
  'devDependencies',
  'bundleDependencies',
  'bundledDependencies',
  'peerDependencies',
  'peerDependenciesMeta',
  'acceptDependencies',
  'bin',
  'directories',
  'dist',
  'engines',
  'cpu',
  'os',
  'libc',
  'funding',
  'license',
  '_hasShrinkwrap',
  'hasInstallScript',
] as const;

/** Package-level fields kept from the latest version's package.json. */
export const PACKAGE_FIELDS = ['description', 'keywords', 'license', 'homepage', 'repository', 'bugs', 'author', 'readme', 'readmeFilename', 'maintainers'] as const;

/** The packument's `_rev`: CouchDB's `<n>-<hash>` shape, moved by every write. */
export function revOf(pkg: Pick<NpmPackageRecord, 'rev' | 'name' | 'createdAt'>): string {
  return `${pkg.rev}-${createHash('sha1').update(`${pkg.name}\0${pkg.createdAt}\0${pkg.rev}`).digest('hex').slice(0, 16)}`;
}

/** Reads the number of a `_rev` a client sent back; undefined when it is not one of ours. */
export function revNumber(rev: string): number | undefined {
  const match = /^(\d{1,15})-[0-9a-f]+$/.exec(rev);
  return match ? Number(match[1]) : undefined;
}

/** Where a version's tarball is served: `<registryUrl>/<name>/-/<bare>-<version>.tgz`. */
export function tarballUrl(registryUrl: string, name: string, version: string): string {
  return `${registryUrl}/${namePath(name)}/-/${encodeURIComponent(tarballFileName(name, version))}`;
}

/** One version as a packument shows it. */
export function packumentVersion(row: NpmVersionRecord, registryUrl: string): PackumentVersion {
  const out: PackumentVersion = {
    ...row.manifest,
    name: row.name,
    version: row.version,
    _id: `${row.name}@${row.version}`,
    dist: { integrity: row.integrity, shasum: row.shasum, tarball: tarballUrl(registryUrl, row.name, row.version) },
  };
  if (row.deprecated !== null && row.deprecated !== '') out.deprecated = row.deprecated;
  else delete out.deprecated;
  return out;
}

/** The full packument of a local package (`registryUrl`: this registry's npm URL, no slash at the end). */
export function buildPackument(pkg: NpmPackageRecord, versions: readonly NpmVersionRecord[], registryUrl: string): Packument {
  const time: Record<string, string> = { created: new Date(pkg.createdAt).toISOString(), modified: new Date(pkg.modifiedAt).toISOString() };
  const out: Packument = { _id: pkg.name, _rev: revOf(pkg), name: pkg.name, 'dist-tags': { ...pkg.distTags }, versions: {}, time };
  for (const field of PACKAGE_FIELDS) if (pkg.metadata[field] !== undefined) out[field] = pkg.metadata[field];
  for (const row of versions) {
    out.versions[row.version] = packumentVersion(row, registryUrl);
    time[row.version] = new Date(row.createdAt).toISOString();
  }
  return out;
}

/** The abbreviated form of a packument (full or already abbreviated). */
export function abbreviate(full: Packument): Packument {
  const versions: Record<string, PackumentVersion> = {};
  for (const [number, version] of Object.entries(full.versions)) {
    const slim: Record<string, unknown> = {};
    for (const field of INSTALL_FIELDS) if (version[field] !== undefined) slim[field] = version[field];
    const scripts = version.scripts as Record<string, unknown> | undefined;
    if (slim.hasInstallScript === undefined && scripts && (scripts.preinstall || scripts.install || scripts.postinstall)) slim.hasInstallScript = true;
    versions[number] = slim as PackumentVersion;
  }
  return { name: full.name, modified: full.modified ?? full.time?.modified ?? new Date(0).toISOString(), 'dist-tags': full['dist-tags'], versions };
}

export interface SerializedPackument {
  body: string;
  etag: string;
}

/** A packument as sent: its JSON body and a strong ETag of exactly those bytes. */
export function serializePackument(packument: Packument): SerializedPackument {
  const body = JSON.stringify(packument);
  return { body, etag: `"${createHash('sha256').update(body).digest('base64url')}"` };
}
