import { lazy, Suspense } from 'react';
import { Redirect, Route, Router, Switch } from 'wouter';
import { useSession } from './auth/session.ts';
import { SignInPage } from './auth/SignInPage.tsx';
import { Layout } from './components/Layout.tsx';
import { roleHome } from './roles.ts';

// One folder per role; each role's pages load only when that role opens them.
const AdminRoutes = lazy(() => import('./admin/routes.tsx'));
const AuditorRoutes = lazy(() => import('./auditor/routes.tsx'));
const ClinicianRoutes = lazy(() => import('./clinician/routes.tsx'));
const DataScientistRoutes = lazy(() => import('./data-scientist/routes.tsx'));

export function App() {
  const session = useSession();
  return (
    <Router base="/console">
      {!session ? (
        <SignInPage />
      ) : (
        <Layout session={session}>
          <Suspense fallback={<p role="status">Loading…</p>}>
            <Switch>
              <Route path="/admin" nest component={AdminRoutes} />
              <Route path="/auditor" nest component={AuditorRoutes} />
              <Route path="/clinician" nest component={ClinicianRoutes} />
              <Route path="/data-scientist" nest component={DataScientistRoutes} />
              <Route>
                <Redirect to={roleHome(session.roles)} replace />
              </Route>
            </Switch>
          </Suspense>
        </Layout>
      )}
    </Router>
  );
}
