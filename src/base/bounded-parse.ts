/**
 * Bounded parsing of untrusted documents (manifests, Chart.yaml, API bodies, and every future
 * format's metadata): no document may hold the event loop for more than a few milliseconds.
 *
 * Every parse is bounded four ways (see `ParseLimits`): bytes (checked before any parsing),
 * values, nesting depth and, for YAML, aliases (parse-core.ts checks them in linear time).
 * Where the work happens:
 * - inline, for documents up to `INLINE_BYTES[format]`: the worst case of such a document was
 *   measured at a few milliseconds (bounded-parse.test.ts measures it with
 *   monitorEventLoopDelay), cheaper than a round trip to a worker;
 * - otherwise in a small pool of worker threads: a parse that takes longer than
 *   `limits.timeoutMs` is stopped by terminating its worker, one that needs more than
 *   `WORKER_HEAP_MB` of heap dies on `resourceLimits`; either way the caller gets
 *   INVALID_ARGUMENT and the pool starts a fresh worker for the next document. The value comes
 *   back by structured clone, whose cost is bounded by `maxNodes`.
 * The pool is per process (like libuv's thread pool): workers start on first use, at most
 * `POOL_SIZE` run at once, at most `MAX_QUEUED` documents wait (then UNAVAILABLE), and an idle
 * worker exits after `IDLE_MS` and never keeps the process alive.
 *
 * This module imports `yaml` (through parse-core.ts), the one exception to base/ using Node
 * built-ins only: it is the one place that parses YAML from untrusted input.
 */
import { checkSize, parseBytes, type DocumentFormat, type ParseLimits } from './parse-core.js';
import type { ParseRequest } from './parse-worker.js';
import { WorkerPool } from './worker-pool.js';

export type { DocumentFormat, ParseLimits } from './parse-core.js';

/**
 * Documents this small are parsed on the calling thread (most Chart.yaml files are under
 * 2 KiB). Their worst cases (a flow list of 1,000 one-character YAML items, 16k tiny JSON
 * values) measured a few ms on a loaded 2-core machine, with outliers from GC; the `yaml`
 * package costs up to ~3 µs a byte, JSON.parse about a tenth of that.
 */
export const INLINE_BYTES: Record<DocumentFormat, number> = { json: 32 * 1024, yaml: 2 * 1024 };

const KIB = 1024;
const MIB = 1024 * KIB;

/** Manifests (their bytes are bounded by `limits.manifestBytes` as they are read); 100k values is thousands of descriptors. */
export const MANIFEST_LIMITS: ParseLimits = { maxBytes: 4 * MIB, maxNodes: 100_000, maxDepth: 32, maxAliases: 0, timeoutMs: 5_000 };
/** Management API request bodies (the API's body limit is 1 MiB). */
export const API_BODY_LIMITS: ParseLimits = { maxBytes: MIB, maxNodes: 10_000, maxDepth: 32, maxAliases: 0, timeoutMs: 2_000 };
/** Small JSON metadata files (an OCI artifact's config, e.g. a chart's). */
export const METADATA_JSON_LIMITS: ParseLimits = { maxBytes: MIB, maxNodes: 20_000, maxDepth: 64, maxAliases: 0, timeoutMs: 2_000 };

const POOL_SIZE = 2;
const MAX_QUEUED = 64;
const IDLE_MS = 30_000;
const WORKER_HEAP_MB = 128;

/** Counts by format, path (`inline`/`worker`) and outcome, for `/metrics`. */
export interface ParseCounts {
  [key: string]: number;
}
const counts: ParseCounts = {};
function count(format: DocumentFormat, path: 'inline' | 'worker', outcome: 'ok' | 'refused' | 'timeout' | 'busy'): void {
  const key = `${format}|${path}|${outcome}`;
  counts[key] = (counts[key] ?? 0) + 1;
}

/** Parse counts so far, keyed `format|path|outcome`. */
export function parseCounts(): Readonly<ParseCounts> {
  return counts;
}

function newPool(): WorkerPool<ParseRequest, unknown> {
  return new WorkerPool<ParseRequest, unknown>({
    entry: 'parse-worker',
    here: import.meta.url,
    size: POOL_SIZE,
    maxQueued: MAX_QUEUED,
    idleMs: IDLE_MS,
    heapMb: WORKER_HEAP_MB,
    subject: 'the document',
    verb: 'parse',
    onOutcome: (request, outcome) => count(request.format, 'worker', outcome === 'memory' || outcome === 'failed' ? 'refused' : outcome),
  });
}

let pool: WorkerPool<ParseRequest, unknown> | undefined;

/**
 * Parses `input` as `format` within `limits`: small documents inline, larger ones in a worker.
 * TOO_LARGE beyond `maxBytes` (before any parsing), INVALID_ARGUMENT for bad syntax or a
 * limit exceeded (`detail.limit`: syntax, nodes, depth, aliases, time, memory), UNAVAILABLE
 * when too many documents wait.
 */
export async function parseBounded(format: DocumentFormat, input: Uint8Array, limits: ParseLimits): Promise<unknown> {
  checkSize(input.byteLength, limits);
  if (input.byteLength <= INLINE_BYTES[format]) {
    try {
      const value = parseBytes(format, input, limits);
      count(format, 'inline', 'ok');
      return value;
    } catch (err) {
      count(format, 'inline', 'refused');
      throw err;
    }
  }
  pool ??= newPool();
  // A copy: the caller's Buffer may be a slice of a shared pool that cannot be transferred.
  const bytes = new Uint8Array(input);
  return pool.run({ format, bytes, limits }, limits.timeoutMs, [bytes.buffer]);
}

export function parseJsonBounded(input: Uint8Array, limits: ParseLimits): Promise<unknown> {
  return parseBounded('json', input, limits);
}

export function parseYamlBounded(input: Uint8Array, limits: ParseLimits): Promise<unknown> {
  return parseBounded('yaml', input, limits);
}
