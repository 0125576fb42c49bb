/**
 * The endpoints outside a repository: `GET /v2/` (the version check: 200 for any authenticated
 * caller, a challenge for anonymous ones so that clients fetch a token) and `GET /v2/_catalog`
 * (every repository with at least one manifest that the caller may pull, sorted, paged with `n`
 * and `last`; an anonymous token lists public registries only).
 */
import type { FastifyInstance } from 'fastify';
import type { Principal } from '../../../auth/principal.js';
import { principalOf } from '../../../http/request-auth.js';
import type { RegistryRecord } from '../../../metadata/store.js';
import type { OciDeps } from './common.js';
import { pageSize } from './tags.js';

export function registerBaseRoutes(app: FastifyInstance, { services, auth }: OciDeps): void {
  app.get('/v2/', async (request, reply) => {
    request.metricsRoute = 'oci.base';
    if (principalOf(request).kind === 'anonymous') return auth.sendChallenge(reply, 'authentication required');
    return reply.header('Content-Type', 'application/json').send({});
  });
  app.get('/v2', async (_request, reply) => reply.redirect('/v2/', 301));

  app.get('/v2/_catalog', async (request, reply) => {
    request.metricsRoute = 'oci.catalog';
    if (principalOf(request).kind === 'anonymous') {
      return auth.sendChallenge(reply, 'authentication required to list repositories', 'registry:catalog:*');
    }
    const query = request.query as Record<string, string | undefined>;
    const n = pageSize(query.n);
    const names = await catalog(principalOf(request));
    const after = query.last === undefined ? names : names.filter((name) => name > query.last!);
    const page = n === undefined ? after : after.slice(0, n);
    if (n !== undefined && n > 0 && after.length > n) {
      reply.header('Link', `</v2/_catalog?n=${n}&last=${encodeURIComponent(page[page.length - 1]!)}>; rel="next"`);
    }
    return reply.send({ repositories: page });
  });

  /** Every repository name (with at least one manifest) the caller may pull, sorted. */
  async function catalog(principal: Principal): Promise<string[]> {
    const visible = await auth.catalogFilter(principal);
    const registries: RegistryRecord[] = [];
    for (const r of await services.store.listRegistries()) if (await visible(r)) registries.push(r);
    const byId = new Map(registries.map((r) => [r.id, r]));
    const spaces = new Map((await services.store.listSpaces()).map((s) => [s.id, s]));
    const artifacts = await services.store.listArtifacts(registries.map((r) => r.id));
    const names: string[] = [];
    for (const a of artifacts) {
      if (a.versionCount === 0) continue;
      const registry = byId.get(a.registryId);
      const root = registry && spaces.get(registry.rootSpaceId);
      if (registry && root) names.push(`${root.path}/${registry.identifier}/${a.name}`);
    }
    return names.sort();
  }
}
