import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { Link } from 'wouter';
import { ApiError, request } from '../api/client.ts';
import { ErrorNotice } from '../components/errors.tsx';
import { formatTime } from '../components/format.ts';
import { ClinicianPatientDocument } from '../generated/graphql.ts';
import { BreakGlassDialog } from './BreakGlassDialog.tsx';

/** One patient's cases; a refusal (not on the care team) offers break-glass access. */
export function PatientCasesPage({ id }: { id: string }) {
  const patient = useQuery({ queryKey: ['ClinicianPatient', id], queryFn: () => request(ClinicianPatientDocument, { id }) });
  const [breakingGlass, setBreakingGlass] = useState(false);
  const forbidden = patient.error instanceof ApiError && patient.error.errors.some((error) => error.extensions?.code === 'FORBIDDEN');
  const record = patient.data?.patient;
  return (
    <>
      <p>
        <Link href="/">← My patients</Link>
      </p>
      <ErrorNotice error={patient.error} />
      {forbidden && (
        <button type="button" className="danger" onClick={() => setBreakingGlass(true)}>
          Emergency access…
        </button>
      )}
      {breakingGlass && (
        <BreakGlassDialog
          patientId={id}
          onClose={() => setBreakingGlass(false)}
          onGranted={() => {
            setBreakingGlass(false);
            void patient.refetch();
          }}
        />
      )}
      {record && (
        <>
          <h1>
            {record.familyName}, {record.givenName} <span className="mono">{record.mrn}</span>
          </h1>
          <p>
            Born {record.birthDate} · {record.sex.toLowerCase()} · consent to AI analysis: {record.aiConsent.toLowerCase()}
          </p>
          <table>
            <caption>Cases, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Case</th>
                <th scope="col">Status</th>
                <th scope="col">Opened</th>
              </tr>
            </thead>
            <tbody>
              {(record.cases ?? []).map((item) => (
                <tr key={item.id}>
                  <td>
                    <Link href={`/cases/${item.id}`}>{item.title}</Link>
                  </td>
                  <td>{item.status.toLowerCase()}</td>
                  <td>{formatTime(item.openedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </>
  );
}
