/**
 * The parse worker (a `worker_threads` entry, see bounded-parse.ts): takes one document at a
 * time, parses it with parse-core under the given limits, and posts back the value or the error
 * (code, message, detail); it says 'ready' once loaded. The pool bounds its time (terminate) and memory (resourceLimits).
 */
import { parentPort } from 'node:worker_threads';
import { isPalletError } from './errors.js';
import { parseBytes, type DocumentFormat, type ParseLimits } from './parse-core.js';

export interface ParseRequest {
  format: DocumentFormat;
  bytes: Uint8Array;
  limits: ParseLimits;
}

export type ParseResponse =
  | { ok: true; value: unknown }
  | { ok: false; code: string; message: string; detail?: Record<string, unknown> };

function handle(request: ParseRequest): ParseResponse {
  try {
    return { ok: true, value: parseBytes(request.format, request.bytes, request.limits) };
  } catch (err) {
    if (isPalletError(err)) return { ok: false, code: err.code, message: err.message, ...(err.detail ? { detail: err.detail } : {}) };
    return { ok: false, code: 'INVALID_ARGUMENT', message: err instanceof Error ? err.message : String(err) };
  }
}

parentPort?.on('message', (request: ParseRequest) => {
  parentPort?.postMessage(handle(request));
});
parentPort?.postMessage('ready');
