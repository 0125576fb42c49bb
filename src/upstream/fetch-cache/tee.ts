/**
 * One upstream blob body, two readers: the cache writer and (optionally) the client whose miss
 * started the fetch. The algorithm, in order:
 *   1. Each chunk from the upstream is written to the cache branch and to the client branch;
 *      while either branch is above its high-water mark the upstream is not read (memory stays
 *      at two high-water marks whatever the blob's size).
 *   2. A client branch that closes early (the client went away) is detached: the cache branch
 *      carries on alone. A client that does not drain for `stallMs` is destroyed with an error
 *      and detached, so one stuck client cannot hold the cache write past the upstream timeout.
 *   3. When the upstream ends, both branches end. The client branch holds back its last chunk
 *      until the verdict (the cache writer's verify → move → link) settles: success releases
 *      it and ends the stream; failure (digest mismatch, short body, storage error) destroys
 *      the client branch with the error, so the client never sees a clean end of stream.
 *   4. An upstream error destroys both branches; a verdict that fails early (the writer gave up)
 *      destroys the upstream and the client branch.
 *   5. Before a chunk is passed on, `guard` sees its size and how long the tee waited for it
 *      from the upstream (time spent waiting for the branches to drain does not count); a
 *      guard that throws (too large, too slow, nobody waits) stops the upstream and destroys
 *      both branches with its error.
 */
import { PassThrough, Transform, type Readable, type TransformCallback, type Writable } from 'node:stream';

/** Bytes each branch buffers before the upstream is paused. */
const BRANCH_BUFFER = 1024 * 1024;

/** Passes chunks through one behind, releasing the last one only once `verdict` resolves. */
class HoldLast extends Transform {
  private last: Buffer | undefined;

  constructor(private readonly verdict: Promise<unknown>) {
    super({ highWaterMark: BRANCH_BUFFER });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const previous = this.last;
    this.last = chunk;
    callback(null, previous);
  }

  override _flush(callback: TransformCallback): void {
    this.verdict.then(
      () => callback(null, this.last),
      (err: unknown) => callback(err instanceof Error ? err : new Error(String(err))),
    );
  }
}

/** Resolves on 'drain', rejects when the stream closes first. */
function drained(stream: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      stream.off('drain', onDrain);
      stream.off('close', onClose);
    };
    const onDrain = (): void => {
      cleanup();
      resolve();
    };
    const onClose = (): void => {
      cleanup();
      reject(stream.errored ?? new Error('the cache writer stopped reading'));
    };
    stream.on('drain', onDrain);
    stream.on('close', onClose);
  });
}

export interface BlobTeeOptions {
  /** Whether to make a client branch. */
  client: boolean;
  /** How long the client branch may stay full before it is cut off. */
  stallMs: number;
  /** Called with the size of every chunk received from the upstream. */
  onBytes?: (bytes: number) => void;
  /** Checks every chunk before it is passed on (see step 5); throwing stops the fetch. */
  guard?: (bytes: number, waitedMs: number) => void | Promise<void>;
}

export class BlobTee {
  /** The branch the cache writer reads. */
  readonly cache: PassThrough;
  /** The branch the client reads; undefined when there is none. */
  readonly client: Readable | undefined;
  private readonly clientSide: HoldLast | undefined;
  private clientAttached: boolean;
  private settleVerdict!: (value: unknown) => void;
  private failVerdict!: (err: unknown) => void;
  private readonly verdict: Promise<unknown>;

  constructor(
    private readonly source: Readable,
    private readonly options: BlobTeeOptions,
  ) {
    this.verdict = new Promise((resolve, reject) => {
      this.settleVerdict = resolve;
      this.failVerdict = reject;
    });
    this.verdict.catch(() => undefined);
    this.cache = new PassThrough({ highWaterMark: BRANCH_BUFFER });
    this.clientSide = options.client ? new HoldLast(this.verdict) : undefined;
    this.client = this.clientSide;
    this.clientAttached = options.client;
    this.clientSide?.once('close', () => {
      this.clientAttached = false;
    });
    // Errors reach the readers through destroy(); these keep an unread error from crashing.
    this.clientSide?.on('error', () => undefined);
    this.cache.on('error', () => undefined);
  }

  /** Ties the client's end of stream to the cache writer's outcome, and stops on its failure. */
  settle(writing: Promise<unknown>): void {
    writing.then(
      (value) => this.settleVerdict(value),
      (err: unknown) => {
        this.failVerdict(err);
        const error = err instanceof Error ? err : new Error(String(err));
        this.source.destroy(error);
        this.cache.destroy(error);
      },
    );
  }

  /** Starts reading the upstream. Call after `settle`. */
  start(): void {
    void this.run();
  }

  private async run(): Promise<void> {
    try {
      let resumed = Date.now();
      for await (const chunk of this.source) {
        const buf = chunk as Buffer;
        this.options.onBytes?.(buf.length);
        await this.options.guard?.(buf.length, Date.now() - resumed);
        const waits: Promise<void>[] = [];
        if (!this.cache.write(buf)) waits.push(drained(this.cache));
        if (this.clientAttached && this.clientSide && !this.clientSide.destroyed && !this.clientSide.write(buf)) {
          waits.push(this.clientDrained(this.clientSide));
        }
        if (waits.length > 0) await Promise.all(waits);
        resumed = Date.now();
      }
      this.cache.end();
      if (this.clientAttached) this.clientSide?.end();
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      this.cache.destroy(error);
      this.clientSide?.destroy(error);
    }
  }

  /** Resolves when the client drains or is detached (closed, or cut off for stalling). */
  private clientDrained(client: HoldLast): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        client.destroy(new Error(`the client did not read for ${this.options.stallMs} ms; the cache write continues without it`));
      }, this.options.stallMs);
      const done = (): void => {
        clearTimeout(timer);
        client.off('drain', done);
        client.off('close', done);
        resolve();
      };
      client.on('drain', done);
      client.on('close', done);
    });
  }
}
