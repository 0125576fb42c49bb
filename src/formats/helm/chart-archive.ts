/**
 * Reads a Helm chart archive (`<name>-<version>.tgz`): gunzip and tar are streamed (node:zlib
 * and `tar-stream`), nothing is extracted to disk, and only `Chart.yaml` is kept in memory.
 *
 * What makes an archive a chart, as Helm's loader sees it: every entry sits under one top
 * directory (`<chart>/…`), and `<chart>/Chart.yaml` is a YAML map with at least `name` and
 * `version`. Subcharts (`<chart>/charts/<sub>/Chart.yaml`) are not this chart's metadata.
 *
 * Guards (a chart is a few kilobytes; these bound what a hostile upload can cost):
 * - entry names that are absolute or contain `..` segments are refused (path traversal);
 * - at most `MAX_ENTRIES` entries and `maxUnpackedBytes` unpacked bytes are read;
 * - `Chart.yaml` may be at most `MAX_CHART_YAML_BYTES`, and is parsed within `CHART_YAML_LIMITS`
 *   (values, depth, aliases, time: see base/bounded-parse.ts) off the event loop when large.
 * Why `tar-stream`: the tar format has three header dialects (ustar, PAX, GNU long names) that
 * Go's archive/tar (Helm) and other packers emit; it is a small, streaming, dependency-light
 * reader maintained by the mafintosh/holepunch team and used by tar-fs and Docker tooling.
 */
import { createGunzip } from 'node:zlib';
import { Readable } from 'node:stream';
import { extract } from 'tar-stream';
import { parseYamlBounded, type ParseLimits } from '../../base/bounded-parse.js';
import { isJsonObject } from '../../base/json.js';
import { isPalletError, PalletError } from '../../base/errors.js';

/** Chart.yaml as Helm defines it; the fields the registry relies on are checked. */
export interface ChartMetadata {
  name: string;
  version: string;
  apiVersion?: string;
  appVersion?: string;
  description?: string;
  icon?: string;
  home?: string;
  keywords?: string[];
  maintainers?: Array<{ name?: string; email?: string; url?: string }>;
  dependencies?: Array<Record<string, unknown>>;
  deprecated?: boolean;
  type?: string;
  /** Every other Chart.yaml field, kept as written. */
  [field: string]: unknown;
}

export interface ChartArchiveLimits {
  /** Largest sum of entry sizes read from the archive. */
  maxUnpackedBytes?: number;
}

