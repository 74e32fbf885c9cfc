import { useMutation } from '@tanstack/react-query';
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { request } from '../api/client.ts';
import { ErrorNotice, FieldError } from '../components/errors.tsx';
import { formatTime } from '../components/format.ts';
import { OpenBreakGlassDocument } from '../generated/graphql.ts';

/**
 * Emergency (break-glass) access to a patient outside the care team: the
 * server requires a written reason; the grant's expiry is shown once given.
 */
export function BreakGlassDialog({ patientId, onGranted, onClose }: { patientId: string; onGranted: () => void; onClose: () => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [reason, setReason] = useState('');
  const open = useMutation({ mutationFn: () => request(OpenBreakGlassDocument, { patientId, reason }) });
  useEffect(() => dialog.current?.showModal(), []);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    open.mutate();
  };
  const grant = open.data?.openBreakGlass;
  return (
    <dialog ref={dialog} aria-labelledby="break-glass-heading" onClose={onClose}>
      <h2 id="break-glass-heading">Emergency access (break-glass)</h2>
      {grant ? (
        <>
          <p className="warning" role="status">
            Access granted until <strong>{formatTime(grant.expiresAt)}</strong>. Every access is flagged in the audit log and reviewed.
          </p>
          <div className="actions">
            <button type="button" onClick={onGranted}>
              Open the record
            </button>
          </div>
        </>
      ) : (
        <form onSubmit={submit}>
          <p>This patient is not on your care team. Give the clinical reason for emergency access; it is recorded and reviewed by auditors.</p>
          <div className="field">
            <label htmlFor="break-glass-reason">Reason</label>
            <textarea id="break-glass-reason" value={reason} onChange={(e) => setReason(e.target.value)} aria-describedby="break-glass-reason-error" />
            <FieldError error={open.error} name="reason" id="break-glass-reason-error" />
          </div>
          <ErrorNotice error={open.error} fields={['reason']} />
          <div className="actions">
            <button type="submit" className="danger" disabled={open.isPending}>
              Open emergency access
            </button>
            <button type="button" className="secondary" onClick={() => dialog.current?.close()}>
              Cancel
            </button>
          </div>
        </form>
      )}
    </dialog>
  );
}
