import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link } from 'wouter';
import { request } from '../api/client.ts';
import { ErrorNotice } from '../components/errors.tsx';
import { SelectField, TextField } from '../components/Field.tsx';
import { formatTime } from '../components/format.ts';
import {
  AddCareTeamMemberDocument,
  AdminPatientDocument,
  ArchivePatientDocument,
  type AdminPatientQuery,
  type ConsentStatus,
  RecordAiConsentDocument,
  RemoveCareTeamMemberDocument,
  UpdatePatientDocument,
} from '../generated/graphql.ts';
import { MergePatient } from './MergePatient.tsx';
import { PatientForm, patientFormFields, type PatientFormValues } from './PatientForm.tsx';

export type AdminPatient = NonNullable<AdminPatientQuery['patient']>;

/** One patient record: edit, archive, merge, care team, consent. */
export function PatientPage({ id }: { id: string }) {
  const patient = useQuery({ queryKey: ['AdminPatient', id], queryFn: () => request(AdminPatientDocument, { id }) });
  const record = patient.data?.patient;
  return (
    <>
      <p>
        <Link href="/">← Patient records</Link>
      </p>
      <ErrorNotice error={patient.error} />
      {patient.data && !record && <p role="alert">No patient with this id.</p>}
      {record && (
        <>
          <h1>
            {record.familyName}, {record.givenName} <span className="mono">{record.mrn}</span>
          </h1>
          {record.archived && (
            <p className="warning">
              Archived {formatTime(record.archivedAt)}
              {record.mergedIntoId && (
                <>
                  {' '}
                  (merged into <Link href={`/patients/${record.mergedIntoId}`}>the surviving record</Link>)
                </>
              )}
              : it cannot be changed.
            </p>
          )}
          <EditPatient patient={record} />
          <div className="two-columns">
            <CareTeam patient={record} />
            <Consent patient={record} />
          </div>
          {!record.archived && <MergePatient duplicate={record} />}
        </>
      )}
    </>
  );
}

function useRefresh(id: string) {
  const client = useQueryClient();
  return () => client.invalidateQueries({ queryKey: ['AdminPatient', id] });
}

function EditPatient({ patient }: { patient: AdminPatient }) {
  const refresh = useRefresh(patient.id);
  const update = useMutation({
    mutationFn: ({ phone, email, address, ...required }: PatientFormValues) =>
      // An emptied contact field clears it (null); the server validates everything else.
      request(UpdatePatientDocument, { id: patient.id, input: { ...required, phone: phone || null, email: email || null, address: address || null } }),
    onSuccess: refresh,
  });
  const archive = useMutation({ mutationFn: () => request(ArchivePatientDocument, { id: patient.id }), onSuccess: refresh });
  const { mrn, givenName, familyName, birthDate, sex } = patient;
  const initial = { mrn, givenName, familyName, birthDate, sex, phone: patient.phone ?? '', email: patient.email ?? '', address: patient.address ?? '' };
  return (
    <section className="panel" aria-labelledby="edit-heading">
      <h2 id="edit-heading">Record</h2>
      <PatientForm key={patient.updatedAt} initial={initial} submitLabel="Save changes" busy={update.isPending} error={update.error} onSubmit={(values) => update.mutate(values)} />
      {update.isSuccess && <p className="notice">Saved.</p>}
      <ErrorNotice error={update.error} fields={patientFormFields} />
      {!patient.archived && (
        <div className="actions">
          <button type="button" className="danger" disabled={archive.isPending} onClick={() => window.confirm(`Archive ${patient.mrn}? Archived records stay readable but cannot be changed.`) && archive.mutate()}>
            Archive record
          </button>
        </div>
      )}
      <ErrorNotice error={archive.error} />
    </section>
  );
}

