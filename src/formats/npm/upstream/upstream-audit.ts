/**
 * npm audit requests (`POST /-/npm/v1/security/advisories/bulk` and `…/audits/quick`) forwarded
 * to the upstreams of a registry in order: the first one that answers 200 with a JSON object
 * wins. An upstream that fails, refuses or answers something else is skipped (logged); when
 * none answers, the result is undefined and the registry answers its empty result, so
 * `npm install` and `npm audit` never fail because of the registry. The body is forwarded as
 * the client sent it (npm gzips them: a body starting with the gzip magic goes with
 * `Content-Encoding: gzip`).
 */
import type { SpaceRecord, RegistryRecord } from '../../../metadata/store.js';
import { parseJsonBounded } from '../../../base/bounded-parse.js';
import { message } from '../../../upstream/fetch-cache/errors.js';
import type { FetchCache } from '../../../upstream/fetch-cache/fetch-cache.js';
import { readBody } from '../../../upstream/fetch-cache/read-body.js';
import type { UpstreamLog } from '../../../upstream/fetch-cache/upstreams.js';
import { bearerOf } from './upstream-packuments.js';

export async function forwardAudit(
  cache: FetchCache,
  root: SpaceRecord,
  proxies: readonly RegistryRecord[],
  endpoint: 'advisories/bulk' | 'audits/quick',
  body: Buffer,
  options: { log: UpstreamLog; maxBytes: number },
): Promise<unknown> {
  const gzipped = body.length > 2 && body[0] === 0x1f && body[1] === 0x8b;
  for (const proxy of proxies) {
    let label = `${root.path}/${proxy.identifier}`;
    try {
      const upstream = cache.upstream(root, proxy, options.log);
      if (!upstream) continue;
      label = upstream.label;
      const url = `${upstream.config.url.replace(/\/+$/, '')}/-/npm/v1/security/${endpoint}`;
      const headers = { 'content-type': 'application/json', accept: 'application/json', ...(gzipped ? { 'content-encoding': 'gzip' } : {}) };
      const res = await upstream.client.exchangeFile('POST', url, { headers, body, bearer: bearerOf(upstream) });
      if (res.status !== 200) {
        res.body.resume();
        options.log.info({ upstream: label, endpoint, status: res.status }, 'upstream: the audit endpoint did not answer; trying the next');
        continue;
      }
      const read = await readBody(res.body, options.maxBytes, 'the audit answer');
      const value = await parseJsonBounded(Buffer.concat(read.parts, read.length), { maxBytes: options.maxBytes, maxNodes: 2_000_000, maxDepth: 64, maxAliases: 0, timeoutMs: 10_000 });
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value;
    } catch (err) {
      options.log.warn({ upstream: label, endpoint, reason: message(err) }, 'upstream: the audit request failed; trying the next');
    }
  }
  return undefined;
}
