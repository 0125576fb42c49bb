/**
 * Reads an untrusted chart repository `index.yaml` (an upstream's) into exactly what Pallet
 * serves from it, in linear time and without holding the whole parsed document: runs in a
 * worker (chart-index-worker.ts) with a time budget and a heap limit.
 *
 * 1. The document is scanned line by line. Under the top-level `entries:` key, each chart
 *    version (a `- ` item of a chart name's list) is cut out as its own small piece; other
 *    top-level keys are skipped unread. A document laid out otherwise (flow style, anchors
 *    across entries, …) is parsed whole by parse-core instead, within the same budget.
 * 2. Each piece is read by the fast block-YAML reader (base/block-yaml.ts), a one-line JSON
 *    object by JSON.parse, anything else by parse-core with per-entry limits.
 * 3. Each chart version is reduced to the fields Helm and Pallet use, each type-checked and
 *    length-capped (a wrong type would make Helm refuse the whole merged index); its chart URL
 *    must be http(s) on the index's own origin or on an allowed file host; its `urls` become
 *    the proxy's own `charts/<name>-<version>.tgz`. Entries beyond `maxEntries` are dropped.
 * 4. The result is two strings (cheap to move between threads): one JSON line per chart
 *    version (as the index renders it) and one reference line (name, version, URL, digest),
 *    grouped by name (ascending), newest version first, the first of a (name, version) kept.
 */
import { readBlockYaml } from '../../base/block-yaml.js';
import { isJsonObject } from '../../base/json.js';
import { parseYamlText, type ParseLimits } from '../../base/parse-core.js';
import { isChartName, isChartVersion } from './chart-archive.js';
import { chartFileName, compareVersions, flow, makeSource, type IndexSource } from './chart-index.js';
import { fileHostListed } from '../../upstream/fetch-cache/file-hosts.js';

export interface IndexReadOptions {
  /** Where the index was fetched from: relative chart URLs resolve against it, and its origin may serve charts. */
  indexUrl: string;
  /** Host names (or `*.suffix`) besides the index's origin that chart URLs may point at. */
  fileHosts: readonly string[];
  /** Most chart versions kept; later ones are dropped (counted). */
  maxEntries: number;
}

export interface IndexReadResult extends IndexSource {
  /** Chart versions left out, by reason (`over-cap`, `url-host`, `url-scheme`, `invalid`, …). */
  skipped: Record<string, number>;
}

/** One chart version's piece: beyond this it is skipped (real ones are 1-5 KiB). */
const MAX_ENTRY_BYTES = 256 * 1024;
const ENTRY_LIMITS: ParseLimits = { maxBytes: MAX_ENTRY_BYTES, maxNodes: 5_000, maxDepth: 16, maxAliases: 20, timeoutMs: 0 };
/** The whole-document fallback (its time and memory are the worker's). */
const DOCUMENT_DEPTH = 32;
const DOCUMENT_NODES_PER_ENTRY = 200;

const SHORT = 256;
const LONG = 2048;
const MAX_LIST = 32;

type Skips = Record<string, number>;

function skip(skipped: Skips, reason: string): void {
  skipped[reason] = (skipped[reason] ?? 0) + 1;
}

function str(value: unknown, max: number): string | undefined {
  return typeof value === 'string' && value.length <= max ? value : undefined;
}

function strings(value: unknown, max: number): string[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const out = value.filter((v): v is string => typeof v === 'string' && v.length <= max).slice(0, MAX_LIST);
  return out.length > 0 ? out : undefined;
}

function objects<T>(value: unknown, pick: (item: Record<string, unknown>) => T | undefined): T[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const out: T[] = [];
  for (const item of value) {
    if (out.length >= MAX_LIST) break;
    const picked = isJsonObject(item) ? pick(item) : undefined;
    if (picked) out.push(picked);
  }
  return out.length > 0 ? out : undefined;
}

/** Only keys whose value passes `check`; undefined when none does. */
function compact(fields: Record<string, unknown>): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) out[k] = v;
  return Object.keys(out).length > 0 ? out : undefined;
}

