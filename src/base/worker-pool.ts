/**
 * A small pool of `worker_threads` workers for CPU-bound work on untrusted input (parsing,
 * index reading), so that no such job holds the event loop. Each job has a time budget (the
 * worker is terminated when it runs over) and each worker a heap limit (`resourceLimits`);
 * either way the caller gets INVALID_ARGUMENT naming the limit (`detail.limit`: time, memory,
 * worker) and the pool starts a fresh worker for the next job.
 *
 * Protocol: the worker entry posts 'ready' once loaded, then answers each request with one
 * `WorkerResponse`. Workers start on first use, at most `size` run at once, at most
 * `maxQueued` jobs wait (then UNAVAILABLE), and an idle worker exits after `idleMs` and never
 * keeps the process alive. Pools are per process (like libuv's thread pool).
 */
import { Worker, type Transferable } from 'node:worker_threads';
import { isPalletError, PalletError, type ErrorCode } from './errors.js';

export type WorkerResponse<T> = { ok: true; value: T } | { ok: false; code: string; message: string; detail?: Record<string, unknown> };

export type JobOutcome = 'ok' | 'refused' | 'timeout' | 'busy' | 'memory' | 'failed';

export interface WorkerPoolOptions<Req> {
  /** The worker entry's base name next to `here` (`parse-worker`: `.ts` under tsx, `.js` in dist/). */
  entry: string;
  /** `import.meta.url` of the module that owns the entry. */
  here: string;
  size: number;
  maxQueued: number;
  idleMs: number;
  heapMb: number;
  /** What the job is and does, in error messages ("the document", "parse"). */
  subject: string;
  verb: string;
  /** Called once per job with how it ended (for metrics). */
  onOutcome?: (request: Req, outcome: JobOutcome) => void;
}

interface Job<Req> {
  request: Req;
  timeoutMs: number;
  transfer: Transferable[];
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

interface Slot<Req> {
  worker: Worker;
  /** Whether the worker has loaded its code (it says so once); jobs wait for it. */
  ready: boolean;
  job?: Job<Req>;
  timer?: NodeJS.Timeout;
  idle?: NodeJS.Timeout;
}

export class WorkerPool<Req, Res> {
  readonly #slots = new Set<Slot<Req>>();
  readonly #queue: Array<Job<Req>> = [];

  constructor(private readonly options: WorkerPoolOptions<Req>) {}

  /** Runs `request` in a worker within `timeoutMs`; `transfer` moves buffers instead of copying them. */
  run(request: Req, timeoutMs: number, transfer: Transferable[] = []): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      const job: Job<Req> = { request, timeoutMs, transfer, resolve: resolve as (value: unknown) => void, reject };
      const idle = [...this.#slots].find((s) => !s.job);
      if (idle) return this.#start(idle, job);
      if (this.#slots.size < this.options.size) return this.#start(this.#spawn(), job);
      if (this.#queue.length >= this.options.maxQueued) {
        this.options.onOutcome?.(request, 'busy');
        return reject(new PalletError('UNAVAILABLE', `too many jobs wait for a worker (${this.options.subject}); retry later`));
      }
      this.#queue.push(job);
    });
  }

