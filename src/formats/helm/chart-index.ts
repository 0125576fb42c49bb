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
export function flow(value: unknown): string {
  return JSON.stringify(value).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029').replace(/\u0085/g, '\\u0085');
}

/**
 * Chart versions ready to render, in a form that moves between threads without copying
 * (SharedArrayBuffers: a structured clone of 40 MB of strings cost ~250 ms to receive, and
 * even a plain 50 MB copy ~200 ms on a loaded machine):
 * `lines` holds one flow line (the entry's fields as JSON) per chart version, `refs` one
 * `name\tversion\turl\tdigest` line per chart version (URL and digest may be empty), both
 * UTF-8 and `\n`-separated, `lineStarts`/`refStarts` where each line starts (`count + 1`
 * offsets, the last one past the end). Grouped by name (ascending), newest version first, each
 * (name, version) once.
 */
export interface IndexSource {
  lines: Uint8Array<SharedArrayBuffer>;
  refs: Uint8Array<SharedArrayBuffer>;
  lineStarts: Uint32Array<SharedArrayBuffer>;
  refStarts: Uint32Array<SharedArrayBuffer>;
  count: number;
}

/** One chart version of a source. */
export interface SourceRef {
  name: string;
  version: string;
  /** Where the chart really is ('' for a registry's own chart). */
  url: string;
  /** Hex SHA-256 from the index, or ''. */
  digest: string;
}

const NEWLINE = 10;

/** The start offsets of `\n`-separated lines in `bytes`, plus one past the end. */
function starts(bytes: Uint8Array, count: number): Uint32Array<SharedArrayBuffer> {
  const out = new Uint32Array(new SharedArrayBuffer((count + 1) * 4));
  let at = 0;
  for (let i = 1; i < count; i += 1) {
    at = bytes.indexOf(NEWLINE, at) + 1;
    out[i] = at;
  }
  out[count] = bytes.length + 1;
  return out;
}

/** A source from its lines (flow JSON) and refs, in order. */
export function makeSource(lines: readonly string[], refs: readonly string[]): IndexSource {
  const l = Buffer.from(lines.join('\n'), 'utf8');
  const r = Buffer.from(refs.join('\n'), 'utf8');
  const shared = (b: Buffer): Uint8Array<SharedArrayBuffer> => {
    const out = new Uint8Array(new SharedArrayBuffer(b.length));
    out.set(b);
    return out;
  };
  const lb = shared(l);
  const rb = shared(r);
  return { lines: lb, refs: rb, lineStarts: starts(lb, lines.length), refStarts: starts(rb, refs.length), count: lines.length };
}

const decoder = new TextDecoder();

/** The `i`-th ref of a source. */
export function refAt(source: IndexSource, i: number): SourceRef {
  const text = decoder.decode(source.refs.subarray(source.refStarts[i]!, source.refStarts[i + 1]! - 1));
  const [name = '', version = '', url = '', digest = ''] = text.split('\t');
  return { name, version, url, digest };
}

/** The fields of the `i`-th chart version of a source. */
export function fieldsAt(source: IndexSource, i: number): Record<string, unknown> {
  return JSON.parse(decoder.decode(source.lines.subarray(source.lineStarts[i]!, source.lineStarts[i + 1]! - 1))) as Record<string, unknown>;
}

function nameAt(source: IndexSource, i: number): string {
  const start = source.refStarts[i]!;
  return decoder.decode(source.refs.subarray(start, source.refs.indexOf(9, start)));
}

/** The position of (name, version) in a source, by binary search on the name; undefined when absent. */
export function findInSource(source: IndexSource, name: string, version: string): number | undefined {
  let lo = 0;
  let hi = source.count;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (nameAt(source, mid) < name) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo; i < source.count; i += 1) {
    const ref = refAt(source, i);
    if (ref.name !== name) return undefined;
    if (ref.version === version) return i;
  }
  return undefined;
}

/** The source of index entries (grouped, sorted, first of a (name, version) kept). */
export function sourceOf(entries: Iterable<IndexEntry>): IndexSource {
  const byName = new Map<string, Map<string, IndexEntry>>();
  for (const e of entries) {
    let versions = byName.get(e.name);
    if (!versions) byName.set(e.name, (versions = new Map()));
    if (!versions.has(e.version)) versions.set(e.version, e);
  }
  const lines: string[] = [];
  const refs: string[] = [];
  for (const name of [...byName.keys()].sort()) {
    for (const v of [...byName.get(name)!.values()].sort((a, b) => compareVersions(b.version, a.version))) {
      lines.push(flow(v.fields));
      refs.push(`${v.name}\t${v.version}\t\t`);
    }
  }
  return makeSource(lines, refs);
}

interface Group {
  /** Line positions: source index and line index. */
  at: Array<[number, number]>;
  versions: string[];
  /** The source that contributed last, and whether more than one did (then versions are re-sorted). */
  source: number;
  merged: boolean;
  /** The versions, once a second source contributes. */
  seen?: Set<string>;
}

/**
 * The index document of `sources` in priority order: for the same (name, version) the first
 * source wins. Names sorted, versions newest first, as `helm repo index` writes them. Linear
 * in the entries (lines are copied as bytes), except names listed by several sources, whose
 * versions are sorted again.
 */
export function renderSources(sources: readonly IndexSource[], generated: Date): Buffer {
  const byName = new Map<string, Group>();
  sources.forEach((source, s) => {
    for (let i = 0; i < source.count; i += 1) {
      const { name, version } = refAt(source, i);
      let group = byName.get(name);
      if (!group) byName.set(name, (group = { at: [], versions: [], source: s, merged: false }));
      else if (group.source !== s) {
        group.source = s;
        group.merged = true;
        group.seen ??= new Set(group.versions);
      }
      if (group.seen) {
        if (group.seen.has(version)) continue;
        group.seen.add(version);
      }
      group.at.push([s, i]);
      group.versions.push(version);
    }
  });
  const parts: Uint8Array[] = [Buffer.from('apiVersion: v1\n')];
  if (byName.size === 0) parts.push(Buffer.from('entries: {}\n'));
  else {
    parts.push(Buffer.from('entries:\n'));
    const item = Buffer.from('  - ');
    const newline = Buffer.from('\n');
    for (const name of [...byName.keys()].sort()) {
      const group = byName.get(name)!;
      parts.push(Buffer.from(`  ${flow(name)}:\n`));
      let order = group.at.map((_, i) => i);
      if (group.merged) order = order.sort((a, b) => compareVersions(group.versions[b]!, group.versions[a]!));
      for (const k of order) {
        const [s, i] = group.at[k]!;
        const src = sources[s]!;
        parts.push(item, src.lines.subarray(src.lineStarts[i]!, src.lineStarts[i + 1]! - 1), newline);
      }
    }
  }
  parts.push(Buffer.from(`generated: ${flow(generated.toISOString())}\n`));
  return Buffer.concat(parts);
}

/**
 * The index document. Entries are grouped by name (names sorted) and sorted newest version
 * first, as `helm repo index` writes them. Duplicates (same name and version) keep the first.
 */
export function renderIndex(entries: Iterable<IndexEntry>, generated: Date): Buffer {
  return renderSources([sourceOf(entries)], generated);
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
