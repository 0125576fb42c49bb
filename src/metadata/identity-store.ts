/**
 * The identity store interface: users, access tokens, space members, web sessions, token
 * signing keys and the audit log. Implemented by `SqlIdentityStore` over the same database as
 * the metadata store; one shared suite (`identity-store.suite.ts`) runs on SQLite and PostgreSQL.
 *
 * Contracts (as in `store.ts`):
 * - Every method is atomic.
 * - `find…` returns undefined when the row is missing; `create…` throws PalletError
 *   ALREADY_EXISTS on a duplicate key (username, token hash); methods that change one row by id
 *   throw NOT_FOUND when it is missing, unless they say they answer a boolean.
 * - Times are milliseconds since the epoch.
 * - Secrets are stored only as hashes: a password as its argon2id PHC string, an access token
 *   and a session id as hex SHA-256. The one exception is the token signing key (a JWK), which
 *   every replica must be able to sign with.
 */

export type MemberRole = 'reader' | 'writer' | 'admin' | 'owner';

export interface UserRecord {
  id: string;
  username: string;
  passwordHash: string;
  email: string;
  /** A global administrator: every action on every space. */
  admin: boolean;
  /** A disabled user cannot log in; its tokens and sessions stop working. */
  disabled: boolean;
  createdAt: number;
  updatedAt: number;
  lastLoginAt: number | null;
}

export interface NewUser {
  username: string;
  passwordHash: string;
  email: string;
  admin: boolean;
}

export interface UserPatch {
  passwordHash?: string;
  email?: string;
  admin?: boolean;
  disabled?: boolean;
  lastLoginAt?: number;
}

export interface AccessTokenRecord {
  id: string;
  userId: string;
  name: string;
  tokenHash: string;
  /** `read`, `write`, `delete`, `admin`. */
  scopes: string[];
  /** Limited to this space (and its projects), when set. */
  spaceId: string | null;
  /** Limited to this registry, when set. */
  registryId: string | null;
  createdAt: number;
  /** Null: never expires. */
  expiresAt: number | null;
  lastUsedAt: number | null;
}

export interface NewAccessToken {
  userId: string;
  name: string;
  tokenHash: string;
  scopes: string[];
  spaceId: string | null;
  registryId: string | null;
  expiresAt: number | null;
}

export interface MemberRecord {
  spaceId: string;
  userId: string;
  username: string;
  role: MemberRole;
  createdAt: number;
  updatedAt: number;
}

export interface MembershipRecord {
  spaceId: string;
  role: MemberRole;
}

export interface SessionRecord {
  idHash: string;
  userId: string;
  csrfHash: string;
  createdAt: number;
  expiresAt: number;
}

export interface SigningKeyRecord {
  name: string;
  kid: string;
  algorithm: string;
  /** JWK JSON. */
  privateJwk: string;
  publicJwk: string;
  createdAt: number;
}

export type AuditOutcome = 'success' | 'failure';

export interface NewAuditEvent {
  /** Username of who acted; null for anonymous. For a failed login, the name that was tried. */
  actor: string | null;
  /** `space.create`, `auth.failure`, … */
  action: string;
  /** What was acted on (`acme/docker-local`, a username); empty when nothing. */
  target: string;
  outcome: AuditOutcome;
  /** Client address. */
  address: string;
  /** Never a secret. */
  details: Record<string, unknown>;
}

export interface AuditRecord extends NewAuditEvent {
  id: string;
  /** When it (first) happened. */
  at: number;
  /** How many times it happened: repeats coalesced into this row (see `appendAudit`). */
  count: number;
  /** When it last happened (`at` when once). */
  lastAt: number;
}

export interface AppendAuditOptions {
  /**
   * Coalesce: when an event with the same action, actor, target, outcome, address and details
   * was appended less than this long ago, count this one in its row instead of adding a row.
   * Two replicas racing may each add a row; the count stays exact per row.
   */
  coalesceMs?: number;
}

export interface AuditQuery {
  actor?: string;
  action?: string;
  outcome?: AuditOutcome;
  /** Only events at or after this time. */
  since?: number;
  limit: number;
  offset: number;
}

export interface IdentityStore {
  // Users ----------------------------------------------------------------------------------
  /** ALREADY_EXISTS when the username is taken. */
  createUser(input: NewUser): Promise<UserRecord>;
  findUser(username: string): Promise<UserRecord | undefined>;
  findUserById(id: string): Promise<UserRecord | undefined>;
  /** Sorted by username. */
  listUsers(): Promise<UserRecord[]>;
  countUsers(): Promise<number>;
  updateUser(id: string, patch: UserPatch): Promise<UserRecord>;
  /** Deletes the user with its tokens, memberships and sessions; resolves to whether it existed. */
  deleteUser(id: string): Promise<boolean>;

  // Access tokens --------------------------------------------------------------------------
  /** ALREADY_EXISTS on a duplicate hash. NOT_FOUND when the user is gone. */
  createAccessToken(input: NewAccessToken): Promise<AccessTokenRecord>;
  findAccessTokenByHash(tokenHash: string): Promise<AccessTokenRecord | undefined>;
  /** A user's tokens, oldest first. */
  listAccessTokens(userId: string): Promise<AccessTokenRecord[]>;
  /** Deletes one of the user's tokens; false when the user has no token with this id. */
  deleteAccessToken(userId: string, id: string): Promise<boolean>;
  /** Records last-use times (batched by the caller); unknown ids are ignored. */
  touchAccessTokens(uses: ReadonlyArray<readonly [id: string, at: number]>): Promise<void>;

  // Space members --------------------------------------------------------------------------
  /** Creates or changes the user's role on the space. NOT_FOUND when either is gone. */
  setMember(spaceId: string, userId: string, role: MemberRole): Promise<MemberRecord>;
  removeMember(spaceId: string, userId: string): Promise<boolean>;
  /** Members of one space, sorted by username. */
  listMembers(spaceId: string): Promise<MemberRecord[]>;
  /** The spaces a user has a role on, sorted by space id. */
  listMemberships(userId: string): Promise<MembershipRecord[]>;

  // Web sessions ---------------------------------------------------------------------------
  createSession(session: SessionRecord): Promise<void>;
  findSession(idHash: string): Promise<SessionRecord | undefined>;
  deleteSession(idHash: string): Promise<boolean>;
  /** Ends every session of a user (password change, disable). */
  deleteUserSessions(userId: string): Promise<number>;
  /** Removes sessions that expired before `before`; resolves to how many. */
  deleteExpiredSessions(before: number): Promise<number>;

  // Signing keys ---------------------------------------------------------------------------
  /**
   * Stores `candidate` unless a key with its name exists, and resolves to the stored key of
   * that name: the first replica to start wins, the others adopt its key.
   */
  ensureSigningKey(candidate: SigningKeyRecord): Promise<SigningKeyRecord>;
  listSigningKeys(): Promise<SigningKeyRecord[]>;

  // Audit log ------------------------------------------------------------------------------
  appendAudit(event: NewAuditEvent, options?: AppendAuditOptions): Promise<AuditRecord>;
  /** Newest first, with the total matching the filter. */
  listAudit(query: AuditQuery): Promise<{ items: AuditRecord[]; total: number }>;
  /**
   * Deletes events that happened before `before` (0: none by age), then the oldest beyond
   * `maxRows` (0: no cap); resolves to how many rows went.
   */
  pruneAudit(before: number, maxRows: number): Promise<number>;
}
