/**
 * `GcStore` over Kysely, for SQLite and PostgreSQL, beside the metadata store on the same
 * database.
 *
 * Row locking, which the blob protocol relies on (see `gc-store.ts` and `registry/gc.ts`):
 * - PostgreSQL (READ COMMITTED): `claimBlobs` first locks the candidate rows (`FOR UPDATE`),
 *   then re-checks the garbage conditions in a *second* statement, whose fresh snapshot sees
 *   every link, package file or reservation committed before the locks were granted. (One
 *   UPDATE with NOT EXISTS subqueries would not do: after waiting for a row lock, PostgreSQL
 *   re-checks only the row itself, with subqueries still on the old snapshot.) `reserveBlob`
 *   and the metadata store's `commitBlob` upsert the row, which takes the same lock, and refuse
 *   a claimed row; `PackageFileStore.putVersionFiles` reads it `FOR SHARE` and refuses a
 *   claimed row.
 * - SQLite: one writer at a time for the whole database, and a write statement works on the
 *   latest committed state, so each statement is already serialized with the others.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Kysely, RawBuilder, Transaction } from 'kysely';
import type { Database, Dialect } from './schema.js';
import type { BlobKey, BlobRow, GcCandidateQuery, GcStore, Reservation } from './gc-store.js';

/** Upper bound of keys per statement. */
const CHUNK = 400;
/**
 * First half of PostgreSQL advisory job-lock keys ("PALJ"); the second is the hash of the
 * current schema and the job's name, so deployments in other schemas of one database (and
 * parallel test runs) never block each other's jobs.
 */
const PG_JOB_LOCK = 0x50414c4a;
/** SQLite lease length and renewal period. */
const LEASE_MS = 60_000;
const RENEW_MS = 20_000;

type Db = Kysely<Database> | Transaction<Database>;

