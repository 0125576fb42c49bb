/**
 * The logger port of the domain: what registry, upstream and format code may log through,
 * without knowing the logging library. pino's `Logger` satisfies it (the process logger, and
 * Fastify's `request.log`, which carries the request id as `reqId`), so a surface hands the
 * domain the logger of the request it serves and every line the work writes names that request.
 *
 * Lines are `(fields, message)` or `(message)`; an error goes in the fields as `err`.
 */

export interface LogFn {
  (fields: object, msg: string): void;
  (msg: string): void;
}

export interface Log {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  /** A logger whose lines also carry `bindings` (e.g. `{ gc: 'registry-delete' }`). */
  child(bindings: Record<string, unknown>): Log;
}

const ignore: LogFn = () => {};

/** Writes nothing: for work no one asked to hear about (and tests). */
export const silentLog: Log = { debug: ignore, info: ignore, warn: ignore, error: ignore, child: () => silentLog };
