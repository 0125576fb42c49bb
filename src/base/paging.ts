/**
 * Paging and sorting of management lists (spaces, registries, artifacts, versions, users): one
 * shape for every list, `{items, total, page, size}`, with pages counted from 1, and the list
 * query every paged API route takes (`?page=&size=&sort=&order=&q=`). Every layer may use it.
 *
 * Lists are sorted in memory after filtering: fine for the hundreds of registries and
 * artifacts a space holds; a store-side cursor replaces this when lists outgrow it.
 */
import { PalletError } from './errors.js';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

export type SortOrder = 'asc' | 'desc';

export interface PageRequest {
  /** 1-based; default 1. */
  page?: number;
  /** Default 50, at most 500. */
  size?: number;
  /** A key of the list's sort table; its default key when omitted. */
  sort?: string;
  /** The list's default order when omitted (ascending, unless the list says otherwise). */
  order?: SortOrder;
}

export interface Page<T> {
  items: T[];
  total: number;
  page: number;
  size: number;
}

/** The list query of a paged API route, already shape-checked and defaulted by its schema. */
export interface ListQuery {
  page?: number;
  size?: number;
  sort?: string;
  order?: SortOrder;
  q?: string;
}

/** The paging part of a list query. */
export function pageRequest(query: ListQuery): PageRequest {
  return {
    ...(query.page !== undefined ? { page: query.page } : {}),
    ...(query.size !== undefined ? { size: query.size } : {}),
    ...(query.sort !== undefined ? { sort: query.sort } : {}),
    ...(query.order !== undefined ? { order: query.order } : {}),
  };
}

export type SortKeys<T> = Record<string, (item: T) => string | number | boolean | null>;

function compareValues(a: string | number | boolean | null, b: string | number | boolean | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  return a < b ? -1 : 1;
}

/**
 * Sorts `items` by the requested key (ties keep the input order, so callers pass them in their
 * natural order) and cuts out the requested page. INVALID_ARGUMENT for an unknown sort key or
 * an out-of-range page or size.
 */
export function paginate<T>(
  items: readonly T[],
  request: PageRequest,
  keys: SortKeys<T>,
  defaultSort: string,
  defaultOrder: SortOrder = 'asc',
): Page<T> {
  const page = request.page ?? 1;
  const size = request.size ?? DEFAULT_PAGE_SIZE;
  if (!Number.isSafeInteger(page) || page < 1) {
    throw new PalletError('INVALID_ARGUMENT', `page must be an integer of at least 1, got ${page}`, { field: 'page' });
  }
  if (!Number.isSafeInteger(size) || size < 1 || size > MAX_PAGE_SIZE) {
    throw new PalletError('INVALID_ARGUMENT', `size must be an integer from 1 to ${MAX_PAGE_SIZE}, got ${size}`, { field: 'size' });
  }
  const sortKey = request.sort ?? defaultSort;
  const key = Object.hasOwn(keys, sortKey) ? keys[sortKey] : undefined;
  if (!key) {
    throw new PalletError('INVALID_ARGUMENT', `sort must be one of ${Object.keys(keys).join(', ')}; got ${JSON.stringify(sortKey)}`, {
      field: 'sort',
      allowed: Object.keys(keys),
    });
  }
  const direction = (request.order ?? defaultOrder) === 'desc' ? -1 : 1;
  const sorted = items
    .map((item, index) => ({ item, index, value: key(item) }))
    .sort((a, b) => compareValues(a.value, b.value) * direction || a.index - b.index)
    .map((entry) => entry.item);
  const start = (page - 1) * size;
  return { items: sorted.slice(start, start + size), total: items.length, page, size };
}
