import { useQuery } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { ErrorNotice } from '../components/errors.tsx';
import { SelectField, TextField } from '../components/Field.tsx';
import { consoleSettings } from './settings.ts';
import { signInForDevelopment, signInWithProvider } from './sign-in.ts';

const roleNames: Record<string, string> = { admin: 'Admin (records)', auditor: 'Auditor (reviews)', clinician: 'Clinician (care)', data_scientist: 'Data scientist (models)' };

/** Sign-in with the identity provider, or (development only) as any subject and role. */
export function SignInPage() {
  const settings = useQuery({ queryKey: ['console-settings'], queryFn: consoleSettings });
  const [subject, setSubject] = useState('demo-clinician');
  const [role, setRole] = useState('clinician');
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    await signInForDevelopment(subject, role).catch(setError);
    setBusy(false);
  };

  return (
    <main id="main" className="sign-in">
      <h1>clinigraph console</h1>
      {settings.error ? <ErrorNotice error={settings.error} /> : null}
      {settings.data?.oidc && (
        <section aria-labelledby="provider-heading">
          <h2 id="provider-heading">Sign in</h2>
          <p>You sign in with your hospital account at {new URL(settings.data.oidc.issuer).host}.</p>
          <button type="button" onClick={() => void signInWithProvider().catch(setError)}>
            Sign in with your hospital account
          </button>
        </section>
      )}
      {settings.data?.developmentSignIn && (
        <form onSubmit={submit} aria-labelledby="dev-heading">
          <h2 id="dev-heading">Development sign-in</h2>
          <p className="hint">Development mode only: a token signed with the local development key, for any subject and role.</p>
          <TextField label="Subject" name="subject" value={subject} onChange={(e) => setSubject(e.target.value)} serverName="subject" error={error} required autoComplete="username" />
          <SelectField label="Role" name="role" value={role} onChange={(e) => setRole(e.target.value)} serverName="role" error={error}>
            {settings.data.roles.map((name) => (
              <option key={name} value={name}>
                {roleNames[name] ?? name}
              </option>
            ))}
          </SelectField>
          <button type="submit" disabled={busy}>
            Sign in
          </button>
        </form>
      )}
      {settings.data && !settings.data.oidc && !settings.data.developmentSignIn && (
        <p role="alert">No sign-in is configured: set CONSOLE_OIDC_ISSUER and CONSOLE_OIDC_CLIENT_ID (README "Console").</p>
      )}
      <ErrorNotice error={error} fields={['subject', 'role']} />
    </main>
  );
}