function annotations(value: unknown): Record<string, string> | undefined {
  if (!isJsonObject(value)) return undefined;
  const out: Record<string, string> = {};
  let n = 0;
  for (const [k, v] of Object.entries(value)) {
    if (n >= 64) break;
    if (k.length > SHORT || typeof v !== 'string' || v.length > 8 * 1024) continue;
    out[k] = v;
    n += 1;
  }
  return n > 0 ? out : undefined;
}

/** An RFC 3339 time as Helm writes `created`; anything else is left out (Helm reads a bad one as an error). */
function created(value: unknown): string | undefined {
  const text = str(value, 64);
  return text && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/.test(text) && !Number.isNaN(Date.parse(text)) ? text : undefined;
}

/** The hex SHA-256 of an index entry's `digest`, in any case, with or without `sha256:`. */
export function indexDigest(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const hex = value.trim().toLowerCase().replace(/^sha256:/, '');
  return /^[0-9a-f]{64}$/.test(hex) ? hex : undefined;
}

/** The fields of an index entry Pallet serves, type-checked and capped (Helm's `ChartVersion`). */
function servedFields(item: Record<string, unknown>): Record<string, unknown> {
  const description = typeof item.description === 'string' ? item.description.slice(0, LONG) : undefined;
  return {
    apiVersion: str(item.apiVersion, 32),
    appVersion: str(item.appVersion, SHORT),
    description,
    home: str(item.home, LONG),
    icon: str(item.icon, LONG),
    kubeVersion: str(item.kubeVersion, SHORT),
    type: str(item.type, 32),
    condition: str(item.condition, SHORT),
    tags: str(item.tags, SHORT),
    deprecated: typeof item.deprecated === 'boolean' ? item.deprecated : undefined,
    keywords: strings(item.keywords, SHORT),
    sources: strings(item.sources, LONG),
    maintainers: objects(item.maintainers, (m) => compact({ name: str(m.name, SHORT), email: str(m.email, SHORT), url: str(m.url, LONG) })),
    dependencies: objects(item.dependencies, (d) =>
      typeof d.name === 'string' && d.name.length <= SHORT
        ? compact({
            name: d.name,
            version: str(d.version, SHORT),
            repository: str(d.repository, LONG),
            condition: str(d.condition, SHORT),
            alias: str(d.alias, SHORT),
            tags: strings(d.tags, SHORT),
            enabled: typeof d.enabled === 'boolean' ? d.enabled : undefined,
          })
        : undefined,
    ),
    annotations: annotations(item.annotations),
    created: created(item.created),
  };
}

/**
 * Where a chart URL of an index may lead: http(s) only, on the index's own origin or a listed
 * host. The reason it may not, or undefined when it may.
 */
export function chartUrlRefusal(url: URL, index: URL, fileHosts: readonly string[]): 'url-scheme' | 'url-host' | undefined {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'url-scheme';
  if (url.origin === index.origin || fileHostListed(url, fileHosts)) return undefined;
  return 'url-host';
}

interface Reduced {
  version: string;
  line: string;
  ref: string;
}

class Collector {
  readonly byName = new Map<string, Map<string, Reduced>>();
  readonly skipped: Skips = {};
  kept = 0;
  private readonly index: URL;

  constructor(private readonly options: IndexReadOptions) {
    this.index = new URL(options.indexUrl);
  }

  get full(): boolean {
    return this.kept >= this.options.maxEntries;
  }

