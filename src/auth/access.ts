/**
 * Access decisions: which actions (`roles.ts`) a principal holds on a space or on a registry.
 *
 * For a user: every action when a global administrator; otherwise the actions of the strongest
 * role the user holds on the space or any of its ancestors. A public registry adds pull for
 * everyone. An access token narrows its user's actions: to its scopes, and to its space (and
 * that space's projects) or its one registry when it names one; management (`manage`, `own`,
 * user administration) needs the token's `admin` scope, and user administration (global
 * administrator rights) a token without a space or registry limit. Pull of a public registry stays open
 * to a token of another space, as it is to anonymous callers.
 *
 * The hot path reads a user's memberships through a cache of `cacheMs` (per replica), so a
 * role change made on another replica applies within that time; changes made through this
 * process clear the cache at once.
 */
import { PalletError } from '../base/errors.js';
import type { AccessTokenRecord, IdentityStore, MemberRole, UserRecord } from '../metadata/identity-store.js';
import type { MetadataStore } from '../metadata/store.js';
import type { Principal } from './principal.js';
import { ACTIONS, isSameOrAncestor, roleActions, scopeActions, strongerRole, type Action } from './roles.js';
import { TtlCache } from './ttl-cache.js';

/** What an action is checked against: a space, or a registry in one. */
export interface Resource {
  /** Path of the space (or of the space holding the registry). */
  spacePath: string;
  registry?: { id: string; public: boolean };
}

export class AccessControl {
  readonly #memberships: TtlCache<Array<{ path: string; role: MemberRole }>>;
  readonly #spacePaths: TtlCache<string | null>;

  constructor(
    private readonly identity: IdentityStore,
    private readonly metadata: MetadataStore,
    cacheMs: number,
  ) {
    this.#memberships = new TtlCache(cacheMs);
    // Space paths never change (no rename); a short TTL only bounds memory and forgets deleted ids.
    this.#spacePaths = new TtlCache(Math.max(cacheMs, 60_000));
  }

  /** Forgets cached memberships (one user's, or everyone's). */
  invalidate(userId?: string): void {
    if (userId === undefined) this.#memberships.clear();
    else this.#memberships.delete(userId);
  }

  /** The path of a space id; undefined when the space is gone. */
  async spacePath(id: string): Promise<string | undefined> {
    const cached = this.#spacePaths.get(id);
    if (cached !== undefined) return cached ?? undefined;
    const space = await this.metadata.findSpaceById(id);
    this.#spacePaths.set(id, space?.path ?? null);
    return space?.path;
  }

  /** The user's roles by space path (cached). */
  async memberships(user: UserRecord): Promise<Array<{ path: string; role: MemberRole }>> {
    const cached = this.#memberships.get(user.id);
    if (cached) return cached;
    const out: Array<{ path: string; role: MemberRole }> = [];
    for (const m of await this.identity.listMemberships(user.id)) {
      const path = await this.spacePath(m.spaceId);
      if (path !== undefined) out.push({ path, role: m.role });
    }
    this.#memberships.set(user.id, out);
    return out;
  }

  /** The strongest role the user holds on the space, directly or through an ancestor. */
  async effectiveRole(user: UserRecord, spacePath: string): Promise<MemberRole | undefined> {
    let role: MemberRole | undefined;
    for (const m of await this.memberships(user)) if (isSameOrAncestor(m.path, spacePath)) role = strongerRole(role, m.role);
    return role;
  }

  /**
   * Whether the principal administers users and root spaces: a global administrator by
   * password or session, or through a token with the `admin` scope and no space or registry
   * limit. A limited token is never a global administrator, whoever owns it.
   */
  isGlobalAdmin(principal: Principal): boolean {
    if (principal.kind === 'system') return true;
    if (principal.kind !== 'user' || !principal.user.admin) return false;
    const token = principal.token;
    return token === undefined || (isUnlimited(token) && token.scopes.includes('admin'));
  }

  /** Every action the principal holds on the resource. */
  async actions(principal: Principal, resource: Resource): Promise<Set<Action>> {
    return (await this.viewer(principal)).actions(resource);
  }

