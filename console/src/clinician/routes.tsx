import { Route, Switch } from 'wouter';
import { CasePage } from './CasePage.tsx';
import { PatientCasesPage } from './PatientCasesPage.tsx';
import { PatientsPage } from './PatientsPage.tsx';

/** Clinician: care-team patients, their cases and observations, predictions, reviews, outcomes, break-glass. */
export default function ClinicianRoutes() {
  return (
    <Switch>
      <Route path="/patients/:id">{(params) => <PatientCasesPage id={params.id} />}</Route>
      <Route path="/cases/:id">{(params) => <CasePage id={params.id} />}</Route>
      <Route component={PatientsPage} />
    </Switch>
  );
}