  add(name: string, item: unknown): void {
    if (this.full) return skip(this.skipped, 'over-cap');
    if (!isJsonObject(item)) return skip(this.skipped, 'invalid');
    const version = item.version;
    // Names and versions become repository names, tags and file names: only what Helm accepts.
    if (!isChartName(name) || typeof version !== 'string' || !isChartVersion(version)) return skip(this.skipped, 'invalid');
    const first = Array.isArray(item.urls) ? item.urls.find((u): u is string => typeof u === 'string') : undefined;
    if (!first || first.length > LONG) return skip(this.skipped, 'invalid');
    let url: URL;
    try {
      url = new URL(first, this.index);
    } catch {
      return skip(this.skipped, 'invalid');
    }
    const refused = chartUrlRefusal(url, this.index, this.options.fileHosts);
    if (refused) return skip(this.skipped, refused);
    let versions = this.byName.get(name);
    if (!versions) this.byName.set(name, (versions = new Map()));
    if (versions.has(version)) return skip(this.skipped, 'duplicate');
    const hex = indexDigest(item.digest);
    const fields = { ...compact(servedFields(item)), name, version, urls: [`charts/${chartFileName(name, version)}`], ...(hex ? { digest: hex } : {}) };
    versions.set(version, { version, line: flow(fields), ref: `${name}\t${version}\t${url.href}\t${hex ?? ''}` });
    this.kept += 1;
  }

  result(): IndexReadResult {
    const lines: string[] = [];
    const refs: string[] = [];
    for (const name of [...this.byName.keys()].sort()) {
      const versions = [...this.byName.get(name)!.values()].sort((a, b) => compareVersions(b.version, a.version));
      for (const v of versions) {
        lines.push(v.line);
        refs.push(v.ref);
      }
    }
    return { ...makeSource(lines, refs), skipped: this.skipped };
  }
}

/** One chart version's piece of the document: the fast reader, JSON, or parse-core. */
function readEntry(piece: string, collector: Collector): unknown {
  if (piece.length > MAX_ENTRY_BYTES) {
    skip(collector.skipped, 'too-large');
    return null;
  }
  const fast = readBlockYaml(piece);
  if (Array.isArray(fast)) return fast[0];
  const json = /^\s*-\s+(\{.*\})\s*$/s.exec(piece);
  if (json && !piece.trimEnd().includes('\n')) {
    try {
      return JSON.parse(json[1]!);
    } catch {
      // not JSON: YAML flow style, read below
    }
  }
  try {
    const value = parseYamlText(piece, ENTRY_LIMITS);
    return Array.isArray(value) ? value[0] : undefined;
  } catch {
    skip(collector.skipped, 'unreadable');
    return null;
  }
}

interface Cursor {
  text: string;
  pos: number;
}

/** The next line (without `\r\n`), its indentation, and whether it has content. */
function nextLine(c: Cursor): { start: number; line: string; indent: number; content: boolean } | undefined {
  if (c.pos >= c.text.length) return undefined;
  let end = c.text.indexOf('\n', c.pos);
  if (end < 0) end = c.text.length;
  const start = c.pos;
  let line = c.text.slice(c.pos, end);
  if (line.endsWith('\r')) line = line.slice(0, -1);
  c.pos = end + 1;
  let indent = 0;
  while (line.charCodeAt(indent) === 32) indent += 1;
  const first = line.charCodeAt(indent);
  return { start, line, indent, content: indent < line.length && first !== 35 /* # */ };
}

function isItem(line: string, indent: number): boolean {
  return line.startsWith('- ', indent) || line.length === indent + 1 && line[indent] === '-';
}

class NotLinear extends Error {}

/** The key of a `key:` line (plain or quoted), or undefined when the line is not one with nothing after it. */
function blockKey(text: string): { key: string; rest: string } | undefined {
  const m = /^("(?:[^"\\]|\\.)*"|'[^']*'|[^\s"'#{[&*!|>%@`][^:#]*?)\s*:(?:\s+(.*))?$/.exec(text.trim());
  if (!m) return undefined;
  let key = m[1]!;
  if (key.startsWith('"')) {
    try {
      key = JSON.parse(key) as string;
    } catch {
      return undefined;
    }
  } else if (key.startsWith("'")) key = key.slice(1, -1);
  return { key, rest: (m[2] ?? '').trim() };
}

