/**
 * Renders a classic chart repository's `index.yaml` (Helm's `IndexFile`: `apiVersion: v1`,
 * `entries: {<name>: [<chart version>…]}`, `generated`). Each chart version is Chart.yaml plus
 * `urls`, `created` and `digest` (hex SHA-256 of the archive).
 *
 * Every chart version is written as one JSON object (a YAML flow mapping: JSON is YAML), so a
 * registry of 10,000 versions renders in one pass of `JSON.stringify` rather than a YAML
 * serializer's walk; Helm reads the document with its YAML parser like any other index.
 */

/** One chart version as an index lists it. */
export interface IndexEntry {
  name: string;
  version: string;
  /** Chart.yaml fields, plus `urls`, `created`, `digest`. */
  fields: Record<string, unknown>;
}

interface SemVer {
  core: number[];
  pre: string[];
}

function parseVersion(version: string): SemVer {
  const v = version.replace(/^v/, '').split('+')[0]!;
  const dash = v.indexOf('-');
  const core = (dash < 0 ? v : v.slice(0, dash)).split('.').map((n) => Number(n) || 0);
  while (core.length < 3) core.push(0);
  return { core, pre: dash < 0 ? [] : v.slice(dash + 1).split('.') };
}

/** SemVer precedence (build metadata ignored); versions that do not parse compare as 0.0.0. */
export function compareVersions(a: string, b: string): number {
  const x = parseVersion(a);
  const y = parseVersion(b);
  for (let i = 0; i < 3; i++) if (x.core[i] !== y.core[i]) return x.core[i]! - y.core[i]!;
  if (x.pre.length === 0 || y.pre.length === 0) return y.pre.length - x.pre.length;
  for (let i = 0; i < Math.min(x.pre.length, y.pre.length); i++) {
    const p = x.pre[i]!;
    const q = y.pre[i]!;
    if (p === q) continue;
    const pn = /^\d+$/.test(p);
    const qn = /^\d+$/.test(q);
    if (pn && qn) return Number(p) - Number(q);
    if (pn !== qn) return pn ? -1 : 1;
    return p < q ? -1 : 1;
  }
  return x.pre.length - y.pre.length;
}

/** JSON with the line separators YAML treats as line breaks escaped. */
function flow(value: unknown): string {
  return JSON.stringify(value).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029').replace(/\u0085/g, '\\u0085');
}

/**
 * The index document. Entries are grouped by name (names sorted) and sorted newest version
 * first, as `helm repo index` writes them. Duplicates (same name and version) keep the first.
 */
export function renderIndex(entries: Iterable<IndexEntry>, generated: Date): Buffer {
  const byName = new Map<string, Map<string, IndexEntry>>();
  for (const e of entries) {
    let versions = byName.get(e.name);
    if (!versions) byName.set(e.name, (versions = new Map()));
    if (!versions.has(e.version)) versions.set(e.version, e);
  }
  const parts: string[] = ['apiVersion: v1\n'];
  if (byName.size === 0) parts.push('entries: {}\n');
  else {
    parts.push('entries:\n');
    for (const name of [...byName.keys()].sort()) {
      parts.push(`  ${flow(name)}:\n`);
      const versions = [...byName.get(name)!.values()].sort((a, b) => compareVersions(b.version, a.version));
      for (const v of versions) parts.push(`  - ${flow(v.fields)}\n`);
    }
  }
  parts.push(`generated: ${flow(generated.toISOString())}\n`);
  return Buffer.from(parts.join(''), 'utf8');
}

/** The file names a classic repository serves a chart version under. */
export function chartFileName(name: string, version: string): string {
  return `${name}-${version}.tgz`;
}

/**
 * The (name, version) pairs a file name `<name>-<version>` may stand for: both may contain
 * `-`, so every split whose version part starts like a version (a digit, or `v` and a digit).
 */
export function splitChartFileName(base: string): Array<{ name: string; version: string }> {
  const out: Array<{ name: string; version: string }> = [];
  for (let i = base.indexOf('-'); i > 0; i = base.indexOf('-', i + 1)) {
    const version = base.slice(i + 1);
    if (/^v?\d/.test(version)) out.push({ name: base.slice(0, i), version });
  }
  return out;
}
