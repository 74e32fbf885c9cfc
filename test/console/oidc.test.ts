import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertAccessible, assertStayedOffline, browserSkipReason, openBrowser } from '../support/browser.ts';
import { startOidcProvider } from '../support/oidc-provider.ts';
import { startTestServer } from '../support/test-server.ts';
import { people } from '../support/tokens.ts';

const skip = browserSkipReason();
const provider = skip ? undefined : await startOidcProvider(people.admin, 'clinigraph-console');
// Development mode only because this server speaks plain HTTP: production's upgrade-insecure-requests would
// send the silent-renew frame to https://. Tokens come from the provider either way (no development key).
const api = skip ? undefined : await startTestServer({ CONSOLE_OIDC_ISSUER: provider!.issuer, CONSOLE_OIDC_CLIENT_ID: provider!.clientId });

describe('console sign-in with an OpenID Connect provider', { skip }, () => {
  it('signs in with authorization code + PKCE, keeps tokens out of web storage, restores the sign-in silently, and signs out', async () => {
    const browser = await openBrowser(api!, [provider!.issuer]);
    const { page } = browser;
    await page.goto('/console/');
    const signInButton = page.getByRole('button', { name: 'Sign in with your hospital account' });
    await signInButton.waitFor();
    assert.equal(await page.getByLabel('Subject').count(), 0, 'no development sign-in beside a provider');
    await assertAccessible(page, 'the provider sign-in page');

    await signInButton.click();
    await page.getByRole('heading', { name: 'Patient records' }).waitFor();
    assert.equal(await page.locator('header .who').innerText(), `${people.admin.sub} (admin)`);
    assert.equal(new URL(page.url()).pathname, '/console/admin');
    const exchange = provider!.tokenRequests.at(-1)!;
    assert.equal(exchange.grant_type, 'authorization_code');
    assert.ok(exchange.code_verifier && exchange.code_verifier.length >= 43, 'PKCE verifier sent');

    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage, ...sessionStorage }));
    assert.doesNotMatch(stored, /eyJ/, 'no token (JWT) in localStorage or sessionStorage');

    // A reload loses the in-memory tokens; the provider's session gives them back without a click (prompt=none).
    await page.reload();
    await page.getByRole('heading', { name: 'Patient records' }).waitFor();

    await page.getByRole('button', { name: 'Sign out' }).click();
    await signInButton.waitFor();
    assert.equal(new URL(page.url()).pathname, '/console/');
    assertStayedOffline(browser);
  });
});
