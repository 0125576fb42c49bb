/**
 * The `/v2` repository endpoints, in match order (`…/blobs/uploads/` before `…/blobs/<digest>`),
 * each a path pattern with a handler per method, built from the handler modules in
 * `handlers/`. `routes.ts` matches a request against this table, authorizes the action the
 * route and method need (`ociAction`) on the repository, then runs the handler.
 */
import { blobRoutes } from './handlers/blobs.js';
import type { OciDeps, Route } from './handlers/common.js';
import { manifestRoutes } from './handlers/manifests.js';
import { referrerRoutes } from './handlers/referrers.js';
import { tagRoutes } from './handlers/tags.js';
import { uploadRoutes } from './handlers/uploads.js';

export function routeTable(deps: OciDeps): Route[] {
  return [manifestRoutes(deps), ...uploadRoutes(deps), blobRoutes(deps), tagRoutes(deps), referrerRoutes(deps)];
}
