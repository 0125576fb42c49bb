/**
 * Web UI in a real browser: what it shows of formats comes from `GET /api/v1/package-types`.
 * The server (in this process) is built with one more format than the registered list, which
 * the UI has never heard of: a label, description, an icon name the UI has no glyph for, a
 * public source with a fixed URL beside `custom`, its own URL schemes and hint. The type
 * cards, the type filter and the upstream form offer it, and a proxy of it is created.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page, Request } from 'playwright-core';
import { buildApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import type { PackageFormat } from '../../src/formats/format.js';
import { FORMATS } from '../../src/formats/index.js';
import { screenshot, useBrowser } from '../helpers/browser.js';

const tinyFormat: PackageFormat = {
  type: 'tiny',
  label: 'Tiny',
  description: 'Tiny packages for this test',
  icon: 'no-such-glyph',
  ociBased: false,
  sources: [
    { id: 'tinyhub', label: 'Tiny Hub', defaultUrl: 'https://tiny.example.org' },
    { id: 'custom', label: 'Custom' },
  ],
  defaultSource: 'tinyhub',
  urlSchemes: ['tiny:'],
  urlHint: 'a tiny index (tiny://index.example.com)',
  setup: (ctx) => [{ title: 'Fetch', commands: [`tiny get ${ctx.baseUrl}/${ctx.rootPath}/${ctx.identifier}/<name>`] }],
};

const PASSWORD = 'ui-package-types-admin';

describe('web UI: formats come from GET /package-types', { timeout: 120_000 }, () => {
  const browser = useBrowser();
  let app: App;
  let dataDir: string;
  let url: string;
  let page: Page;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pallet-ui-ptypes-'));
    app = await buildApp(loadConfig({ env: {}, flags: { dataDir, logLevel: 'silent', adminPassword: PASSWORD } }), undefined, [...FORMATS, tinyFormat]);
    const address = await app.server.listen({ port: 0, host: '127.0.0.1' });
    url = address.replace('localhost', '127.0.0.1');
    const auth = `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}`;
    const res = await fetch(`${url}/api/v1/spaces`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body: '{"path":"acme"}' });
    assert.equal(res.status, 201, await res.text());
    page = await browser().page();
    await page.goto(`${url}/?space=acme`);
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Log out' }).waitFor();
  });
  after(async () => {
    await app?.server.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('offers a format the UI has never heard of: type cards, filter, upstream sources, URL rules, icon', async () => {
    const served = (await (await fetch(`${url}/api/v1/package-types`)).json()) as { items: Array<{ type: string; label: string }> };
    assert.equal(served.items.at(-1)?.type, 'tiny', 'the server lists its formats to anonymous callers');

    // The type filter lists every served type, and the added one.
    const filter = page.getByLabel('Type');
    const options = await filter.locator('option').allTextContents();
    assert.deepEqual(options, ['All types', ...served.items.map((t) => t.label)]);

    // New Artifact Registry: one card per type, with its label and description.
    await page.getByRole('button', { name: '+ New Artifact Registry' }).first().click();
    let dialog = page.getByRole('dialog', { name: 'New Artifact Registry' });
    const cards = dialog.locator('.type-card');
    assert.equal(await cards.count(), served.items.length);
    const tinyCard = dialog.getByRole('radio', { name: /^Tiny Tiny packages for this test/ });
    await tinyCard.check();
    // An icon name the UI has no glyph for gets the generic one.
    assert.match((await dialog.locator('.type-card.selected .type-icon').getAttribute('class')) ?? '', /icon-generic/);
    await screenshot(page, '20-type-cards-from-endpoint');
    await dialog.getByRole('button', { name: 'Cancel' }).click();

    // New Upstream Proxy: the added type's sources; its fixed-URL source needs no URL.
    await page.getByRole('button', { name: 'More ways to create' }).click();
    await page.getByRole('menuitem', { name: 'Upstream Proxy' }).click();
    dialog = page.getByRole('dialog', { name: 'New Upstream Proxy' });
    await dialog.getByRole('radio', { name: /^Tiny/ }).check();
    const source = dialog.getByRole('group', { name: 'Source' });
    assert.deepEqual((await source.locator('label').allTextContents()).map((t) => t.trim()), ['Tiny Hub', 'Custom']);
    assert.equal(await dialog.getByLabel('Tiny Hub').isChecked(), true, 'the default source is selected');
    assert.equal(await dialog.getByLabel('Remote registry URL').count(), 0);

    // Custom: the URL field says the type's hint and schemes, and holds to them.
    await dialog.getByLabel('Custom').check();
    await dialog.getByText('The URL of a tiny index (tiny://index.example.com); it starts with tiny://.').waitFor();
    await dialog.getByLabel('Upstream proxy key').fill('tiny-mirror');
    await dialog.getByLabel('Remote registry URL').fill('https://index.example.com');
    const posted: Request[] = [];
    page.on('request', (r) => {
      if (r.method() === 'POST' && r.url().endsWith('/api/v1/registries')) posted.push(r);
    });
    await screenshot(page, '20-upstream-form-from-endpoint');
    await dialog.getByRole('button', { name: 'Create Upstream Proxy' }).click();
    await dialog.getByText('Enter the remote URL of a tiny index (tiny://index.example.com), starting with tiny://').waitFor();
    assert.equal(posted.length, 0, 'a URL with another scheme is not sent');

    await dialog.getByLabel('Remote registry URL').fill('tiny://index.example.com/main');
    await dialog.getByRole('button', { name: 'Create Upstream Proxy' }).click();
    await dialog.waitFor({ state: 'detached' });
    assert.equal(posted.length, 1);
    assert.deepEqual(posted[0]!.postDataJSON(), {
      space: 'acme',
      identifier: 'tiny-mirror',
      packageType: 'tiny',
      kind: 'upstream',
      description: '',
      upstream: { source: 'custom', url: 'tiny://index.example.com/main', auth: { type: 'anonymous' } },
    });

    // The default source: no URL asked, the fixed one used.
    await page.getByRole('button', { name: 'More ways to create' }).click();
    await page.getByRole('menuitem', { name: 'Upstream Proxy' }).click();
    await dialog.getByRole('radio', { name: /^Tiny/ }).check();
    await dialog.getByLabel('Upstream proxy key').fill('tiny-hub');
    await dialog.getByRole('button', { name: 'Create Upstream Proxy' }).click();
    await dialog.waitFor({ state: 'detached' });
    assert.deepEqual(posted[1]!.postDataJSON().upstream, { source: 'tinyhub', auth: { type: 'anonymous' } });

    // Listed with its label (the generic icon's title), filtered by its type.
    await page.getByRole('cell', { name: 'tiny-hub', exact: true }).waitFor();
    await filter.selectOption('tiny');
    await page.getByRole('status').filter({ hasText: 'of 2 registries' }).waitFor();
    assert.deepEqual((await page.locator('tbody tr td:first-child a').allTextContents()).sort(), ['tiny-hub', 'tiny-mirror']);
    assert.deepEqual(await page.locator('tbody .type-icon').evaluateAll((els) => els.map((e) => `${e.getAttribute('title')} ${e.className}`)), ['Tiny type-icon icon-generic', 'Tiny type-icon icon-generic']);
    const hub = (await (await fetch(`${url}/api/v1/registries/acme/tiny-hub`, { headers: { authorization: `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}` } })).json()) as { upstream: { source: string; url: string } };
    assert.deepEqual([hub.upstream.source, hub.upstream.url], ['tinyhub', 'https://tiny.example.org']);
    await screenshot(page, '20-registries-of-a-new-format');
  });
});