const MAX_ENTRIES = 10_000;
/** Chart.yaml: real ones are a few KiB; Helm itself reads up to 1 MiB. */
export const CHART_YAML_LIMITS: ParseLimits = { maxBytes: 1024 * 1024, maxNodes: 20_000, maxDepth: 64, maxAliases: 100, timeoutMs: 5_000 };
const MAX_CHART_YAML_BYTES = CHART_YAML_LIMITS.maxBytes;
const DEFAULT_MAX_UNPACKED = 256 * 1024 * 1024;
/** Chart names as Helm allows them (`helm lint`): lowercase letters, digits, `-`, `_`, `.`. */
const CHART_NAME = /^[a-zA-Z0-9][a-zA-Z0-9._-]*$/;
/** SemVer 2, with Helm's tolerated leading `v`. */
const CHART_VERSION = /^v?\d+(\.\d+){0,2}(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/;

function bad(message: string): PalletError {
  return new PalletError('INVALID_ARGUMENT', `not a valid Helm chart: ${message}`);
}

export function isChartName(name: string): boolean {
  return name.length <= 250 && CHART_NAME.test(name);
}

export function isChartVersion(version: string): boolean {
  return version.length <= 128 && CHART_VERSION.test(version);
}

/** The OCI tag of a chart version: OCI tags have no `+`, Helm writes `_` instead. */
export function chartTag(version: string): string {
  return version.replaceAll('+', '_');
}

/** Validates a parsed Chart.yaml document and returns it as metadata. */
export function chartMetadata(doc: unknown): ChartMetadata {
  if (!isJsonObject(doc)) throw bad('Chart.yaml is not a map');
  const { name, version } = doc;
  if (typeof name !== 'string' || !isChartName(name)) throw bad(`Chart.yaml has no valid name (got ${JSON.stringify(name ?? null)})`);
  if (typeof version !== 'string' || !isChartVersion(version)) {
    throw bad(`Chart.yaml of ${name} has no valid SemVer version (got ${JSON.stringify(version ?? null)})`);
  }
  for (const field of ['appVersion', 'description', 'icon', 'apiVersion', 'home', 'type'] as const) {
    const v = doc[field];
    if (v !== undefined && v !== null && typeof v !== 'string' && typeof v !== 'number') throw bad(`Chart.yaml ${field} must be a string`);
  }
  if (doc.keywords !== undefined && doc.keywords !== null && !Array.isArray(doc.keywords)) throw bad('Chart.yaml keywords must be a list');
  if (doc.maintainers !== undefined && doc.maintainers !== null && !Array.isArray(doc.maintainers)) throw bad('Chart.yaml maintainers must be a list');
  if (doc.dependencies !== undefined && doc.dependencies !== null && !Array.isArray(doc.dependencies)) throw bad('Chart.yaml dependencies must be a list');
  if (doc.deprecated !== undefined && doc.deprecated !== null && typeof doc.deprecated !== 'boolean') throw bad('Chart.yaml deprecated must be true or false');
  // YAML numbers (appVersion: 1.0) are strings to Helm.
  const out: ChartMetadata = { ...doc, name, version };
  if (typeof doc.appVersion === 'number') out.appVersion = String(doc.appVersion);
  for (const key of Object.keys(out)) if (out[key] === null) delete out[key];
  return out;
}

/** Whether an archive entry name escapes the chart directory. */
function isUnsafePath(name: string): boolean {
  if (name.startsWith('/') || name.startsWith('\\') || /^[a-zA-Z]:/.test(name)) return true;
  return name.split(/[/\\]/).some((segment) => segment === '..');
}

/**
 * Reads the chart's metadata from a gzipped tar stream. INVALID_ARGUMENT (with the reason)
 * for anything that is not a chart; the source is consumed or destroyed either way.
 */
export async function readChartArchive(source: Readable, limits: ChartArchiveLimits = {}): Promise<ChartMetadata> {
  const maxUnpacked = limits.maxUnpackedBytes ?? DEFAULT_MAX_UNPACKED;
  const gunzip = createGunzip();
  const tar = extract();
  let top: string | undefined;
  let chartYaml: Buffer | undefined;
  let entries = 0;
  let unpacked = 0;
  const done = new Promise<void>((resolve, reject) => {
    const fail = (err: unknown): void => {
      source.destroy();
      gunzip.destroy();
      tar.destroy();
      reject(err instanceof PalletError ? err : bad(err instanceof Error ? `the archive cannot be read (${err.message})` : 'the archive cannot be read'));
    };
    source.on('error', fail);
    gunzip.on('error', fail);
    tar.on('error', fail);
    tar.on('entry', (header, stream, next) => {
      try {
        entries += 1;
        if (entries > MAX_ENTRIES) throw bad(`more than ${MAX_ENTRIES} files`);
        const name = header.name.replace(/^\.\//, '');
        if (isUnsafePath(name)) throw bad(`file name ${JSON.stringify(header.name)} leaves the chart directory`);
        const size = header.size ?? 0;
        unpacked += size;
        if (unpacked > maxUnpacked) throw bad(`unpacks to more than ${maxUnpacked} bytes`);
        const first = name.split('/')[0] ?? '';
        if (first === '' || first === name) {
          if (header.type === 'directory' && first !== '') top ??= first;
          else if (header.type !== 'directory') throw bad(`file ${JSON.stringify(name)} is outside a chart directory`);
        } else {
          top ??= first;
          if (first !== top) throw bad(`files of more than one top directory (${top}, ${first})`);
        }
        if (header.type === 'file' && name === `${top}/Chart.yaml`) {
          if (size > MAX_CHART_YAML_BYTES) throw bad(`Chart.yaml is larger than ${MAX_CHART_YAML_BYTES} bytes`);
          const chunks: Buffer[] = [];
          stream.on('data', (c: unknown) => chunks.push(c as Buffer));
          stream.on('end', () => {
            chartYaml = Buffer.concat(chunks);
            next();
          });
          return;
        }
        stream.on('end', () => next());
        stream.resume();
      } catch (err) {
        fail(err);
      }
    });
    tar.on('finish', resolve);
  });
  source.pipe(gunzip).pipe(tar);
  await done;
  if (entries === 0) throw bad('the archive is empty');
  if (!chartYaml) throw bad(`the archive has no ${top ?? '<chart>'}/Chart.yaml`);
  let doc: unknown;
  try {
    doc = await parseYamlBounded(chartYaml, CHART_YAML_LIMITS);
  } catch (err) {
    if (isPalletError(err, 'UNAVAILABLE')) throw err;
    throw bad(`Chart.yaml: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
  return chartMetadata(doc);
}

/** Reads a chart archive held in memory. */
export function readChartBuffer(archive: Buffer, limits?: ChartArchiveLimits): Promise<ChartMetadata> {
  return readChartArchive(Readable.from([archive]), limits);
}
