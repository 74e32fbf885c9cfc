import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { assertAccessible, assertStayedOffline, browserSkipReason, openBrowser, signIn, startConsoleServer } from '../support/browser.ts';
import { errorCodes, startTestServer } from '../support/test-server.ts';
import { type Identity, people } from '../support/tokens.ts';

const skip = browserSkipReason();
const api = skip ? undefined : await startConsoleServer({ DEFAULT_MODELS: 'true', DEMO_DATA: 'true' });
const production = skip ? undefined : await startTestServer({ CLINIGRAPH_MODE: 'production' });
// The console's own operations, generated with it, as the server's trusted documents.
const manifest = fileURLToPath(new URL('../../console/src/generated/persisted-documents.json', import.meta.url));
const trusted = skip ? undefined : await startConsoleServer({ TRUSTED_DOCUMENTS: manifest });

/**
 * Presses Tab until focus comes round again and checks that every visible
 * control of the page (links, buttons, fields, disclosure summaries) got focus on the way.
 */
async function assertKeyboardReachable(page: Page, what: string): Promise<void> {
  const controls = await page.evaluate(() => {
    const all = [...document.querySelectorAll<HTMLElement>('a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea, summary')];
    const visible = all.filter((element) => element.getClientRects().length > 0 && getComputedStyle(element).visibility !== 'hidden');
    visible.forEach((element, index) => element.setAttribute('data-keyboard-check', String(index)));
    return visible.length;
  });
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  const reached = new Set<string>();
  for (let press = 0; press < controls * 2 + 5; press++) {
    await page.keyboard.press('Tab');
    const mark = await page.evaluate(() => document.activeElement?.getAttribute('data-keyboard-check') ?? null);
    if (mark !== null) reached.add(mark);
    if (reached.size === controls) break;
  }
  const missed = await page.evaluate(
    (seen) => [...document.querySelectorAll('[data-keyboard-check]')].filter((element) => !seen.includes(element.getAttribute('data-keyboard-check')!)).map((element) => element.outerHTML.slice(0, 120)),
    [...reached],
  );
  assert.deepEqual(missed, [], `controls of ${what} that Tab never reached`);
}

describe('the console as a whole', { skip }, () => {
  it('signs in with the keyboard alone, and every control of each role\'s main page is reachable by Tab', async () => {
    const browser = await openBrowser(api!);
    const { page } = browser;
    await page.goto('/console/');
    await assertAccessible(page, 'the sign-in page');
    await page.getByLabel('Subject').waitFor();
    const focusedLabel = () => page.evaluate(() => document.querySelector(`label[for="${document.activeElement?.id}"]`)?.textContent ?? null);
    for (let press = 0; press < 5 && (await focusedLabel()) !== 'Subject'; press++) await page.keyboard.press('Tab');
    assert.equal(await focusedLabel(), 'Subject');
    await page.keyboard.press('Control+A');
    await page.keyboard.type('keyboard-kim');
    await page.keyboard.press('Tab');
    await page.keyboard.press('ArrowDown'); // from clinician to the next role in the list
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    assert.match(await page.locator('header .who').innerText(), /keyboard-kim \(\w+\)/);
    await page.getByRole('button', { name: 'Sign out' }).click();

    const mainPages: [Identity, string][] = [
      [people.admin, 'Patient records'],
      [people.auditor, 'Audit log'],
      [{ sub: 'demo-clinician', roles: ['clinician'] }, 'My patients'],
      [people.dataScientist, 'Model registry'],
    ];
    for (const [identity, heading] of mainPages) {
      await signIn(page, identity);
      await page.getByRole('heading', { name: heading }).waitFor();
      await page.locator('table tbody tr').first().waitFor();
      await assertKeyboardReachable(page, `${identity.roles[0]}'s main page`);
      await page.getByRole('button', { name: 'Sign out' }).click();
    }
    assertStayedOffline(browser);
  });

  it('sends a browser opening /graphql to the bundled GraphiQL, which writes no audit denial and works after sign-in', async () => {
    const server = api!;
    const browser = await openBrowser(server);
    const { page } = browser;
    await page.goto('/graphql');
    assert.equal(new URL(page.url()).pathname, '/graphiql/');
    await page.getByLabel('Subject').waitFor();
    const denials = await server.server.db.prisma.auditEvent.count({ where: { action: 'auth.authenticate', outcome: 'DENIED' } });
    assert.equal(denials, 0);
    await page.getByLabel('Subject').fill('explorer-eve');
    await page.getByLabel('Role').selectOption('auditor');
    const schemaLoaded = page.waitForResponse((response) => response.request().postData()?.includes('IntrospectionQuery') ?? false);
    await page.getByRole('button', { name: 'Sign in' }).click();
    assert.equal((await schemaLoaded).status(), 200);
    // GraphiQL may still be settling after the schema arrives; a click it ignored is clicked again.
    const answer = page.getByText('"explorer-eve"');
    for (let attempt = 0; attempt < 5 && !(await answer.isVisible()); attempt++) {
      await page.getByRole('button', { name: /Execute query/ }).click();
      await answer.waitFor({ timeout: 5_000 }).catch(() => undefined);
    }
    await answer.waitFor();
    assert.equal(await server.server.db.prisma.auditEvent.count({ where: { outcome: 'DENIED' } }), 0);
    assertStayedOffline(browser);
  });

  it('loads under the production Content-Security-Policy, where the development sign-in does not exist', async () => {
    const browser = await openBrowser(production!);
    const { page } = browser;
    await page.goto('/console/');
    await page.getByRole('alert').filter({ hasText: 'No sign-in is configured' }).waitFor();
    assert.equal(await page.getByLabel('Subject').count(), 0);
    await assertAccessible(page, 'the production sign-in page');
    assertStayedOffline(browser);
  });

  it('works against a server that runs only trusted documents, with its own generated manifest', async () => {
    const browser = await openBrowser(trusted!);
    const { page } = browser;
    await signIn(page, people.auditor);
    await page.getByRole('table', { name: /Audit records/ }).waitFor();
    await page.getByRole('link', { name: 'Ledger' }).click();
    await page.getByRole('button', { name: 'Verify the ledger' }).click();
    await page.getByRole('heading', { name: 'Intact' }).waitFor();
    const other = await trusted!.as(people.auditor).gql('{ auditEvents(first: 1) { totalCount } }');
    assert.deepEqual(errorCodes(other), ['UNTRUSTED_DOCUMENT']);
    assertStayedOffline(browser);
  });
});
