/**
 * The audit log: who did what and when, for every management action and every failed
 * authentication. Events never carry a secret (callers pass names and ids only). A failure to
 * write an event is logged and does not fail the action it describes.
 *
 * Bounded, since anonymous callers can cause events (failed logins, refused requests):
 * - every text field is cut to AUDIT_FIELD_CHARS (128) characters, ending in TRUNCATED, and
 *   details keep at most 16 keys of short values;
 * - a failure repeated within a minute (same action, actor, target, address and details) is
 *   counted in the first one's row (`count`) instead of adding a row;
 * - a background job, one replica at a time (job lock `audit-retention`), deletes events older
 *   than `audit.retentionDays` and the oldest beyond `audit.maxRows`, hourly.
 */
import type { Config } from '../config/config.js';
import type { GcStore } from '../metadata/gc-store.js';
import type { AuditQuery, AuditRecord, IdentityStore, NewAuditEvent } from '../metadata/identity-store.js';

export type AuditSettings = Config['audit'];
/** Runs a job on one replica at a time (the GC store's job leases). */
export type JobLocks = Pick<GcStore, 'withLock'>;

export const AUDIT_FIELD_CHARS = 128;
export const TRUNCATED = '…[truncated]';
const MAX_DETAIL_KEYS = 16;
const COALESCE_MS = 60_000;
const RETENTION_INTERVAL_MS = 3600_000;
const DAY_MS = 24 * 3600_000;

export interface AuditView {
  id: string;
  at: string;
  actor: string | null;
  action: string;
  target: string;
  outcome: 'success' | 'failure';
  address: string;
  details: Record<string, unknown>;
  /** How many times it happened (repeated failures share a row). */
  count: number;
  lastAt: string;
}

export function toAuditView(r: AuditRecord): AuditView {
  return {
    id: r.id,
    at: new Date(r.at).toISOString(),
    actor: r.actor,
    action: r.action,
    target: r.target,
    outcome: r.outcome,
    address: r.address,
    details: r.details,
    count: r.count,
    lastAt: new Date(r.lastAt).toISOString(),
  };
}

/** Cuts a field to `max` characters, marking the cut. */
export function capField(value: string, max = AUDIT_FIELD_CHARS): string {
  return value.length <= max ? value : `${value.slice(0, max)}${TRUNCATED}`;
}

function capDetails(details: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(details).slice(0, MAX_DETAIL_KEYS)) {
    const short = capField(key, 64);
    if (value === null || typeof value === 'number' || typeof value === 'boolean') out[short] = value;
    else out[short] = capField(typeof value === 'string' ? value : JSON.stringify(value) ?? String(value));
  }
  return out;
}

/** The event with every field within its cap. */
export function capEvent(event: NewAuditEvent): NewAuditEvent {
  return {
    actor: event.actor === null ? null : capField(event.actor),
    action: capField(event.action, 64),
    target: capField(event.target),
    outcome: event.outcome,
    address: capField(event.address, 64),
    details: capDetails(event.details),
  };
}

export class AuditLog {
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: IdentityStore,
    private readonly onError: (err: unknown) => void,
  ) {}

  async record(event: NewAuditEvent): Promise<void> {
    try {
      await this.store.appendAudit(capEvent(event), event.outcome === 'failure' ? { coalesceMs: COALESCE_MS } : {});
    } catch (err) {
      this.onError(err);
    }
  }

  async list(query: AuditQuery): Promise<{ items: AuditView[]; total: number }> {
    const { items, total } = await this.store.listAudit(query);
    return { items: items.map(toAuditView), total };
  }

  /**
   * Deletes what the settings no longer keep; the number of rows deleted, or undefined when
   * another replica holds the job lock.
   */
  async prune(settings: AuditSettings, locks?: JobLocks, now = Date.now()): Promise<number | undefined> {
    const before = settings.retentionDays > 0 ? now - settings.retentionDays * DAY_MS : 0;
    const job = (): Promise<number> => this.store.pruneAudit(before, Math.max(0, settings.maxRows));
    if (!locks) return job();
    return (await locks.withLock('audit-retention', job))?.result;
  }

  /** Prunes hourly in the background (nothing to do when both limits are 0). */
  startRetention(settings: AuditSettings, locks?: JobLocks, intervalMs = RETENTION_INTERVAL_MS): void {
    if (settings.retentionDays <= 0 && settings.maxRows <= 0) return;
    this.#timer = setInterval(() => {
      this.prune(settings, locks).catch(this.onError);
    }, intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
