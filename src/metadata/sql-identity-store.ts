/**
 * `IdentityStore` over Kysely, for SQLite and PostgreSQL, built over the same Kysely instance
 * as `SqlMetadataStore` (which owns the connection: this store has no `close`). Same contracts
 * as the metadata store: unique violations become ALREADY_EXISTS, a foreign-key violation on
 * insert means a referenced row is missing (NOT_FOUND).
 *
 * Hot path: `findAccessTokenByHash` and `listMemberships` are one indexed query each, and the
 * auth domain caches both for a few seconds.
 */
import { guard, notFound } from './sql-errors.js';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import { PalletError } from '../base/errors.js';
import type {
  AccessTokenRecord,
  AppendAuditOptions,
  AuditQuery,
  AuditRecord,
  IdentityStore,
  MemberRecord,
  MemberRole,
  MembershipRecord,
  NewAccessToken,
  NewAuditEvent,
  NewUser,
  SessionRecord,
  SigningKeyRecord,
  UserPatch,
  UserRecord,
} from './identity-store.js';
import type { AccessTokensTable, AuditEventsTable, Database, Dialect, SigningKeysTable, UsersTable } from './schema.js';

export class SqlIdentityStore implements IdentityStore {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>, _dialect: Dialect) {
    this.#db = db;
  }

  // Users ----------------------------------------------------------------------------------

  async createUser(input: NewUser): Promise<UserRecord> {
    const t = Date.now();
    const row: Selectable<UsersTable> = {
      id: randomUUID(),
      username: input.username,
      password_hash: input.passwordHash,
      email: input.email,
      admin: input.admin ? 1 : 0,
      disabled: 0,
      created_at: t,
      updated_at: t,
      last_login_at: null,
    };
    await guard(this.#db.insertInto('users').values(row).execute(), {
      unique: () => new PalletError('ALREADY_EXISTS', `user ${input.username} already exists`, { username: input.username }),
    });
    return toUser(row);
  }

  async findUser(username: string): Promise<UserRecord | undefined> {
    const row = await this.#db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
    return row && toUser(row);
  }

  async findUserById(id: string): Promise<UserRecord | undefined> {
    const row = await this.#db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toUser(row);
  }

  async listUsers(): Promise<UserRecord[]> {
    const rows = await this.#db.selectFrom('users').selectAll().orderBy('username').execute();
    return rows.map(toUser);
  }

  async countUsers(): Promise<number> {
    const row = await this.#db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async updateUser(id: string, patch: UserPatch): Promise<UserRecord> {
    const row = await this.#db
      .updateTable('users')
      .set({
        updated_at: Date.now(),
        ...(patch.passwordHash !== undefined ? { password_hash: patch.passwordHash } : {}),
        ...(patch.email !== undefined ? { email: patch.email } : {}),
        ...(patch.admin !== undefined ? { admin: patch.admin ? 1 : 0 } : {}),
        ...(patch.disabled !== undefined ? { disabled: patch.disabled ? 1 : 0 } : {}),
        ...(patch.lastLoginAt !== undefined ? { last_login_at: patch.lastLoginAt } : {}),
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    if (!row) throw notFound('user', id);
    return toUser(row);
  }

  async deleteUser(id: string): Promise<boolean> {
    // Children go by ON DELETE CASCADE (tokens, memberships, sessions).
    const result = await this.#db.deleteFrom('users').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  // Access tokens --------------------------------------------------------------------------

  async createAccessToken(input: NewAccessToken): Promise<AccessTokenRecord> {
    const row: Selectable<AccessTokensTable> = {
      id: randomUUID(),
      user_id: input.userId,
      name: input.name,
      token_hash: input.tokenHash,
      scopes: JSON.stringify(input.scopes),
      space_id: input.spaceId,
      registry_id: input.registryId,
      created_at: Date.now(),
      expires_at: input.expiresAt,
      last_used_at: null,
    };
    await guard(this.#db.insertInto('access_tokens').values(row).execute(), {
      unique: () => new PalletError('ALREADY_EXISTS', 'an access token with this hash already exists'),
      foreignKey: () => notFound('user', input.userId),
    });
    return toToken(row);
  }

  async findAccessTokenByHash(tokenHash: string): Promise<AccessTokenRecord | undefined> {
    const row = await this.#db.selectFrom('access_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
    return row && toToken(row);
  }

  async listAccessTokens(userId: string): Promise<AccessTokenRecord[]> {
    const rows = await this.#db
      .selectFrom('access_tokens')
      .selectAll()
      .where('user_id', '=', userId)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(toToken);
  }

  async deleteAccessToken(userId: string, id: string): Promise<boolean> {
    const result = await this.#db.deleteFrom('access_tokens').where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async touchAccessTokens(uses: ReadonlyArray<readonly [id: string, at: number]>): Promise<void> {
    if (uses.length === 0) return;
    await this.#db.transaction().execute(async (trx) => {
      for (const [id, at] of uses) {
        await trx.updateTable('access_tokens').set({ last_used_at: at }).where('id', '=', id).execute();
      }
    });
  }

  // Space members --------------------------------------------------------------------------

  async setMember(spaceId: string, userId: string, role: MemberRole): Promise<MemberRecord> {
    const t = Date.now();
    await guard(
      this.#db
        .insertInto('space_members')
        .values({ space_id: spaceId, user_id: userId, role, created_at: t, updated_at: t })
        .onConflict((oc) => oc.columns(['space_id', 'user_id']).doUpdateSet({ role, updated_at: t }))
        .execute(),
      { foreignKey: () => new PalletError('NOT_FOUND', 'the space or the user does not exist', { spaceId, userId }) },
    );
    const row = await this.#memberQuery().where('m.space_id', '=', spaceId).where('m.user_id', '=', userId).executeTakeFirst();
    if (!row) throw new PalletError('NOT_FOUND', 'the space or the user does not exist', { spaceId, userId });
    return toMember(row);
  }

  async removeMember(spaceId: string, userId: string): Promise<boolean> {
    const result = await this.#db
      .deleteFrom('space_members')
      .where('space_id', '=', spaceId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async listMembers(spaceId: string): Promise<MemberRecord[]> {
    const rows = await this.#memberQuery().where('m.space_id', '=', spaceId).orderBy('u.username').execute();
    return rows.map(toMember);
  }

  async listMemberships(userId: string): Promise<MembershipRecord[]> {
    const rows = await this.#db
      .selectFrom('space_members')
      .select(['space_id', 'role'])
      .where('user_id', '=', userId)
      .orderBy('space_id')
      .execute();
    return rows.map((r) => ({ spaceId: r.space_id, role: r.role as MemberRole }));
  }

  #memberQuery() {
    return this.#db
      .selectFrom('space_members as m')
      .innerJoin('users as u', 'u.id', 'm.user_id')
      .select(['m.space_id', 'm.user_id', 'u.username', 'm.role', 'm.created_at', 'm.updated_at']);
  }

  // Web sessions ---------------------------------------------------------------------------

  async createSession(session: SessionRecord): Promise<void> {
    await guard(
      this.#db
        .insertInto('sessions')
        .values({
          id_hash: session.idHash,
          user_id: session.userId,
          csrf_hash: session.csrfHash,
          created_at: session.createdAt,
          expires_at: session.expiresAt,
        })
        .execute(),
      {
        unique: () => new PalletError('ALREADY_EXISTS', 'a session with this id already exists'),
        foreignKey: () => notFound('user', session.userId),
      },
    );
  }

  async findSession(idHash: string): Promise<SessionRecord | undefined> {
    const row = await this.#db.selectFrom('sessions').selectAll().where('id_hash', '=', idHash).executeTakeFirst();
    return (
      row && {
        idHash: row.id_hash,
        userId: row.user_id,
        csrfHash: row.csrf_hash,
        createdAt: Number(row.created_at),
        expiresAt: Number(row.expires_at),
      }
    );
  }

  async deleteSession(idHash: string): Promise<boolean> {
    const result = await this.#db.deleteFrom('sessions').where('id_hash', '=', idHash).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async deleteUserSessions(userId: string): Promise<number> {
    const result = await this.#db.deleteFrom('sessions').where('user_id', '=', userId).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async deleteExpiredSessions(before: number): Promise<number> {
    const result = await this.#db.deleteFrom('sessions').where('expires_at', '<', before).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  // Signing keys ---------------------------------------------------------------------------

  async ensureSigningKey(candidate: SigningKeyRecord): Promise<SigningKeyRecord> {
    await this.#db
      .insertInto('signing_keys')
      .values({
        name: candidate.name,
        kid: candidate.kid,
        algorithm: candidate.algorithm,
        private_jwk: candidate.privateJwk,
        public_jwk: candidate.publicJwk,
        created_at: candidate.createdAt,
      })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    const row = await this.#db.selectFrom('signing_keys').selectAll().where('name', '=', candidate.name).executeTakeFirstOrThrow();
    return toSigningKey(row);
  }

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    const rows = await this.#db.selectFrom('signing_keys').selectAll().orderBy('name').execute();
    return rows.map(toSigningKey);
  }

  // Audit log ------------------------------------------------------------------------------

  async appendAudit(event: NewAuditEvent, options: AppendAuditOptions = {}): Promise<AuditRecord> {
    const at = Date.now();
    const details = JSON.stringify(event.details);
    if (options.coalesceMs !== undefined && options.coalesceMs > 0) {
      // One statement: count this occurrence in the newest matching row of the window, if any.
      const latest = this.#db
        .selectFrom('audit_events')
        .select('id')
        .where('address', '=', event.address)
        .where('at', '>', at - options.coalesceMs)
        .where('action', '=', event.action)
        .where('target', '=', event.target)
        .where('outcome', '=', event.outcome)
        .where('details', '=', details)
        .where('actor', event.actor === null ? 'is' : '=', event.actor)
        .orderBy('at', 'desc')
        .limit(1);
      const updated = await this.#db
        .updateTable('audit_events')
        .set((eb) => ({ count: eb('count', '+', 1), last_at: at }))
        .where('id', '=', latest)
        .returningAll()
        .executeTakeFirst();
      if (updated) return toAudit(updated);
    }
    const row: Selectable<AuditEventsTable> = {
      id: auditId(at),
      at,
      actor: event.actor,
      action: event.action,
      target: event.target,
      outcome: event.outcome,
      address: event.address,
      details,
      count: 1,
      last_at: null,
    };
    await this.#db.insertInto('audit_events').values(row).execute();
    return toAudit(row);
  }

  async pruneAudit(before: number, maxRows: number): Promise<number> {
    let deleted = 0;
    if (before > 0) {
      const result = await this.#db.deleteFrom('audit_events').where('at', '<', before).executeTakeFirst();
      deleted += Number(result.numDeletedRows);
    }
    if (maxRows > 0) {
      const cutoff = await this.#db
        .selectFrom('audit_events')
        .select(['at', 'id'])
        .orderBy('at', 'desc')
        .orderBy('id', 'desc')
        .limit(1)
        .offset(maxRows)
        .executeTakeFirst();
      if (cutoff) {
        const result = await this.#db
          .deleteFrom('audit_events')
          .where((eb) => eb.or([eb('at', '<', cutoff.at), eb.and([eb('at', '=', cutoff.at), eb('id', '<=', cutoff.id)])]))
          .executeTakeFirst();
        deleted += Number(result.numDeletedRows);
      }
    }
    return deleted;
  }

  async listAudit(query: AuditQuery): Promise<{ items: AuditRecord[]; total: number }> {
    let q = this.#db.selectFrom('audit_events');
    if (query.actor !== undefined) q = q.where('actor', '=', query.actor);
    if (query.action !== undefined) q = q.where('action', '=', query.action);
    if (query.outcome !== undefined) q = q.where('outcome', '=', query.outcome);
    if (query.since !== undefined) q = q.where('at', '>=', query.since);
    const count = await q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const rows = await q
      .selectAll()
      .orderBy('at', 'desc')
      .orderBy('id', 'desc')
      .limit(query.limit)
      .offset(query.offset)
      .execute();
    return { items: rows.map(toAudit), total: Number(count.n) };
  }
}

