/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// (DOM types: page.evaluate callbacks run in the browser, and axe-core's result types name DOM nodes.)
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AxeBuilder } from '@axe-core/playwright';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { consoleDistDir } from '../../src/server/console.ts';
import { startTestServer, type TestServer } from './test-server.ts';
import type { Identity } from './tokens.ts';

/*
 * End-to-end tests of the console in Debian's Chromium (apt-get install -y
 * chromium), driven by playwright-core. Without Chromium they skip with the
 * reason; under CI=true they fail instead, so CI cannot pass without running them.
 */
export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const screenshotsDir = fileURLToPath(new URL('../../docs/console/', import.meta.url));

/** Why the browser tests cannot run here (undefined when they can); under CI this is a failure, not a skip. */
export function browserSkipReason(): string | undefined {
  const missing = !existsSync(chromiumPath)
    ? `Chromium is not installed at ${chromiumPath} (apt-get install -y chromium)`
    : !existsSync(`${consoleDistDir}console/index.html`)
      ? 'the console is not built (npm run build:console)'
      : undefined;
  if (missing && process.env.CI === 'true') throw new Error(`browser tests cannot run under CI: ${missing}`);
  return missing;
}

/**
 * A test server whose tokens come from the development key, as a developer's
 * would, so the browser signs in through the console's development sign-in;
 * `as(identity)` (for fixtures and checks) gets its tokens the same way.
 */
export async function startConsoleServer(env: Record<string, string> = {}): Promise<TestServer> {
  const server = await startTestServer({ AUTH_PUBLIC_KEY: '', AUTH_ALGORITHMS: '', ...env });
  const tokens = new Map<string, Promise<string>>();
  const tokenFor = (identity: Identity) => {
    const key = `${identity.sub}/${identity.roles[0]}`;
    if (!tokens.has(key)) tokens.set(key, developmentToken(server, identity));
    return tokens.get(key)!;
  };
  return {
    ...server,
    as: (identity) => ({
      gql: async (query, variables, headers = {}) => server.gql(query, variables, { authorization: `Bearer ${await tokenFor(identity)}`, ...headers }),
    }),
  };
}

async function developmentToken(server: TestServer, identity: Identity): Promise<string> {
  const response = await fetch(new URL('/console/dev-token', server.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ subject: identity.sub, role: identity.roles[0] }),
  });
  assert.equal(response.status, 200, await response.clone().text());
  return ((await response.json()) as { token: string }).token;
}

export interface ConsoleBrowser {
  page: Page;
  context: BrowserContext;
  /** Every request the pages tried to send to another host (each was blocked). */
  foreignRequests: string[];
  /** Uncaught errors in the pages. */
  pageErrors: string[];
}

let chromiumOfThisFile: Promise<Browser> | undefined;
// Registered at import (no test running yet), so it runs once, when the test file ends.
after(async () => (await chromiumOfThisFile)?.close());

/** One Chromium per test file, launched when first needed: a launch costs about 2 s of CPU, a context almost nothing. */
function chromiumOnce(): Promise<Browser> {
  chromiumOfThisFile ??= chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return chromiumOfThisFile;
}

/**
 * A fresh browser context (no cookies or storage from another test) with one
 * page on the server's origin. Requests to any other host (but
 * `allowedOrigins`, e.g. a test identity provider) are blocked and recorded
 * (the console must work with no internet); the context closes when the
 * calling test ends.
 */
export async function openBrowser(server: TestServer, allowedOrigins: string[] = []): Promise<ConsoleBrowser> {
  const origin = new URL(server.url).origin;
  const context = await (await chromiumOnce()).newContext({ baseURL: origin, viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  after(() => context.close());
  const foreignRequests: string[] = [];
  const pageErrors: string[] = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if ([origin, ...allowedOrigins].includes(new URL(url).origin) || url.startsWith('data:') || url.startsWith('blob:')) return route.continue();
    foreignRequests.push(url);
    return route.abort('blockedbyclient');
  });
  const page = await context.newPage();
  page.on('pageerror', (error) => pageErrors.push(error.message));
  // A Content-Security-Policy refusal means something the console needs was blocked.
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) pageErrors.push(message.text());
  });
  return { page, context, foreignRequests, pageErrors };
}

/** Signs in on the console's development sign-in page and waits for the role's first page. */
export async function signIn(page: Page, identity: Identity): Promise<void> {
  await page.goto('/console/');
  await page.getByLabel('Subject').fill(identity.sub);
  await page.getByLabel('Role').selectOption(identity.roles[0]!);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

/** Runs axe-core on the page as it is now; fails on any serious or critical violation. */
export async function assertAccessible(page: Page, what: string): Promise<void> {
  const results = await new AxeBuilder({ page }).analyze();
  const severe = results.violations.filter((violation) => violation.impact === 'serious' || violation.impact === 'critical');
  assert.deepEqual(
    severe.map((violation) => `${violation.impact} ${violation.id}: ${violation.help} (${violation.nodes.map((node) => node.target.join(' ')).join('; ')})`),
    [],
    `accessibility of ${what}`,
  );
}

/** Saves a screenshot of the whole page to docs/console/<name>.png (shown in README "Console"). */
export async function saveScreenshot(page: Page, name: string): Promise<void> {
  await mkdir(screenshotsDir, { recursive: true });
  await page.screenshot({ path: `${screenshotsDir}${name}.png`, fullPage: true });
}

/** What every browser test asserts at its end: nothing left for another host, and no script error. */
export function assertStayedOffline(browser: ConsoleBrowser): void {
  assert.deepEqual(browser.foreignRequests, [], 'requests to other hosts');
  assert.deepEqual(browser.pageErrors, [], 'uncaught errors in the page');
}
