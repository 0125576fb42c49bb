/**
 * Web UI in a real browser: what it shows of formats comes from `GET /api/v1/package-types`.
 * The browser's answer from that endpoint gets one more format (a label, description, icon
 * name the UI has no glyph for, a public source with a fixed URL beside `custom`, its own URL
 * schemes and hint, a pull command); the type cards, the type filter and the upstream form
 * offer it with no change to the UI, and the proxy it builds is what the UI posts.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { Page, Request } from 'playwright-core';
import { createSpace } from '../helpers/api.js';
import { logIn, screenshot, useBrowser } from '../helpers/browser.js';
import { useServer } from '../helpers/server.js';

const TINY = {
  type: 'tiny',
  label: 'Tiny',
  description: 'Tiny packages for this test',
  icon: 'no-such-glyph',
  ociBased: false,
  pkgPath: 'tiny',
  sources: [
    { id: 'tinyhub', label: 'Tiny Hub', defaultUrl: 'https://tiny.example.org' },
    { id: 'custom', label: 'Custom' },
  ],
  defaultSource: 'tinyhub',
  urlSchemes: ['tiny:'],
  urlHint: 'a tiny index (tiny://index.example.com)',
  setup: [{ title: 'Fetch', commands: ['tiny get <root>/<registry>/<name>'] }],
  pull: { byTag: 'tiny get <root>/<registry>/<artifact>:<tag>', byDigest: 'tiny get <root>/<registry>/<artifact>@<digest>' },
};

describe('web UI: formats come from GET /package-types', { timeout: 120_000 }, () => {
  const server = useServer({ label: 'ui-package-types' });
  const browser = useBrowser();
  let page: Page;

  before(async () => {
    await createSpace(server(), 'acme');
    page = await browser().page();
    await page.route('**/api/v1/package-types', async (route) => {
      const response = await route.fetch();
      const body = (await response.json()) as { items: unknown[] };
      await route.fulfill({ response, json: { items: [...body.items, TINY] } });
    });
    await logIn(page, server(), '/?space=acme');
  });

  it('offers a format the UI has never heard of: type cards, filter, upstream sources, URL rules', async () => {
    const served = (await (await fetch(`${server().url}/api/v1/package-types`)).json()) as { items: Array<{ type: string; label: string }> };
    assert.ok(served.items.length >= 2, 'the server lists its formats to anonymous callers');

    // The type filter lists every served type, and the added one.
    const filter = page.getByLabel('Type');
    const options = await filter.locator('option').allTextContents();
    assert.deepEqual(options, ['All types', ...served.items.map((t) => t.label), 'Tiny']);

    // New Artifact Registry: one card per type, with its label and description.
    await page.getByRole('button', { name: '+ New Artifact Registry' }).first().click();
    let dialog = page.getByRole('dialog', { name: 'New Artifact Registry' });
    const cards = dialog.locator('.type-card');
    assert.equal(await cards.count(), served.items.length + 1);
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
    await dialog.getByRole('button', { name: 'Create Upstream Proxy' }).click();
    await dialog.getByText('Enter the remote URL of a tiny index (tiny://index.example.com), starting with tiny://').waitFor();
    assert.equal(posted.length, 0, 'a URL with another scheme is not sent');

    await dialog.getByLabel('Remote registry URL').fill('tiny://index.example.com/main');
    await dialog.getByRole('button', { name: 'Create Upstream Proxy' }).click();
    // This server does not serve the added type: its answer is shown in place.
    await dialog.getByRole('alert').filter({ hasText: /packageType must be one of/ }).waitFor();
    assert.equal(posted.length, 1);
    assert.deepEqual(posted[0]!.postDataJSON(), {
      space: 'acme',
      identifier: 'tiny-mirror',
      packageType: 'tiny',
      kind: 'upstream',
      description: '',
      upstream: { source: 'custom', url: 'tiny://index.example.com/main', auth: { type: 'anonymous' } },
    });
    await screenshot(page, '20-upstream-form-from-endpoint');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
  });
});
