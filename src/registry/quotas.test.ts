/**
 * Quotas per registry and per space, in one process (SQLite): set and shown through the REST
 * API, a push over quota is DENIED with the quota and usage in the message, and concurrent
 * pushes that together exceed a quota leave the usage within it. (The same race across
 * replicas on PostgreSQL runs in test/e2e/scale-out.test.ts.)
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { blob, createDockerRegistry, pushBlob, pushImage, startInProcess, type Harness } from '../../test/helpers/inproc.js';

interface ErrorBody {
  errors: Array<{ code: string; message: string }>;
}

describe('quotas', () => {
  let h: Harness;
  before(async () => {
    h = await startInProcess();
    await createDockerRegistry(h, 'acme', 'limited');
  });
  after(async () => h.close());

  it('sets, shows and removes a registry quota through PATCH', async () => {
    const set = await h.call<{ quotaBytes: number | null }>('PATCH', '/api/v1/registries/acme/limited', { quotaBytes: 5000 });
    assert.equal(set.status, 200, set.text);
    assert.equal(set.json.quotaBytes, 5000);
    assert.equal((await h.call<{ quotaBytes: number | null }>('GET', '/api/v1/registries/acme/limited')).json.quotaBytes, 5000);
    assert.equal((await h.call('PATCH', '/api/v1/registries/acme/limited', { quotaBytes: -1 })).status, 400);
    const removed = await h.call<{ quotaBytes?: number }>('PATCH', '/api/v1/registries/acme/limited', { quotaBytes: null });
    assert.equal(removed.status, 200, removed.text);
    assert.equal(removed.json.quotaBytes, undefined, 'a registry without a quota shows none');
  });

  it('refuses a push over the registry quota with DENIED naming quota and usage', async () => {
    await h.call('PATCH', '/api/v1/registries/acme/limited', { quotaBytes: 3000 });
    assert.equal((await pushBlob(h, 'acme/limited/app', blob(randomBytes(2000)))).status, 201);
    const refused = await pushBlob(h, 'acme/limited/app', blob(randomBytes(1500)));
    assert.equal(refused.status, 403, refused.body);
    const error = (JSON.parse(refused.body) as ErrorBody).errors[0];
    assert.equal(error?.code, 'DENIED');
    assert.match(error?.message ?? '', /quota exceeded: registry acme\/limited has a quota of 3000 bytes .* uses 2000 bytes/);
    // A push that still fits goes through.
    assert.equal((await pushBlob(h, 'acme/limited/other', blob(randomBytes(900)))).status, 201);
    const view = await h.call<{ sizeBytes: number }>('GET', '/api/v1/registries/acme/limited');
    assert.ok(view.json.sizeBytes <= 3000, `usage ${view.json.sizeBytes} stays within the quota`);
  });

  it('keeps usage within the quota when 10 concurrent pushes together exceed it', async () => {
    await createDockerRegistry(h, 'acme', 'raced');
    const layer = 10_000;
    await h.call('PATCH', '/api/v1/registries/acme/raced', { quotaBytes: 5 * (layer + 1000) });
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => pushImage(h, `acme/raced/app${i}`, 'v1', [randomBytes(layer)])),
    );
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    assert.ok(ok >= 1 && ok < 10, `${ok} of 10 pushes went through`);
    for (const r of results) {
      if (r.status === 'rejected') assert.match(String(r.reason), /quota exceeded/);
    }
    const view = await h.call<{ sizeBytes: number; quotaBytes: number }>('GET', '/api/v1/registries/acme/raced');
    assert.ok(view.json.sizeBytes <= view.json.quotaBytes, `usage ${view.json.sizeBytes} <= quota ${view.json.quotaBytes}`);
  });

  it('applies a space quota to the registries of the space and of its nested spaces', async () => {
    assert.equal((await h.call('POST', '/api/v1/spaces', { path: 'team' })).status, 201);
    assert.equal((await h.call('POST', '/api/v1/spaces', { path: 'team/sub' })).status, 201);
    for (const [space, identifier] of [['team', 'one'], ['team/sub', 'two']] as const) {
      const r = await h.call('POST', '/api/v1/registries', { space, identifier, packageType: 'docker', kind: 'local' });
      assert.equal(r.status, 201, r.text);
    }
    const set = await h.call<{ quotaBytes: number; usageBytes: number }>('PATCH', '/api/v1/spaces/team', { quotaBytes: 4000 });
    assert.equal(set.status, 200, set.text);
    assert.deepEqual({ quota: set.json.quotaBytes, usage: set.json.usageBytes }, { quota: 4000, usage: 0 });
    assert.equal((await pushBlob(h, 'team/one/app', blob(randomBytes(2500)))).status, 201);
    const refused = await pushBlob(h, 'team/two/app', blob(randomBytes(2500)));
    assert.equal(refused.status, 403, refused.body);
    assert.match(refused.body, /space team has a quota of 4000 bytes/);
    assert.equal((await h.call<{ usageBytes: number }>('GET', '/api/v1/spaces/team')).json.usageBytes, 2500);
  });
});
