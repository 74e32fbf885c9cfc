import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { GraphiQL } from 'graphiql';
import 'graphiql/style.css';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { currentSession, useSession } from '../auth/session.ts';
import { SignInPage } from '../auth/SignInPage.tsx';
import { resumeSignIn, signOut } from '../auth/sign-in.ts';
import './graphiql.css';

/**
 * GraphiQL, bundled and served by clinigraph (no CDN). It sends nothing to
 * /graphql before a sign-in, so opening it writes no refused-token record.
 */
async function fetcher(params: { query: string; operationName?: string | null; variables?: unknown }) {
  const session = currentSession();
  if (!session) return { errors: [{ message: 'Sign in first.', extensions: { code: 'UNAUTHENTICATED' } }] };
  const response = await fetch('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${session.token}` },
    body: JSON.stringify(params),
  });
  return response.json();
}

function Explorer() {
  const session = useSession();
  if (!session) return <SignInPage />;
  return (
    <div className="graphiql-frame">
      <header className="graphiql-bar">
        <span>
          clinigraph GraphiQL · {session.subject} ({session.roles.join(', ')})
        </span>
        <a href="/console/">Console</a>
        <button type="button" onClick={() => void signOut()}>
          Sign out
        </button>
      </header>
      <GraphiQL key={session.token} fetcher={fetcher} defaultQuery={'query {\n  me { subject roles purposeOfUse }\n}\n'} />
    </div>
  );
}

await resumeSignIn().catch(() => undefined);
createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <QueryClientProvider client={new QueryClient()}>
      <Explorer />
    </QueryClientProvider>
  </StrictMode>,
);
