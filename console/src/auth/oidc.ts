import { InMemoryWebStorage, UserManager, WebStorageStateStore } from 'oidc-client-ts';
import type { ConsoleSettings } from './settings.ts';

let manager: UserManager | undefined;

/**
 * The OpenID Connect client (authorization code with PKCE, a public client):
 * tokens stay in memory (InMemoryWebStorage), are renewed before they expire
 * (automaticSilentRenew: refresh token, else a hidden iframe on
 * silent-renew.html), and each new access token is handed to `onToken`.
 */
export function userManager(settings: NonNullable<ConsoleSettings['oidc']>, onToken: (token: string | undefined) => void | Promise<void>): UserManager {
  if (manager) return manager;
  const base = `${location.origin}/console/`;
  manager = new UserManager({
    authority: settings.issuer,
    client_id: settings.clientId,
    scope: settings.scope,
    response_type: 'code',
    redirect_uri: `${base}callback`,
    silent_redirect_uri: `${base}silent-renew.html`,
    post_logout_redirect_uri: base,
    userStore: new WebStorageStateStore({ store: new InMemoryWebStorage() }),
    automaticSilentRenew: true,
  });
  manager.events.addUserLoaded((user) => onToken(user.access_token));
  manager.events.addUserUnloaded(() => onToken(undefined));
  manager.events.addSilentRenewError(() => onToken(undefined));
  return manager;
}
