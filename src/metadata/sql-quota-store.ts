/**
 * `QuotaStore` over Kysely, for SQLite and PostgreSQL. `reserve` runs in one transaction that
 * first locks the quota rows that cover the repository (PostgreSQL `FOR UPDATE`; SQLite has one
 * writer at a time, and the transaction starts with a write so it holds the lock throughout),
 * then reads usage and reservations with fresh statements, then inserts its reservations.
 */
import { sql } from 'kysely';
import type { Kysely, RawBuilder, Transaction } from 'kysely';
import { dbNow } from './sql-gc-store.js';
import type { Database, Dialect } from './schema.js';
import type { QuotaExceeded, QuotaReservation, QuotaScope, QuotaStore } from './quota-store.js';

type Db = Kysely<Database> | Transaction<Database>;

export class SqlQuotaStore implements QuotaStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
  ) {}

  async setQuota(scope: QuotaScope, scopeId: string, quotaBytes: number | null): Promise<void> {
    if (quotaBytes === null) {
      await this.db.deleteFrom('quotas').where('scope', '=', scope).where('scope_id', '=', scopeId).execute();
      return;
    }
    const t = Date.now();
    await this.db
      .insertInto('quotas')
      .values({ scope, scope_id: scopeId, quota_bytes: quotaBytes, updated_at: t })
      .onConflict((oc) => oc.columns(['scope', 'scope_id']).doUpdateSet({ quota_bytes: quotaBytes, updated_at: t }))
      .execute();
  }

  async findQuota(scope: QuotaScope, scopeId: string): Promise<number | undefined> {
    const row = await this.db
      .selectFrom('quotas')
      .select('quota_bytes')
      .where('scope', '=', scope)
      .where('scope_id', '=', scopeId)
      .executeTakeFirst();
    return row === undefined ? undefined : Number(row.quota_bytes);
  }

  async usage(scope: QuotaScope, scopeId: string): Promise<number> {
    return usageOf(this.db, scope, scopeId);
  }

  async reserve(repositoryId: string, bytes: number, holder: string, ttlMs: number, digest?: string): Promise<QuotaReservation> {
    // Which quotas cover the repository: its registry's and those of its space and the spaces above.
    const { rows: covering } = await sql<{ scope: QuotaScope; scope_id: string; registry_id: string }>`
      select q.scope, q.scope_id, reg.id as registry_id
      from repositories rep
      join registries reg on reg.id = rep.registry_id
      join spaces sp on sp.id = reg.space_id
      join quotas q on (q.scope = 'registry' and q.scope_id = reg.id)
        or (q.scope = 'space' and q.scope_id in (
          select anc.id from spaces anc where anc.path = sp.path or ${startsWith(sql`sp.path`, sql`anc.path || '/'`)}))
      where rep.id = ${repositoryId}
      order by q.scope, q.scope_id`.execute(this.db);
    if (covering.length === 0 || bytes <= 0) return { ok: true };
    const registryId = covering[0]!.registry_id;
    return this.db.transaction().execute(async (trx) => {
      const now = dbNow(this.dialect);
      // Lock the quota rows first (in a stable order); SQLite: this write takes the database lock.
      if (this.dialect === 'postgres') {
        await sql`select 1 from quotas where ${sql.join(covering.map((c) => sql`(scope = ${c.scope} and scope_id = ${c.scope_id})`), sql` or `)}
          order by scope, scope_id for update`.execute(trx);
      } else {
        await trx.deleteFrom('quota_reservations').where('expires_at', '<', 0).execute();
      }
      // A digest the registry links (or another push has reserved) adds nothing now.
      const free = digest !== undefined && ((await linkedIn(trx, registryId, digest)) || (await reservedIn(trx, registryId, digest, now)));
      if (!free) {
        for (const c of covering) {
          const exceeded = await this.#exceeds(trx, c, bytes, now);
          if (exceeded) return { ok: false, exceeded } as const;
        }
      }
      const expires = sql<number>`${now} + ${ttlMs}`;
      await trx
        .insertInto('quota_reservations')
        .values(
          covering.map((c, i) => ({
            id: `${holder}#${i}`,
            scope: c.scope,
            scope_id: c.scope_id,
            bytes,
            expires_at: expires,
            registry_id: digest === undefined ? null : registryId,
            digest: digest ?? null,
          })),
        )
        .execute();
      return { ok: true } as const;
    });
  }

  async #exceeds(trx: Db, c: { scope: QuotaScope; scope_id: string }, bytes: number, now: RawBuilder<number>): Promise<QuotaExceeded | undefined> {
    const quota = await trx.selectFrom('quotas').select('quota_bytes').where('scope', '=', c.scope).where('scope_id', '=', c.scope_id).executeTakeFirst();
    if (quota === undefined) return undefined;
    // Reservations first, committed usage second: on PostgreSQL (READ COMMITTED) each statement
    // sees its own snapshot and commits do not take the quota lock, so a blob linked between
    // the two would, in the other order, be in neither (its reservation no longer counts once
    // linked) and the quota overshoots. In this order it is counted at least once.
    const promised = await reservedBytes(trx, c.scope, c.scope_id, now);
    const usage = (await usageOf(trx, c.scope, c.scope_id)) + promised;
    const quotaBytes = Number(quota.quota_bytes);
    if (usage + bytes <= quotaBytes) return undefined;
    return { scope: c.scope, scopeId: c.scope_id, quotaBytes, usageBytes: usage, requestedBytes: bytes };
  }

  async release(holder: string): Promise<void> {
    await this.db.deleteFrom('quota_reservations').where('id', 'like', `${holder}#%`).execute();
  }
}

