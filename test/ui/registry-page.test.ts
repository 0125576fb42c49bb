/**
 * Web UI in a real browser against a real `pallet serve`, on one registry's page: an image and
 * an index pushed with skopeo found through artifacts → versions → version detail (with a
 * "cached" artifact fetched through an upstream proxy), Configuration with the upstream list
 * reordered by keyboard and by drag and drop (order checked through the API), Setup Client
 * with Generate token, and Delete from the menu next to Setup Client.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { image, index, type BuiltImage, type BuiltIndex } from '../fixtures/images.js';
import { ApiError, createRegistry, createSpace, getJson, type Registry } from '../helpers/api.js';
import { logIn, screenshot, useBrowser } from '../helpers/browser.js';
import { useServer } from '../helpers/server.js';
import { Skopeo } from '../helpers/skopeo.js';

describe('web UI: a registry page', { timeout: 180_000 }, () => {
  // One proxy below points at this same server on loopback, which needs the allow-list.
  const server = useServer({ label: 'ui-registry', env: { PALLET_UPSTREAM_ALLOWED_NETWORKS: '127.0.0.1/32' } });
  const browser = useBrowser();
  let page: Page;
  let work: string;
  let app: BuiltImage;
  let multi: BuiltIndex;

  before(async () => {
    const s = server();
    await createSpace(s, 'acme');
    await createRegistry(s, { space: 'acme', identifier: 'docker-local', packageType: 'docker', kind: 'local', description: 'Team images', labels: ['team-a'] });
    work = await mkdtemp(join(tmpdir(), 'pallet-ui-'));
    app = await image().file('/hello.txt', 'hello from the UI test\n').randomFile('/data.bin', 64 * 1024).layer().file('/etc/app.conf', 'x=1\n').build(join(work, 'app'), '1.0');
    multi = await index(image().file('/a', 'amd64\n').platform('linux', 'amd64'), image().file('/a', 'arm64\n').platform('linux', 'arm64')).build(join(work, 'multi'), 'multi');
    page = await browser().page();
    await logIn(page, s);
  });
  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('finds an image pushed with skopeo: artifacts → versions → layers, and an index with its platforms', async () => {
    const s = server();
    const skopeo = new Skopeo({ username: 'admin', password: s.adminPassword });
    await skopeo.copy(app.ref, Skopeo.ref(s.host, 'acme/docker-local/team/app', '1.0'), { preserveDigests: true });
    await skopeo.copy(multi.ref, Skopeo.ref(s.host, 'acme/docker-local/multi', 'v2'), { all: true, preserveDigests: true });

    await page.goto(`${s.url}/?space=acme`);
    await page.getByRole('link', { name: 'docker-local' }).click();
    await page.getByRole('link', { name: 'team/app' }).waitFor();
    assert.equal(await page.getByRole('tab', { name: 'Artifacts' }).getAttribute('aria-selected'), 'true');
    await page.getByRole('button', { name: 'Copy pull command for team/app' }).waitFor();
    assert.ok((await page.locator('td.pull code').allTextContents()).includes(`docker pull ${s.host}/acme/docker-local/team/app:1.0`));
    await screenshot(page, '10-artifacts');

    await page.getByRole('link', { name: 'team/app' }).click();
    await page.getByRole('heading', { name: /team\/app/ }).waitFor();
    await page.getByRole('table', { name: 'Versions of team/app' }).getByText('1.0', { exact: true }).waitFor();
    await screenshot(page, '11-versions');
    await page.getByRole('link', { name: app.digest.slice(0, 19) }).click();
    await page.getByRole('table', { name: 'Layers, in order' }).waitFor();
    const layerRows = page.getByRole('table', { name: 'Layers, in order' }).locator('tbody tr');
    assert.equal(await layerRows.count(), app.layers.length);
    assert.match((await page.locator('.facts').first().textContent()) ?? '', new RegExp(app.digest));
    assert.ok((await page.locator('.command code').allTextContents()).includes(`docker pull ${s.host}/acme/docker-local/team/app@${app.digest}`));
    await page.getByRole('heading', { name: 'Config' }).waitFor();
    await screenshot(page, '12-version-detail-image');

    await page.goto(`${s.url}/registries/acme/docker-local/artifacts/multi/versions/v2`);
    const platforms = page.getByRole('table', { name: 'Platforms of this index' });
    await platforms.waitFor();
    await platforms.getByText('linux/amd64').waitFor();
    await platforms.getByText('linux/arm64').waitFor();
    await screenshot(page, '13-version-detail-index');
  });

  it('shows a "cached" badge for content fetched through an upstream proxy', async () => {
    const s = server();
    // The upstream proxy points at this same server, so no outside registry is needed.
    await createRegistry(s, {
      space: 'acme',
      identifier: 'self',
      packageType: 'docker',
      kind: 'upstream',
      upstream: { source: 'custom', url: s.url, auth: { type: 'basic', username: 'admin', password: s.adminPassword } },
    });
    await createRegistry(s, { space: 'acme', identifier: 'proxied', packageType: 'docker', kind: 'local', upstreams: ['self'] });
    const skopeo = new Skopeo({ username: 'admin', password: s.adminPassword });
    await skopeo.copy(Skopeo.ref(s.host, 'acme/proxied/acme/docker-local/team/app', '1.0'), `oci:${join(work, 'pulled')}:1.0`);
    await page.goto(`${s.url}/registries/acme/proxied`);
    const row = page.getByRole('row').filter({ hasText: 'acme/docker-local/team/app' });
    await row.getByText('cached', { exact: true }).waitFor();
    await screenshot(page, '14-cached-badge');
  });

  it('edits the configuration and reorders upstreams by keyboard and by drag and drop', async () => {
    const s = server();
    for (const id of ['hub', 'mirror-a', 'mirror-b']) {
      await createRegistry(s, { space: 'acme', identifier: id, packageType: 'docker', kind: 'upstream', upstream: { source: 'custom', url: `https://${id}.example.com` } });
    }
    await createRegistry(s, { space: 'acme', identifier: 'charts-proxy', packageType: 'helm', kind: 'upstream', upstream: { source: 'custom', url: 'https://charts.example.com' } });
    await page.goto(`${s.url}/registries/acme/docker-local`);
    await page.getByRole('tab', { name: 'Configuration' }).click();
    await page.getByLabel('Description').fill('Team images, proxied');
    await page.getByText('You have unsaved changes.').waitFor();
    await page.getByText('Advanced (Optional)').click();
    await page.getByRole('heading', { name: 'Configure Upstream' }).waitFor();
    await page.getByText(/from top to bottom/).waitFor();
    const available = page.getByRole('list', { name: 'Available upstream proxies' });
    await available.getByText('mirror-b', { exact: true }).waitFor();
    assert.equal(await available.getByText('charts-proxy', { exact: true }).count(), 0, 'only proxies of the same type are offered');
    for (const id of ['hub', 'mirror-a', 'mirror-b']) await page.getByRole('button', { name: `Add ${id}`, exact: true }).click();
    const order = async (): Promise<string[]> => page.locator('.order-list li strong').allTextContents();
    assert.deepEqual(await order(), ['hub', 'mirror-a', 'mirror-b']);

    // Keyboard: focus "Move mirror-b up", press Enter twice; focus follows the moved item.
    await page.getByRole('button', { name: 'Move mirror-b up' }).focus();
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.activeElement?.getAttribute('aria-label') === 'Move mirror-b up');
    await page.keyboard.press('Enter');
    assert.deepEqual(await order(), ['mirror-b', 'hub', 'mirror-a']);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved.').waitFor();
    let saved = await getJson<Registry & { upstreams: string[]; description: string }>(s, '/registries/acme/docker-local');
    assert.deepEqual(saved.upstreams, ['mirror-b', 'hub', 'mirror-a']);
    assert.equal(saved.description, 'Team images, proxied');
    await screenshot(page, '15-configuration-keyboard-order');

    // Drag and drop: mirror-a (last) onto the first place.
    await page.locator('.order-list li[data-upstream="mirror-a"]').dragTo(page.locator('.order-list li[data-upstream="mirror-b"]'));
    assert.deepEqual(await order(), ['mirror-a', 'mirror-b', 'hub']);
    await page.getByText('You have unsaved changes.').waitFor();

    // Leaving with unsaved changes asks first; dismissing stays on the page.
    page.once('dialog', (d) => {
      assert.match(d.message(), /unsaved changes/);
      void d.dismiss();
    });
    await page.getByRole('tab', { name: 'Artifacts' }).click();
    assert.equal(await page.getByRole('tab', { name: 'Configuration' }).getAttribute('aria-selected'), 'true');
    await screenshot(page, '16-configuration-drag-unsaved');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved.').waitFor();
    saved = await getJson<Registry & { upstreams: string[]; description: string }>(s, '/registries/acme/docker-local');
    assert.deepEqual(saved.upstreams, ['mirror-a', 'mirror-b', 'hub']);
  });

  it('Setup Client shows the commands with copy buttons and generates a token shown once', async () => {
    const s = server();
    await page.goto(`${s.url}/registries/acme/docker-local`);
    await page.getByRole('button', { name: 'Setup Client' }).click();
    const panel = page.getByRole('dialog', { name: 'Setup Client: docker-local' });
    await panel.getByText(`docker login ${s.host}`, { exact: true }).waitFor();
    await panel.getByText(`docker pull ${s.host}/acme/docker-local/<image>:<tag>`, { exact: true }).waitFor();
    await panel.getByRole('button', { name: `Copy: docker login ${s.host}` }).click();
    await panel.getByRole('button', { name: `Copy: docker login ${s.host}` }).getByText('Copied').waitFor();
    await panel.getByRole('button', { name: 'Generate token' }).click();
    const token = (await panel.getByTestId('new-token').textContent()) ?? '';
    assert.match(token, /^pallet_/);
    await panel.getByText('it is shown only once').waitFor();
    assert.equal(await panel.getByRole('button', { name: 'Generate token' }).count(), 0);
    const me = await fetch(`${s.url}/api/v1/auth/me`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(me.status, 200, 'the generated token authenticates');
    await screenshot(page, '17-setup-client-token');
    await page.keyboard.press('Escape');
    await panel.waitFor({ state: 'detached' });
    await page.getByRole('button', { name: 'Generate token' }).waitFor({ state: 'detached' });
  });

  it('deletes the registry from the menu next to Setup Client', async () => {
    const s = server();
    await createRegistry(s, { space: 'acme', identifier: 'doomed', packageType: 'docker', kind: 'local' });
    await page.goto(`${s.url}/registries/acme/doomed`);
    await page.getByRole('button', { name: 'More actions for doomed' }).click();
    await page.getByRole('menuitem', { name: 'Delete' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete registry doomed?' });
    await dialog.getByText(/all its artifacts/).waitFor();
    await dialog.getByLabel('Type doomed to confirm').fill('doome');
    assert.equal(await dialog.getByRole('button', { name: 'Delete registry' }).isDisabled(), true);
    await dialog.getByLabel('Type doomed to confirm').fill('doomed');
    await screenshot(page, '18-delete-from-registry-page');
    await dialog.getByRole('button', { name: 'Delete registry' }).click();
    await page.waitForURL(/\/\?space=acme$/);
    await page.getByRole('heading', { name: 'Registries' }).waitFor();
    await assert.rejects(getJson(s, '/registries/acme/doomed'), (err: unknown) => err instanceof ApiError && err.status === 404);
  });
});
