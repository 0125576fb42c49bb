/**
 * The list query every paged API route takes (`?page=&size=&sort=&order=&q=`), already
 * shape-checked and defaulted by the route's querystring schema.
 */
import type { PageRequest, SortOrder } from '../registry/listing.js';

export interface ListQuery {
  page?: number;
  size?: number;
  sort?: string;
  order?: SortOrder;
  q?: string;
}

export function pageRequest(query: ListQuery): PageRequest {
  return {
    ...(query.page !== undefined ? { page: query.page } : {}),
    ...(query.size !== undefined ? { size: query.size } : {}),
    ...(query.sort !== undefined ? { sort: query.sort } : {}),
    ...(query.order !== undefined ? { order: query.order } : {}),
  };
}
