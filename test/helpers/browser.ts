/**
 * Drives Debian's Chromium (`/usr/bin/chromium`, headless) with playwright-core for the web UI
 * tests; playwright never downloads a browser here. `useBrowser()` registers hooks on the
 * enclosing suite: build the UI when `dist/ui/` is missing or older than `web/`, launch one
 * browser with a fresh profile, close it after. `screenshot()` saves under `test-output/ui/`.
 */
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { run } from './run.js';
import { OUTPUT_DIR, REPO_ROOT, type PalletServer } from './server.js';

export const CHROMIUM = process.env.PALLET_CHROMIUM ?? '/usr/bin/chromium';
export const SCREENSHOT_DIR = join(OUTPUT_DIR, 'ui');

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

function newest(dir: string): number {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

/**
 * Builds `dist/ui/` unless it is newer than every file in `web/`. Test files run in parallel, so
 * the build holds a lock directory; a file that finds the lock waits for the other's build.
 */
export async function ensureUiBuilt(): Promise<void> {
  const index = join(REPO_ROOT, 'dist/ui/index.html');
  const fresh = (): boolean => existsSync(index) && statSync(index).mtimeMs >= newest(join(REPO_ROOT, 'web'));
  if (fresh()) return;
  const lock = join(REPO_ROOT, 'dist/.ui-build.lock');
  mkdirSync(join(REPO_ROOT, 'dist'), { recursive: true });
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`${lock} held for 2 minutes: remove it if no build runs`);
      await new Promise((resolve) => setTimeout(resolve, 200));
      if (fresh()) return;
    }
  }
  try {
    if (!fresh()) await run('npx', ['vite', 'build', '--config', 'web/vite.config.ts', '--logLevel', 'warn'], { cwd: REPO_ROOT, timeoutMs: 120_000 });
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

export interface BrowserSession {
  context: BrowserContext;
  /** A new tab. */
  page(): Promise<Page>;
}

/** Launches Chromium with a fresh profile for the enclosing suite. */
export function useBrowser(): () => BrowserSession {
  let context: BrowserContext | undefined;
  let profile: string | undefined;
  before(async () => {
    mkdirSync(SCREENSHOT_DIR, { recursive: true });
    await ensureUiBuilt();
    profile = await mkdtemp(join(tmpdir(), 'pallet-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1360, height: 860 },
      locale: 'en-US',
      timezoneId: 'UTC',
    });
    context.setDefaultTimeout(15_000);
  });
  after(async () => {
    await context?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
  });
  return () => {
    if (!context) throw new Error('the browser is not running (did `before` fail?)');
    const ctx = context;
    return { context: ctx, page: () => ctx.newPage() };
  };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Logs the browser in as `admin` through the login form, starting from `path`. */
export async function logIn(page: Page, server: PalletServer, path = '/'): Promise<void> {
  await page.goto(`${server.url}${path}`);
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill(server.adminPassword);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Log out' }).waitFor();
}