  /**
   * The principal's access, loaded once, answering for any number of resources without
   * further lookups (for lists).
   */
  async viewer(principal: Principal): Promise<Viewer> {
    if (principal.kind === 'system') return new Viewer(ACTIONS, []);
    if (principal.kind !== 'user') return new Viewer([], []);
    const { user, token } = principal;
    const roles = user.admin ? [] : await this.memberships(user);
    if (!token) return new Viewer(user.admin ? ACTIONS : [], roles);
    let limit: Viewer['limit'] = { actions: scopeActions(token.scopes) };
    if (token.registryId !== null) limit = { ...limit, registryId: token.registryId };
    if (token.spaceId !== null) {
      // A token of a deleted space matches nothing: an impossible path.
      limit = { ...limit, spacePath: (await this.spacePath(token.spaceId)) ?? '\u0000' };
    }
    return new Viewer(user.admin ? ACTIONS : [], roles, limit);
  }

  async can(principal: Principal, action: Action, resource: Resource): Promise<boolean> {
    return (await this.actions(principal, resource)).has(action);
  }

  /**
   * Throws unless the principal may do `action`: UNAUTHORIZED for anonymous callers (they
   * should authenticate), DENIED for everyone else. `what` names the resource in the message.
   */
  async require(principal: Principal, action: Action, resource: Resource, what: string): Promise<void> {
    if (await this.can(principal, action, resource)) return;
    throw denial(principal, action, what);
  }

  /** Throws unless the principal is a global administrator. */
  requireGlobalAdmin(principal: Principal, what: string): void {
    if (this.isGlobalAdmin(principal)) return;
    throw denial(principal, 'manage', what, 'only administrators may');
  }
}

/** A principal's access, ready to answer for many resources (see `AccessControl.viewer`). */
export class Viewer {
  constructor(
    /** Actions held everywhere (a global administrator's). */
    private readonly everywhere: readonly Action[],
    /** Roles by space path. */
    readonly roles: ReadonlyArray<{ path: string; role: MemberRole }>,
    /** An access token's narrowing. */
    readonly limit?: { actions: Set<Action>; spacePath?: string; registryId?: string },
  ) {}

  actions(resource: Resource): Set<Action> {
    const out = new Set<Action>(resource.registry?.public === true ? ['pull'] : []);
    let role: MemberRole | undefined;
    for (const m of this.roles) if (isSameOrAncestor(m.path, resource.spacePath)) role = strongerRole(role, m.role);
    let held: readonly Action[] = this.everywhere.length > 0 ? this.everywhere : role ? roleActions(role) : [];
    const limit = this.limit;
    if (limit) {
      if (limit.registryId !== undefined && limit.registryId !== resource.registry?.id) return out;
      if (limit.spacePath !== undefined && !isSameOrAncestor(limit.spacePath, resource.spacePath)) return out;
      held = held.filter((a) => limit.actions.has(a));
    }
    for (const a of held) out.add(a);
    return out;
  }

  can(action: Action, resource: Resource): boolean {
    return this.actions(resource).has(action);
  }

  /**
   * Whether the principal holds a role on a space below `spacePath` (to navigate to it). A
   * token counts only roles that reach into its space limit; a registry-limited token none.
   */
  hasRoleBelow(spacePath: string): boolean {
    const limit = this.limit;
    if (limit?.registryId !== undefined) return false;
    const inside = limit?.spacePath;
    return this.roles.some((m) => {
      if (inside === undefined) return m.path.startsWith(`${spacePath}/`);
      // The role reaches the token's space (or a space inside it) below `spacePath`.
      const reached = isSameOrAncestor(m.path, inside) ? inside : isSameOrAncestor(inside, m.path) ? m.path : undefined;
      return reached !== undefined && reached.startsWith(`${spacePath}/`);
    });
  }
}

/** Whether an access token has neither a space nor a registry limit. */
export function isUnlimited(token: AccessTokenRecord): boolean {
  return token.spaceId === null && token.registryId === null;
}

export function denial(principal: Principal, action: string, what: string, lead = 'not allowed to'): PalletError {
  if (principal.kind === 'anonymous') {
    return new PalletError('UNAUTHORIZED', `authentication required to ${action} ${what}`, { action });
  }
  return new PalletError('DENIED', `${lead} ${action} ${what}`, { action });
}
