/**
 * The npm upstream adapter built over the core (`createNpmUpstreams`), handed to the npm
 * format's parts; its pieces are described in `npm-upstream.ts`.
 */
import type { NpmUpstreamDeps } from '../format.js';
import type { NpmUpstreams } from '../packages.js';
import { NpmCachedVersions } from './cached-versions.js';
import { NpmUpstreamAdapter } from './npm-upstream.js';
import { UpstreamPackumentStore } from './upstream-packument-store.js';
import { UpstreamPackuments } from './upstream-packuments.js';
import { UpstreamTarballs } from './upstream-tarballs.js';
import { parseFileHosts } from '../../../upstream/fetch-cache/file-hosts.js';

export { upstreamPackumentsMigration } from './upstream-packument-store.js';

const MIB = 1024 * 1024;
/** Largest audit answer read from an upstream. */
const MAX_AUDIT_BYTES = 32 * MIB;

export function createNpmUpstreams({ core, npm, versions, settings }: NpmUpstreamDeps): NpmUpstreams {
  const { config, services, database } = core;
  const cache = services.fetchCache;
  const packuments = new UpstreamPackuments(
    { cache, store: new UpstreamPackumentStore(database.db) },
    { maxBytes: settings.upstreamPackumentBytes, memoryBytes: settings.upstreamPackumentCacheMb * MIB },
  );
  const fileHosts = parseFileHosts(config.upstream.fileHosts);
  const tarballs = new UpstreamTarballs({ cache, store: services.store, blobs: services.blobs, versions: new NpmCachedVersions(npm, versions), fileHosts });
  return new NpmUpstreamAdapter({ store: services.store, cache, packuments, tarballs, maxAuditBytes: MAX_AUDIT_BYTES, renderedBytes: settings.upstreamPackumentCacheMb * MIB });
}
