/**
 * Constraint violations of both SQL drivers mapped to domain errors, for every SQL store.
 */
import { PalletError } from '../base/errors.js';

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
