/**
 * Web UI in a real browser (headless Chromium) against a real `pallet serve`: log in and out,
 * the space switcher, the Registries landing page (search, filters, sort, paging, empty
 * states), New Artifact Registry, New Upstream Proxy, and Delete from the row menu (with the
 * API's 409 shown in place). Each test ends with a screenshot under `test-output/ui/`.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { ApiError, createRegistry, createSpace, getJson, type Registry } from '../helpers/api.js';
import { screenshot, useBrowser } from '../helpers/browser.js';
import { useServer } from '../helpers/server.js';

describe('web UI: registries', { timeout: 120_000 }, () => {
  const server = useServer({ label: 'ui-registries' });
  const browser = useBrowser();
  let page: Page;

  before(async () => {
    await createSpace(server(), 'acme');
    await createSpace(server(), 'acme/payments');
    await createSpace(server(), 'empty-org');
    page = await browser().page();
  });

  const rowNames = async (): Promise<string[]> => page.locator('tbody tr td:first-child a').allTextContents();

  it('logs in, switches spaces (organization → project) and logs out', async () => {
    await page.goto(`${server().url}/`);
    await page.waitForURL(/\/login/);
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill('wrong-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').waitFor();
    assert.match((await page.getByRole('alert').textContent()) ?? '', /invalid|password|credentials/i);

    await page.getByLabel('Password').fill(server().adminPassword);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('Signed in as').waitFor();
    const switcher = page.getByLabel('Space');
    await switcher.selectOption('acme/payments');
    await page.waitForURL(/space=acme%2Fpayments/);
    await page.getByRole('heading', { name: 'No registries in acme/payments yet' }).waitFor();
    await switcher.selectOption('acme');
    await page.waitForURL(/space=acme$/);
    await screenshot(page, '01-login-space-switcher');

    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL(/\/login/);
    await page.goto(`${server().url}/?space=acme`);
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    assert.ok(page.url().includes('/login?next='), page.url());
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill(server().adminPassword);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/\?space=acme$/);
    await page.getByText('Signed in as').waitFor();
    await screenshot(page, '01-login-page-after-logout');
  });

  it('shows an empty state that says what to do first', async () => {
    await page.goto(`${server().url}/?space=empty-org`);
    await page.getByRole('heading', { name: 'No registries in empty-org yet' }).waitFor();
    assert.equal(await page.getByRole('button', { name: '+ New Artifact Registry' }).count(), 2);
    await page.getByRole('button', { name: 'New Upstream Proxy' }).waitFor();
    await screenshot(page, '02-landing-empty');
  });

  it('creates an artifact registry with live name validation', async () => {
    await page.goto(`${server().url}/?space=acme`);
    await page.getByRole('button', { name: '+ New Artifact Registry' }).first().click();
    const dialog = page.getByRole('dialog', { name: 'New Artifact Registry' });
    await dialog.getByRole('radio', { name: /^Helm/ }).check();
    const name = dialog.getByLabel('Registry name');
    await name.fill('1-Bad Name');
    assert.equal(await name.getAttribute('aria-invalid'), 'true');
    assert.match((await dialog.locator('.field-error').textContent()) ?? '', /\^\[a-z\]\[a-z0-9\._-\]\*\$/);
    await screenshot(page, '03-new-registry-invalid-name');
    await name.fill('charts');
    assert.equal(await name.getAttribute('aria-invalid'), null);
    await dialog.getByLabel('Description (optional)').fill('Helm charts of the payments team');
    await dialog.getByLabel('Labels (optional)').fill('team-a, prod');
    await dialog.getByRole('button', { name: 'Create Registry' }).click();
    await page.waitForURL(/\/registries\/acme\/charts$/);
    await page.getByRole('heading', { name: 'charts', level: 1 }).waitFor();
    const created = await getJson<Registry & { description: string; labels: string[] }>(server(), '/registries/acme/charts');
    assert.equal(created.packageType, 'helm');
    assert.equal(created.kind, 'local');
    assert.equal(created.description, 'Helm charts of the payments team');
    assert.deepEqual(created.labels, ['team-a', 'prod']);

    // A name taken already: the API's answer is shown in the dialog.
    await page.goto(`${server().url}/?space=acme`);
    await page.getByRole('button', { name: '+ New Artifact Registry' }).first().click();
    await dialog.getByLabel('Registry name').fill('charts');
    await dialog.getByRole('button', { name: 'Create Registry' }).click();
    await dialog.getByRole('alert').waitFor();
    assert.match((await dialog.getByRole('alert').textContent()) ?? '', /exists/i);
    await screenshot(page, '03-new-registry-conflict');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
  });

  it('creates upstream proxies: Docker Hub, custom Docker with credentials, Helm', async () => {
    await page.goto(`${server().url}/?space=acme`);
    const open = async (): Promise<ReturnType<Page['getByRole']>> => {
      await page.getByRole('button', { name: 'More ways to create' }).click();
      await page.getByRole('menuitem', { name: 'Upstream Proxy' }).click();
      return page.getByRole('dialog', { name: 'New Upstream Proxy' });
    };
    let dialog = await open();
    await dialog.getByLabel('Upstream proxy key').fill('dockerhub');
    await dialog.getByRole('button', { name: 'Create Upstream Proxy' }).click();
    await dialog.waitFor({ state: 'detached' });

    dialog = await open();
    await dialog.getByLabel('Upstream proxy key').fill('mirror');
    await dialog.getByLabel('Custom').check();
    await dialog.getByLabel('Remote registry URL').fill('https://mirror.example.com');
    await dialog.getByLabel('Username and password').check();
    await dialog.getByLabel('Username', { exact: true }).fill('robot');
    await dialog.getByLabel('Password or token').fill('s3cret');
    await screenshot(page, '04-new-upstream-custom');
    await dialog.getByRole('button', { name: 'Create Upstream Proxy' }).click();
    await dialog.waitFor({ state: 'detached' });

    dialog = await open();
    await dialog.getByRole('radio', { name: /^Helm/ }).check();
    await dialog.getByLabel('Upstream proxy key').fill('bitnami');
    await dialog.getByLabel('Remote registry URL').fill('https://charts.example.com/bitnami');
    await dialog.getByRole('button', { name: 'Create Upstream Proxy' }).click();
    await dialog.waitFor({ state: 'detached' });

    const hub = await getJson<Registry & { upstream: { source: string; url: string; auth: { type: string } } }>(server(), '/registries/acme/dockerhub');
    assert.equal(hub.kind, 'upstream');
    assert.equal(hub.upstream.source, 'dockerhub');
    assert.equal(hub.upstream.auth.type, 'anonymous');
    const mirror = await getJson<Registry & { upstream: { source: string; url: string; auth: { type: string; username: string } } }>(server(), '/registries/acme/mirror');
    assert.equal(mirror.upstream.source, 'custom');
    assert.equal(mirror.upstream.url, 'https://mirror.example.com');
    assert.deepEqual(mirror.upstream.auth, { type: 'basic', username: 'robot' });
    const helm = await getJson<Registry & { upstream: { url: string } }>(server(), '/registries/acme/bitnami');
    assert.equal(helm.packageType, 'helm');
    assert.equal(helm.upstream.url, 'https://charts.example.com/bitnami');

    await page.getByRole('cell', { name: 'bitnami', exact: true }).waitFor();
    await screenshot(page, '04-landing-with-upstreams');
  });

  it('searches, filters by type and kind, sorts by every column and pages on the server', async () => {
    for (let i = 0; i < 23; i++) {
      await createRegistry(server(), {
        space: i % 2 === 0 ? 'acme' : 'acme/payments',
        identifier: `svc-${String(i).padStart(2, '0')}`,
        packageType: 'docker',
        kind: 'local',
        description: `service ${i}`,
        labels: i % 3 === 0 ? ['team-a'] : [],
      });
    }
    const requests: string[] = [];
    page.on('request', (r) => {
      if (r.url().includes('/api/v1/registries?')) requests.push(r.url());
    });
    await page.goto(`${server().url}/?space=acme&size=20`);
    await page.getByRole('status').filter({ hasText: 'of 27 registries' }).waitFor();
    assert.equal((await rowNames()).length, 20);
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByRole('status').filter({ hasText: '21–27 of 27 registries' }).waitFor();
    assert.ok(requests.every((u) => /size=20/.test(u)), 'every list request asks for one page only');

    await page.getByRole('searchbox', { name: 'Search registries' }).fill('svc-1');
    await page.getByRole('status').filter({ hasText: 'of 10 registries' }).waitFor();
    assert.ok((await rowNames()).every((n) => n.startsWith('svc-1')));
    await page.getByRole('searchbox', { name: 'Search registries' }).fill('');
    await page.getByRole('status').filter({ hasText: 'of 27 registries' }).waitFor();

    await page.getByLabel('Type').selectOption('helm');
    await page.getByRole('status').filter({ hasText: 'of 2 registries' }).waitFor();
    assert.deepEqual((await rowNames()).sort(), ['bitnami', 'charts']);
    await page.getByLabel('Kind').selectOption('upstream');
    await page.getByRole('status').filter({ hasText: 'of 1 registries' }).waitFor();
    assert.deepEqual(await rowNames(), ['bitnami']);
    await page.getByLabel('Type').selectOption('');
    await page.getByRole('status').filter({ hasText: 'of 3 registries' }).waitFor();
    await page.getByLabel('Kind').selectOption('');
    await page.getByRole('status').filter({ hasText: 'of 27 registries' }).waitFor();

    for (const header of ['Type', 'Kind', 'Description', 'Labels', 'Size', 'Artifacts', 'Downloads', 'Last modified']) {
      const th = page.getByRole('columnheader', { name: header });
      await th.getByRole('button').click();
      await page.waitForFunction((h) => [...document.querySelectorAll('th')].some((t) => t.textContent?.startsWith(h) && t.getAttribute('aria-sort') === 'ascending'), header);
      await th.getByRole('button').click();
      await page.waitForFunction((h) => [...document.querySelectorAll('th')].some((t) => t.textContent?.startsWith(h) && t.getAttribute('aria-sort') === 'descending'), header);
    }
    await page.getByRole('columnheader', { name: 'Name' }).getByRole('button').click();
    await page.waitForFunction(() => document.querySelector('th')?.getAttribute('aria-sort') === 'ascending');
    await page.getByRole('columnheader', { name: 'Name' }).getByRole('button').click();
    await page.waitForURL(/order=desc/);
    await page.waitForFunction(() => document.querySelector('th')?.getAttribute('aria-sort') === 'descending');
    await page.locator('table:not([aria-busy])').waitFor();
    const desc = await rowNames();
    assert.deepEqual(desc, [...desc].sort().reverse());
    assert.ok(requests.some((u) => /sort=identifier&order=desc/.test(u) || (/sort=identifier/.test(u) && /order=desc/.test(u))));
    assert.ok(requests.some((u) => /sort=updatedAt/.test(u)) && requests.some((u) => /sort=sizeBytes/.test(u)));
    await screenshot(page, '05-landing-sorted-paged');
  });

  it('deletes from the row menu: the 409 for an upstream in use is shown in place, then a registry goes', async () => {
    await createRegistry(server(), { space: 'acme', identifier: 'uses-hub', packageType: 'docker', kind: 'local', upstreams: ['dockerhub'] });
    await page.goto(`${server().url}/?space=acme&q=hub`);
    await page.getByRole('button', { name: 'Actions for dockerhub' }).click();
    await page.getByRole('menuitem', { name: 'Delete' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete upstream proxy dockerhub?' });
    const confirm = dialog.getByRole('button', { name: 'Delete upstream proxy' });
    assert.equal(await confirm.isDisabled(), true);
    await dialog.getByLabel('Type dockerhub to confirm').fill('dockerhub');
    await confirm.click();
    await dialog.getByRole('alert').waitFor();
    assert.match((await dialog.getByRole('alert').textContent()) ?? '', /used by uses-hub/);
    await screenshot(page, '06-delete-upstream-in-use-409');
    await dialog.getByRole('button', { name: 'Cancel' }).click();

    await page.getByRole('button', { name: 'Actions for uses-hub' }).click();
    await page.getByRole('menuitem', { name: 'Delete' }).click();
    const second = page.getByRole('dialog', { name: 'Delete registry uses-hub?' });
    assert.match((await second.textContent()) ?? '', /all its artifacts: 0 artifacts, 0 B/);
    await second.getByLabel('Type uses-hub to confirm').fill('uses-hub');
    await second.getByRole('button', { name: 'Delete registry' }).click();
    await second.waitFor({ state: 'detached' });
    await page.getByRole('cell', { name: 'uses-hub', exact: true }).waitFor({ state: 'detached' });
    await assert.rejects(getJson(server(), '/registries/acme/uses-hub'), (err: unknown) => err instanceof ApiError && err.status === 404);
    await screenshot(page, '06-after-delete-from-row-menu');
  });
});

