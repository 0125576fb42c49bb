/**
 * `POST /registries/{root}/{identifier}/cleanup[?dryRun=true]`: runs the registry's cleanup
 * policy now (set it with PATCH `cleanupPolicy`) and answers what it deleted, or with a dry
 * run what it would delete. Needs `manage` on the registry. The bytes of deleted versions are
 * reclaimed by the next GC run past its grace period.
 */
import type { FastifyInstance } from 'fastify';
import type { Services } from '../services.js';
import { ApiAccess } from './access.js';
import { withErrors } from './responses.js';
import { cleanupQuery, cleanupReportSchema } from './cleanup-schemas.js';

export function cleanupRoutes(app: FastifyInstance, services: Services): void {
  const access = new ApiAccess(services);
  app.post<{ Params: { root: string; identifier: string }; Querystring: { dryRun?: boolean } }>(
    '/registries/:root/:identifier/cleanup',
    { schema: { querystring: cleanupQuery, response: withErrors({ 200: cleanupReportSchema }) } },
    async (request) => {
      const { root, identifier } = request.params;
      const registry = await access.registry(request, 'manage', root, identifier);
      return services.cleanup.run(registry, `${root}/${identifier}`, request.query.dryRun ?? false, request.log);
    },
  );
}
