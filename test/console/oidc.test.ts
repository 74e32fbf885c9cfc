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
// No clock tolerance, so a token past its expiry is refused at once (the renewal test relies on it).
const api = skip
  ? undefined
  : await startTestServer({ CONSOLE_OIDC_ISSUER: provider!.issuer, CONSOLE_OIDC_CLIENT_ID: provider!.clientId, AUTH_CLOCK_TOLERANCE_SECONDS: '0' });

/** Waits until `condition` holds, polling; fails with `what` after `timeoutMs`. */
async function eventually(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

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

  it('renews a short-lived token silently before it expires, sends the new one, keeps tokens out of web storage, and ends the session on sign-out', async () => {
    const idp = provider!;
    idp.accessTokenSeconds = 6;
    const browser = await openBrowser(api!, [idp.issuer]);
    const { page } = browser;
    const patientSearches: string[] = [];
    page.on('request', (request) => {
      if (new URL(request.url()).pathname === '/graphql' && /AdminPatients/.test(request.postData() ?? '')) patientSearches.push(request.headers().authorization ?? '');
    });
    await page.goto('/console/');
    const signInButton = page.getByRole('button', { name: 'Sign in with your hospital account' });
    await signInButton.click();
    await page.getByRole('heading', { name: 'Patient records' }).waitFor();
    const signedIn = idp.issued.at(-1)!;
    assert.equal(signedIn.request.grant_type, 'authorization_code');

    // From here on nobody clicks: the console asks the provider again (prompt=none, in a hidden frame) before the token expires.
    const renewals = () => idp.issued.filter((token) => token.issuedAt > signedIn.issuedAt);
    await eventually(() => renewals().length > 0, 'a silent renewal');
    const [renewal] = renewals();
    assert.ok(renewal!.issuedAt < signedIn.expiresAt, 'renewed before the token expired');
    assert.equal(renewal!.request.grant_type, 'authorization_code');
    assert.match(renewal!.request.redirect_uri ?? '', /\/console\/silent-renew\.html$/);
    assert.ok(idp.authorizeRequests.some((params) => params.get('prompt') === 'none'), 'the renewal asked the provider without showing it');

    // Once the first token has expired (the server allows no clock skew), a search still works: it carries a renewed token.
    await eventually(() => Date.now() > signedIn.expiresAt + 1000, 'the first token to expire', 20_000);
    const expired = await api!.gql('{ me { subject } }', {}, { authorization: `Bearer ${signedIn.accessToken}` });
    assert.deepEqual(expired.body.errors?.map((error) => error.extensions?.code), ['UNAUTHENTICATED'], 'the first token is refused by now');
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    const searchesBefore = patientSearches.length;
    await page.getByLabel('Name contains').fill('Renewal');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('table').getByText(/Patients \(0 found\)/).waitFor();
    const sent = patientSearches.slice(searchesBefore).at(-1)!.replace(/^Bearer /, '');
    assert.notEqual(sent, signedIn.accessToken);
    assert.ok(renewals().some((token) => token.accessToken === sent), 'the search carried a renewed token');
    assert.equal(await page.getByRole('alert').count(), 0, 'no error shown');

    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage, ...sessionStorage }));
    assert.doesNotMatch(stored, /eyJ/, 'no token (JWT) in localStorage or sessionStorage');
    for (const token of idp.issued) assert.ok(!stored.includes(token.accessToken));

    // Sign-out tells the provider (ending its session), forgets the tokens and stops renewing.
    const logoutsBefore = idp.logouts.length;
    await page.getByRole('button', { name: 'Sign out' }).click();
    // The console shows its sign-in button before the browser reaches the provider's logout endpoint.
    await eventually(() => idp.logouts.length > logoutsBefore, 'the provider to be told of the sign-out');
    await signInButton.waitFor();
    assert.equal(idp.logouts.length, logoutsBefore + 1);
    assert.ok(idp.logouts.at(-1)!.get('id_token_hint'), 'the provider is told whose session ends');
    const issuedAtSignOut = idp.issued.length;
    await new Promise((resolve) => setTimeout(resolve, 3000));
    assert.equal(idp.issued.length, issuedAtSignOut, 'no renewal after sign-out');
    // The provider's session is over: a reload does not sign in again silently.
    await page.reload();
    await signInButton.waitFor();
    assert.equal(await page.getByRole('button', { name: 'Sign out' }).count(), 0);
    assert.equal(idp.issued.length, issuedAtSignOut);
    assertStayedOffline(browser);
  });
});
