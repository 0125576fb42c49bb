/**
 * The upload-session rows of `SqlMetadataStore` (SQLite and PostgreSQL): creation with the
 * per-owner bound, the writer lease and the offset compare-and-set. Kept apart from the store's
 * other tables so the lease protocol reads in one place; `registry/blobs.ts` states it.
 *
 * Atomicity:
 * - the per-owner bound is one `INSERT … SELECT … WHERE (count) < max`; on PostgreSQL a
 *   transaction-scoped advisory lock on the owner serializes concurrent inserts (READ COMMITTED
 *   would let two see the same count); SQLite runs one write statement at a time.
 * - the lease is one conditional UPDATE (holder free, expired or already ours), so exactly one
 *   writer holds it whichever replica asks; the advance checks size *and* holder in its WHERE.
 */
import { sql } from 'kysely';
import type { Kysely, Selectable } from 'kysely';
import { PalletError } from '../base/errors.js';
import { guard, notFound } from './sql-errors.js';
import type { Database, Dialect, UploadsTable } from './schema.js';
import type { NewUpload, UploadLease, UploadRecord, UploadSegment } from './store.js';

/** First half of PostgreSQL advisory keys of the per-owner bound ("PALU"); the second is hashtext(owner). */
const PG_OWNER_LOCK = 0x50414c55;

export class SqlUploadSessions {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
  ) {}

  async create(input: NewUpload): Promise<UploadRecord> {
    const t = Date.now();
    const row: Selectable<UploadsTable> = {
      id: input.id,
      repository_id: input.repositoryId,
      root_space_id: input.rootSpaceId,
      size: 0,
      created_at: t,
      updated_at: t,
      lease_holder: null,
      lease_expires_at: null,
      segments: '[]',
      owner: input.owner ?? null,
    };
    const onViolation = {
      unique: () => new PalletError('ALREADY_EXISTS', `upload ${input.id} already exists`, { id: input.id }),
      foreignKey: () => notFound('repository', input.repositoryId),
    };
    const { owner, maxOpenPerOwner: max } = input;
    if (owner === undefined || max === undefined) {
      await guard(this.db.insertInto('uploads').values(row).execute(), onViolation);
      return toUpload(row);
    }
    const inserted = await guard(
      this.db.transaction().execute(async (trx) => {
        if (this.dialect === 'postgres') await sql`select pg_advisory_xact_lock(${PG_OWNER_LOCK}, hashtext(coalesce(current_schema(), '') || ':' || ${owner}))`.execute(trx);
        const result = await sql`insert into uploads (id, repository_id, root_space_id, size, created_at, updated_at, owner)
          select ${row.id}, ${row.repository_id}, ${row.root_space_id}, 0, cast(${t} as bigint), cast(${t} as bigint), ${owner}
          where (select count(*) from uploads where owner = ${owner}) < cast(${max} as bigint)`.execute(trx);
        return Number(result.numAffectedRows ?? 0n);
      }),
      onViolation,
    );
    if (inserted === 0) {
      throw new PalletError('TOOMANYREQUESTS', `${owner} already has ${max} open upload sessions`, { owner, limit: max });
    }
    return toUpload(row);
  }

  async find(id: string): Promise<UploadRecord | undefined> {
    const row = await this.db.selectFrom('uploads').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toUpload(row);
  }

  async acquireLease(id: string, holder: string, expiresAt: number, now: number): Promise<UploadRecord | undefined> {
    const row = await this.db
      .updateTable('uploads')
      .set({ lease_holder: holder, lease_expires_at: expiresAt })
      .where('id', '=', id)
      .where((eb) => eb.or([eb('lease_holder', 'is', null), eb('lease_holder', '=', holder), eb('lease_expires_at', '<', now)]))
      .returningAll()
      .executeTakeFirst();
    if (row) return toUpload(row);
    if ((await this.find(id)) === undefined) throw notFound('upload', id);
    return undefined;
  }

  async renewLease(id: string, holder: string, expiresAt: number): Promise<boolean> {
    const result = await this.db
      .updateTable('uploads')
      .set({ lease_expires_at: expiresAt, updated_at: Date.now() })
      .where('id', '=', id)
      .where('lease_holder', '=', holder)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async releaseLease(id: string, holder: string): Promise<void> {
    await this.db
      .updateTable('uploads')
      .set({ lease_holder: null, lease_expires_at: null })
      .where('id', '=', id)
      .where('lease_holder', '=', holder)
      .execute();
  }

  async advance(id: string, fromSize: number, toSize: number, lease?: UploadLease): Promise<boolean> {
    let update = this.db
      .updateTable('uploads')
      .set({
        size: toSize,
        updated_at: Date.now(),
        ...(lease ? { segments: JSON.stringify(lease.segments) } : {}),
        ...(lease && !lease.keep ? { lease_holder: null, lease_expires_at: null } : {}),
      })
      .where('id', '=', id)
      .where('size', '=', fromSize);
    if (lease) update = update.where('lease_holder', '=', lease.holder);
    const result = await update.executeTakeFirst();
    if (result.numUpdatedRows > 0n) return true;
    // Only the failure path pays for telling "moved by someone else" from "gone".
    if ((await this.find(id)) === undefined) throw notFound('upload', id);
    return false;
  }

  async delete(id: string): Promise<void> {
    const result = await this.db.deleteFrom('uploads').where('id', '=', id).executeTakeFirst();
    if (result.numDeletedRows === 0n) throw notFound('upload', id);
  }

  async listStale(before: number): Promise<UploadRecord[]> {
    const rows = await this.db
      .selectFrom('uploads')
      .selectAll()
      .where('updated_at', '<', before)
      .orderBy('updated_at')
      .orderBy('id')
      .execute();
    return rows.map(toUpload);
  }
}

function toUpload(r: Selectable<UploadsTable>): UploadRecord {
  return {
    id: r.id,
    repositoryId: r.repository_id,
    rootSpaceId: r.root_space_id,
    size: r.size,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    segments: parseSegments(r.segments),
    owner: r.owner,
  };
}

function parseSegments(text: string): UploadSegment[] {
  const value: unknown = JSON.parse(text);
  if (!Array.isArray(value)) return [];
  return value.filter(
    (s): s is UploadSegment => typeof s === 'object' && s !== null && typeof s.start === 'number' && typeof s.writer === 'string',
  );
}
