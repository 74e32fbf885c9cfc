/** What the server tells the console about sign-in (GET /console/config.json). */
export interface ConsoleSettings {
  developmentSignIn: boolean;
  oidc: { issuer: string; clientId: string; scope: string } | null;
  graphiql: boolean;
  roles: string[];
  purposesOfUse: string[];
}

let settings: Promise<ConsoleSettings> | undefined;

export function consoleSettings(): Promise<ConsoleSettings> {
  settings ??= fetch('/console/config.json').then((response) => {
    if (!response.ok) throw new Error(`The console's settings could not be loaded (HTTP ${response.status}).`);
    return response.json() as Promise<ConsoleSettings>;
  });
  return settings;
}
