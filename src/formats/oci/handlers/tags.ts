/** `GET /v2/<name>/tags/list`: the repository's tags, paged with `n` and `last` (a `Link` header to the next page). */
import { PalletError } from '../../../base/errors.js';
import type { OciDeps, Route } from './common.js';

/** `n` of a paged listing: a non-negative integer, or undefined when absent. */
export function pageSize(raw: string | undefined): number | undefined {
  const n = raw === undefined ? undefined : Number(raw);
  if (n !== undefined && (!Number.isInteger(n) || n < 0)) {
    throw new PalletError('INVALID_ARGUMENT', `n must be a non-negative integer, got ${JSON.stringify(raw)}`);
  }
  return n;
}

export function tagRoutes({ services }: OciDeps): Route {
  return {
    pattern: /^(.+)\/tags\/list$/,
    name: 'tags',
    methods: {
      GET: async ({ reply, target, query }) => {
        const repo = await services.repositories.forPull(target);
        const n = pageSize(query.n);
        const list = await services.manifests.tags(repo, n, query.last);
        if (list.next !== undefined) {
          reply.header('Link', `</v2/${target.fullName}/tags/list?n=${n}&last=${encodeURIComponent(list.next)}>; rel="next"`);
        }
        return reply.send({ name: target.fullName, tags: list.tags });
      },
    },
  };
}