let auditSequence = 0;

/**
 * Audit ids sort in the order events were appended by this process (time, then a counter), so
 * "newest first" is exact within a replica even for events of the same millisecond.
 */
function auditId(at: number): string {
  auditSequence = (auditSequence + 1) % 1e9;
  return `${String(at).padStart(15, '0')}-${String(auditSequence).padStart(9, '0')}-${randomBytes(4).toString('hex')}`;
}


// Rows → records -------------------------------------------------------------------------------

function toUser(r: Selectable<UsersTable>): UserRecord {
  return {
    id: r.id,
    username: r.username,
    passwordHash: r.password_hash,
    email: r.email,
    admin: Number(r.admin) === 1,
    disabled: Number(r.disabled) === 1,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    lastLoginAt: r.last_login_at === null ? null : Number(r.last_login_at),
  };
}

function toToken(r: Selectable<AccessTokensTable>): AccessTokenRecord {
  return {
    id: r.id,
    userId: r.user_id,
    name: r.name,
    tokenHash: r.token_hash,
    scopes: JSON.parse(r.scopes) as string[],
    spaceId: r.space_id,
    registryId: r.registry_id,
    createdAt: Number(r.created_at),
    expiresAt: r.expires_at === null ? null : Number(r.expires_at),
    lastUsedAt: r.last_used_at === null ? null : Number(r.last_used_at),
  };
}

function toMember(r: { space_id: string; user_id: string; username: string; role: string; created_at: number; updated_at: number }): MemberRecord {
  return {
    spaceId: r.space_id,
    userId: r.user_id,
    username: r.username,
    role: r.role as MemberRole,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

function toSigningKey(r: Selectable<SigningKeysTable>): SigningKeyRecord {
  return {
    name: r.name,
    kid: r.kid,
    algorithm: r.algorithm,
    privateJwk: r.private_jwk,
    publicJwk: r.public_jwk,
    createdAt: Number(r.created_at),
  };
}

function toAudit(r: Selectable<AuditEventsTable>): AuditRecord {
  return {
    id: r.id,
    at: Number(r.at),
    actor: r.actor,
    action: r.action,
    target: r.target,
    outcome: r.outcome as AuditRecord['outcome'],
    address: r.address,
    details: JSON.parse(r.details) as Record<string, unknown>,
    count: Number(r.count),
    lastAt: r.last_at === null ? Number(r.at) : Number(r.last_at),
  };
}
