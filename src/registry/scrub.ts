/**
 * Scrubbing: reads every stored blob back and checks that its bytes hash to its digest — for bit
 * rot, and for blobs stored before uploads verified what they committed. Runs online, beside
 * serving replicas and GC.
 *
 * For each blob row (in key order, batch by batch):
 *   1. stream its bytes through the digest's hash (one blob at a time: memory stays flat);
 *   2. bytes match: mark the row verified (uploads then deduplicate onto it without a read);
 *   3. bytes missing: report (clients already get BLOB_UNKNOWN; a push of the digest heals it);
 *   4. bytes differ: report; with `repair`, under the blob protocol of `gc.ts`:
 *      a. mark the row unverified, so an upload of the digest replaces the bytes rather than
 *         deduplicating onto them;
 *      b. claim the row, only if it is still unverified and no upload holds a reservation on it
 *         (an upload replacing the bytes wins, and the blob is reported as skipped);
 *      c. move the bytes to `quarantine/…` (kept for inspection; an operator deletes them);
 *      c'. read the bytes again under the claim: an upload that replaced them between the hash
 *         and the claim (and was answered 201) wins — the claim is given back, row verified;
 *      d. delete the row and every link to it, so clients get BLOB_UNKNOWN instead of wrong
 *         bytes, and a push of the right bytes stores them anew.
 *   The claim carries a token whose liveness lock the scrub holds (like a GC sweep's), so
 *   writers wait for it and `pallet gc` does not take it over while the scrub lives.
 */
import { randomUUID } from 'node:crypto';
import { Counter, type Registry } from 'prom-client';
import { Hasher, parseDigest } from '../base/digest.js';
import { isPalletError } from '../base/errors.js';
import type { Log } from '../base/log.js';
import { sweeperLock, type BlobKey, type GcStore } from '../metadata/gc-store.js';
import type { ScrubRow, ScrubStore } from '../metadata/scrub-store.js';
import type { StorageDriver } from '../storage/driver.js';
import { blobKey, quarantineKey } from '../storage/keys.js';

/** Blob rows read per database round trip. */
const BATCH = 200;

export type ScrubProblem = 'mismatch' | 'missing';
export type ScrubAction = 'reported' | 'quarantined' | 'skipped';

export interface ScrubFinding {
  rootSpaceId: string;
  digest: string;
  /** The size the row records. */
  size: number;
  problem: ScrubProblem;
  /** What the stored bytes hash to, and how many there are (mismatches). */
  computed?: string;
  storedSize?: number;
  action: ScrubAction;
  /** Where the bytes went (quarantined). */
  quarantineKey?: string;
  /** Links removed with the row (quarantined). */
  linksRemoved?: number;
}

export interface ScrubOptions {
  /** Quarantine mismatching bytes and remove their rows and links. */
  repair?: boolean;
  /** Only this root space; every one when omitted. */
  rootSpaceId?: string;
  /** Called after each batch and at the end. */
  onProgress?: (progress: ScrubProgress) => void;
  signal?: AbortSignal;
}

export interface ScrubProgress {
  checked: number;
  bytes: number;
  problems: number;
  done: boolean;
}

export interface ScrubReport {
  repair: boolean;
  /** Blob rows checked and bytes read. */
  checked: number;
  bytes: number;
  ok: number;
  /** Rows that matched and were not marked verified before. */
  newlyVerified: number;
  mismatched: number;
  missing: number;
  quarantined: number;
  skipped: number;
  findings: ScrubFinding[];
  durationMs: number;
}

export class Scrubber {
  private readonly counted: Counter<'result'>;

  constructor(
    private readonly store: ScrubStore,
    private readonly driver: StorageDriver,
    private readonly log: Log,
    metrics: Registry,
    /** The job locks of the blob protocol: a repair's claim is held like a sweep's. */
    private readonly locks: Pick<GcStore, 'withLock'>,
  ) {
    this.counted = new Counter({
      name: 'pallet_scrub_blobs_total',
      help: 'Blobs checked by scrub, by result (ok, mismatch, missing, quarantined, skipped)',
      labelNames: ['result'] as const,
      registers: [metrics],
    });
  }

