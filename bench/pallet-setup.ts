/**
 * Creates what Pallet needs before the first push, through the REST API as the bootstrap admin:
 * space `bench` (`POST /api/v1/spaces`) and the local docker registry `bench/docker-local`
 * (`POST /api/v1/registries`). Anything but 201 fails the run.
 */
import { HttpClient } from './http-client.js';
import type { PalletServer } from './servers.js';

export const SPACE = 'bench';
export const REGISTRY = 'docker-local';

export async function preparePallet(server: PalletServer): Promise<void> {
  const http = new HttpClient(server.baseUrl);
  const headers = {
    'content-type': 'application/json',
    authorization: `Basic ${Buffer.from(`admin:${server.adminPassword}`).toString('base64')}`,
  };
  const json = (value: unknown) => Buffer.from(JSON.stringify(value));
  try {
    await http.expect(201, 'POST', '/api/v1/spaces', { headers, body: json({ path: SPACE }) });
    await http.expect(201, 'POST', '/api/v1/registries', {
      headers,
      body: json({ space: SPACE, identifier: REGISTRY, packageType: 'docker', kind: 'local' }),
    });
  } finally {
    http.close();
  }
}
