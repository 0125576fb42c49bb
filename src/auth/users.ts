/**
 * Local users: creation, listing, changes, deletion, the bootstrap administrator, and the
 * password check of a login.
 *
 * Contracts: usernames follow USERNAME_RULE (INVALID_NAME) and are unique (ALREADY_EXISTS);
 * passwords are 8 to 1024 characters and stored only as argon2id hashes; the last enabled
 * administrator can be neither deleted, disabled nor demoted (CONFLICT). A password change or
 * a disable ends the user's web sessions. Views never carry the hash.
 */
import { PalletError } from '../base/errors.js';
import type { IdentityStore, UserRecord } from '../metadata/identity-store.js';
import { paginate, type Page, type PageRequest, type SortKeys } from '../base/paging.js';
import { checkPassword, hashPassword, verifyPassword } from './passwords.js';
import { randomSecret } from './secrets.js';

export const USERNAME_RULE = /^[a-z0-9][a-z0-9._-]{0,127}$/;
export const BOOTSTRAP_ADMIN = 'admin';

export interface UserView {
  username: string;
  email: string;
  admin: boolean;
  disabled: boolean;
  createdAt: string;
  updatedAt: string;
  lastLoginAt: string | null;
}

export interface NewUserInput {
  username: unknown;
  password: unknown;
  email?: unknown;
  admin?: unknown;
}

export interface UserPatchInput {
  password?: unknown;
  email?: unknown;
  admin?: unknown;
  disabled?: unknown;
}

export function toUserView(u: UserRecord): UserView {
  return {
    username: u.username,
    email: u.email,
    admin: u.admin,
    disabled: u.disabled,
    createdAt: new Date(u.createdAt).toISOString(),
    updatedAt: new Date(u.updatedAt).toISOString(),
    lastLoginAt: u.lastLoginAt === null ? null : new Date(u.lastLoginAt).toISOString(),
  };
}

export function checkUsername(value: unknown): string {
  if (typeof value !== 'string' || !USERNAME_RULE.test(value)) {
    throw new PalletError(
      'INVALID_NAME',
      `username ${JSON.stringify(value)} is invalid: it must start with a lowercase letter or digit and contain only lowercase letters, digits, ".", "_" and "-" (at most 128 characters)`,
      { field: 'username', rule: USERNAME_RULE.source },
    );
  }
  return value;
}

function checkEmail(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length > 320 || (value !== '' && !/^[^\s@]+@[^\s@]+$/.test(value))) {
    throw new PalletError('INVALID_ARGUMENT', 'email must be an email address (or empty)', { field: 'email' });
  }
  return value;
}

function checkFlag(value: unknown, field: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw new PalletError('INVALID_ARGUMENT', `${field} must be true or false`, { field });
  return value;
}

const USER_SORT: SortKeys<UserView> = {
  username: (u) => u.username,
  createdAt: (u) => u.createdAt,
  lastLoginAt: (u) => u.lastLoginAt,
};

export const USER_SORT_KEYS: readonly string[] = Object.keys(USER_SORT);

export class UserService {
  /** A hash to verify against when the user does not exist, so both paths cost one KDF run. */
  #dummyHash: Promise<string> | undefined;

  constructor(
    private readonly store: IdentityStore,
    /** Called after a user changes or goes, with its id (caches drop it). */
    private readonly onChange: (userId: string) => void,
  ) {}

  async create(input: NewUserInput): Promise<UserView> {
    const username = checkUsername(input.username);
    const password = checkPassword(input.password);
    const email = checkEmail(input.email) ?? '';
    const admin = checkFlag(input.admin, 'admin') ?? false;
    const passwordHash = await hashPassword(password);
    try {
      return toUserView(await this.store.createUser({ username, passwordHash, email, admin }));
    } catch (err) {
      if (err instanceof PalletError && err.code === 'ALREADY_EXISTS') {
        throw new PalletError('ALREADY_EXISTS', `user "${username}" already exists`, { username });
      }
      throw err;
    }
  }

  async getRecord(username: string): Promise<UserRecord> {
    const user = await this.store.findUser(username);
    if (!user) throw new PalletError('NOT_FOUND', `user "${username}" does not exist`, { username });
    return user;
  }

