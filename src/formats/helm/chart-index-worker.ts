/**
 * The chart index worker (a `worker_threads` entry, see chart-index-jobs.ts): reads upstream
 * `index.yaml` documents into index sources (chart-index-reader.ts) and renders merged index
 * documents, one job at a time, so neither holds the event loop. The pool bounds its time
 * (terminate) and memory (resourceLimits).
 *
 * A read takes the body in parts (as it arrived: the caller never concatenates tens of MB on
 * the event loop) or gzipped (as stored), and answers with its SHA-256 and, when asked, the
 * gzipped body to store. Sources live in SharedArrayBuffers; rendered documents are
 * transferred: nothing big is copied on the caller's thread.
 */
import { createHash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { gunzipSync, gzipSync } from 'node:zlib';
import { PalletError } from '../../base/errors.js';
import { serveWorker } from '../../base/worker-pool.js';
import { readChartIndex, type IndexReadOptions, type IndexReadResult } from './chart-index-reader.js';
import { renderSources, type IndexSource } from './chart-index.js';

export type IndexJob =
  | { kind: 'read'; parts: Uint8Array[]; options: IndexReadOptions; maxBytes: number; compress: boolean }
  | { kind: 'render'; sources: IndexSource[]; generated: number };

export interface IndexReadAnswer extends IndexReadResult {
  /** SHA-256 (hex) of the document. */
  hash: string;
  /** The document gzipped (when `compress`), to store. */
  gzipped?: Uint8Array;
}

export type IndexJobResult = IndexReadAnswer | Uint8Array;

const decoder = new TextDecoder('utf-8', { ignoreBOM: false });

/** An ArrayBuffer of its own holding `bytes`, so it can be transferred. */
function own(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(bytes.length);
  out.set(bytes);
  return out;
}

function document(parts: Uint8Array[], maxBytes: number): Buffer {
  const body = Buffer.concat(parts);
  if (body[0] !== 0x1f || body[1] !== 0x8b) return body;
  try {
    return gunzipSync(body, { maxOutputLength: maxBytes });
  } catch (err) {
    throw new PalletError('INVALID_ARGUMENT', `the stored index could not be decompressed (${err instanceof Error ? err.message : String(err)})`);
  }
}

if (parentPort) {
  serveWorker<IndexJob, IndexJobResult>(parentPort, (job) => {
    if (job.kind === 'read') {
      const body = document(job.parts, job.maxBytes);
      const read = readChartIndex(decoder.decode(body), job.options);
      const hash = createHash('sha256').update(body).digest('hex');
      if (!job.compress) return { value: { ...read, hash } };
      const gzipped = own(gzipSync(body, { level: 6 }));
      return { value: { ...read, hash, gzipped }, transfer: [gzipped.buffer] };
    }
    const out = own(renderSources(job.sources, new Date(job.generated)));
    return { value: out, transfer: [out.buffer] };
  });
}
