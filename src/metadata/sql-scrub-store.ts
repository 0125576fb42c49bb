/**
 * `ScrubStore` over Kysely, for SQLite and PostgreSQL. Row locking as in `sql-gc-store.ts`:
 * on PostgreSQL `claimCorrupt` locks the row (`FOR UPDATE`) and re-checks the conditions in a
 * second statement, whose snapshot sees every reservation committed before the lock was
 * granted; on SQLite each write statement already runs alone.
 */
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import type { Database, Dialect } from './schema.js';
import type { BlobKey } from './gc-store.js';
import type { ScrubRow, ScrubStore } from './scrub-store.js';

export class SqlScrubStore implements ScrubStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
  ) {}

  async listBlobs(query: { rootSpaceId?: string; after?: BlobKey; limit: number }): Promise<ScrubRow[]> {
    const { rows } = await sql<{ root_space_id: string; digest: string; size: number; verified: number }>`
      select root_space_id, digest, size, verified from blobs
      where deleting = 0
        ${query.rootSpaceId === undefined ? sql`` : sql`and root_space_id = ${query.rootSpaceId}`}
        ${query.after === undefined ? sql`` : sql`and (root_space_id, digest) > (${query.after.rootSpaceId}, ${query.after.digest})`}
      order by root_space_id, digest
      limit ${query.limit}`.execute(this.db);
    return rows.map((r) => ({ rootSpaceId: r.root_space_id, digest: r.digest, size: Number(r.size), verified: Number(r.verified) === 1 }));
  }

  async markVerified(key: BlobKey, size: number): Promise<boolean> {
    const result = await this.db
      .updateTable('blobs')
      .set({ verified: 1 })
      .where('root_space_id', '=', key.rootSpaceId)
      .where('digest', '=', key.digest)
      .where('size', '=', size)
      .where('deleting', '=', 0)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async markUnverified(key: BlobKey): Promise<boolean> {
    const result = await this.db
      .updateTable('blobs')
      .set({ verified: 0 })
      .where('root_space_id', '=', key.rootSpaceId)
      .where('digest', '=', key.digest)
      .where('verified', '=', 1)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async unclaimVerified(key: BlobKey, by: string): Promise<boolean> {
    const result = await this.db
      .updateTable('blobs')
      .set({ deleting: 0, deleting_since: null, deleting_by: null, verified: 1 })
      .where('root_space_id', '=', key.rootSpaceId)
      .where('digest', '=', key.digest)
      .where('deleting', '=', 1)
      .where('deleting_by', '=', by)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async claimCorrupt(key: BlobKey, now: number, by: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      if (this.dialect === 'postgres') {
        await sql`select 1 from blobs where root_space_id = ${key.rootSpaceId} and digest = ${key.digest} for update`.execute(trx);
      }
      const result = await sql`update blobs set deleting = 1, deleting_since = ${now}, deleting_by = ${by}
        where root_space_id = ${key.rootSpaceId} and digest = ${key.digest}
          and deleting = 0 and verified = 0
          and not exists (select 1 from blob_reservations br
            where br.root_space_id = blobs.root_space_id and br.digest = blobs.digest and br.expires_at > ${now})`.execute(trx);
      return Number(result.numAffectedRows ?? 0n) > 0;
    });
  }

  async deleteClaimedWithLinks(key: BlobKey): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      const claimed = await trx
        .selectFrom('blobs')
        .select('digest')
        .where('root_space_id', '=', key.rootSpaceId)
        .where('digest', '=', key.digest)
        .where('deleting', '=', 1)
        .executeTakeFirst();
      if (!claimed) return 0;
      const links = await trx
        .deleteFrom('repository_blobs')
        .where('root_space_id', '=', key.rootSpaceId)
        .where('digest', '=', key.digest)
        .executeTakeFirst();
      await trx.deleteFrom('blobs').where('root_space_id', '=', key.rootSpaceId).where('digest', '=', key.digest).execute();
      return Number(links.numDeletedRows);
    });
  }
}
