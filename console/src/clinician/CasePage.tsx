import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link } from 'wouter';
import { request } from '../api/client.ts';
import { ErrorNotice } from '../components/errors.tsx';
import { SelectField, TextField } from '../components/Field.tsx';
import { formatNumber, formatTime } from '../components/format.ts';
import { ClinicianCaseDocument, type ClinicianCaseQuery, PredictDocument, PredictionModelsDocument, RecordOutcomeDocument } from '../generated/graphql.ts';
import { ObservationsPanel } from './ObservationsPanel.tsx';
import { PredictionCard } from './PredictionCard.tsx';

export type ClinicalCase = NonNullable<ClinicianCaseQuery['case']>;

/** One case: observations over time, predictions (request, read, review) and outcomes. */
export function CasePage({ id }: { id: string }) {
  const found = useQuery({ queryKey: ['ClinicianCase', id], queryFn: () => request(ClinicianCaseDocument, { id }) });
  const item = found.data?.case;
  return (
    <>
      {item && (
        <p>
          <Link href={`/patients/${item.patient.id}`}>
            ← {item.patient.familyName}, {item.patient.givenName}
          </Link>
        </p>
      )}
      <ErrorNotice error={found.error} />
      {item && (
        <>
          <h1>{item.title}</h1>
          <p>
            {item.patient.familyName}, {item.patient.givenName} ({item.patient.mrn}) · {item.status.toLowerCase()} · opened {formatTime(item.openedAt)}
          </p>
          <ObservationsPanel observations={item.observations ?? []} />
          <RequestPrediction caseId={item.id} />
          {(item.predictions ?? []).map((prediction) => (
            <PredictionCard key={prediction.id} caseId={item.id} prediction={prediction} />
          ))}
          <Outcomes item={item} />
        </>
      )}
    </>
  );
}

function RequestPrediction({ caseId }: { caseId: string }) {
  const client = useQueryClient();
  const models = useQuery({ queryKey: ['PredictionModels'], queryFn: () => request(PredictionModelsDocument) });
  const [model, setModel] = useState('');
  const predict = useMutation({
    mutationFn: () => request(PredictDocument, { caseId, model: model || models.data?.models?.[0]?.name || '' }),
    onSuccess: () => client.invalidateQueries({ queryKey: ['ClinicianCase', caseId] }),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    predict.mutate();
  };
  return (
    <form className="panel" onSubmit={submit} aria-labelledby="predict-heading">
      <h2 id="predict-heading">Ask a model</h2>
      <div className="actions">
        <SelectField label="Model" value={model} onChange={(e) => setModel(e.target.value)} serverName="model" error={predict.error}>
          {models.data?.models?.map((entry) => (
            <option key={entry.name} value={entry.name}>
              {entry.name} — {entry.description.slice(0, 60)}
            </option>
          ))}
        </SelectField>
        <button type="submit" disabled={predict.isPending || !models.data}>
          {predict.isPending ? 'Running…' : 'Request prediction'}
        </button>
      </div>
      <ErrorNotice error={predict.error ?? models.error} fields={['model']} />
    </form>
  );
}

function Outcomes({ item }: { item: ClinicalCase }) {
  const client = useQueryClient();
  const [outcome, setOutcome] = useState({ target: '', label: '', value: '' });
  const record = useMutation({
    mutationFn: () =>
      request(RecordOutcomeDocument, {
        caseId: item.id,
        outcome: { target: outcome.target, ...(outcome.label ? { label: outcome.label } : {}), ...(outcome.value ? { value: Number(outcome.value) } : {}) },
      }),
    onSuccess: () => client.invalidateQueries({ queryKey: ['ClinicianCase', item.id] }),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    record.mutate();
  };
  const fields = ['outcome.target', 'outcome.label', 'outcome.value'];
  return (
    <section className="panel" aria-labelledby="outcome-heading">
      <h2 id="outcome-heading">Outcomes</h2>
      {(item.outcomes ?? []).length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">Target</th>
              <th scope="col">Outcome</th>
              <th scope="col">Recorded</th>
            </tr>
          </thead>
          <tbody>
            {(item.outcomes ?? []).map((entry) => (
              <tr key={entry.target}>
                <td>{entry.target}</td>
                <td>{entry.label ?? formatNumber(entry.value)}</td>
                <td>
                  {formatTime(entry.recordedAt)} by {entry.recordedBy}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form onSubmit={submit}>
        <div className="grid">
          <TextField label="Target (e.g. diagnosis)" value={outcome.target} onChange={(e) => setOutcome({ ...outcome, target: e.target.value })} serverName="outcome.target" error={record.error} />
          <TextField label="Class (classification)" value={outcome.label} onChange={(e) => setOutcome({ ...outcome, label: e.target.value })} serverName="outcome.label" error={record.error} />
          <TextField label="Value (regression)" inputMode="decimal" value={outcome.value} onChange={(e) => setOutcome({ ...outcome, value: e.target.value })} serverName="outcome.value" error={record.error} />
          <button type="submit" disabled={record.isPending}>
            Record outcome
          </button>
        </div>
      </form>
      <ErrorNotice error={record.error} fields={fields} />
    </section>
  );
}
