/**
 * npm package names and the request paths of the npm registry API, as the npm CLI sends them.
 *
 * Name rules (npm's `validate-npm-package-name` for new packages): at most 214 characters,
 * lower case, no leading `.` or `_`, no `..`, nothing that changes under URL encoding except
 * the scope's `@` and `/`; a scoped name is `@<scope>/<name>`, both parts following the rules.
 *
 * Paths, relative to `/pkg/<root>/<registry>/npm/` (each segment URL-decoded; a scoped name
 * may come as `@scope%2fname` or as two segments `@scope/name`):
 *
 *   <name>                          packument (GET), publish / metadata update (PUT)
 *   <name>/<version or dist-tag>    one version's document (GET; what some clients ask for)
 *   <name>/-rev/<rev>               metadata update (PUT), unpublish the package (DELETE)
 *   <name>/-/<file>.tgz             tarball (GET)
 *   <name>/-/<file>.tgz/-rev/<rev>  delete a tarball (DELETE, the end of `npm unpublish <v>`)
 *   -/<anything…>                   the registry's own endpoints (ping, whoami, search, …)
 */
import { PalletError } from '../../base/errors.js';

export const MAX_NAME_LENGTH = 214;

/** A checked package name; `scope` without the `@`, null when unscoped. */
export interface PackageName {
  name: string;
  scope: string | null;
  /** The name without its scope (what tarball file names start with). */
  bare: string;
}

const PART = /^[a-z0-9~-][a-z0-9._~-]*$/;

/** Checks a package name as npm does for new packages; INVALID_NAME with the rule it breaks. */
export function checkPackageName(name: string): PackageName {
  const refuse = (why: string): never => {
    throw new PalletError('INVALID_NAME', `invalid package name ${JSON.stringify(name.slice(0, 250))}: ${why}`, { name: name.slice(0, 250) });
  };
  if (name.length === 0) refuse('it is empty');
  if (name.length > MAX_NAME_LENGTH) refuse(`it is longer than ${MAX_NAME_LENGTH} characters`);
  if (name !== name.trim()) refuse('it has leading or trailing spaces');
  if (name.toLowerCase() !== name) refuse('new packages must not have upper-case letters');
  let scope: string | null = null;
  let bare = name;
  if (name.startsWith('@')) {
    const slash = name.indexOf('/');
    if (slash < 0) refuse('a scoped name is @<scope>/<name>');
    scope = name.slice(1, slash);
    bare = name.slice(slash + 1);
    if (!PART.test(scope) || scope.includes('..')) refuse('the scope must be URL-safe, not start with . or _');
  }
  if (bare.startsWith('.')) refuse('it must not start with a period');
  if (bare.startsWith('_')) refuse('it must not start with an underscore');
  if (bare.includes('..')) refuse('it must not contain ..');
  if (!PART.test(bare)) refuse('it may only contain URL-safe characters (a-z, 0-9, ".", "_", "~", "-")');
  if (bare === 'node_modules' || bare === 'favicon.ico') refuse(`${bare} is a reserved name`);
  return { name, scope, bare };
}

/** What a request path names. */
export type NpmPath =
  | { kind: 'package'; name: string; rev?: string }
  | { kind: 'tarball'; name: string; file: string; rev?: string }
  | { kind: 'version'; name: string; spec: string }
  | { kind: 'registry'; segments: string[] };

/** Control characters: in no npm name, tag, version or user name (and PostgreSQL refuses a NUL in text: that was a 500). */
export const CONTROL = /[\u0000-\u001f\u007f]/;

function decode(segment: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(segment);
  } catch {
    throw new PalletError('INVALID_ARGUMENT', `malformed URL segment ${JSON.stringify(segment.slice(0, 100))}`);
  }
  if (CONTROL.test(decoded)) throw new PalletError('INVALID_ARGUMENT', `URL segment ${JSON.stringify(segment.slice(0, 100))} holds a control character`);
  return decoded;
}

/**
 * Parses the path below the format's prefix (`rawPath`, still URL-encoded, no query); NOT_FOUND
 * when it is no npm registry path. Names are not checked here: readers of an existing package
 * need no more than a lookup, and writers check with `checkPackageName`.
 */
export function parseNpmPath(rawPath: string): NpmPath {
  const unknown = (): never => {
    throw new PalletError('NOT_FOUND', `no npm registry endpoint /${rawPath.slice(0, 300)}`);
  };
  const raw = rawPath.split('/');
  if (raw[raw.length - 1] === '') raw.pop();
  if (raw.length === 0 || raw.includes('')) unknown();
  const segments = raw.map(decode);
  if (segments[0] === '-') return { kind: 'registry', segments: segments.slice(1) };
  let name = segments[0]!;
  let rest = segments.slice(1);
  if (name.startsWith('@') && !name.includes('/')) {
    if (rest.length === 0) unknown();
    name = `${name}/${rest[0]}`;
    rest = rest.slice(1);
  }
  if (rest.length === 0) return { kind: 'package', name };
  if (rest.length === 1 && rest[0] !== '-' && rest[0] !== '-rev') return { kind: 'version', name, spec: rest[0]! };
  if (rest.length === 2 && rest[0] === '-rev') return { kind: 'package', name, rev: rest[1]! };
  if (rest[0] === '-' && rest.length >= 2) {
    const file = rest[1]!;
    if (rest.length === 2) return { kind: 'tarball', name, file };
    if (rest.length === 4 && rest[2] === '-rev') return { kind: 'tarball', name, file, rev: rest[3]! };
  }
  return unknown();
}

/** The path of a package name in a URL: `@scope/name` keeps its slash (as npmjs writes tarball URLs). */
export function namePath(name: string): string {
  return name.startsWith('@') ? `@${encodeURIComponent(name.slice(1, name.indexOf('/')))}/${encodeURIComponent(name.slice(name.indexOf('/') + 1))}` : encodeURIComponent(name);
}

/** The tarball file name of a version: `<bare name>-<version>.tgz`. */
export function tarballFileName(name: string, version: string): string {
  const bare = name.startsWith('@') ? name.slice(name.indexOf('/') + 1) : name;
  return `${bare}-${version}.tgz`;
}
