/**
 * Constraint violations of both SQL drivers mapped to domain errors, for every SQL store, and
 * failures of the database itself (down, restarting, full) recognised for the fault-mapping dialect.
 */
import { PalletError } from '../base/errors.js';
import { DEFAULT_RETRY_AFTER_SECONDS } from '../base/retry.js';

export type Violation = 'unique' | 'foreign-key';

/** Recognises constraint violations of both drivers (pg SQLSTATE, better-sqlite3 codes). */
export function violationOf(err: unknown): Violation | undefined {
  if (!(err instanceof Error) || !('code' in err)) return undefined;
  switch (err.code) {
    case '23505':
    case 'SQLITE_CONSTRAINT_UNIQUE':
    case 'SQLITE_CONSTRAINT_PRIMARYKEY':
      return 'unique';
    case '23503':
    case 'SQLITE_CONSTRAINT_FOREIGNKEY':
      return 'foreign-key';
    default:
      return undefined;
  }
}

/** Runs `work`, turning a unique or foreign-key violation into the domain error given for it. */
export async function guard<T>(work: Promise<T>, on: { unique?: () => PalletError; foreignKey?: () => PalletError }): Promise<T> {
  try {
    return await work;
  } catch (err) {
    const violation = violationOf(err);
    if (violation === 'unique' && on.unique) throw on.unique();
    if (violation === 'foreign-key' && on.foreignKey) throw on.foreignKey();
    throw err;
  }
}

export function notFound(what: string, id: string): PalletError {
  return new PalletError('NOT_FOUND', `${what} ${id} not found`, { [what]: id });
}

/**
 * What a failure of the database itself (not of one statement) means for a request:
 * `unavailable` — the database cannot be reached or is restarting, try again shortly;
 * `full` — the database has no room to write.
 */
export type DatabaseFault = 'unavailable' | 'full';

/** Node socket errors of a connection that could not be made or was lost. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);
/** pg's own errors for a lost or never-made connection (they carry no code). */
const PG_CONNECTION_MESSAGES = [
  /^Connection terminated/,
  /^timeout exceeded when trying to connect/,
  /^Client has encountered a connection error and is not queryable/,
  /^Client was closed and is not queryable/,
  /^Connection ended/,
  /^Query read timeout/,
];

/**
 * Recognises failures of the database rather than of the statement, for both drivers:
 * PostgreSQL class 08 (connection exception), 57P01-57P03 (admin/crash shutdown, cannot connect
 * now), 53300 (too many connections), 53100 (disk full); SQLite BUSY/LOCKED (another writer held
 * the lock past busy_timeout), IOERR, CANTOPEN, READONLY, FULL; socket errors and pg's
 * connection messages. Constraint violations and SQL errors are not faults.
 */
export function databaseFaultOf(err: unknown): DatabaseFault | undefined {
  if (!(err instanceof Error)) return undefined;
  const code = 'code' in err && typeof err.code === 'string' ? err.code : undefined;
  if (code !== undefined) {
    if (code === '53100' || code.startsWith('SQLITE_FULL') || code === 'SQLITE_IOERR_NOSPC' || code === 'ENOSPC') return 'full';
    if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300') return 'unavailable';
    if (/^SQLITE_(BUSY|LOCKED|IOERR|CANTOPEN|READONLY|PROTOCOL)/.test(code)) return 'unavailable';
    if (NETWORK_CODES.has(code)) return 'unavailable';
  }
  if (PG_CONNECTION_MESSAGES.some((m) => m.test(err.message))) return 'unavailable';
  return undefined;
}

/** The domain error a client sees for a database fault; the driver's error is its `cause`. */
export function databaseFaultError(fault: DatabaseFault, cause: Error): PalletError {
  const error =
    fault === 'full'
      ? new PalletError('INSUFFICIENT_STORAGE', 'the metadata database has no space left to write; free disk space or delete content')
      : new PalletError('UNAVAILABLE', 'the metadata database is unavailable; retry later', { retryAfterSeconds: DEFAULT_RETRY_AFTER_SECONDS });
  error.cause = cause;
  return error;
}