  async get(username: string): Promise<UserView> {
    return toUserView(await this.getRecord(username));
  }

  async list(q: string | undefined, page: PageRequest): Promise<Page<UserView>> {
    const needle = q?.toLowerCase();
    const users = (await this.store.listUsers())
      .filter((u) => !needle || u.username.includes(needle) || u.email.toLowerCase().includes(needle))
      .map(toUserView);
    return paginate(users, page, USER_SORT, 'username');
  }

  async update(username: string, patch: UserPatchInput): Promise<UserView> {
    const user = await this.getRecord(username);
    const email = checkEmail(patch.email);
    const admin = checkFlag(patch.admin, 'admin');
    const disabled = checkFlag(patch.disabled, 'disabled');
    const password = patch.password === undefined ? undefined : checkPassword(patch.password);
    if ((admin === false || disabled === true) && user.admin && !user.disabled) await this.#keepAnAdmin(user, 'demote or disable');
    const passwordHash = password === undefined ? undefined : await hashPassword(password);
    const updated = await this.store.updateUser(user.id, {
      ...(passwordHash !== undefined ? { passwordHash } : {}),
      ...(email !== undefined ? { email } : {}),
      ...(admin !== undefined ? { admin } : {}),
      ...(disabled !== undefined ? { disabled } : {}),
    });
    if (passwordHash !== undefined || disabled === true) await this.store.deleteUserSessions(user.id);
    this.onChange(user.id);
    return toUserView(updated);
  }

  async delete(username: string): Promise<void> {
    const user = await this.getRecord(username);
    if (user.admin && !user.disabled) await this.#keepAnAdmin(user, 'delete');
    await this.store.deleteUser(user.id);
    this.onChange(user.id);
  }

  async #keepAnAdmin(user: UserRecord, what: string): Promise<void> {
    const others = (await this.store.listUsers()).filter((u) => u.admin && !u.disabled && u.id !== user.id);
    if (others.length === 0) {
      throw new PalletError('CONFLICT', `cannot ${what} "${user.username}": it is the last enabled administrator`, { username: user.username });
    }
  }

  /**
   * Checks a username and password with the KDF; the user when they match and the user is
   * enabled, undefined otherwise (with the reason, for the audit log).
   */
  async checkLogin(username: string, password: string): Promise<{ user: UserRecord } | { reason: string }> {
    const user = await this.store.findUser(username);
    if (!user) {
      this.#dummyHash ??= hashPassword(randomSecret());
      await verifyPassword(await this.#dummyHash, password);
      return { reason: 'unknown user' };
    }
    if (!(await verifyPassword(user.passwordHash, password))) return { reason: 'wrong password' };
    if (user.disabled) return { reason: 'user disabled' };
    return { user };
  }

  /**
   * The user as stored now, if a password verified against `user.passwordHash` is still good:
   * same hash (so the same password), still enabled. One indexed read, no KDF.
   */
  async stillValid(user: UserRecord): Promise<UserRecord | undefined> {
    const current = await this.store.findUserById(user.id);
    if (!current || current.disabled || current.passwordHash !== user.passwordHash) return undefined;
    return current;
  }

  async recordLogin(user: UserRecord): Promise<void> {
    await this.store.updateUser(user.id, { lastLoginAt: Date.now() });
  }

  /**
   * On first start (no user at all) creates `admin` with `password`, or with a generated one,
   * which `announce` receives to show once. Safe when replicas start together: one creates
   * the user, the others find the name taken and do nothing.
   */
  async bootstrap(password: string, announce: (generated: string) => void): Promise<boolean> {
    if ((await this.store.countUsers()) > 0) return false;
    const secret = password || randomSecret().slice(0, 24);
    try {
      await this.store.createUser({ username: BOOTSTRAP_ADMIN, passwordHash: await hashPassword(secret), email: '', admin: true });
    } catch (err) {
      if (err instanceof PalletError && err.code === 'ALREADY_EXISTS') return false;
      throw err;
    }
    if (!password) announce(secret);
    return true;
  }
}
