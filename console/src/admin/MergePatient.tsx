import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { useLocation } from 'wouter';
import { present, request } from '../api/client.ts';
import { ErrorNotice } from '../components/errors.tsx';
import { TextField } from '../components/Field.tsx';
import { AdminPatientDocument, AdminPatientsDocument, MergePatientsDocument } from '../generated/graphql.ts';
import type { AdminPatient } from './PatientPage.tsx';

/**
 * Merging this record (the duplicate) into another, found by MRN: a dialog
 * shows both records side by side before anything changes.
 */
export function MergePatient({ duplicate }: { duplicate: AdminPatient }) {
  const [mrn, setMrn] = useState('');
  const [survivor, setSurvivor] = useState<AdminPatient>();
  const [, navigate] = useLocation();
  const client = useQueryClient();
  const find = useMutation({
    mutationFn: async () => {
      const found = await request(AdminPatientsDocument, { filter: { mrn }, first: 1 });
      const id = present(found.patients, 'patients').edges[0]?.node.id;
      if (!id) throw new Error(`No active patient with MRN ${mrn}.`);
      return (await request(AdminPatientDocument, { id })).patient!;
    },
    onSuccess: setSurvivor,
  });
  const merge = useMutation({
    mutationFn: (survivorId: string) => request(MergePatientsDocument, { duplicateId: duplicate.id, survivorId }),
    onSuccess: async (_, survivorId) => {
      setSurvivor(undefined);
      await client.invalidateQueries();
      navigate(`/patients/${survivorId}`);
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    merge.reset();
    find.mutate();
  };
  return (
    <section className="panel" aria-labelledby="merge-heading">
      <h2 id="merge-heading">Merge this duplicate into another record</h2>
      <p className="hint">Its cases and care team move to the surviving record; this record is archived and points at it.</p>
      <form onSubmit={submit} className="actions">
        <TextField label="MRN of the surviving record" value={mrn} onChange={(e) => setMrn(e.target.value)} serverName="filter.mrn" error={find.error} />
        <button type="submit" disabled={find.isPending}>
          Compare records…
        </button>
      </form>
      <ErrorNotice error={find.error} fields={['filter.mrn']} />
      <ErrorNotice error={merge.error} />
      {survivor && (
        <ConfirmMerge duplicate={duplicate} survivor={survivor} busy={merge.isPending} onConfirm={() => merge.mutate(survivor.id)} onCancel={() => setSurvivor(undefined)} />
      )}
    </section>
  );
}

function ConfirmMerge({ duplicate, survivor, busy, onConfirm, onCancel }: { duplicate: AdminPatient; survivor: AdminPatient; busy: boolean; onConfirm: () => void; onCancel: () => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => dialog.current?.showModal(), []);
  return (
    <dialog ref={dialog} aria-labelledby="confirm-merge-heading" onClose={onCancel}>
      <h2 id="confirm-merge-heading">Merge these two records?</h2>
      <div className="merge-compare">
        <RecordSummary title="Duplicate (will be archived)" patient={duplicate} />
        <RecordSummary title="Surviving record" patient={survivor} />
      </div>
      <div className="actions">
        <button type="button" className="danger" disabled={busy} onClick={onConfirm}>
          Merge {duplicate.mrn} into {survivor.mrn}
        </button>
        <button type="button" className="secondary" onClick={() => dialog.current?.close()}>
          Cancel
        </button>
      </div>
    </dialog>
  );
}

function RecordSummary({ title, patient }: { title: string; patient: AdminPatient }) {
  return (
    <section aria-label={title}>
      <h3>{title}</h3>
      <dl className="detail">
        <dt>MRN</dt>
        <dd>{patient.mrn}</dd>
        <dt>Name</dt>
        <dd>
          {patient.familyName}, {patient.givenName}
        </dd>
        <dt>Birth date</dt>
        <dd>{patient.birthDate}</dd>
        <dt>Sex</dt>
        <dd>{patient.sex.toLowerCase()}</dd>
        <dt>Contact</dt>
        <dd>{[patient.phone, patient.email, patient.address].filter(Boolean).join(' · ') || '—'}</dd>
        <dt>Care team</dt>
        <dd>{(patient.careTeam ?? []).map((member) => member.clinicianSubject).join(', ') || '—'}</dd>
      </dl>
    </section>
  );
}