  #newWorker(): Worker {
    const { here, entry, heapMb } = this.options;
    const resourceLimits = { maxOldGenerationSizeMb: heapMb, maxYoungGenerationSizeMb: 16, stackSizeMb: 4 };
    if (!here.endsWith('.ts')) return new Worker(new URL(`./${entry}.js`, here), { resourceLimits });
    // Running from TypeScript sources (tests, under tsx): Node 20 does not give workers the
    // parent's module hooks, so the worker registers tsx before it imports its entry.
    const url = JSON.stringify(new URL(`./${entry}.ts`, here).href);
    return new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${url}); })`, { resourceLimits, eval: true });
  }

  #spawn(): Slot<Req> {
    const worker = this.#newWorker();
    const slot: Slot<Req> = { worker, ready: false };
    worker.on('message', (message: WorkerResponse<Res> | 'ready') => {
      if (message !== 'ready') return this.#finish(slot, message);
      slot.ready = true;
      if (slot.job) this.#post(slot, slot.job);
    });
    worker.on('error', (err: Error) => this.#fail(slot, err));
    worker.on('exit', () => this.#fail(slot, new Error('the worker exited')));
    this.#slots.add(slot);
    return slot;
  }

  #start(slot: Slot<Req>, job: Job<Req>): void {
    clearTimeout(slot.idle);
    slot.job = job;
    slot.worker.ref();
    if (slot.ready) this.#post(slot, job);
  }

  /** Hands the job to a ready worker; its time budget starts now, not while the worker loads. */
  #post(slot: Slot<Req>, job: Job<Req>): void {
    slot.timer = setTimeout(() => {
      this.options.onOutcome?.(job.request, 'timeout');
      this.#fail(slot, new PalletError('INVALID_ARGUMENT', `${this.options.subject} took longer than ${job.timeoutMs} ms to ${this.options.verb}`, { limit: 'time' }));
    }, job.timeoutMs);
    slot.worker.postMessage(job.request, job.transfer);
  }

  #finish(slot: Slot<Req>, response: WorkerResponse<Res>): void {
    const job = slot.job;
    if (!job) return;
    clearTimeout(slot.timer);
    slot.job = undefined;
    if (response.ok) {
      this.options.onOutcome?.(job.request, 'ok');
      job.resolve(response.value);
    } else {
      this.options.onOutcome?.(job.request, 'refused');
      job.reject(new PalletError(response.code as ErrorCode, response.message, response.detail));
    }
    this.#next(slot);
  }

  /** The worker is gone or must go: reject its job, drop it, serve the queue with a new one. */
  #fail(slot: Slot<Req>, err: Error): void {
    if (!this.#slots.delete(slot)) return;
    clearTimeout(slot.timer);
    clearTimeout(slot.idle);
    void slot.worker.terminate();
    const job = slot.job;
    slot.job = undefined;
    if (job) {
      const heap = (err as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY';
      if (!(err instanceof PalletError)) this.options.onOutcome?.(job.request, heap ? 'memory' : 'failed');
      job.reject(
        err instanceof PalletError
          ? err
          : new PalletError('INVALID_ARGUMENT', heap ? `${this.options.subject} needs more than ${this.options.heapMb} MiB to ${this.options.verb}` : `${this.options.subject} could not be processed (${err.message})`, {
              limit: heap ? 'memory' : 'worker',
            }),
      );
    }
    const queued = this.#queue.shift();
    if (queued) this.#start(this.#spawn(), queued);
  }

  #next(slot: Slot<Req>): void {
    const queued = this.#queue.shift();
    if (queued) return this.#start(slot, queued);
    slot.worker.unref();
    slot.idle = setTimeout(() => {
      this.#slots.delete(slot);
      void slot.worker.terminate();
    }, this.options.idleMs);
    slot.idle.unref();
  }
}

/** The worker side: answers each request with `handle`'s value or its PalletError. */
export function serveWorker<Req, Res>(port: { on(event: 'message', listener: (req: Req) => void): unknown; postMessage(value: unknown, transfer?: Transferable[]): void }, handle: (request: Req) => { value: Res; transfer?: Transferable[] }): void {
  port.on('message', (request: Req) => {
    let response: WorkerResponse<Res>;
    let transfer: Transferable[] = [];
    try {
      const out = handle(request);
      response = { ok: true, value: out.value };
      transfer = out.transfer ?? [];
    } catch (err) {
      response = isPalletError(err)
          ? { ok: false, code: err.code, message: err.message, ...(err.detail ? { detail: err.detail } : {}) }
          : { ok: false, code: 'INVALID_ARGUMENT', message: err instanceof Error ? err.message : String(err) };
    }
    port.postMessage(response, transfer);
  });
  port.postMessage('ready');
}
