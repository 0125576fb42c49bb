/**
 * The chart index worker (a `worker_threads` entry, see chart-index-jobs.ts): reads upstream
 * `index.yaml` documents into index sources (chart-index-reader.ts) and renders merged index
 * documents, one job at a time, so neither holds the event loop. The pool bounds its time
 * (terminate) and memory (resourceLimits).
 */
import { parentPort } from 'node:worker_threads';
import { serveWorker } from '../base/worker-pool.js';
import { readChartIndex, type IndexReadOptions, type IndexReadResult } from './chart-index-reader.js';
import { renderSources, type IndexSource } from './chart-index.js';

export type IndexJob =
  | { kind: 'read'; bytes: Uint8Array; options: IndexReadOptions }
  | { kind: 'render'; sources: IndexSource[]; generated: number };

export type IndexJobResult = IndexReadResult | Uint8Array;

const decoder = new TextDecoder('utf-8', { ignoreBOM: false });

if (parentPort) {
  serveWorker<IndexJob, IndexJobResult>(parentPort, (job) => {
    if (job.kind === 'read') {
      const read = readChartIndex(decoder.decode(job.bytes), job.options);
      return { value: read, transfer: [read.lines.buffer, read.refs.buffer, read.lineStarts.buffer, read.refStarts.buffer] };
    }
    const body = renderSources(job.sources, new Date(job.generated));
    // Its own ArrayBuffer (not a slice of Buffer's pool), so it moves to the caller uncopied.
    const out = new Uint8Array(body.length);
    out.set(body);
    return { value: out, transfer: [out.buffer] };
  });
}
