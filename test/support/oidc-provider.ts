import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after } from 'node:test';
import { SignJWT } from 'jose';
import { signToken, testKeys, type Identity } from './tokens.ts';

/**
 * A stand-in for an OpenID Connect provider (Keycloak's part the console
 * uses): discovery, the authorization endpoint (signs the user in at once and
 * remembers it in a cookie, so `prompt=none` works afterwards), the token
 * endpoint with PKCE (S256) checked, and sign-out. Access tokens are the test
 * identity provider's (test/support/tokens.ts), so a test server accepts them;
 * they last `accessTokenSeconds` (settable, to make a console renew soon).
 */
export async function startOidcProvider(user: Identity, clientId: string) {
  const codes = new Map<string, { challenge: string; redirectUri: string }>();
  const tokenRequests: Record<string, string>[] = [];
  /** Each access token handed out, when (epoch milliseconds), until when, and the token request that got it. */
  const issued: { accessToken: string; issuedAt: number; expiresAt: number; request: Record<string, string> }[] = [];
  /** The query of each authorization request (prompt=none marks a silent one). */
  const authorizeRequests: URLSearchParams[] = [];
  /** The query of each sign-out request. */
  const logouts: URLSearchParams[] = [];
  const server = createServer((request, response) => {
    const url = new URL(request.url!, issuer);
    // The console calls discovery and the token endpoint from the browser (another origin).
    response.setHeader('access-control-allow-origin', request.headers.origin ?? '*');
    if (url.pathname === '/.well-known/openid-configuration') return json(response, discovery());
    if (url.pathname === '/authorize') return authorize(request, response, url);
    if (url.pathname === '/token' && request.method === 'POST') return token(request, response);
    if (url.pathname === '/token' && request.method === 'OPTIONS') return response.writeHead(204, { 'access-control-allow-headers': 'content-type' }).end();
    if (url.pathname === '/logout') {
      logouts.push(url.searchParams);
      const back = url.searchParams.get('post_logout_redirect_uri') ?? '/';
      return response.writeHead(302, { location: back, 'set-cookie': 'idp-session=; Max-Age=0; Path=/' }).end();
    }
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const discovery = () => ({
    issuer,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    end_session_endpoint: `${issuer}/logout`,
    jwks_uri: `${issuer}/certs`,
    response_types_supported: ['code'],
    code_challenge_methods_supported: ['S256'],
  });

  function authorize(request: IncomingMessage, response: ServerResponse, url: URL) {
    const params = url.searchParams;
    authorizeRequests.push(params);
    const redirectUri = params.get('redirect_uri')!;
    const back = new URL(redirectUri);
    back.searchParams.set('state', params.get('state') ?? '');
    const signedIn = request.headers.cookie?.includes('idp-session=1');
    if (params.get('client_id') !== clientId || params.get('code_challenge_method') !== 'S256' || !params.get('code_challenge')) {
      back.searchParams.set('error', 'invalid_request');
    } else if (params.get('prompt') === 'none' && !signedIn) {
      back.searchParams.set('error', 'login_required');
    } else {
      const code = randomUUID();
      codes.set(code, { challenge: params.get('code_challenge')!, redirectUri });
      back.searchParams.set('code', code);
    }
    // Only a sign-in that gave a code starts the provider's session (a refused prompt=none must not).
    const session = back.searchParams.has('code') ? { 'set-cookie': 'idp-session=1; Path=/; SameSite=Lax' } : {};
    response.writeHead(302, { location: back.toString(), ...session }).end();
  }

  async function token(request: IncomingMessage, response: ServerResponse) {
    let body = '';
    for await (const chunk of request) body += chunk;
    const form = Object.fromEntries(new URLSearchParams(body));
    tokenRequests.push(form);
    const grant = codes.get(form.code ?? '');
    codes.delete(form.code ?? '');
    const verifierHash = createHash('sha256').update(form.code_verifier ?? '').digest('base64url');
    if (!grant || grant.redirectUri !== form.redirect_uri || grant.challenge !== verifierHash || form.client_id !== clientId) {
      return json(response, { error: 'invalid_grant' }, 400);
    }
    const idToken = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256' })
      .setSubject(user.sub)
      .setIssuer(issuer)
      .setAudience(clientId)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign((await testKeys()).privateKey);
    const lifetime = provider.accessTokenSeconds;
    const accessToken = await signToken(user, { expiresIn: lifetime });
    issued.push({ accessToken, issuedAt: Date.now(), expiresAt: Date.now() + lifetime * 1000, request: form });
    return json(response, { access_token: accessToken, id_token: idToken, token_type: 'Bearer', expires_in: lifetime, scope: 'openid profile' });
  }

  const provider = { issuer, clientId, tokenRequests, issued, authorizeRequests, logouts, accessTokenSeconds: 300 };
  return provider;
}

function json(response: ServerResponse, body: unknown, status = 200) {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