function CareTeam({ patient }: { patient: AdminPatient }) {
  const refresh = useRefresh(patient.id);
  const [subject, setSubject] = useState('');
  const add = useMutation({
    mutationFn: () => request(AddCareTeamMemberDocument, { patientId: patient.id, clinicianSubject: subject }),
    onSuccess: () => {
      setSubject('');
      return refresh();
    },
  });
  const remove = useMutation({ mutationFn: (clinicianSubject: string) => request(RemoveCareTeamMemberDocument, { patientId: patient.id, clinicianSubject }), onSuccess: refresh });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    add.mutate();
  };
  return (
    <section className="panel" aria-labelledby="team-heading">
      <h2 id="team-heading">Care team</h2>
      <table>
        <thead>
          <tr>
            <th scope="col">Clinician</th>
            <th scope="col">Added</th>
            <th scope="col">
              <span className="hint">Action</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {(patient.careTeam ?? []).map((member) => (
            <tr key={member.clinicianSubject}>
              <td>{member.clinicianSubject}</td>
              <td>
                {formatTime(member.addedAt)} by {member.addedBy}
              </td>
              <td>
                <button type="button" className="secondary" onClick={() => remove.mutate(member.clinicianSubject)} aria-label={`Remove ${member.clinicianSubject}`}>
                  Remove
                </button>
              </td>
            </tr>
          ))}
          {(patient.careTeam ?? []).length === 0 && (
            <tr>
              <td colSpan={3}>Nobody yet.</td>
            </tr>
          )}
        </tbody>
      </table>
      <form onSubmit={submit} className="actions">
        <TextField label="Clinician (token subject)" value={subject} onChange={(e) => setSubject(e.target.value)} serverName="clinicianSubject" error={add.error} />
        <button type="submit" disabled={add.isPending}>
          Add to care team
        </button>
      </form>
      <ErrorNotice error={add.error ?? remove.error} fields={['clinicianSubject']} />
    </section>
  );
}

function Consent({ patient }: { patient: AdminPatient }) {
  const refresh = useRefresh(patient.id);
  const [status, setStatus] = useState<ConsentStatus>(patient.aiConsent === 'GRANTED' ? 'WITHDRAWN' : 'GRANTED');
  const [note, setNote] = useState('');
  const record = useMutation({ mutationFn: () => request(RecordAiConsentDocument, { patientId: patient.id, status, ...(note ? { note } : {}) }), onSuccess: refresh });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    record.mutate();
  };
  return (
    <section className="panel" aria-labelledby="consent-heading">
      <h2 id="consent-heading">Consent to AI analysis</h2>
      <p>
        Now: <span className={`badge ${patient.aiConsent === 'GRANTED' ? 'SUCCESS' : 'DENIED'}`}>{patient.aiConsent.toLowerCase()}</span>
        {patient.aiConsentUpdatedAt && ` since ${formatTime(patient.aiConsentUpdatedAt)}`}
      </p>
      <form onSubmit={submit}>
        <div className="grid">
          <SelectField label="Patient's choice" value={status} onChange={(e) => setStatus(e.target.value as ConsentStatus)} serverName="status" error={record.error}>
            <option value="GRANTED">granted</option>
            <option value="WITHDRAWN">withdrawn</option>
          </SelectField>
          <TextField label="Note" value={note} onChange={(e) => setNote(e.target.value)} serverName="note" error={record.error} />
          <button type="submit" disabled={record.isPending}>
            Record choice
          </button>
        </div>
      </form>
      <ErrorNotice error={record.error} fields={['status', 'note']} />
      <table>
        <caption>History (newest first)</caption>
        <thead>
          <tr>
            <th scope="col">Choice</th>
            <th scope="col">Note</th>
            <th scope="col">Recorded</th>
          </tr>
        </thead>
        <tbody>
          {(patient.consentHistory ?? []).map((entry, index) => (
            <tr key={index}>
              <td>{entry.status.toLowerCase()}</td>
              <td>{entry.note ?? ''}</td>
              <td>
                {formatTime(entry.recordedAt)} by {entry.recordedBy}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
