/**
 * `GET /v2/<name>/referrers/<digest>`: the referrers API, an image index of the manifests whose
 * subject is the digest, optionally filtered by `artifactType` (then `OCI-Filters-Applied`).
 * An unknown repository has no referrers: an empty index, not an error, as the spec asks.
 */
import type { OciDeps, Route } from './common.js';

export function referrerRoutes({ services }: OciDeps): Route {
  return {
    pattern: /^(.+)\/referrers\/([^/]+)$/,
    name: 'referrers',
    methods: {
      GET: async ({ reply, target, param, query }) => {
        const repo = await services.store.findRepository(target.registry.id, target.name);
        const index = await services.manifests.referrers(repo, param, query.artifactType);
        if (query.artifactType) reply.header('OCI-Filters-Applied', 'artifactType');
        return reply.header('Content-Type', index.mediaType).send(Buffer.from(JSON.stringify(index)));
      },
    },
  };
}
