/**
 * Download counting off the hot path: pulls add to an in-process tally that is flushed to the
 * store in one batch every `intervalMs` (and on close). A crash loses at most one interval.
 */
import type { MetadataStore } from '../metadata/store.js';

export class DownloadCounter {
  private pending = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: MetadataStore,
    private readonly onError: (err: unknown) => void,
    intervalMs = 1000,
  ) {
    this.timer = setInterval(() => void this.flush(), intervalMs);
    this.timer.unref();
  }

  record(manifestId: string): void {
    this.pending.set(manifestId, (this.pending.get(manifestId) ?? 0) + 1);
  }

  /** Writes the tally so far; resolves when it is stored. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.pending.size === 0) return;
      const batch = [...this.pending];
      this.pending = new Map();
      try {
        await this.store.addDownloads(batch);
      } catch (err) {
        this.onError(err);
      }
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
