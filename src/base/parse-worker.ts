/**
 * The parse worker (a `worker_threads` entry, see bounded-parse.ts and worker-pool.ts): takes
 * one document at a time, parses it with parse-core under the given limits, and posts back the
 * value or the error (code, message, detail). The pool bounds its time (terminate) and memory
 * (resourceLimits).
 */
import { parentPort } from 'node:worker_threads';
import { parseBytes, type DocumentFormat, type ParseLimits } from './parse-core.js';
import { serveWorker } from './worker-pool.js';

export interface ParseRequest {
  format: DocumentFormat;
  bytes: Uint8Array;
  limits: ParseLimits;
}

if (parentPort) serveWorker(parentPort, (request: ParseRequest) => ({ value: parseBytes(request.format, request.bytes, request.limits) }));
