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
import { Worker } from 'node:worker_threads';
import { PalletError, type ErrorCode } from './errors.js';
import { checkSize, parseBytes, type DocumentFormat, type ParseLimits } from './parse-core.js';
import type { ParseRequest, ParseResponse } from './parse-worker.js';

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

/** Chart.yaml: real ones are a few KiB; Helm itself reads up to 1 MiB. */
export const CHART_YAML_LIMITS: ParseLimits = { maxBytes: MIB, maxNodes: 20_000, maxDepth: 64, maxAliases: 100, timeoutMs: 5_000 };
/** Manifests (their bytes are bounded by `limits.manifestBytes` as they are read); 100k values is thousands of descriptors. */
export const MANIFEST_LIMITS: ParseLimits = { maxBytes: 4 * MIB, maxNodes: 100_000, maxDepth: 32, maxAliases: 0, timeoutMs: 5_000 };
/** Management API request bodies (the API's body limit is 1 MiB). */
export const API_BODY_LIMITS: ParseLimits = { maxBytes: MIB, maxNodes: 10_000, maxDepth: 32, maxAliases: 0, timeoutMs: 2_000 };
/** Small JSON metadata files (a Helm chart's OCI config). */
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

interface Job {
  request: ParseRequest;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

interface Slot {
  worker: Worker;
  /** Whether the worker has loaded its code (it says so once); jobs wait for it. */
  ready: boolean;
  job?: Job;
  timer?: NodeJS.Timeout;
  idle?: NodeJS.Timeout;
}

const WORKER_OPTIONS = { resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB, maxYoungGenerationSizeMb: 16, stackSizeMb: 4 } };

/** The parse worker: parse-worker.js next to this file in dist/. */
function newWorker(): Worker {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return new Worker(new URL('./parse-worker.js', here), WORKER_OPTIONS);
  // Running from TypeScript sources (tests, under tsx): Node 20 does not give workers the
  // parent's module hooks, so the worker registers tsx before it imports its entry.
  const entry = JSON.stringify(new URL('./parse-worker.ts', here).href);
  return new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${entry}); })`, { ...WORKER_OPTIONS, eval: true });
}

class ParsePool {
  readonly #slots = new Set<Slot>();
  readonly #queue: Job[] = [];

  run(request: ParseRequest): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const job: Job = { request, resolve, reject };
      const idle = [...this.#slots].find((s) => !s.job);
      if (idle) return this.#start(idle, job);
      if (this.#slots.size < POOL_SIZE) return this.#start(this.#spawn(), job);
      if (this.#queue.length >= MAX_QUEUED) {
        count(request.format, 'worker', 'busy');
        return reject(new PalletError('UNAVAILABLE', 'too many documents are waiting to be parsed; retry later'));
      }
      this.#queue.push(job);
    });
  }

  #spawn(): Slot {
    const worker = newWorker();
    const slot: Slot = { worker, ready: false };
    worker.on('message', (message: ParseResponse | 'ready') => {
      if (message !== 'ready') return this.#finish(slot, message);
      slot.ready = true;
      if (slot.job) this.#post(slot, slot.job);
    });
    worker.on('error', (err: Error) => this.#fail(slot, err));
    worker.on('exit', () => this.#fail(slot, new Error('the parse worker exited')));
    this.#slots.add(slot);
    return slot;
  }

  #start(slot: Slot, job: Job): void {
    clearTimeout(slot.idle);
    slot.job = job;
    slot.worker.ref();
    if (slot.ready) this.#post(slot, job);
  }

  /** Hands the job to a ready worker; its time budget starts now, not while the worker loads. */
  #post(slot: Slot, job: Job): void {
    slot.timer = setTimeout(() => {
      count(job.request.format, 'worker', 'timeout');
      this.#fail(slot, new PalletError('INVALID_ARGUMENT', `the document took longer than ${job.request.limits.timeoutMs} ms to parse`, { limit: 'time' }));
    }, job.request.limits.timeoutMs);
    slot.worker.postMessage(job.request);
  }

  #finish(slot: Slot, response: ParseResponse): void {
    const job = slot.job;
    if (!job) return;
    clearTimeout(slot.timer);
    slot.job = undefined;
    if (response.ok) {
      count(job.request.format, 'worker', 'ok');
      job.resolve(response.value);
    } else {
      count(job.request.format, 'worker', 'refused');
      job.reject(new PalletError(response.code as ErrorCode, response.message, response.detail));
    }
    this.#next(slot);
  }

  /** The worker is gone or must go: reject its job, drop it, serve the queue with a new one. */
  #fail(slot: Slot, err: Error): void {
    if (!this.#slots.delete(slot)) return;
    clearTimeout(slot.timer);
    clearTimeout(slot.idle);
    void slot.worker.terminate();
    const job = slot.job;
    slot.job = undefined;
    if (job) {
      const heap = (err as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY';
      job.reject(
        err instanceof PalletError
          ? err
          : new PalletError('INVALID_ARGUMENT', heap ? `the document needs more than ${WORKER_HEAP_MB} MiB to parse` : `the document could not be parsed (${err.message})`, {
              limit: heap ? 'memory' : 'worker',
            }),
      );
    }
    const queued = this.#queue.shift();
    if (queued) this.#start(this.#spawn(), queued);
  }

  #next(slot: Slot): void {
    const queued = this.#queue.shift();
    if (queued) return this.#start(slot, queued);
    slot.worker.unref();
    slot.idle = setTimeout(() => {
      this.#slots.delete(slot);
      void slot.worker.terminate();
    }, IDLE_MS);
    slot.idle.unref();
  }
}

let pool: ParsePool | undefined;

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
  pool ??= new ParsePool();
  // A copy: the caller's Buffer may be a slice of a shared pool that cannot be transferred.
  return pool.run({ format, bytes: new Uint8Array(input), limits });
}

export function parseJsonBounded(input: Uint8Array, limits: ParseLimits): Promise<unknown> {
  return parseBounded('json', input, limits);
}

export function parseYamlBounded(input: Uint8Array, limits: ParseLimits): Promise<unknown> {
  return parseBounded('yaml', input, limits);
}
