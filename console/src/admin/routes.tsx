import { Route, Switch } from 'wouter';
import { PatientPage } from './PatientPage.tsx';
import { PatientsPage } from './PatientsPage.tsx';

/** Admin: patient records (find, create, edit, archive, merge), care teams and consent. */
export default function AdminRoutes() {
  return (
    <Switch>
      <Route path="/patients/:id">{(params) => <PatientPage id={params.id} />}</Route>
      <Route>
        <PatientsPage />
      </Route>
    </Switch>
  );
}
