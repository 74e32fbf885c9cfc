import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/config.ts';
import { consoleDistDir } from '../../src/server/console.ts';
import { auditEvents } from '../support/audit.ts';
import { createPatient } from '../support/fixtures.ts';
import { errorCodes, startTestServer } from '../support/test-server.ts';
import { people } from '../support/tokens.ts';

// The console must be built (npm ci runs `npm run build:console`); without it these tests say so instead of passing.
assert.ok(existsSync(`${consoleDistDir}console/index.html`), 'the console is not built: run `npm run build:console`');

// Development with the development key: the sign-in page's token endpoint exists.
const development = await startTestServer({ AUTH_PUBLIC_KEY: '', AUTH_ALGORITHMS: '' });
const api = await startTestServer();
const production = await startTestServer({ CLINIGRAPH_MODE: 'production' });
const origin = (server: { url: string }) => new URL(server.url).origin;
const noRedirect = { redirect: 'manual' } as const;

describe('the console is served by clinigraph', () => {
  it('redirects / to /console/ and serves the page with a strict Content-Security-Policy', async () => {
    const root = await fetch(`${origin(api)}/`, noRedirect);
    assert.equal(root.status, 302);
    assert.equal(root.headers.get('location'), '/console/');
    const page = await fetch(`${origin(production)}/console/`);
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /<div id="root">/);
    const policy = page.headers.get('content-security-policy') ?? '';
    assert.match(policy, /script-src 'self'(;|$)/);
    assert.match(policy, /default-src 'self'/);
    assert.doesNotMatch(policy, /unsafe-inline|unsafe-eval|https?:/);
    // Every script and stylesheet the page names is a file of this server.
    const sources = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]!);
    assert.ok(sources.length > 0);
    for (const source of sources) assert.match(source, /^(\/console\/|\.\/)/, `${source} is served by clinigraph`);
    assert.doesNotMatch(html, /<script>(?!<\/script>)|<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
  });

  it('serves client-side routes the page, and a missing asset as a coded 404', async () => {
    const route = await fetch(`${origin(api)}/console/auditor/ledger`);
    assert.equal(route.status, 200);
    assert.match(route.headers.get('content-type') ?? '', /text\/html/);
    const missing = await fetch(`${origin(api)}/console/assets/nothing-here.js`);
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code, 'NOT_FOUND');
  });

  it('tells the console how to sign in', async () => {
    const settings = (await (await fetch(`${origin(development)}/console/config.json`)).json()) as Record<string, unknown>;
    assert.equal(settings.developmentSignIn, true);
    assert.equal(settings.graphiql, true);
    assert.equal(settings.oidc, null);
    const strict = (await (await fetch(`${origin(production)}/console/config.json`)).json()) as Record<string, unknown>;
    assert.equal(strict.developmentSignIn, false);
    assert.equal(strict.graphiql, false);
  });
});

describe('development sign-in', () => {
  const signIn = (server: { url: string }, body: unknown) =>
    fetch(`${origin(server)}/console/dev-token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it('signs a token for the chosen subject and role that the API accepts', async () => {
    const response = await signIn(development, { subject: 'dev-dana', role: 'auditor' });
    assert.equal(response.status, 200);
    const { token } = (await response.json()) as { token: string };
    const me = await development.gql('{ me { subject roles } }', {}, { authorization: `Bearer ${token}` });
    assert.deepEqual(me.body.data, { me: { subject: 'dev-dana', roles: ['auditor'] } });
  });

  it('refuses a bad subject or role with a coded error naming the field', async () => {
    for (const [body, field] of [
      [{ subject: 'x y', role: 'admin' }, 'subject'],
      [{ subject: 'ok', role: 'superuser' }, 'role'],
      [{ subject: 'ok', role: 'admin', roles: ['admin'] }, ''],
    ] as const) {
      const response = await signIn(development, body);
      assert.equal(response.status, 400);
      const error = ((await response.json()) as { errors: { extensions: { code: string; field: string } }[] }).errors[0]!;
      assert.equal(error.extensions.code, 'BAD_USER_INPUT');
      assert.equal(error.extensions.field, field);
    }
  });

  it('is absent in production and when an identity provider signs tokens', async () => {
    for (const server of [production, api]) {
      const response = await signIn(server, { subject: 'mallory', role: 'admin' });
      assert.equal(response.status, 404);
    }
  });
});

describe('GraphiQL', () => {
  it('is where a browser opening /graphql goes in development, and the visit writes no audit denial', async () => {
    const visit = await fetch(api.url, { headers: { accept: 'text/html' }, ...noRedirect });
    assert.equal(visit.status, 302);
    assert.equal(visit.headers.get('location'), '/graphiql/');
    const page = await fetch(`${origin(api)}/graphiql/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /clinigraph GraphiQL/);
    assert.deepEqual(await auditEvents(api, { action: 'auth.authenticate' }), []);
  });

  it('is not served in production unless turned on', async () => {
    assert.equal((await fetch(`${origin(production)}/graphiql/`)).status, 404);
    const visit = await fetch(production.url, { headers: { accept: 'text/html' }, ...noRedirect });
    assert.notEqual(visit.status, 302);
    const enabled = await startTestServer({ CLINIGRAPH_MODE: 'production', CONSOLE_GRAPHIQL: 'true' });
    assert.equal((await fetch(`${origin(enabled)}/graphiql/`)).status, 200);
  });
});

