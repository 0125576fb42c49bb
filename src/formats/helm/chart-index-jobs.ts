/**
 * Chart index work off the event loop: reading an upstream's `index.yaml` and rendering a
 * merged index, in a small pool of workers (base/worker-pool.ts) with a time budget per job and
 * a heap limit per worker. Renders of few entries are done inline (cheaper than the round trip).
 */
import { WorkerPool } from '../../base/worker-pool.js';
import type { IndexReadOptions } from './chart-index-reader.js';
import { renderSources, type IndexSource } from './chart-index.js';
import type { IndexJob, IndexJobResult, IndexReadAnswer } from './chart-index-worker.js';

export type { IndexReadAnswer } from './chart-index-worker.js';

/** Heap per worker: a 128 MiB index reads in about twice its size (text, then the kept lines). */
export const INDEX_WORKER_HEAP_MB = 512;
/** Renders of up to this many chart versions run inline (~5 ms measured; see chart-index-jobs.test.ts). */
export const INLINE_RENDER_ENTRIES = 2_000;
const RENDER_TIMEOUT_MS = 60_000;

export type IndexJobOutcome = 'ok' | 'refused' | 'timeout' | 'busy' | 'memory' | 'failed';

let observer: ((kind: IndexJob['kind'], outcome: IndexJobOutcome) => void) | undefined;

/** Receives how each worker job ended (for metrics). */
export function observeIndexJobs(fn: (kind: IndexJob['kind'], outcome: IndexJobOutcome) => void): void {
  observer = fn;
}

let pool: WorkerPool<IndexJob, IndexJobResult> | undefined;

function indexPool(): WorkerPool<IndexJob, IndexJobResult> {
  pool ??= new WorkerPool<IndexJob, IndexJobResult>({
    entry: 'chart-index-worker',
    here: import.meta.url,
    size: 2,
    maxQueued: 32,
    idleMs: 30_000,
    heapMb: INDEX_WORKER_HEAP_MB,
    subject: 'the chart index',
    verb: 'read',
    onOutcome: (job, outcome) => observer?.(job.kind, outcome),
  });
  return pool;
}

/**
 * Reads an upstream index in a worker within `timeoutMs` (see chart-index-reader.ts): `parts`
 * as the body arrived (moved to the worker: the caller must not use them after), or one
 * gzipped stored copy; up to `maxBytes` once decompressed. `compress`: also answer the body
 * gzipped, to store. INVALID_ARGUMENT (`detail.limit`: time, memory, worker) when it runs over
 * its budget or the document is not an index; UNAVAILABLE when too many jobs wait.
 */
export async function readIndexOffThread(
  body: { parts: Uint8Array[]; movable: boolean },
  options: IndexReadOptions,
  job: { maxBytes: number; compress: boolean; timeoutMs: number },
): Promise<IndexReadAnswer> {
  // Movable parts (the caller's own buffers, never a slice of Buffer's shared pool) go to the
  // worker without a copy; others are copied.
  const parts = body.movable ? body.parts : body.parts.map((p) => new Uint8Array(p));
  const transfer = [...new Set(parts.map((p) => p.buffer))].filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
  return (await indexPool().run({ kind: 'read', parts, options, maxBytes: job.maxBytes, compress: job.compress }, job.timeoutMs, transfer)) as IndexReadAnswer;
}

/** The merged index document of `sources` (see `renderSources`): inline when small, else in a worker. */
export async function renderIndexSources(sources: IndexSource[], generated: Date): Promise<Buffer> {
  let total = 0;
  for (const s of sources) total += s.count;
  if (total <= INLINE_RENDER_ENTRIES) return renderSources(sources, generated);
  const out = (await indexPool().run({ kind: 'render', sources, generated: generated.getTime() }, RENDER_TIMEOUT_MS)) as Uint8Array;
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}
