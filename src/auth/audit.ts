/**
 * The audit log: who did what and when, for every management action and every failed
 * authentication. Events never carry a secret (callers pass names and ids only). A failure to
 * write an event is logged and does not fail the action it describes.
 */
import type { AuditQuery, AuditRecord, IdentityStore, NewAuditEvent } from '../metadata/identity-store.js';

export interface AuditView {
  id: string;
  at: string;
  actor: string | null;
  action: string;
  target: string;
  outcome: 'success' | 'failure';
  address: string;
  details: Record<string, unknown>;
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
  };
}

export class AuditLog {
  constructor(
    private readonly store: IdentityStore,
    private readonly onError: (err: unknown) => void,
  ) {}

  async record(event: NewAuditEvent): Promise<void> {
    try {
      await this.store.appendAudit(event);
    } catch (err) {
      this.onError(err);
    }
  }

  async list(query: AuditQuery): Promise<{ items: AuditView[]; total: number }> {
    const { items, total } = await this.store.listAudit(query);
    return { items: items.map(toAuditView), total };
  }
}
