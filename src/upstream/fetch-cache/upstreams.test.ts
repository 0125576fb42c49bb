/**
 * Which upstream a proxy's client talks to: a well-known source's fixed URL (from its format)
 * wins over whatever URL its stored row carries, and only such a source brings its extra hosts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { SecretBox } from '../../base/secret-box.js';
import type { RegistryRecord, SpaceRecord } from '../../metadata/store.js';
import { EgressPolicy } from '../egress.js';
import { UpstreamMetrics } from './metrics.js';
import { UpstreamClients } from './upstreams.js';

const quiet = { info() {}, warn() {} };
const root: SpaceRecord = { id: 's1', path: 'acme', parentId: null, rootId: 's1', description: '', createdAt: 0, updatedAt: 0 };

function proxy(packageType: string, upstream: Record<string, unknown>): RegistryRecord {
  return { id: `r-${packageType}-${String(upstream.source)}`, spaceId: 's1', rootSpaceId: 's1', identifier: 'hub', packageType, kind: 'upstream', description: '', labels: [], public: false, upstream, createdAt: 0, updatedAt: 0 };
}

describe('upstream clients', () => {
  const clients = new UpstreamClients(
    { secrets: new SecretBox(randomBytes(32)), metrics: new UpstreamMetrics(new Registry()), log: quiet, egress: new EgressPolicy({ allowedNetworks: '' }) },
    {
      timeoutMs: 1_000,
      deadlineMs: 1_000,
      sourceOf: (type, id) => (type === 'demo' && id === 'demohub' ? { defaultUrl: 'https://demo.example.org/files' } : undefined),
    },
  );

  after(() => clients.close());

  it("uses a well-known source's fixed URL whatever URL the stored row names", () => {
    const found = clients.find(root, proxy('demo', { source: 'demohub', url: 'http://10.0.0.1/elsewhere', auth: { type: 'anonymous' }, tagTtlSeconds: 60 }));
    assert.equal(found?.config.url, 'https://demo.example.org/files');
  });

  it('uses the stored URL of a custom source, and of a source the format does not know as well-known', () => {
    assert.equal(clients.find(root, proxy('demo', { source: 'custom', url: 'https://mirror.example.org', auth: { type: 'anonymous' }, tagTtlSeconds: 60 }))?.config.url, 'https://mirror.example.org');
    assert.equal(clients.find(root, proxy('other', { source: 'demohub', url: 'https://x.example.org', auth: { type: 'anonymous' }, tagTtlSeconds: 60 }))?.config.url, 'https://x.example.org');
  });
});
