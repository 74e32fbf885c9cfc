import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link, useLocation } from 'wouter';
import { request } from '../api/client.ts';
import { ErrorNotice } from '../components/errors.tsx';
import { TextField } from '../components/Field.tsx';
import { Pager, useCursorPages } from '../components/Pager.tsx';
import { CareTeamPatientsDocument } from '../generated/graphql.ts';

/** The clinician's care-team patients (the server decides who they are). */
export function PatientsPage() {
  const pages = useCursorPages();
  const variables = { first: 20, ...(pages.after ? { after: pages.after } : {}) };
  const patients = useQuery({ queryKey: ['CareTeamPatients', variables], queryFn: () => request(CareTeamPatientsDocument, variables), placeholderData: keepPreviousData });
  const found = patients.data?.patients;
  return (
    <>
      <h1>My patients</h1>
      <ErrorNotice error={patients.error} />
      {found && (
        <>
          <table>
            <caption>Patients on your care team ({found.totalCount})</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">MRN</th>
                <th scope="col">Birth date</th>
                <th scope="col">AI consent</th>
              </tr>
            </thead>
            <tbody>
              {found.edges.map(({ node }) => (
                <tr key={node.id}>
                  <td>
                    <Link href={`/patients/${node.id}`}>
                      {node.familyName}, {node.givenName}
                    </Link>
                  </td>
                  <td>{node.mrn}</td>
                  <td>{node.birthDate}</td>
                  <td>{node.aiConsent.toLowerCase()}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager pages={pages} hasNextPage={found.pageInfo.hasNextPage} endCursor={found.pageInfo.endCursor} />
        </>
      )}
      <OpenPatientById />
    </>
  );
}

/** A patient outside the care team is opened by id; their page then offers break-glass access. */
function OpenPatientById() {
  const [id, setId] = useState('');
  const [, navigate] = useLocation();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (id.trim()) navigate(`/patients/${id.trim()}`);
  };
  return (
    <form className="panel" onSubmit={submit} aria-labelledby="open-by-id">
      <h2 id="open-by-id">Another patient</h2>
      <p className="hint">A patient who is not on your care team can be opened by record id; in an emergency their page offers break-glass access.</p>
      <div className="actions">
        <TextField label="Patient record id" value={id} onChange={(e) => setId(e.target.value)} />
        <button type="submit">Open</button>
      </div>
    </form>
  );
}
