import { keepPreviousData, useMutation, useQuery } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { present, request } from '../api/client.ts';
import { consoleSettings } from '../auth/settings.ts';
import { ErrorNotice } from '../components/errors.tsx';
import { SelectField, TextField } from '../components/Field.tsx';
import { Pager, useCursorPages } from '../components/Pager.tsx';
import { type AuditEventFilter, AuditEventsDocument, ExportAuditEventsDocument, PatientIdByMrnForAuditDocument } from '../generated/graphql.ts';
import { AuditEventDetail, AuditEventsTable, type AuditEventRow } from './AuditEventsTable.tsx';

const pageSize = 50;
const exportPageSize = 1000;

interface FilterForm {
  actorSubject: string;
  patientMrn: string;
  action: string;
  outcome: string;
  purposeOfUse: string;
  breakGlass: string;
  from: string;
  to: string;
}
const noFilter: FilterForm = { actorSubject: '', patientMrn: '', action: '', outcome: '', purposeOfUse: '', breakGlass: '', from: '', to: '' };

/** The audit log, newest first: filters, cursor paging, a record's detail, and export of the filtered range. */
export function AuditLogPage() {
  const [form, setForm] = useState(noFilter);
  const [filter, setFilter] = useState<AuditEventFilter>({});
  const [selected, setSelected] = useState<AuditEventRow>();
  const pages = useCursorPages();
  const variables = { filter, first: pageSize, ...(pages.after ? { after: pages.after } : {}) };
  const events = useQuery({ queryKey: ['AuditEvents', variables], queryFn: () => request(AuditEventsDocument, variables), placeholderData: keepPreviousData });
  const shown = events.data?.auditEvents;
  const settings = useQuery({ queryKey: ['console-settings'], queryFn: consoleSettings });

  // A patient is named by MRN; the dedicated, audited lookup turns it into the id the log is filtered by.
  const apply = useMutation({
    mutationFn: async (values: FilterForm): Promise<AuditEventFilter> => {
      const patientId = values.patientMrn ? (await request(PatientIdByMrnForAuditDocument, { mrn: values.patientMrn })).patientIdByMrnForAudit : undefined;
      if (values.patientMrn && !patientId) throw new Error(`No patient has MRN ${values.patientMrn}.`);
      return {
        ...(values.actorSubject ? { actorSubject: values.actorSubject } : {}),
        ...(patientId ? { patientId } : {}),
        ...(values.action ? { action: values.action } : {}),
        ...(values.outcome ? { outcome: values.outcome as AuditEventFilter['outcome'] } : {}),
        ...(values.purposeOfUse ? { purposeOfUse: values.purposeOfUse } : {}),
        ...(values.breakGlass ? { breakGlass: values.breakGlass === 'yes' } : {}),
        ...(values.from ? { from: new Date(values.from).toISOString() } : {}),
        ...(values.to ? { to: new Date(values.to).toISOString() } : {}),
      };
    },
    onSuccess: (next) => {
      pages.reset();
      setSelected(undefined);
      setFilter(next);
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    apply.mutate(form);
  };
  const set = (name: keyof FilterForm) => (event: { target: { value: string } }) => setForm({ ...form, [name]: event.target.value });
  const filterFields = ['filter.actorSubject', 'filter.action', 'filter.purposeOfUse', 'filter.from', 'filter.to', 'mrn'];

  return (
    <>
      <h1>Audit log</h1>
      <form className="panel" role="search" aria-label="Filter the audit log" onSubmit={submit}>
        <div className="grid">
          <TextField label="Actor (subject)" value={form.actorSubject} onChange={set('actorSubject')} serverName="filter.actorSubject" error={events.error} />
          <TextField label="Patient MRN" value={form.patientMrn} onChange={set('patientMrn')} serverName="mrn" error={apply.error} />
          <TextField label="Action" placeholder="e.g. patient.read" value={form.action} onChange={set('action')} serverName="filter.action" error={events.error} />
          <SelectField label="Outcome" value={form.outcome} onChange={set('outcome')}>
            <option value="">any</option>
            <option value="SUCCESS">success</option>
            <option value="DENIED">denied</option>
            <option value="ERROR">error</option>
          </SelectField>
          <SelectField label="Purpose of use" value={form.purposeOfUse} onChange={set('purposeOfUse')} serverName="filter.purposeOfUse" error={events.error}>
            <option value="">any</option>
            {settings.data?.purposesOfUse.map((code) => (
              <option key={code} value={code}>
                {code}
              </option>
            ))}
          </SelectField>
          <SelectField label="Break-glass" value={form.breakGlass} onChange={set('breakGlass')}>
            <option value="">any</option>
            <option value="yes">only break-glass</option>
            <option value="no">without break-glass</option>
          </SelectField>
          <TextField label="From" type="datetime-local" step={1} value={form.from} onChange={set('from')} serverName="filter.from" error={events.error} />
          <TextField label="To" type="datetime-local" step={1} value={form.to} onChange={set('to')} serverName="filter.to" error={events.error} />
        </div>
        <div className="actions">
          <button type="submit" disabled={apply.isPending}>
            Apply filter
          </button>
          <button
            type="button"
            className="secondary"
            onClick={() => {
              setForm(noFilter);
              apply.mutate(noFilter);
            }}
          >
            Clear
          </button>
          <ExportButton filter={filter} />
        </div>
      </form>
      <ErrorNotice error={apply.error} fields={['mrn']} />
      <ErrorNotice error={events.error} fields={filterFields} />
      {shown && (
        <>
          <AuditEventsTable caption={`Audit records, newest first (${pageSize} a page)`} events={shown.edges.map((edge) => edge.node)} selected={selected?.id} onSelect={setSelected} />
          <Pager pages={pages} hasNextPage={shown.pageInfo.hasNextPage} endCursor={shown.pageInfo.endCursor} />
        </>
      )}
      {selected && <AuditEventDetail event={selected} />}
    </>
  );
}

/** Exports every record of the filtered range (oldest first) as FHIR AuditEvent NDJSON, saved as a file. */
function ExportButton({ filter }: { filter: AuditEventFilter }) {
  const exporting = useMutation({
    mutationFn: async () => {
      const parts: string[] = [];
      let after: string | undefined;
      let count = 0;
      for (;;) {
        const page = present((await request(ExportAuditEventsDocument, { filter, first: exportPageSize, ...(after ? { after } : {}) })).exportAuditEvents, 'exportAuditEvents');
        parts.push(page.ndjson);
        count += page.count;
        if (!page.hasNextPage || !page.endCursor) break;
        after = page.endCursor;
      }
      saveFile(new Blob(parts, { type: 'application/x-ndjson' }), `audit-events-${new Date().toISOString().replace(/[:.]/g, '-')}.ndjson`);
      return count;
    },
  });
  return (
    <>
      <button type="button" className="secondary" disabled={exporting.isPending} onClick={() => exporting.mutate()}>
        {exporting.isPending ? 'Exporting…' : 'Export filtered range (NDJSON)'}
      </button>
      {exporting.isSuccess && (
        <span role="status" className="notice">
          Exported {exporting.data} records.
        </span>
      )}
      <ErrorNotice error={exporting.error} />
    </>
  );
}

function saveFile(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
