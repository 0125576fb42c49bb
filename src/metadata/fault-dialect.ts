/**
 * A Kysely dialect decorator that turns failures of the database itself (unreachable,
 * restarting, crashed, locked, full; see `databaseFaultOf`) into domain errors at the one place
 * every SQL store's statements pass through, so no store, service or route handler sees a raw
 * driver error for an outage: `UNAVAILABLE` (503 + Retry-After) or `INSUFFICIENT_STORAGE` (507).
 * Statement errors (constraint violations, SQL errors) pass through unchanged, so `guard()` and
 * the stores' own checks keep working.
 *
 * The wrapped driver gets back the connection objects it handed out (the PostgreSQL driver
 * releases and discards connections through private members of its own objects).
 */
import type {
  CompiledQuery,
  DatabaseConnection,
  DatabaseIntrospector,
  Dialect,
  DialectAdapter,
  Driver,
  Kysely,
  QueryCompiler,
  QueryResult,
  TransactionSettings,
} from 'kysely';
import { databaseFaultError, databaseFaultOf, type DatabaseFault } from './sql-errors.js';

/** Told of every fault (before the request fails with it), for metrics and logs. */
export type FaultListener = (fault: DatabaseFault, err: Error) => void;

export function withFaultMapping(inner: Dialect, onFault: FaultListener = () => undefined): Dialect {
  return {
    createAdapter: (): DialectAdapter => inner.createAdapter(),
    createDriver: (): Driver => new FaultMappingDriver(inner.createDriver(), onFault),
    createQueryCompiler: (): QueryCompiler => inner.createQueryCompiler(),
    createIntrospector: (db: Kysely<unknown>): DatabaseIntrospector => inner.createIntrospector(db),
  };
}

/** Rethrows `err` as a domain error when it is a database fault. */
function mapped(err: unknown, onFault: FaultListener): unknown {
  const fault = databaseFaultOf(err);
  if (fault === undefined) return err;
  onFault(fault, err as Error);
  return databaseFaultError(fault, err as Error);
}

class FaultMappingConnection implements DatabaseConnection {
  /** A statement on this connection met a fault (the transaction, if any, may be gone). */
  faulted = false;

  constructor(
    readonly inner: DatabaseConnection,
    private readonly onFault: FaultListener,
  ) {}

  #mapped(err: unknown): unknown {
    const out = mapped(err, this.onFault);
    if (out !== err) this.faulted = true;
    return out;
  }

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    try {
      return await this.inner.executeQuery<R>(query);
    } catch (err) {
      throw this.#mapped(err);
    }
  }

  async *streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    try {
      yield* this.inner.streamQuery<R>(query, chunkSize);
    } catch (err) {
      throw this.#mapped(err);
    }
  }
}

class FaultMappingDriver implements Driver {
  constructor(
    private readonly inner: Driver,
    private readonly onFault: FaultListener,
  ) {}

  async #run<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      throw mapped(err, this.onFault);
    }
  }

  init(): Promise<void> {
    return this.#run(() => this.inner.init());
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    return new FaultMappingConnection(await this.#run(() => this.inner.acquireConnection()), this.onFault);
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.#run(() => this.inner.beginTransaction(unwrap(connection), settings));
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return this.#run(() => this.inner.commitTransaction(unwrap(connection)));
  }

  /**
   * Kysely rolls back after a failed statement and throws the rollback's error if that fails,
   * hiding the statement's. After a fault the rollback often cannot work — SQLite has already
   * rolled back on SQLITE_FULL/IOERR ("no transaction is active"), a dropped PostgreSQL
   * connection is gone (the pg driver discards it) — so its failure is dropped and the fault
   * reaches the caller.
   */
  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    try {
      await this.inner.rollbackTransaction(unwrap(connection));
    } catch (err) {
      if (connection instanceof FaultMappingConnection && connection.faulted) return;
      throw mapped(err, this.onFault);
    }
  }

  async savepoint(connection: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']): Promise<void> {
    const savepoint = this.inner.savepoint?.bind(this.inner);
    if (!savepoint) throw new Error('the database driver does not support savepoints');
    return this.#run(() => savepoint(unwrap(connection), name, compile));
  }

  async rollbackToSavepoint(connection: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']): Promise<void> {
    const rollbackToSavepoint = this.inner.rollbackToSavepoint?.bind(this.inner);
    if (!rollbackToSavepoint) throw new Error('the database driver does not support savepoints');
    return this.#run(() => rollbackToSavepoint(unwrap(connection), name, compile));
  }

  async releaseSavepoint(connection: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']): Promise<void> {
    const releaseSavepoint = this.inner.releaseSavepoint?.bind(this.inner);
    if (!releaseSavepoint) throw new Error('the database driver does not support savepoints');
    return this.#run(() => releaseSavepoint(unwrap(connection), name, compile));
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.inner.releaseConnection(unwrap(connection));
  }

  destroy(): Promise<void> {
    return this.inner.destroy();
  }
}

function unwrap(connection: DatabaseConnection): DatabaseConnection {
  return connection instanceof FaultMappingConnection ? connection.inner : connection;
}
