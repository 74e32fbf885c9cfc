import { ApiError, requestWithToken, type ApiErrorItem } from '../api/client.ts';
import { MeDocument } from '../generated/graphql.ts';
import { consoleSettings } from './settings.ts';
import { currentSession, setSession, type Session } from './session.ts';

/** Takes a token, asks the server who it belongs to (`me`), and makes that the session. */
async function adoptToken(token: string, method: Session['method']): Promise<void> {
  const { me } = await requestWithToken(token, MeDocument);
  setSession({ token, subject: me.subject, roles: me.roles, method });
}

/** Development only: a token for any subject and role from POST /console/dev-token (absent in production). */
export async function signInForDevelopment(subject: string, role: string, purposeOfUse?: string): Promise<void> {
  const response = await fetch('/console/dev-token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ subject, role, ...(purposeOfUse ? { purposeOfUse } : {}) }),
  });
  const body = (await response.json()) as { token?: string; errors?: ApiErrorItem[] };
  if (!body.token) throw new ApiError(body.errors ?? [{ message: `Sign-in failed (HTTP ${response.status}).` }]);
  await adoptToken(body.token, 'development');
}

/** The identity provider's client, loaded only when the server has one configured. */
async function oidc() {
  const { oidc } = await consoleSettings();
  if (!oidc) return undefined;
  const { userManager } = await import('./oidc.ts');
  return userManager(oidc, (token) => (token ? adoptToken(token, 'oidc') : setSession(undefined)));
}

/** Sends the browser to the identity provider (authorization code + PKCE). */
export async function signInWithProvider(): Promise<void> {
  await (await oidc())?.signinRedirect();
}

/**
 * At start: finishes a sign-in coming back from the identity provider, or
 * restores one silently from the provider's own session (tokens are never stored here).
 */
export async function resumeSignIn(): Promise<void> {
  const manager = await oidc();
  if (!manager) return;
  if (location.pathname === '/console/callback') {
    await manager.signinRedirectCallback();
    history.replaceState(null, '', '/console/');
    return;
  }
  await manager.signinSilent().catch(() => undefined);
}

export async function signOut(): Promise<void> {
  const session = currentSession();
  setSession(undefined);
  if (session?.method === 'oidc') await (await oidc())?.signoutRedirect();
}
