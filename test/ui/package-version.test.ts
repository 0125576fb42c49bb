/**
 * Web UI in a real browser, for a format not served over OCI (the test-only demo format, with
 * package files, tags, a version detail and declared settings): artifacts → versions (by
 * version string) → one version with its files (path, size, digest with copy) and the format's
 * detail drawn generically (nested lists included); deleting a version from its page; and the
 * format's settings on the Configuration tab, drawn from `GET /package-types` and saved with
 * PATCH.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page, Request } from 'playwright-core';
import { buildApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { FORMATS, formatConfigSections } from '../../src/formats/index.js';
import { demoFormat } from '../fixtures/demo-format.js';
import { screenshot, useBrowser } from '../helpers/browser.js';

const PASSWORD = 'ui-package-version-admin';
const FORMATS_HERE = [...FORMATS, demoFormat];

describe('web UI: package versions and format settings', { timeout: 120_000 }, () => {
  const browser = useBrowser();
  let app: App;
  let dataDir: string;
  let url: string;
  let page: Page;
  const auth = `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}`;
  const tgz = Buffer.from('hello package bytes\n');
  const readme = Buffer.from('# hello\n');

  async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(`${url}${path}`, {
      method,
      headers: { authorization: auth, ...(body === undefined ? {} : { 'content-type': Buffer.isBuffer(body) ? 'application/octet-stream' : 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: Buffer.isBuffer(body) ? new Uint8Array(body) : JSON.stringify(body) }),
    });
  }

  async function put(version: string, file: string, data: Buffer, tag?: string): Promise<void> {
    const sha = createHash('sha256').update(data).digest('hex');
    const res = await call('PUT', `/pkg/acme/pkgs/demo/packages/hello/${version}/${file}`, data, { 'x-checksum-sha256': sha, ...(tag ? { 'x-tag': tag } : {}) });
    assert.equal(res.status, 201, await res.text());
  }

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pallet-ui-pkg-'));
    const config = loadConfig({ env: {}, flags: { dataDir, logLevel: 'silent', adminPassword: PASSWORD }, sections: formatConfigSections(FORMATS_HERE) });
    app = await buildApp(config, undefined, FORMATS_HERE);
    url = (await app.server.listen({ port: 0, host: '127.0.0.1' })).replace('localhost', '127.0.0.1');
    assert.equal((await call('POST', '/api/v1/spaces', { path: 'acme' })).status, 201);
    const created = await call('POST', '/api/v1/registries', { space: 'acme', identifier: 'pkgs', packageType: 'demo', settings: { maxFiles: 5 } });
    assert.equal(created.status, 201, await created.text());
    await put('1.0.0', 'hello-1.0.0.tgz', tgz, 'latest');
    await put('1.0.0', 'README.md', readme);
    await put('2.0.0', 'hello-2.0.0.tgz', Buffer.from('hello 2\n'), 'next');
    page = await browser().page();
    await page.goto(`${url}/registries/acme/pkgs`);
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Log out' }).waitFor();
  });
  after(async () => {
    await app?.server.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it("shows a package version's files and the format's detail, and deletes a version", async () => {
    await page.getByRole('link', { name: 'hello', exact: true }).click();
    const versions = page.getByRole('table', { name: 'Versions of hello' });
    await versions.getByRole('link', { name: '2.0.0' }).waitFor();
    assert.deepEqual(await versions.locator('tbody tr td:first-child').allTextContents(), ['2.0.0', '1.0.0'], 'newest first, by version string');
    await screenshot(page, '40-package-versions');

    await versions.getByRole('link', { name: '1.0.0' }).click();
    const files = page.getByRole('table', { name: 'Files of hello 1.0.0' });
    await files.waitFor();
    const rows = await files.locator('tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent?.trim())));
    assert.deepEqual(rows.map((r) => r[0]), ['README.md', 'hello-1.0.0.tgz']);
    const digest = `sha256:${createHash('sha256').update(readme).digest('hex')}`;
    assert.equal(await files.locator('tbody tr').first().locator('.mono[title]').getAttribute('title'), digest);
    await files.getByRole('button', { name: 'Copy digest of README.md' }).waitFor();
    const demo = page.getByRole('region', { name: 'Demo' });
    await demo.getByText('plain', { exact: true }).waitFor();
    await demo.getByText('left-pad', { exact: true }).waitFor();
    await demo.getByText('^1.0.0', { exact: true }).waitFor();
    assert.equal(await page.getByText('Manifest', { exact: true }).count(), 0, 'a package version has no manifest');
    await screenshot(page, '41-package-version-files');

    await page.goto(`${url}/registries/acme/pkgs/artifacts/hello/versions/2.0.0`);
    await page.getByRole('button', { name: 'Delete version' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete version?' });
    await dialog.getByText('version 2.0.0 of hello').waitFor();
    await dialog.getByRole('button', { name: 'Delete' }).click();
    await versions.waitFor();
    await versions.getByRole('link', { name: '2.0.0' }).waitFor({ state: 'detached' });
    const left = (await (await call('GET', '/api/v1/registries/acme/pkgs/artifacts/hello/versions')).json()) as { items: Array<{ version: string }> };
    assert.deepEqual(left.items.map((v) => v.version), ['1.0.0']);
  });

  it("edits the format's settings on the Configuration tab", async () => {
    await page.goto(`${url}/registries/acme/pkgs/configuration`);
    const fields = page.getByRole('group', { name: 'Format settings' });
    await fields.waitFor();
    assert.equal(await fields.getByLabel('Allow overwrite').isChecked(), false);
    assert.equal(await fields.getByLabel('Max files').inputValue(), '5');
    assert.equal(await fields.getByLabel('Flavor').inputValue(), 'plain');
    const patched: Request[] = [];
    page.on('request', (r) => {
      if (r.method() === 'PATCH') patched.push(r);
    });
    await fields.getByLabel('Allow overwrite').check();
    await fields.getByLabel('Flavor').selectOption('fancy');
    await page.getByText('You have unsaved changes.').waitFor();
    await screenshot(page, '42-format-settings');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved.').waitFor();
    assert.deepEqual(patched[0]?.postDataJSON().settings, { allowOverwrite: true, flavor: 'fancy' }, 'only the changed keys');
    const registry = (await (await call('GET', '/api/v1/registries/acme/pkgs')).json()) as { settings: Record<string, unknown> };
    assert.deepEqual(registry.settings, { allowOverwrite: true, flavor: 'fancy', maxFiles: 5 });
  });

  it("offers the chosen format's settings when creating a registry", async () => {
    await page.goto(`${url}/?space=acme`);
    await page.getByRole('button', { name: '+ New Artifact Registry' }).first().click();
    const dialog = page.getByRole('dialog', { name: 'New Artifact Registry' });
    await dialog.getByRole('radio', { name: /^Docker/ }).check();
    assert.equal(await dialog.getByRole('group', { name: 'Format settings' }).count(), 0, 'a format without settings shows none');
    await dialog.getByRole('radio', { name: /^Demo/ }).check();
    await dialog.getByLabel('Registry name').fill('made-in-ui');
    await dialog.getByRole('group', { name: 'Format settings' }).getByLabel('Allow overwrite').check();
    const posted: Request[] = [];
    page.on('request', (r) => {
      if (r.method() === 'POST' && r.url().endsWith('/api/v1/registries')) posted.push(r);
    });
    await dialog.getByRole('button', { name: 'Create Registry' }).click();
    await dialog.waitFor({ state: 'detached' });
    assert.deepEqual(posted[0]?.postDataJSON().settings, { allowOverwrite: true }, 'only values that differ from the defaults');
    const registry = (await (await call('GET', '/api/v1/registries/acme/made-in-ui')).json()) as { settings: Record<string, unknown> };
    assert.deepEqual(registry.settings, { allowOverwrite: true, flavor: 'plain', maxFiles: 3 });
  });
  it("fills a generated token into the Setup Client's steps (an npm registry's .npmrc)", async () => {
    assert.equal((await call('POST', '/api/v1/registries', { space: 'acme', identifier: 'js', packageType: 'npm' })).status, 201);
    await page.goto(`${url}/registries/acme/js`);
    await page.getByRole('button', { name: 'Setup Client' }).click();
    const panel = page.getByRole('dialog', { name: 'Setup Client: js' });
    const authLine = (value: string) => new RegExp(`^//[^/]+/pkg/acme/js/npm/:_authToken=${value}$`);
    await panel.getByText(authLine('<access token>')).waitFor();
    await panel.getByRole('button', { name: 'Generate token' }).click();
    const token = (await panel.getByTestId('new-token').textContent()) ?? '';
    assert.match(token, /^pallet_/);
    await panel.getByText(authLine(token)).waitFor();
    assert.equal(await panel.getByText(authLine('<access token>')).count(), 0);
    const whoami = await fetch(`${url}/pkg/acme/js/npm/-/whoami`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(whoami.status, 200, 'the filled-in token is what npm sends');
    assert.deepEqual(await whoami.json(), { username: 'admin' });
    await screenshot(page, '43-setup-client-npm-token');
    await page.keyboard.press('Escape');
    await panel.waitFor({ state: 'detached' });
  });
});
