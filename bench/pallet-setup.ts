/**
 * Creates what Pallet needs before the first push: space `bench` and the local docker registry
 * `bench/docker-local`, through the REST API (`POST /api/v1/spaces`, `POST /api/v1/registries`)
 * as the bootstrap admin. While the REST API does not exist yet (404), the same rows are written
 * straight into the server's SQLite metadata store, which the running server reads on every
 * request.
 */
import { HttpClient } from './http-client.js';
import type { PalletServer } from './servers.js';

export const SPACE = 'bench';
export const REGISTRY = 'docker-local';

export async function preparePallet(server: PalletServer): Promise<'rest' | 'store'> {
  const http = new HttpClient(server.baseUrl);
  try {
    const json = {
      'content-type': 'application/json',
      authorization: `Basic ${Buffer.from(`admin:${server.adminPassword}`).toString('base64')}`,
    };
    const space = await http.request('POST', '/api/v1/spaces', { headers: json, body: Buffer.from(JSON.stringify({ path: SPACE })) });
    if (space.status === 404) {
      await prepareThroughStore(server.dataDir);
      return 'store';
    }
    if (space.status !== 201 && space.status !== 200) {
      throw new Error(`POST /api/v1/spaces → ${space.status}: ${space.body.toString('utf8')}`);
    }
    const body = { space: SPACE, identifier: REGISTRY, packageType: 'docker', kind: 'local' };
    const registry = await http.request('POST', '/api/v1/registries', { headers: json, body: Buffer.from(JSON.stringify(body)) });
    if (registry.status !== 201 && registry.status !== 200) {
      throw new Error(`POST /api/v1/registries → ${registry.status}: ${registry.body.toString('utf8')}`);
    }
    return 'rest';
  } finally {
    http.close();
  }
}

async function prepareThroughStore(dataDir: string): Promise<void> {
  const { openMetadataStore } = await import('../src/metadata/open.js');
  const store = await openMetadataStore({ url: '', dataDir });
  try {
    const space = await store.createSpace({ path: SPACE, parentId: null, description: '' });
    await store.createRegistry({
      spaceId: space.id,
      identifier: REGISTRY,
      packageType: 'docker',
      kind: 'local',
      description: '',
      labels: [],
      public: false,
      upstream: null,
    });
  } finally {
    await store.close();
  }
}
