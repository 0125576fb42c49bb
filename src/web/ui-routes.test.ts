/**
 * The UI's static serving on a bare Fastify over a temp build folder: cache headers (hashed
 * assets immutable, index.html revalidated), the SPA fallback for client routes, and paths of
 * other surfaces and traversal attempts that never get the UI.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { registerUi } from './ui-routes.js';

describe('web UI serving', () => {
  let root: string;
  let app: FastifyInstance;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'pallet-ui-routes-'));
    await mkdir(join(root, 'assets'));
    await writeFile(join(root, 'index.html'), '<!doctype html><div id="root"></div>');
    await writeFile(join(root, 'assets', 'index-abc123.js'), 'console.log(1)');
    await writeFile(join(root, 'robots.txt'), 'User-agent: *');
    await writeFile(join(tmpdir(), 'outside-ui.txt'), 'secret');
    app = Fastify();
    app.register(
      async (api) => {
        api.get('/ping', async () => ({ ok: true }));
        api.setNotFoundHandler((_req, reply) => reply.code(404).send({ code: 'NOT_FOUND' }));
      },
      { prefix: '/api/v1' },
    );
    registerUi(app, { root });
    await app.ready();
  });
  after(async () => {
    await app.close();
    await rm(root, { recursive: true, force: true });
    await rm(join(tmpdir(), 'outside-ui.txt'), { force: true });
  });

  it('serves index.html at / and for client routes, revalidated on every load', async () => {
    for (const url of ['/', '/login?next=%2F', '/registries/acme/docker-local/artifacts/team%2Fapp']) {
      const res = await app.inject({ url });
      assert.equal(res.statusCode, 200, url);
      assert.equal(res.headers['cache-control'], 'no-cache');
      assert.match(String(res.headers['content-type']), /^text\/html/);
      assert.match(res.body, /id="root"/);
    }
  });

  it('serves hashed assets as immutable and answers 404 for a missing one', async () => {
    const res = await app.inject({ url: '/assets/index-abc123.js' });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.match(String(res.headers['content-type']), /^text\/javascript/);
    assert.equal(res.body, 'console.log(1)');
    assert.equal((await app.inject({ url: '/assets/index-missing.js' })).statusCode, 404);
    assert.equal((await app.inject({ url: '/robots.txt' })).body, 'User-agent: *');
  });

  it('never answers API, OCI or Helm paths, other methods, or traversal attempts with the UI', async () => {
    assert.deepEqual((await app.inject({ url: '/api/v1/nope' })).json(), { code: 'NOT_FOUND' });
    for (const url of ['/v2/acme/x/manifests/1', '/pkg/acme/charts/index.yaml', '/metrics/x']) {
      const res = await app.inject({ url });
      assert.equal(res.statusCode, 404, url);
      assert.doesNotMatch(res.body, /id="root"/);
    }
    assert.equal((await app.inject({ method: 'POST', url: '/registries' })).statusCode, 404);
    for (const url of ['/assets/..%2f..%2foutside-ui.txt', '/assets/%2e%2e/%2e%2e/outside-ui.txt', '/..%2foutside-ui.txt']) {
      const res = await app.inject({ url });
      assert.doesNotMatch(res.body, /secret/, url);
    }
  });
});
