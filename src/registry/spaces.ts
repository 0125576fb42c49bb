/**
 * Spaces: organizations (`acme`) and projects nested inside them (`acme/payments`). The first
 * path segment names the root space, which owns registries' identifiers and blob storage.
 *
 * Contracts: every segment follows the name rule (INVALID_NAME); a nested space needs its
 * parent (NOT_FOUND naming the parent); a space that still holds child spaces or registries
 * cannot be deleted (CONFLICT, with the counts in the details).
 */
import { PalletError } from '../base/errors.js';
import { checkName, LEGACY_NAME_RULE, NAME_RULE } from '../base/names.js';
import type { MetadataStore, SpaceRecord } from '../metadata/store.js';
import { paginate, type Page, type PageRequest, type SortKeys } from '../base/paging.js';

/** Longest description accepted for spaces and registries. */
export const MAX_DESCRIPTION_LENGTH = 4096;

/** A space as the management surfaces show it. */
export interface SpaceView {
  path: string;
  /** The last path segment. */
  name: string;
  /** The parent's path; null for a root space. */
  parent: string | null;
  /** The root space's path (the first segment). */
  root: string;
  description: string;
  createdAt: string;
  updatedAt: string;
}

export interface NewSpaceInput {
  path: unknown;
  description?: unknown;
}

export function toSpaceView(space: SpaceRecord): SpaceView {
  const segments = space.path.split('/');
  return {
    path: space.path,
    name: segments[segments.length - 1]!,
    parent: segments.length > 1 ? segments.slice(0, -1).join('/') : null,
    root: segments[0]!,
    description: space.description,
    createdAt: new Date(space.createdAt).toISOString(),
    updatedAt: new Date(space.updatedAt).toISOString(),
  };
}

/** Checks an optional description; returns it, or undefined when absent. */
export function checkDescription(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new PalletError('INVALID_ARGUMENT', 'description must be a string', { field: 'description' });
  if (value.length > MAX_DESCRIPTION_LENGTH) {
    throw new PalletError('INVALID_ARGUMENT', `description must be at most ${MAX_DESCRIPTION_LENGTH} characters`, { field: 'description' });
  }
  return value;
}

/**
 * Splits a space path and checks every segment against the name rule: NAME_RULE for a new
 * space, LEGACY_NAME_RULE to look up one that may have been created before it.
 */
export function checkSpacePath(value: unknown, rule: RegExp = LEGACY_NAME_RULE): string[] {
  if (typeof value !== 'string' || value.length === 0) {
    throw new PalletError('INVALID_NAME', 'space path must be a non-empty string such as "acme" or "acme/payments"', { field: 'path' });
  }
  return value.split('/').map((segment) => checkName('space path segment', segment, rule));
}

const SPACE_SORT: SortKeys<SpaceView> = {
  path: (s) => s.path,
  createdAt: (s) => s.createdAt,
  updatedAt: (s) => s.updatedAt,
};

export const SPACE_SORT_KEYS: readonly string[] = Object.keys(SPACE_SORT);

export class SpaceService {
  constructor(private readonly store: MetadataStore) {}

  async create(input: NewSpaceInput): Promise<SpaceView> {
    const segments = checkSpacePath(input.path, NAME_RULE);
    const description = checkDescription(input.description) ?? '';
    const path = segments.join('/');
    let parentId: string | null = null;
    if (segments.length > 1) {
      const parentPath = segments.slice(0, -1).join('/');
      const parent = await this.store.findSpace(parentPath);
      if (!parent) {
        throw new PalletError('NOT_FOUND', `parent space "${parentPath}" does not exist: create it before "${path}"`, { parent: parentPath });
      }
      parentId = parent.id;
    }
    try {
      return toSpaceView(await this.store.createSpace({ path, parentId, description }));
    } catch (err) {
      if (err instanceof PalletError && err.code === 'ALREADY_EXISTS') {
        throw new PalletError('ALREADY_EXISTS', `space "${path}" already exists`, { path });
      }
      throw err;
    }
  }

  /** The space record; NOT_FOUND when missing. */
  async getRecord(path: string): Promise<SpaceRecord> {
    const space = await this.store.findSpace(path);
    if (!space) throw new PalletError('NOT_FOUND', `space "${path}" does not exist`, { path });
    return space;
  }

  async get(path: string): Promise<SpaceView> {
    return toSpaceView(await this.getRecord(path));
  }

  /**
   * Spaces, sorted and paged; `q` keeps those whose path or description contains it (any case),
   * `visible` those the caller may see.
   */
  async list(q: string | undefined, page: PageRequest, visible?: (space: SpaceRecord) => boolean): Promise<Page<SpaceView>> {
    const needle = q?.toLowerCase();
    const spaces = (await this.store.listSpaces())
      .filter((s) => visible === undefined || visible(s))
      .filter((s) => !needle || s.path.toLowerCase().includes(needle) || s.description.toLowerCase().includes(needle))
      .map(toSpaceView);
    return paginate(spaces, page, SPACE_SORT, 'path');
  }

  async update(path: string, patch: { description?: unknown }): Promise<SpaceView> {
    const space = await this.getRecord(path);
    const description = checkDescription(patch.description);
    if (description === undefined) return toSpaceView(space);
    return toSpaceView(await this.store.updateSpace(space.id, { description }));
  }

  /** Deletes an empty space; CONFLICT while it holds child spaces or registries. */
  async delete(path: string): Promise<void> {
    const space = await this.getRecord(path);
    const usage = await this.store.spaceUsage(space.id);
    if (usage.children > 0 || usage.registries > 0) {
      const held = [
        usage.children > 0 ? `${usage.children} child space${usage.children === 1 ? '' : 's'}` : '',
        usage.registries > 0 ? `${usage.registries} registr${usage.registries === 1 ? 'y' : 'ies'}` : '',
      ].filter(Boolean);
      throw new PalletError('CONFLICT', `space "${path}" still holds ${held.join(' and ')}: delete them first`, {
        path,
        children: usage.children,
        registries: usage.registries,
      });
    }
    await this.store.deleteSpace(space.id);
  }
}