/** Step 1 of the header: cuts `entries:` into chart versions; throws NotLinear for other layouts. */
function scanEntries(c: Cursor, collector: Collector): void {
  let chart: string | undefined;
  let keyIndent = -1;
  let itemIndent = -1;
  let itemStart = -1;
  const flush = (end: number): void => {
    if (itemStart < 0 || chart === undefined) return;
    if (collector.full) skip(collector.skipped, 'over-cap');
    else {
      const item = readEntry(c.text.slice(itemStart, end), collector);
      if (item !== null) collector.add(chart, item);
    }
    itemStart = -1;
  };
  for (;;) {
    const before = c.pos;
    const l = nextLine(c);
    if (!l) break;
    if (!l.content) continue;
    if (l.indent === 0) {
      c.pos = before;
      break;
    }
    if (itemStart >= 0 && l.indent > itemIndent) continue;
    flush(l.start);
    if (keyIndent < 0) keyIndent = l.indent;
    if (l.indent < keyIndent) throw new NotLinear('entries: uneven indentation');
    if (l.indent === keyIndent && !isItem(l.line, l.indent)) {
      const k = blockKey(l.line);
      if (!k || (k.rest !== '' && k.rest !== '[]')) throw new NotLinear('entries: a chart name that is not a plain key');
      chart = k.key;
      itemIndent = -1;
      continue;
    }
    if (chart === undefined || !isItem(l.line, l.indent)) throw new NotLinear('entries: unexpected layout');
    if (itemIndent < 0) itemIndent = l.indent;
    if (l.indent !== itemIndent) throw new NotLinear('entries: uneven list indentation');
    itemStart = l.start;
  }
  flush(c.pos >= c.text.length ? c.text.length : c.pos);
}

/** The linear path (see the header); throws NotLinear when the document is laid out otherwise. */
function scanDocument(text: string, collector: Collector): void {
  const c: Cursor = { text, pos: text.charCodeAt(0) === 0xfeff ? 1 : 0 };
  let seenContent = false;
  for (;;) {
    const l = nextLine(c);
    if (!l) return;
    if (!l.content) continue;
    if (l.line.startsWith('---') || l.line.startsWith('...')) {
      if (seenContent) return; // a second document: Helm reads the first
      if (l.line.trim() !== '---') throw new NotLinear('document start with content');
      continue;
    }
    if (l.indent > 0 || isItem(l.line, 0)) {
      // The body of a top-level key other than `entries` (skipped unread).
      if (!seenContent) throw new NotLinear('not a mapping');
      continue;
    }
    seenContent = true;
    const k = blockKey(l.line);
    if (!k) throw new NotLinear('a top-level line that is not a plain key');
    if (k.key !== 'entries') continue;
    if (k.rest === '{}' || k.rest === 'null' || k.rest === '~') continue;
    if (k.rest !== '') throw new NotLinear('entries in flow style');
    scanEntries(c, collector);
  }
}

/** The whole-document path: parse-core, then the same reduction. */
function readWhole(text: string, collector: Collector, maxEntries: number): void {
  const doc = parseYamlText(text, { maxBytes: Number.MAX_SAFE_INTEGER, maxNodes: Math.max(10_000, maxEntries * DOCUMENT_NODES_PER_ENTRY), maxDepth: DOCUMENT_DEPTH, maxAliases: 100, timeoutMs: 0 });
  if (!isJsonObject(doc) || (doc.entries !== undefined && doc.entries !== null && !isJsonObject(doc.entries))) {
    throw new Error('not a chart repository index (no entries map)');
  }
  for (const [name, list] of Object.entries(doc.entries ?? {})) {
    if (!Array.isArray(list)) continue;
    for (const item of list) collector.add(name, item);
  }
}

/** Reads an upstream index (see the header). Throws on a document that is not an index. */
export function readChartIndex(text: string, options: IndexReadOptions): IndexReadResult {
  let collector = new Collector(options);
  try {
    scanDocument(text, collector);
  } catch (err) {
    if (!(err instanceof NotLinear)) throw err;
    collector = new Collector(options);
    readWhole(text, collector, options.maxEntries);
  }
  return collector.result();
}
