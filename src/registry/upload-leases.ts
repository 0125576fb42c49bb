/**
 * One writer at a time per upload session, across replicas: a lease on the session's row,
 * taken with one conditional update before any byte is written (see `MetadataStore.
 * acquireUploadLease`), renewed while the writer streams, and released by the advance that
 * records the writer's bytes (or on failure).
 *
 * - A second writer finds the lease held and is refused (BLOB_UPLOAD_INVALID) before it reads
 *   its body, so a lost race stores nothing.
 * - A writer whose renewal fails (the database is unreachable, or its lease expired and was
 *   taken) is aborted: its stream errors and it records nothing.
 * - A lease that expired (its writer died) is taken by the next writer.
 * - In this process, a writer also waits until the previous local writer of the session has
 *   settled (an aborted writer may still be finishing a write into its object); writers in
 *   other processes write other objects (see `blobs.ts`), so they need no such wait.
 */
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { PalletError } from '../base/errors.js';
import type { MetadataStore, UploadRecord } from '../metadata/store.js';

export interface Lease {
  /** The holder id written to the session row. */
  holder: string;
  /** The session as it is under the lease. */
  upload: UploadRecord;
  /** Aborts when the lease is lost; pass it to every write. */
  signal: AbortSignal;
  /** Set by whoever released the lease already (an advance without `keep`). */
  released: boolean;
}

export class UploadLeases {
  private readonly local = new Map<string, Promise<void>>();
  /** Sessions whose local writer lost its request body and is about to release the lease. */
  private readonly closing = new Map<string, Promise<void>>();

  constructor(
    private readonly store: MetadataStore,
    /** How long a lease lasts without renewal; renewed every third of it. */
    private readonly leaseMs: number,
  ) {}

  /**
   * Runs `work` holding the session's lease; the lease is released afterwards unless `work`
   * already released it (an advance without `keep`). BLOB_UPLOAD_INVALID when another writer
   * holds it; BLOB_UPLOAD_UNKNOWN when the session is gone.
   */
  async run<T>(uploadId: string, work: (lease: Lease) => Promise<T>, outer?: AbortSignal, source?: Readable): Promise<T> {
    const holder = randomUUID();
    const upload = await this.acquire(uploadId, holder);
    const lost = new AbortController();
    const signal = outer ? AbortSignal.any([outer, lost.signal]) : lost.signal;
    const timer = setInterval(() => {
      this.store.renewUploadLease(uploadId, holder, Date.now() + this.leaseMs).then(
        (held) => {
          if (!held) lost.abort(leaseLost(uploadId));
        },
        () => lost.abort(leaseLost(uploadId)),
      );
    }, Math.max(1, Math.floor(this.leaseMs / 3)));
    timer.unref();
    const lease: Lease = { holder, upload, signal, released: false };
    const settled = this.localTurn(uploadId);
    // A body that ends without all its bytes (the client hung up, a body timeout cut it): the
    // client may resume at once, before this writer has released the lease; let it wait for that.
    const onClose = (): void => {
      if (source && !source.readableEnded) this.closing.set(uploadId, settled.finished);
    };
    source?.once('close', onClose);
    try {
      await settled.previous;
      return await work(lease);
    } catch (err) {
      // A write cut short because the lease was lost fails with an AbortError: say why.
      if (lost.signal.aborted) throw lost.signal.reason;
      throw err;
    } finally {
      clearInterval(timer);
      // Release before letting the next local writer go: it acquires right after.
      source?.off('close', onClose);
      if (!lease.released) await this.store.releaseUploadLease(uploadId, holder).catch(() => undefined);
      settled.done();
      if (this.closing.get(uploadId) === settled.finished) this.closing.delete(uploadId);
    }
  }

  /**
   * Takes the lease. When it is held by a writer of this process whose request body was cut
   * (a client that hung up, a body timeout), that writer releases it a moment after the client
   * saw the failure: a client that resumes at once waits for that (at most HELD_WAIT_MS) rather
   * than being refused. A writer that is still streaming keeps the lease; the newcomer is refused.
   */
  private async acquire(uploadId: string, holder: string): Promise<UploadRecord> {
    const upload = await this.tryAcquire(uploadId, holder);
    if (upload) return upload;
    const closing = this.closing.get(uploadId);
    if (closing) {
      await Promise.race([closing, sleep(HELD_WAIT_MS)]);
      const retried = await this.tryAcquire(uploadId, holder);
      if (retried) return retried;
    }
    throw new PalletError(
      'BLOB_UPLOAD_INVALID',
      'another request is writing to this upload session; wait for it to finish, then GET the session for its offset',
      { uploadId },
    );
  }

  private async tryAcquire(uploadId: string, holder: string): Promise<UploadRecord | undefined> {
    let upload: UploadRecord | undefined;
    try {
      const now = Date.now();
      upload = await this.store.acquireUploadLease(uploadId, holder, now + this.leaseMs, now);
    } catch (err) {
      if (err instanceof PalletError && err.code === 'NOT_FOUND') {
        throw new PalletError('BLOB_UPLOAD_UNKNOWN', 'blob upload unknown to registry', { uploadId });
      }
      throw err;
    }
    return upload;
  }

  /** Queues behind the session's previous local writer; `done` lets the next one go. */
  private localTurn(uploadId: string): { previous: Promise<void>; finished: Promise<void>; done: () => void } {
    const previous = this.local.get(uploadId) ?? Promise.resolve();
    let done!: () => void;
    const mine = new Promise<void>((resolve) => {
      done = resolve;
    });
    const chained = previous.then(() => mine);
    this.local.set(uploadId, chained);
    return {
      previous,
      finished: mine,
      done: () => {
        done();
        if (this.local.get(uploadId) === chained) this.local.delete(uploadId);
      },
    };
  }
}

/** How long a writer waits for a held lease before it is refused. */
const HELD_WAIT_MS = 2000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function leaseLost(uploadId: string): PalletError {
  return new PalletError('BLOB_UPLOAD_INVALID', 'this request lost its hold on the upload session (it took too long); resume from the session offset', {
    uploadId,
  });
}
