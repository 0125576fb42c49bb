/**
 * Roles, actions and token scopes: what each role on a space lets a user do, and what each
 * access-token scope lets a token do. A role on an organization applies to its projects.
 *
 * | role   | pull | push | delete | manage | own |
 * |--------|------|------|--------|--------|-----|
 * | reader |  x   |      |        |        |     |
 * | writer |  x   |  x   |   x    |        |     |
 * | admin  |  x   |  x   |   x    |   x    |     |
 * | owner  |  x   |  x   |   x    |   x    |  x  |
 *
 * - pull: read content and browse (artifacts, versions, setup, members list).
 * - push: write content (OCI pushes).
 * - delete: delete versions and artifacts (OCI DELETE, API DELETE on artifacts/versions).
 * - manage: create/change/delete registries and upstream proxies, create projects, change the
 *   space, manage members (up to admin).
 * - own: delete the space, make or unmake owners.
 * A global administrator (`user.admin`) holds every action everywhere, and alone creates root
 * spaces and manages users. Public registries grant pull to everyone, anonymous included.
 */
import type { MemberRole } from '../metadata/identity-store.js';

export type { MemberRole } from '../metadata/identity-store.js';

export type Action = 'pull' | 'push' | 'delete' | 'manage' | 'own';

export const ACTIONS: readonly Action[] = ['pull', 'push', 'delete', 'manage', 'own'];

export const ROLES: readonly MemberRole[] = ['reader', 'writer', 'admin', 'owner'];

const ROLE_ACTIONS: Record<MemberRole, readonly Action[]> = {
  reader: ['pull'],
  writer: ['pull', 'push', 'delete'],
  admin: ['pull', 'push', 'delete', 'manage'],
  owner: ['pull', 'push', 'delete', 'manage', 'own'],
};

export function isRole(value: unknown): value is MemberRole {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

export function roleActions(role: MemberRole): readonly Action[] {
  return ROLE_ACTIONS[role];
}

/** The stronger of two roles (either may be undefined). */
export function strongerRole(a: MemberRole | undefined, b: MemberRole | undefined): MemberRole | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return ROLES.indexOf(a) >= ROLES.indexOf(b) ? a : b;
}

/** Access-token scopes. `admin` is Pallet's addition to API.md's read/write/delete. */
export type TokenScope = 'read' | 'write' | 'delete' | 'admin';

export const TOKEN_SCOPES: readonly TokenScope[] = ['read', 'write', 'delete', 'admin'];

const SCOPE_ACTIONS: Record<TokenScope, readonly Action[]> = {
  read: ['pull'],
  write: ['push'],
  delete: ['delete'],
  // Management through a token: whatever the user's roles allow of manage/own, plus user
  // management for global administrators and the creation of further tokens.
  admin: ['manage', 'own'],
};

export function isTokenScope(value: unknown): value is TokenScope {
  return typeof value === 'string' && (TOKEN_SCOPES as readonly string[]).includes(value);
}

/** Actions a set of scopes allows at most. */
export function scopeActions(scopes: readonly string[]): Set<Action> {
  const out = new Set<Action>();
  for (const scope of scopes) if (isTokenScope(scope)) for (const a of SCOPE_ACTIONS[scope]) out.add(a);
  return out;
}

/** Whether `ancestor` is `path` itself or one of its parent spaces (`acme` of `acme/payments`). */
export function isSameOrAncestor(ancestor: string, path: string): boolean {
  return path === ancestor || path.startsWith(`${ancestor}/`);
}