  async run(options: ScrubOptions = {}): Promise<ScrubReport> {
    const started = Date.now();
    const repair = options.repair ?? false;
    const report: ScrubReport = {
      repair,
      checked: 0,
      bytes: 0,
      ok: 0,
      newlyVerified: 0,
      mismatched: 0,
      missing: 0,
      quarantined: 0,
      skipped: 0,
      findings: [],
      durationMs: 0,
    };
    const progress = (done: boolean): void =>
      options.onProgress?.({ checked: report.checked, bytes: report.bytes, problems: report.findings.length, done });
    let after: BlobKey | undefined;
    for (;;) {
      options.signal?.throwIfAborted();
      const page = await this.store.listBlobs({ limit: BATCH, ...(options.rootSpaceId ? { rootSpaceId: options.rootSpaceId } : {}), ...(after ? { after } : {}) });
      for (const row of page) await this.check(row, repair, report, options.signal);
      if (page.length > 0) {
        const last = page[page.length - 1]!;
        after = { rootSpaceId: last.rootSpaceId, digest: last.digest };
      }
      progress(page.length < BATCH);
      if (page.length < BATCH) break;
    }
    report.durationMs = Date.now() - started;
    this.log.info(
      { scrub: { ...report, findings: report.findings.length } },
      `scrub: checked ${report.checked} blobs, ${report.mismatched} mismatched, ${report.missing} missing`,
    );
    return report;
  }

  private async check(row: ScrubRow, repair: boolean, report: ScrubReport, signal?: AbortSignal): Promise<void> {
    report.checked++;
    const key = blobKey(row.rootSpaceId, row.digest);
    const stored = await this.hash(key, row.digest, signal);
    if (stored === undefined) {
      report.missing++;
      this.count('missing');
      report.findings.push({ rootSpaceId: row.rootSpaceId, digest: row.digest, size: row.size, problem: 'missing', action: 'reported' });
      this.log.warn({ scrub: { rootSpaceId: row.rootSpaceId, digest: row.digest } }, 'scrub: blob bytes are missing from storage');
      return;
    }
    report.bytes += stored.size;
    if (stored.digest === row.digest && stored.size === row.size) {
      report.ok++;
      this.count('ok');
      if (!row.verified && (await this.store.markVerified(row, row.size))) report.newlyVerified++;
      return;
    }
    report.mismatched++;
    this.count('mismatch');
    const finding: ScrubFinding = {
      rootSpaceId: row.rootSpaceId,
      digest: row.digest,
      size: row.size,
      problem: 'mismatch',
      computed: stored.digest,
      storedSize: stored.size,
      action: 'reported',
    };
    report.findings.push(finding);
    this.log.error({ scrub: finding }, 'scrub: stored bytes do not match their digest');
    if (repair) await this.quarantine(row, finding, report);
  }

  /** Step 4 a–e of the header. */
  private async quarantine(row: ScrubRow, finding: ScrubFinding, report: ScrubReport): Promise<void> {
    const token = `scrub:${randomUUID()}`;
    const repair = () => this.repair(row, finding, token);
    const outcome = (await this.locks.withLock(sweeperLock(token), repair))?.result;
    if (outcome === 'quarantined') {
      report.quarantined++;
      this.count('quarantined');
      this.log.warn({ scrub: finding }, 'scrub: quarantined a blob whose bytes do not match its digest');
      return;
    }
    finding.action = 'skipped';
    report.skipped++;
    this.count('skipped');
    this.log.warn({ scrub: finding }, 'scrub: an upload replaced the blob meanwhile; left to it (run scrub again to check)');
  }

  private async repair(row: ScrubRow, finding: ScrubFinding, token: string): Promise<'quarantined' | 'skipped'> {
    await this.store.markUnverified(row);
    if (!(await this.store.claimCorrupt(row, Date.now(), token))) return 'skipped';
    // The claim holds writers off from here on, but an upload may have replaced the bytes (and
    // been answered 201) between the hash above and the claim: read them again under the claim.
    const key = blobKey(row.rootSpaceId, row.digest);
    const now = await this.hash(key, row.digest);
    if (now && now.digest === row.digest && now.size === row.size) {
      await this.store.unclaimVerified(row, token);
      return 'skipped';
    }
    const to = quarantineKey(row.rootSpaceId, row.digest, Date.now());
    try {
      await this.driver.move(key, to);
      finding.quarantineKey = to;
    } catch (err) {
      if (!isPalletError(err, 'NOT_FOUND')) throw err;
    }
    finding.linksRemoved = await this.store.deleteClaimedWithLinks(row);
    finding.action = 'quarantined';
    return 'quarantined';
  }

  /** The digest (in the digest's algorithm) and size of the stored bytes; undefined when missing. */
  private async hash(key: string, digest: string, signal?: AbortSignal): Promise<{ digest: string; size: number } | undefined> {
    const hasher = new Hasher(parseDigest(digest).algorithm);
    let size = 0;
    try {
      const stream = await this.driver.read(key, signal ? { signal } : {});
      for await (const chunk of stream) {
        hasher.update(chunk as Buffer);
        size += (chunk as Buffer).length;
      }
    } catch (err) {
      if (isPalletError(err, 'NOT_FOUND')) return undefined;
      throw err;
    }
    return { digest: hasher.digest(), size };
  }

  private count(result: string): void {
    this.counted.inc({ result });
  }
}