/** The registry links the digest. */
async function linkedIn(db: Db, registryId: string, digest: string): Promise<boolean> {
  const { rows } = await sql<{ one: number }>`select 1 as one from repository_blobs rb
    join repositories r on r.id = rb.repository_id
    where r.registry_id = ${registryId} and rb.digest = ${digest} limit 1`.execute(db);
  return rows.length > 0;
}

/** Another push into the registry holds an unexpired reservation of the digest. */
async function reservedIn(db: Db, registryId: string, digest: string, now: RawBuilder<number>): Promise<boolean> {
  const { rows } = await sql<{ one: number }>`select 1 as one from quota_reservations
    where registry_id = ${registryId} and digest = ${digest} and expires_at > ${now} limit 1`.execute(db);
  return rows.length > 0;
}

/**
 * Bytes promised to pushes in flight in one scope: every unexpired manifest reservation, and
 * each blob digest once per registry, only while that registry does not link it (once linked,
 * its bytes are in the committed usage).
 */
async function reservedBytes(db: Db, scope: QuotaScope, scopeId: string, now: RawBuilder<number>): Promise<number> {
  const { rows } = await sql<{ n: number | string | null }>`
    select coalesce(sum(n), 0) as n from (
      select bytes as n from quota_reservations
        where scope = ${scope} and scope_id = ${scopeId} and expires_at > ${now} and digest is null
      union all
      select max(qr.bytes) as n from quota_reservations qr
        where qr.scope = ${scope} and qr.scope_id = ${scopeId} and qr.expires_at > ${now} and qr.digest is not null
          and not exists (select 1 from repository_blobs rb join repositories r on r.id = rb.repository_id
            where r.registry_id = qr.registry_id and rb.digest = qr.digest)
        group by qr.registry_id, qr.digest
    ) promised`.execute(db);
  return Number(rows[0]?.n ?? 0);
}

/** `text` starts with `prefix`, without LIKE's wildcards getting in the way. */
function startsWith(text: ReturnType<typeof sql>, prefix: ReturnType<typeof sql>): ReturnType<typeof sql> {
  return sql`substr(${text}, 1, length(${prefix})) = ${prefix}`;
}

async function usageOf(db: Db, scope: QuotaScope, scopeId: string): Promise<number> {
  const registries =
    scope === 'registry'
      ? sql`select ${scopeId} as id`
      : sql`select reg.id from registries reg join spaces sp on sp.id = reg.space_id
          where sp.id = ${scopeId} or ${startsWith(sql`sp.path`, sql`(select s.path from spaces s where s.id = ${scopeId}) || '/'`)}`;
  const { rows } = await sql<{ blob_bytes: number | null; manifest_bytes: number | null }>`
    select
      (select sum(bl.size) from (
         select distinct rep.registry_id, rb.root_space_id, rb.digest
         from repository_blobs rb join repositories rep on rep.id = rb.repository_id
         where rep.registry_id in (${registries})
       ) d join blobs bl on bl.root_space_id = d.root_space_id and bl.digest = d.digest) as blob_bytes,
      (select sum(ma.size) from manifests ma join repositories rep on rep.id = ma.repository_id
         where rep.registry_id in (${registries})) as manifest_bytes`.execute(db);
  const row = rows[0];
  return Number(row?.blob_bytes ?? 0) + Number(row?.manifest_bytes ?? 0);
}
