import { useSyncExternalStore } from 'react';

/** The signed-in user: their bearer token, and who the server says they are (the `me` query). */
export interface Session {
  token: string;
  subject: string;
  roles: string[];
  /** How the user signed in, so sign-out knows whom to tell. */
  method: 'development' | 'oidc';
}

/*
 * The session lives in memory only (never localStorage or sessionStorage), so a
 * token cannot outlive the tab or be read by another page of this origin.
 */
let session: Session | undefined;
const listeners = new Set<() => void>();

export function currentSession(): Session | undefined {
  return session;
}

export function setSession(next: Session | undefined): void {
  session = next;
  for (const listener of listeners) listener();
}

/** The current session, re-rendering on sign-in, token renewal and sign-out. */
export function useSession(): Session | undefined {
  return useSyncExternalStore(
    (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    () => session,
  );
}
