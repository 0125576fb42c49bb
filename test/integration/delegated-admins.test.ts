/**
 * What an admin of one project (or a token limited to it) may not take from its neighbours:
 * another project's upstream proxy (it pulls with the proxy's stored credentials and serves its
 * cache), and the quota its organization set on it. Found by an adversarial review of the
 * hardening work; each failed before its fix.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { chart } from '../fixtures/charts.js';
import { startInProcess, type Harness } from '../helpers/inproc.js';

const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

describe('delegated project admins', () => {
  let h: Harness;
  const mallory = basic('mallory', 'mallory-password-1');

  async function as(headers: Record<string, string>, method: string, url: string, body?: unknown) {
    const res = await h.app.server.inject({ method: method as 'GET', url, headers, ...(body !== undefined ? { payload: body as object } : {}) });
    return { status: res.statusCode, text: res.body };
  }

  before(async () => {
    h = await startInProcess({ upstream: { allowedNetworks: '127.0.0.1/32' } });
    for (const path of ['acme', 'acme/p1', 'acme/p2']) assert.equal((await h.call('POST', '/api/v1/spaces', { path })).status, 201);
    assert.equal((await h.call('POST', '/api/v1/users', { username: 'mallory', password: 'mallory-password-1' })).status, 201);
    assert.equal((await h.call('PUT', '/api/v1/spaces/acme%2Fp1/members/mallory', { role: 'admin' })).status, 200);
    const proxy = {
      space: 'acme/p2',
      identifier: 'p2-proxy',
      packageType: 'docker',
      kind: 'upstream',
      upstream: { source: 'custom', url: 'http://127.0.0.1:9', auth: { type: 'basic', username: 'p2bot', password: 'p2-secret' } },
    };
    assert.equal((await h.call('POST', '/api/v1/registries', proxy)).status, 201);
    assert.equal((await h.call('POST', '/api/v1/registries', { space: 'acme/p1', identifier: 'p1-local', packageType: 'docker', kind: 'local' })).status, 201);
  });

  after(async () => {
    await h?.close();
  });

  it('cannot list a proxy of another project, whose credentials it would pull with', async () => {
    const created = await as(mallory, 'POST', '/api/v1/registries', {
      space: 'acme/p1',
      identifier: 'p1-sneaky',
      packageType: 'docker',
      kind: 'local',
      upstreams: ['p2-proxy'],
    });
    assert.equal(created.status, 403, created.text);
    const patched = await as(mallory, 'PATCH', '/api/v1/registries/acme/p1-local', { upstreams: ['p2-proxy'] });
    assert.equal(patched.status, 403, patched.text);
    const view = await h.call<{ upstreams: string[] }>('GET', '/api/v1/registries/acme/p1-local');
    assert.deepEqual(view.json.upstreams, []);
  });

  it('may list a proxy it can pull from, and keeps one an administrator listed', async () => {
    assert.equal((await h.call('PUT', '/api/v1/spaces/acme%2Fp2/members/mallory', { role: 'reader' })).status, 200);
    const patched = await as(mallory, 'PATCH', '/api/v1/registries/acme/p1-local', { upstreams: ['p2-proxy'] });
    assert.equal(patched.status, 200, patched.text);
    assert.equal((await h.call('DELETE', '/api/v1/spaces/acme%2Fp2/members/mallory')).status, 204);
    // An administrator's choice stays when the project admin edits the rest of the list.
    const kept = await as(mallory, 'PATCH', '/api/v1/registries/acme/p1-local', { description: 'mine', upstreams: ['p2-proxy'] });
    assert.equal(kept.status, 200, kept.text);
  });

  it('cannot lift the quota its organization set on its project or on a registry in it', async () => {
    assert.equal((await h.call('PATCH', '/api/v1/spaces/acme%2Fp1', { quotaBytes: 1_000_000 })).status, 200);
    const lifted = await as(mallory, 'PATCH', '/api/v1/spaces/acme%2Fp1', { quotaBytes: null });
    assert.equal(lifted.status, 403, lifted.text);
    const space = await h.call<{ quotaBytes: number | null }>('GET', '/api/v1/spaces/acme%2Fp1');
    assert.equal(space.json.quotaBytes, 1_000_000);
    assert.equal((await h.call('PATCH', '/api/v1/registries/acme/p1-local', { quotaBytes: 500_000 })).status, 200);
    const registry = await as(mallory, 'PATCH', '/api/v1/registries/acme/p1-local', { quotaBytes: null });
    assert.equal(registry.status, 403, registry.text);
    // Other settings stay the project admin's.
    assert.equal((await as(mallory, 'PATCH', '/api/v1/registries/acme/p1-local', { description: 'still mine' })).status, 200);
  });

  it('needs the delete permission to replace a chart version (?force)', async () => {
    assert.equal((await h.call('POST', '/api/v1/registries', { space: 'acme/p1', identifier: 'charts', packageType: 'helm', kind: 'local' })).status, 201);
    const token = await h.call<{ token: string }>('POST', '/api/v1/user/tokens', { name: 'push-only', scopes: ['read', 'write'], expiresInDays: 1 });
    assert.equal(token.status, 201, token.text);
    const bearer = { authorization: `Bearer ${token.json.token}` };
    const archive = await chart('hello', '0.1.0').build();
    const upload = (query: string) =>
      h.app.server.inject({ method: 'POST', url: `/pkg/acme/charts/helm/api/charts${query}`, headers: { ...bearer, 'content-type': 'application/gzip' }, payload: archive });
    assert.equal((await upload('')).statusCode, 201);
    const forced = await upload('?force=true');
    assert.equal(forced.statusCode, 403, forced.body);
  });
});
