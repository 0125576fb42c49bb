/**
 * Semantic versions as the npm registry needs them: is a string a valid (strict, SemVer 2.0.0)
 * version, and precedence for ordering (which version `latest` falls back to). Written here
 * instead of importing `semver`: that package is only a transitive dependency of this project
 * and ships no types, and these two operations are a few lines of the SemVer specification.
 */

/** The official SemVer 2.0.0 pattern (semver.org), at most 256 characters as npm allows. */
const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

export const MAX_VERSION_LENGTH = 256;

export interface ParsedVersion {
  major: number;
  minor: number;
  patch: number;
  prerelease: Array<string | number>;
}

export function parseVersion(version: string): ParsedVersion | undefined {
  if (version.length > MAX_VERSION_LENGTH) return undefined;
  const m = SEMVER.exec(version);
  if (!m) return undefined;
  const nums = [m[1], m[2], m[3]].map(Number);
  if (!nums.every(Number.isSafeInteger)) return undefined;
  const prerelease = m[4] ? m[4].split('.').map((id) => (/^\d+$/.test(id) ? Number(id) : id)) : [];
  return { major: nums[0]!, minor: nums[1]!, patch: nums[2]!, prerelease };
}

export function isValidVersion(version: string): boolean {
  return parseVersion(version) !== undefined;
}

/** SemVer precedence: negative when a < b, 0 when equal (build metadata ignored), positive when a > b. */
export function compareVersions(a: string, b: string): number {
  const x = parseVersion(a);
  const y = parseVersion(b);
  if (!x || !y) return x ? 1 : y ? -1 : a < b ? -1 : a > b ? 1 : 0;
  for (const key of ['major', 'minor', 'patch'] as const) if (x[key] !== y[key]) return x[key] - y[key];
  if (x.prerelease.length === 0 || y.prerelease.length === 0) return y.prerelease.length - x.prerelease.length;
  for (let i = 0; i < Math.max(x.prerelease.length, y.prerelease.length); i++) {
    const p = x.prerelease[i];
    const q = y.prerelease[i];
    if (p === undefined) return -1;
    if (q === undefined) return 1;
    if (p === q) continue;
    if (typeof p === 'number' && typeof q === 'number') return p - q;
    if (typeof p === 'number') return -1;
    if (typeof q === 'number') return 1;
    return p < q ? -1 : 1;
  }
  return 0;
}

/** The highest version without a prerelease part, else the highest of all; undefined for none. */
export function highestVersion(versions: readonly string[]): string | undefined {
  const sorted = [...versions].sort(compareVersions);
  const stable = sorted.filter((v) => (parseVersion(v)?.prerelease.length ?? 1) === 0);
  return stable[stable.length - 1] ?? sorted[sorted.length - 1];
}
