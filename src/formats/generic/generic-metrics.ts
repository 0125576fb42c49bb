/**
 * Prometheus metrics of generic files, in the app's own registry: uploads by outcome
 * (created, unchanged: the same bytes again, replaced, conflict, failed) and bytes uploaded and
 * downloaded (a download counts the bytes it was answered with once the answer is sent). The
 * core counts HTTP bytes per route and the fetch-and-cache core what proxies fetched.
 */
import { Counter, type Registry } from 'prom-client';

export type UploadOutcome = 'created' | 'unchanged' | 'replaced' | 'conflict' | 'failed';

export class GenericMetrics {
  private readonly uploads: Counter<'outcome'>;
  private readonly uploadBytes: Counter;
  private readonly downloadBytes: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    this.uploads = new Counter({ name: 'pallet_generic_uploads_total', help: 'Generic file uploads by outcome (created, unchanged, replaced, conflict, failed)', labelNames: ['outcome'] as const, registers });
    this.uploadBytes = new Counter({ name: 'pallet_generic_upload_bytes_total', help: 'Bytes of generic files stored by uploads', registers });
    this.downloadBytes = new Counter({ name: 'pallet_generic_download_bytes_total', help: 'Bytes of generic files sent to clients (whole files and ranges)', registers });
  }

  uploaded(outcome: UploadOutcome, bytes = 0): void {
    this.uploads.inc({ outcome });
    if (bytes > 0) this.uploadBytes.inc(bytes);
  }

  downloaded(bytes: number): void {
    if (bytes > 0) this.downloadBytes.inc(bytes);
  }
}
