/**
 * Removes upload sessions that clients abandoned: sessions untouched for `staleAfterMs` lose
 * their row and their bytes. Idempotent, so every replica may run it.
 */
import type { MetadataStore } from '../metadata/store.js';
import type { BlobService } from './blobs.js';

export class UploadJanitor {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: MetadataStore,
    private readonly blobs: BlobService,
    private readonly staleAfterMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Sweeps now; resolves to the number of sessions removed. */
  async sweep(now = Date.now()): Promise<number> {
    const stale = await this.store.listStaleUploads(now - this.staleAfterMs);
    for (const upload of stale) await this.blobs.discard(upload.id);
    return stale.length;
  }

  /** Sweeps every `intervalMs` until `stop()`. */
  start(intervalMs: number): void {
    this.timer = setInterval(() => this.sweep().catch(this.onError), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
