/**
 * The names of generic files: `<package>/<version>/<file path>` after
 * `/pkg/<root>/<registry>/generic/`, read from the raw request URL (not from the router's
 * decoded parameters, so nothing a decoder or a normalizer did can hide a `..`).
 *
 * Rules (INVALID_NAME for anything else, before any byte of a body is read):
 *   - each segment is percent-decoded once; a malformed escape is refused;
 *   - no decoded segment is empty (`a//b`, a trailing `/`), `.` or `..`, or holds `/` or `\`
 *     (so `%2F`, `%2e%2e` and `%5C` cannot smuggle a separator or a parent), a control
 *     character (NUL included) or a lone surrogate;
 *   - a segment is at most 255 bytes (UTF-8), the file path at most 1024;
 *   - the package and version match `^[A-Za-z0-9][A-Za-z0-9._+-]*$` (at most 255 and 128
 *     characters).
 */
import { PalletError } from '../../base/errors.js';

export const MAX_SEGMENT_BYTES = 255;
export const MAX_PATH_BYTES = 1024;
export const MAX_PACKAGE_CHARS = 255;
export const MAX_VERSION_CHARS = 128;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f/\\]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** What a request names: a package, a version of it, or a file of a version. */
export interface Coordinates {
  package: string;
  version?: string;
  /** The file path inside the version (`/`-separated segments), when a file is named. */
  path?: string;
}

/** A package, a version and a file path that passed the rules. */
export interface FileCoordinates {
  package: string;
  version: string;
  path: string;
}

function invalid(message: string): PalletError {
  return new PalletError('INVALID_NAME', message);
}

function decodeSegment(raw: string): string {
  let segment: string;
  try {
    segment = decodeURIComponent(raw);
  } catch {
    throw invalid(`malformed percent-encoding in ${JSON.stringify(raw.slice(0, 64))}`);
  }
  if (segment === '') throw invalid('empty path segment (two slashes, or a trailing slash)');
  if (segment === '.' || segment === '..') throw invalid(`path segment ${JSON.stringify(segment)} is not allowed`);
  if (FORBIDDEN.test(segment)) throw invalid(`path segment ${JSON.stringify(segment.slice(0, 64))} holds a slash, a backslash or a control character`);
  if (LONE_SURROGATE.test(segment)) throw invalid('path segment is not valid UTF-8');
  if (Buffer.byteLength(segment) > MAX_SEGMENT_BYTES) throw invalid(`path segment ${JSON.stringify(segment.slice(0, 32))}… is over ${MAX_SEGMENT_BYTES} bytes`);
  return segment;
}

function checkName(what: 'package' | 'version', value: string, max: number): void {
  if (value.length > max) throw invalid(`the ${what} name is over ${max} characters`);
  if (!NAME.test(value)) throw invalid(`${what} ${JSON.stringify(value)} must start with a letter or digit and hold only letters, digits and . _ + -`);
}

/**
 * The segments after the prefix's four (`pkg`, root, registry, `generic`), however many slashes
 * separate those: the router ignores repeated slashes, so `/pkg/acme//files/generic/t/1/f`
 * reaches these routes too and must name `t/1/f`, not shift every name by one segment.
 */
function afterPrefix(pathname: string): string[] {
  const parts = pathname.split('/');
  let i = 0;
  for (let seen = 0; i < parts.length && seen < 4; i++) if (parts[i] !== '') seen++;
  return parts.slice(i);
}

/**
 * The coordinates after `/generic/` in a raw request URL (`request.raw.url`): the path up to
 * `?`, its first four segments (`pkg`, root, registry, `generic`) skipped.
 */
export function coordinatesOf(rawUrl: string): Coordinates {
  const pathname = rawUrl.split('?', 1)[0] ?? '';
  const segments = afterPrefix(pathname);
  if (segments.length === 0 || (segments.length === 1 && segments[0] === '')) throw invalid('no package named: the path is <package>/<version>/<file path>');
  const [pkg = '', version, ...file] = segments.map(decodeSegment);
  checkName('package', pkg, MAX_PACKAGE_CHARS);
  if (version === undefined) return { package: pkg };
  checkName('version', version, MAX_VERSION_CHARS);
  if (file.length === 0) return { package: pkg, version };
  const path = file.join('/');
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) throw invalid(`the file path is over ${MAX_PATH_BYTES} bytes`);
  return { package: pkg, version, path };
}

/** The coordinates of a file; INVALID_NAME when the URL names only a package or version. */
export function fileOf(c: Coordinates): FileCoordinates {
  if (c.version === undefined || c.path === undefined) throw invalid('no file named: the path is <package>/<version>/<file path>');
  return { package: c.package, version: c.version, path: c.path };
}

/** The path of a file in URLs (each segment percent-encoded). */
export function encodePath(c: FileCoordinates): string {
  return [c.package, c.version, ...c.path.split('/')].map(encodeURIComponent).join('/');
}