export class SqlGcStore implements GcStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
  ) {}

  /** The database's clock in milliseconds (see `gc-store.ts`). */
  #now(): RawBuilder<number> {
    return dbNow(this.dialect);
  }

  async reserveBlob(key: BlobKey, size: number, holder: string, ttlMs: number): Promise<Reservation> {
    return this.db.transaction().execute(async (trx) => {
      const now = this.#now();
      const row = await trx
        .insertInto('blobs')
        .values({ root_space_id: key.rootSpaceId, digest: key.digest, size, created_at: now })
        .onConflict((oc) =>
          oc
            .columns(['root_space_id', 'digest'])
            .doUpdateSet({ size: (eb) => eb.ref('blobs.size') })
            .where('blobs.deleting', '=', 0),
        )
        .returning('digest')
        .executeTakeFirst();
      if (row === undefined) {
        const claimed = await trx
          .selectFrom('blobs')
          .select('deleting_by')
          .where('root_space_id', '=', key.rootSpaceId)
          .where('digest', '=', key.digest)
          .executeTakeFirst();
        return { state: 'deleting', by: claimed?.deleting_by ?? null };
      }
      const expires = sql<number>`${now} + ${ttlMs}`;
      await trx
        .insertInto('blob_reservations')
        .values({ root_space_id: key.rootSpaceId, digest: key.digest, holder, expires_at: expires })
        .onConflict((oc) => oc.columns(['root_space_id', 'digest', 'holder']).doUpdateSet({ expires_at: expires }))
        .execute();
      return { state: 'reserved' };
    });
  }

  async releaseBlob(key: BlobKey, holder: string): Promise<void> {
    await this.db
      .deleteFrom('blob_reservations')
      .where('root_space_id', '=', key.rootSpaceId)
      .where('digest', '=', key.digest)
      .where('holder', '=', holder)
      .execute();
  }

  async touchLinks(repositoryId: string, digests: string[]): Promise<number> {
    let touched = 0;
    for (let i = 0; i < digests.length; i += CHUNK) {
      const result = await this.db
        .updateTable('repository_blobs')
        .set({ touched_at: this.#now() })
        .where('repository_id', '=', repositoryId)
        .where('digest', 'in', digests.slice(i, i + CHUNK))
        .executeTakeFirst();
      touched += Number(result.numUpdatedRows);
    }
    return touched;
  }

  async listGarbageBlobs(query: GcCandidateQuery): Promise<BlobRow[]> {
    const now = this.#now();
    const linked =
      query.deadLinksOlderThanMs === undefined
        ? sql`select 1 from repository_blobs rb where rb.root_space_id = b.root_space_id and rb.digest = b.digest`
        : sql`select 1 from repository_blobs rb where rb.root_space_id = b.root_space_id and rb.digest = b.digest
            and coalesce(rb.touched_at, rb.created_at) >= ${now} - ${query.deadLinksOlderThanMs}`;
    const { rows } = await sql<{ root_space_id: string; digest: string; size: number }>`
      select b.root_space_id, b.digest, b.size from blobs b
      where b.deleting = 0
        ${query.rootSpaceId === undefined ? sql`` : sql`and b.root_space_id = ${query.rootSpaceId}`}
        ${query.after === undefined ? sql`` : sql`and (b.root_space_id, b.digest) > (${query.after.rootSpaceId}, ${query.after.digest})`}
        and not exists (${linked})
        and not exists (${referenced(sql`b`)})
        and not exists (${packaged(sql`b`)})
        and not exists (${reserved(sql`b`, now)})
      order by b.root_space_id, b.digest
      limit ${query.limit}`.execute(this.db);
    return rows.map(toRow);
  }

  async claimBlobs(keys: BlobKey[], sweeper: string): Promise<BlobRow[]> {
    const out: BlobRow[] = [];
    for (let i = 0; i < keys.length; i += CHUNK) {
      const batch = sortKeys(keys.slice(i, i + CHUNK));
      const claimed = await this.db.transaction().execute(async (trx) => {
        if (this.dialect === 'postgres') {
          await sql`select 1 from blobs where (root_space_id, digest) in (${tuples(batch)}) and deleting = 0
            order by root_space_id, digest for update`.execute(trx);
        }
        const now = this.#now();
        const { rows } = await sql<{ root_space_id: string; digest: string; size: number }>`
          update blobs set deleting = 1, deleting_since = ${now}, deleting_by = ${sweeper}
          where (root_space_id, digest) in (${tuples(batch)})
            and deleting = 0
            and not exists (select 1 from repository_blobs rb where rb.root_space_id = blobs.root_space_id and rb.digest = blobs.digest)
            and not exists (${referenced(sql`blobs`)})
            and not exists (${packaged(sql`blobs`)})
            and not exists (${reserved(sql`blobs`, now)})
          returning root_space_id, digest, size`.execute(trx);
        return rows;
      });
      out.push(...claimed.map(toRow));
    }
    return out;
  }

  async ownedClaims(keys: BlobKey[], sweeper: string): Promise<BlobKey[]> {
    const out: BlobKey[] = [];
    for (let i = 0; i < keys.length; i += CHUNK) {
      const { rows } = await sql<{ root_space_id: string; digest: string }>`select root_space_id, digest from blobs
        where deleting = 1 and deleting_by = ${sweeper} and (root_space_id, digest) in (${tuples(keys.slice(i, i + CHUNK))})`.execute(this.db);
      out.push(...rows.map((r) => ({ rootSpaceId: r.root_space_id, digest: r.digest })));
    }
    return out;
  }

  async listClaimants(rootSpaceId?: string): Promise<Array<string | null>> {
    let query = this.db.selectFrom('blobs').select('deleting_by').distinct().where('deleting', '=', 1);
    if (rootSpaceId !== undefined) query = query.where('root_space_id', '=', rootSpaceId);
    return (await query.execute()).map((r) => r.deleting_by);
  }

  async listClaims(sweeper: string, rootSpaceId?: string): Promise<BlobRow[]> {
    let query = this.db
      .selectFrom('blobs')
      .select(['root_space_id', 'digest', 'size'])
      .where('deleting', '=', 1)
      .where('deleting_by', '=', sweeper);
    if (rootSpaceId !== undefined) query = query.where('root_space_id', '=', rootSpaceId);
    return (await query.orderBy('root_space_id').orderBy('digest').execute()).map(toRow);
  }

  async adoptLegacyClaims(to: string): Promise<number> {
    const result = await this.db
      .updateTable('blobs')
      .set({ deleting_by: to, deleting_since: this.#now() })
      .where('deleting', '=', 1)
      .where('deleting_by', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async claimUnrecorded(keys: BlobKey[], sweeper: string): Promise<BlobKey[]> {
    const out: BlobKey[] = [];
    for (let i = 0; i < keys.length; i += CHUNK) {
      const now = this.#now();
      const rows = await this.db
        .insertInto('blobs')
        .values(
          keys.slice(i, i + CHUNK).map((k) => ({
            root_space_id: k.rootSpaceId,
            digest: k.digest,
            size: 0,
            created_at: now,
            deleting: 1,
            deleting_since: now,
            deleting_by: sweeper,
          })),
        )
        .onConflict((oc) => oc.columns(['root_space_id', 'digest']).doNothing())
        .returning(['root_space_id', 'digest'])
        .execute();
      out.push(...rows.map((r) => ({ rootSpaceId: r.root_space_id, digest: r.digest })));
    }
    return out;
  }

  async deleteClaimed(keys: BlobKey[], sweeper: string): Promise<void> {
    for (let i = 0; i < keys.length; i += CHUNK) {
      await sql`delete from blobs where deleting = 1 and deleting_by = ${sweeper}
        and (root_space_id, digest) in (${tuples(keys.slice(i, i + CHUNK))})`.execute(this.db);
    }
  }

  async sweepDeadLinks(graceMs: number, dryRun: boolean): Promise<number> {
    const now = this.#now();
    const dead = sql`coalesce(touched_at, created_at) < ${now} - ${graceMs}
      and not exists (select 1 from manifest_references r join manifests m on m.id = r.manifest_id
        where m.repository_id = repository_blobs.repository_id and r.digest = repository_blobs.digest)
      and not exists (select 1 from package_files pf
        where pf.repository_id = repository_blobs.repository_id and pf.digest = repository_blobs.digest)
      and not exists (${reserved(sql`repository_blobs`, now)})`;
    if (dryRun) {
      const { rows } = await sql<{ n: number }>`select count(*) as n from repository_blobs where ${dead}`.execute(this.db);
      return Number(rows[0]?.n ?? 0);
    }
    const result = await sql`delete from repository_blobs where ${dead}`.execute(this.db);
    return Number(result.numAffectedRows ?? 0n);
  }

  async deleteExpiredReservations(): Promise<number> {
    const blobs = await this.db.deleteFrom('blob_reservations').where('expires_at', '<', this.#now()).executeTakeFirst();
    const quotas = await this.db.deleteFrom('quota_reservations').where('expires_at', '<', this.#now()).executeTakeFirst();
    return Number(blobs.numDeletedRows + quotas.numDeletedRows);
  }

  async existingBlobs(keys: BlobKey[]): Promise<Set<string>> {
    const out = new Set<string>();
    for (let i = 0; i < keys.length; i += CHUNK) {
      const { rows } = await sql<{ root_space_id: string; digest: string }>`select root_space_id, digest from blobs
        where (root_space_id, digest) in (${tuples(keys.slice(i, i + CHUNK))})`.execute(this.db);
      for (const r of rows) out.add(`${r.root_space_id}/${r.digest}`);
    }
    return out;
  }

  async existingUploads(ids: string[]): Promise<Set<string>> {
    const out = new Set<string>();
    for (let i = 0; i < ids.length; i += CHUNK) {
      const rows = await this.db.selectFrom('uploads').select('id').where('id', 'in', ids.slice(i, i + CHUNK)).execute();
      for (const r of rows) out.add(r.id);
    }
    return out;
  }

  async withLock<T>(name: string, job: () => Promise<T>): Promise<{ result: T } | undefined> {
    if (this.dialect === 'postgres') {
      // The lock belongs to this one pooled connection, held (idle) while the job uses others.
      return this.db.connection().execute(async (conn) => {
        const { rows } = await sql<{ locked: boolean }>`select pg_try_advisory_lock(${PG_JOB_LOCK}, hashtext(coalesce(current_schema(), '') || ':' || ${name})) as locked`.execute(conn);
        if (rows[0]?.locked !== true) return undefined;
        try {
          return { result: await job() };
        } finally {
          await sql`select pg_advisory_unlock(${PG_JOB_LOCK}, hashtext(coalesce(current_schema(), '') || ':' || ${name}))`.execute(conn);
        }
      });
    }
    const holder = randomUUID();
    if (!(await this.#takeLease(this.db, name, holder))) return undefined;
    const renew = setInterval(() => {
      void this.db
        .updateTable('job_leases')
        .set({ expires_at: Date.now() + LEASE_MS })
        .where('name', '=', name)
        .where('holder', '=', holder)
        .execute()
        .catch(() => undefined);
    }, RENEW_MS);
    renew.unref();
    try {
      return { result: await job() };
    } finally {
      clearInterval(renew);
      await this.db.deleteFrom('job_leases').where('name', '=', name).where('holder', '=', holder).execute();
    }
  }

  async #takeLease(db: Db, name: string, holder: string): Promise<boolean> {
    const now = Date.now();
    const row = await db
      .insertInto('job_leases')
      .values({ name, holder, expires_at: now + LEASE_MS })
      .onConflict((oc) =>
        oc
          .column('name')
          .doUpdateSet({ holder, expires_at: now + LEASE_MS })
          .where('job_leases.expires_at', '<', now),
      )
      .returning('holder')
      .executeTakeFirst();
    return row?.holder === holder;
  }
}

/** Some manifest of the blob's root space references its digest. */
function referenced(blob: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`select 1 from manifest_references r
    join manifests m on m.id = r.manifest_id
    join repositories rep on rep.id = m.repository_id
    join registries reg on reg.id = rep.registry_id
    where r.digest = ${blob}.digest and reg.root_space_id = ${blob}.root_space_id`;
}

/** Some package file of a registry in the blob's root space references it (see `package-file-store.ts`). */
function packaged(blob: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`select 1 from package_files pf where pf.root_space_id = ${blob}.root_space_id and pf.digest = ${blob}.digest`;
}

/**
 * The database's clock in milliseconds since the epoch. PostgreSQL: `clock_timestamp()`, one
 * clock for every replica. SQLite is embedded: every process that opens the file runs on this
 * machine, so its clock is the database's.
 */
export function dbNow(dialect: Dialect): RawBuilder<number> {
  return dialect === 'postgres' ? sql<number>`(floor(extract(epoch from clock_timestamp()) * 1000))::bigint` : sql<number>`${Date.now()}`;
}

/** A writer holds an unexpired reservation of the blob. */
function reserved(blob: RawBuilder<unknown>, now: RawBuilder<number>): RawBuilder<unknown> {
  return sql`select 1 from blob_reservations br
    where br.root_space_id = ${blob}.root_space_id and br.digest = ${blob}.digest and br.expires_at > ${now}`;
}

function tuples(keys: BlobKey[]): RawBuilder<unknown> {
  return sql.join(keys.map((k) => sql`(${k.rootSpaceId}, ${k.digest})`));
}

/** Lock order for PostgreSQL: always by key, so two claimers never deadlock. */
function sortKeys(keys: BlobKey[]): BlobKey[] {
  return [...keys].sort((a, b) => (a.rootSpaceId === b.rootSpaceId ? cmp(a.digest, b.digest) : cmp(a.rootSpaceId, b.rootSpaceId)));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function toRow(r: { root_space_id: string; digest: string; size: number }): BlobRow {
  return { rootSpaceId: r.root_space_id, digest: r.digest, size: Number(r.size) };
}