describe("an auditor's patient lookup by MRN", () => {
  const lookup = 'query($mrn: String!) { patientIdByMrnForAudit(mrn: $mrn) }';

  it('returns the id only, and is recorded, found or not', async () => {
    const patientId = await createPatient(api, { mrn: 'AUD-LOOKUP-1' });
    const auditor = api.as(people.auditor);
    assert.deepEqual((await auditor.gql(lookup, { mrn: 'AUD-LOOKUP-1' })).body.data, { patientIdByMrnForAudit: patientId });
    assert.deepEqual((await auditor.gql(lookup, { mrn: 'NO-SUCH-MRN' })).body.data, { patientIdByMrnForAudit: null });
    const records = await auditEvents(api, { action: 'patient.lookupForAudit' });
    assert.deepEqual(
      records.map((record) => [record.actorSubject, record.outcome, record.patientIds, record.reason]),
      [
        [people.auditor.sub, 'SUCCESS', [], 'not-found'],
        [people.auditor.sub, 'SUCCESS', [patientId], null],
      ],
    );
  });

  it('is for auditors only, and validates the MRN', async () => {
    for (const person of [people.admin, people.clinician, people.dataScientist]) {
      assert.deepEqual(errorCodes(await api.as(person).gql(lookup, { mrn: 'AUD-LOOKUP-1' })), ['FORBIDDEN']);
    }
    const bad = await api.as(people.auditor).gql(lookup, { mrn: 'has space' });
    assert.deepEqual(errorCodes(bad), ['BAD_USER_INPUT']);
    assert.equal(bad.body.errors![0]!.extensions!.argument, 'mrn');
  });
});

describe('the audit log filtered by purpose of use', () => {
  it('returns only records of that purpose, and refuses a malformed code', async () => {
    await api.as(people.admin).gql('{ patients(first: 1) { totalCount } }', {}, { 'x-purpose-of-use': 'HOPERAT' });
    const records = await auditEvents(api, { purposeOfUse: 'HOPERAT' });
    assert.ok(records.length > 0);
    assert.ok(records.every((record) => record.purposeOfUse === 'HOPERAT'));
    const bad = await api.as(people.auditor).gql('{ auditEvents(filter: { purposeOfUse: "treat; drop" }) { totalCount } }');
    assert.deepEqual(errorCodes(bad), ['BAD_USER_INPUT']);
  });
});

describe('console settings', () => {
  it('need both the provider and the client id for OpenID Connect sign-in, and a URL for the provider', () => {
    assert.throws(() => loadConfig({ CONSOLE_OIDC_ISSUER: 'https://idp.example.org/realms/hospital' }), ConfigError);
    assert.throws(() => loadConfig({ CONSOLE_OIDC_CLIENT_ID: 'clinigraph-console' }), ConfigError);
    assert.throws(() => loadConfig({ CONSOLE_OIDC_ISSUER: 'not a url', CONSOLE_OIDC_CLIENT_ID: 'clinigraph-console' }), ConfigError);
    const { console: settings } = loadConfig({ CONSOLE_OIDC_ISSUER: 'https://idp.example.org/realms/hospital', CONSOLE_OIDC_CLIENT_ID: 'clinigraph-console' });
    assert.deepEqual(settings.oidc, { issuer: 'https://idp.example.org/realms/hospital', clientId: 'clinigraph-console', scope: 'openid profile' });
    assert.equal(settings.developmentSignIn, true);
  });

  it('let the provider through the Content-Security-Policy, and nothing else', async () => {
    const withProvider = await startTestServer({ CONSOLE_OIDC_ISSUER: 'https://idp.example.org/realms/hospital', CONSOLE_OIDC_CLIENT_ID: 'clinigraph-console' });
    const policy = (await fetch(`${origin(withProvider)}/console/`)).headers.get('content-security-policy') ?? '';
    assert.match(policy, /connect-src 'self' https:\/\/idp\.example\.org;/);
    assert.match(policy, /frame-src 'self' https:\/\/idp\.example\.org;/);
    assert.match(policy, /script-src 'self';/);
  });
});
