import { Link, Route, Switch } from 'wouter';
import { PerformancePage } from './PerformancePage.tsx';
import { RegistryPage } from './RegistryPage.tsx';
import { TrainingPage } from './TrainingPage.tsx';
import { VersionPage } from './VersionPage.tsx';

/** Data scientist: the registry, model cards, promotion, training jobs, live performance and drift. */
export default function DataScientistRoutes() {
  return (
    <>
      <nav className="subnav" aria-label="Models">
        <Link href="/">Registry</Link>
        <Link href="/training">Training</Link>
      </nav>
      <Switch>
        <Route path="/versions/:id">{(params) => <VersionPage id={params.id} />}</Route>
        <Route path="/performance/:model">{(params) => <PerformancePage model={params.model} />}</Route>
        <Route path="/training" component={TrainingPage} />
        <Route component={RegistryPage} />
      </Switch>
    </>
  );
}
