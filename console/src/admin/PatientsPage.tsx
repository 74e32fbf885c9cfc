import { keepPreviousData, useMutation, useQuery } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link, useLocation } from 'wouter';
import { present, request } from '../api/client.ts';
import { ErrorNotice } from '../components/errors.tsx';
import { TextField } from '../components/Field.tsx';
import { Pager, useCursorPages } from '../components/Pager.tsx';
import { AdminPatientsDocument, CreatePatientDocument, type PatientFilter } from '../generated/graphql.ts';
import { PatientForm, patientFormFields, type PatientFormValues } from './PatientForm.tsx';

const pageSize = 20;

/** Find patients by name or MRN, page through them, and register a new one. */
export function PatientsPage() {
  const [filter, setFilter] = useState<PatientFilter>({});
  const [draft, setDraft] = useState({ name: '', mrn: '', includeArchived: false });
  const pages = useCursorPages();
  const variables = { filter, first: pageSize, ...(pages.after ? { after: pages.after } : {}) };
  const patients = useQuery({ queryKey: ['AdminPatients', variables], queryFn: () => request(AdminPatientsDocument, variables), placeholderData: keepPreviousData });
  const found = patients.data?.patients;

  const search = (event: FormEvent) => {
    event.preventDefault();
    pages.reset();
    setFilter({ ...(draft.name ? { nameContains: draft.name } : {}), ...(draft.mrn ? { mrn: draft.mrn } : {}), includeArchived: draft.includeArchived });
  };

  return (
    <>
      <h1>Patient records</h1>
      <form className="panel" role="search" aria-label="Find patients" onSubmit={search}>
        <div className="grid">
          <TextField label="Name contains" value={draft.name} onChange={(e) => setDraft({ ...draft, name: e.target.value })} serverName="filter.nameContains" error={patients.error} />
          <TextField label="MRN" value={draft.mrn} onChange={(e) => setDraft({ ...draft, mrn: e.target.value })} serverName="filter.mrn" error={patients.error} />
          <div className="field">
            <span>Archived records</span>
            <label>
              <input type="checkbox" checked={draft.includeArchived} onChange={(e) => setDraft({ ...draft, includeArchived: e.target.checked })} /> include archived
            </label>
          </div>
          <button type="submit">Search</button>
        </div>
      </form>
      <ErrorNotice error={patients.error} fields={['filter.nameContains', 'filter.mrn']} />
      {found && (
        <>
          <table>
            <caption>Patients ({found.totalCount} found)</caption>
            <thead>
              <tr>
                <th scope="col">MRN</th>
                <th scope="col">Name</th>
                <th scope="col">Birth date</th>
                <th scope="col">Sex</th>
                <th scope="col">Record</th>
              </tr>
            </thead>
            <tbody>
              {found.edges.map(({ node }) => (
                <tr key={node.id}>
                  <td>
                    <Link href={`/patients/${node.id}`}>{node.mrn}</Link>
                  </td>
                  <td>
                    {node.familyName}, {node.givenName}
                  </td>
                  <td>{node.birthDate}</td>
                  <td>{node.sex.toLowerCase()}</td>
                  <td>{node.mergedIntoId ? 'merged' : node.archived ? 'archived' : 'active'}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager pages={pages} hasNextPage={found.pageInfo.hasNextPage} endCursor={found.pageInfo.endCursor} />
        </>
      )}
      <NewPatient />
    </>
  );
}

function NewPatient() {
  const [, navigate] = useLocation();
  const create = useMutation({
    mutationFn: (values: PatientFormValues) => request(CreatePatientDocument, { input: patientInput(values) }),
    onSuccess: (data) => navigate(`/patients/${present(data.createPatient, 'createPatient').id}`),
  });
  return (
    <section className="panel" aria-labelledby="new-patient">
      <h2 id="new-patient">Register a patient</h2>
      <PatientForm submitLabel="Register patient" busy={create.isPending} error={create.error} onSubmit={(values) => create.mutate(values)} />
      <ErrorNotice error={create.error} fields={patientFormFields} />
    </section>
  );
}

/** The form's values as the API's input: empty optional contact fields are left out. */
export function patientInput(values: PatientFormValues) {
  const { phone, email, address, ...required } = values;
  return { ...required, ...(phone ? { phone } : {}), ...(email ? { email } : {}), ...(address ? { address } : {}) };
}
