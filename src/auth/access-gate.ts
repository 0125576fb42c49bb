/**
 * The one disclosure rule of every surface: resolve the thing asked for (a registry, a
 * repository in one, a space), authorize the action, and refuse an unknown one exactly like a
 * private one. Surfaces map the typed `Decision` to their own answer (OCI: 401 with a Bearer
 * challenge / 403 DENIED / 404 NAME_UNKNOWN; `/pkg`: 401 with a Basic challenge / 403 / 404;
 * the REST API: 401 / 403 / 404 in its shape); `src/http/registry-access.ts` is that glue.
 *
 * Who may learn that something does not exist ("may know"): a caller who could see it if it
 * existed, whatever it is: a global administrator; a caller holding `pull` (or the action
 * asked) on the nearest existing space at or above where it would be (`Place.container`: the
 * root space for a registry, whose identifiers are unique per root; the parent for a space),
 * since roles reach down through the whole tree; a token-service JWT that names the
 * repository. Everyone else gets the refusal a private one gives them: UNAUTHORIZED for
 * anonymous callers, UNAUTHORIZED with `insufficient-scope` for JWT bearers, DENIED for users.
 *
 * Same answer, same path: an unknown and a refused existing thing both run the loader, the
 * authorization (of a private stand-in for the unknown one), then the may-know lookup, and
 * build the refusal from the same inputs (principal, action, what the caller named), so
 * neither status, body nor the work done tells them apart. Allowed requests (the hot path)
 * skip the may-know lookup.
 */
import type { MetadataStore } from '../metadata/store.js';
import type { AccessControl, Resource } from './access.js';
import type { Principal } from './principal.js';
import type { Action } from './roles.js';

/** Where a thing would be, for the may-know rule. */
export interface Place {
  /**
   * The space path whose readers could see the thing if it existed (its nearest existing
   * ancestor counts); undefined when only global administrators may know (a root space).
   */
  container: string | undefined;
  /** The OCI repository name asked for, for token-service JWTs (which name repositories). */
  repository?: string;
}

/** What the loader found: the value and what it is checked against. */
export interface Found<T> {
  value: T;
  resource: Resource;
}

/** Why a request is refused; the surface turns it into its status and challenge. */
export type Refusal =
  /** Anonymous: authenticate first (401 and a challenge). */
  | 'unauthenticated'
  /** A token-service JWT without the action: fetch a token with the scope (401, insufficient_scope). */
  | 'insufficient-scope'
  /** An authenticated user without the action (403). */
  | 'denied';

/** Allowed, or refused; an unknown thing is either refused or its loader's not-found error thrown. */
export type Decision<T> = { outcome: 'allowed'; value: T } | { outcome: 'refused'; refusal: Refusal };

export class AccessGate {
  constructor(
    private readonly access: Pick<AccessControl, 'can' | 'actions' | 'isGlobalAdmin'>,
    private readonly store: Pick<MetadataStore, 'findSpace'>,
  ) {}

  /**
   * Resolves with `load`, authorizes `action`, refuses an unknown thing like a private one.
   * `load` throws when the thing does not exist, an error `isMissing` recognizes: that error
   * is rethrown to callers who may know (see the header), so each surface keeps its own
   * not-found answer; every other error of `load` passes through as it is.
   */
  async decide<T>(
    principal: Principal,
    action: Action,
    place: Place,
    load: () => Promise<Found<T>>,
    isMissing: (err: unknown) => boolean,
  ): Promise<Decision<T>> {
    let found: Found<T> | undefined;
    let missing: unknown;
    try {
      found = await load();
    } catch (err) {
      if (!isMissing(err)) throw err;
      missing = err;
    }
    // An unknown thing is checked as a private one in its container would be: the same work,
    // whose answer cannot allow it.
    const resource = found?.resource ?? { spacePath: place.container ?? '', registry: { id: '', public: false } };
    const allowed = await this.allows(principal, action, resource, place.repository);
    if (found && allowed) return { outcome: 'allowed', value: found.value };
    // From here one path for both: the may-know lookup runs whether or not the thing exists.
    const mayKnow = await this.mayKnow(principal, action, place);
    if (!found && mayKnow) throw missing;
    return { outcome: 'refused', refusal: refusalFor(principal) };
  }

  /**
   * Whether the principal may do `action` on the resource. A JWT holds exactly the repository
   * actions it names (`repository`: the name asked for); everyone else what `AccessControl` says.
   */
  async allows(principal: Principal, action: Action, resource: Resource, repository?: string): Promise<boolean> {
    if (principal.kind === 'grant') return repository !== undefined && jwtHolds(principal, repository, action);
    return this.access.can(principal, action, resource);
  }

  /** See the module header. */
  async mayKnow(principal: Principal, action: Action, place: Place): Promise<boolean> {
    if (principal.kind === 'grant') {
      return place.repository !== undefined && (jwtHolds(principal, place.repository, action) || jwtHolds(principal, place.repository, 'pull'));
    }
    if (this.access.isGlobalAdmin(principal)) return true;
    const container = await this.#nearestSpace(place.container);
    if (container === undefined) return false;
    const held = await this.access.actions(principal, { spacePath: container });
    return held.has('pull') || held.has(action);
  }

  /**
   * Whether the principal would hold `action` on a private registry in root space `root` that
   * does not exist (yet): what the token service grants for a name that resolves to nothing.
   * A global administrator may act where nothing exists, within its token's scopes.
   */
  async heldWhereUnknown(principal: Principal, action: Action, root: string): Promise<boolean> {
    if (principal.kind === 'grant') return false;
    if (!this.access.isGlobalAdmin(principal) && (await this.store.findSpace(root)) === undefined) return false;
    return this.access.can(principal, action, { spacePath: root });
  }

  /** The path of the nearest existing space at or above `path`. */
  async #nearestSpace(path: string | undefined): Promise<string | undefined> {
    let at = path;
    while (at !== undefined && at !== '') {
      const space = await this.store.findSpace(at);
      if (space) return space.path;
      const slash = at.lastIndexOf('/');
      at = slash < 0 ? undefined : at.slice(0, slash);
    }
    return undefined;
  }
}

function jwtHolds(principal: Extract<Principal, { kind: 'grant' }>, repository: string, action: Action): boolean {
  return principal.access.some((a) => a.name === repository && (a.actions as readonly string[]).includes(action));
}

/** The refusal a principal gets for anything it may not do or see. */
export function refusalFor(principal: Principal): Refusal {
  if (principal.kind === 'anonymous') return 'unauthenticated';
  if (principal.kind === 'grant') return 'insufficient-scope';
  return 'denied';
}
