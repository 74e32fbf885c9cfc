import { useMutation, useQuery } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link } from 'wouter';
import { request } from '../api/client.ts';
import { ErrorNotice } from '../components/errors.tsx';
import { SelectField, TextField } from '../components/Field.tsx';
import { formatNumber, formatTime } from '../components/format.ts';
import { type TrainingTask, TrainModelDocument, TrainingJobDocument } from '../generated/graphql.ts';

const pollMs = 1000;

/** Starts training (uploaded CSV or platform cases with outcomes) and follows each job's progress. */
export function TrainingPage() {
  const [jobs, setJobs] = useState<string[]>([]);
  const [form, setForm] = useState({ name: '', task: 'BINARY' as TrainingTask, target: '', positiveClass: '', maxEpochs: '50' });
  const [csv, setCsv] = useState<string>();
  const train = useMutation({
    mutationFn: () =>
      request(TrainModelDocument, {
        input: {
          name: form.name,
          task: form.task,
          target: form.target,
          data: csv ? { csv } : { fromPlatform: true },
          ...(form.positiveClass ? { positiveClass: form.positiveClass } : {}),
          ...(form.maxEpochs ? { maxEpochs: Number(form.maxEpochs) } : {}),
        },
      }),
    onSuccess: (data) => setJobs((list) => [data.trainModel.id, ...list]),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    train.mutate();
  };
  const set = (name: keyof typeof form) => (event: { target: { value: string } }) => setForm({ ...form, [name]: event.target.value });
  const fields = ['input.name', 'input.task', 'input.target', 'input.positiveClass', 'input.maxEpochs', 'input.data'];
  return (
    <>
      <h1>Training</h1>
      <form className="panel" onSubmit={submit} aria-labelledby="train-heading">
        <h2 id="train-heading">Train a model</h2>
        <div className="grid">
          <TextField label="Registry name" value={form.name} onChange={set('name')} serverName="input.name" error={train.error} />
          <SelectField label="Task" value={form.task} onChange={set('task')} serverName="input.task" error={train.error}>
            {['BINARY', 'MULTICLASS', 'REGRESSION', 'IMAGE'].map((task) => (
              <option key={task} value={task}>
                {task.toLowerCase()}
              </option>
            ))}
          </SelectField>
          <TextField label="Target column" value={form.target} onChange={set('target')} serverName="input.target" error={train.error} />
          <TextField label="Positive class (binary)" value={form.positiveClass} onChange={set('positiveClass')} serverName="input.positiveClass" error={train.error} />
          <TextField label="Most epochs" inputMode="numeric" value={form.maxEpochs} onChange={set('maxEpochs')} serverName="input.maxEpochs" error={train.error} />
          <div className="field">
            <label htmlFor="training-csv">Training data (CSV; none: platform cases with outcomes)</label>
            <input id="training-csv" type="file" accept=".csv,text/csv" onChange={(e) => void e.target.files?.[0]?.text().then(setCsv)} />
          </div>
        </div>
        <div className="actions">
          <button type="submit" disabled={train.isPending}>
            Start training
          </button>
        </div>
        <ErrorNotice error={train.error} fields={fields} />
      </form>
      {jobs.map((id) => (
        <TrainingJobProgress key={id} id={id} />
      ))}
    </>
  );
}

function TrainingJobProgress({ id }: { id: string }) {
  const job = useQuery({
    queryKey: ['TrainingJob', id],
    queryFn: () => request(TrainingJobDocument, { id }),
    refetchInterval: (query) => (['QUEUED', 'RUNNING'].includes(query.state.data?.trainingJob?.status ?? 'QUEUED') ? pollMs : false),
  });
  const data = job.data?.trainingJob;
  if (!data) return <ErrorNotice error={job.error} />;
  const progress = data.progress;
  return (
    <section className="panel" aria-label={`Training job ${data.modelName}`}>
      <h2>
        {data.modelName}: {data.status.toLowerCase()}
      </h2>
      <p className="hint">Started {formatTime(data.createdAt)}</p>
      {progress && (
        <p>
          <label>
            {progress.phase}, epoch {progress.epoch} of {progress.epochs}{' '}
            <progress max={progress.epochs} value={progress.epoch}>
              {progress.epoch}/{progress.epochs}
            </progress>
          </label>{' '}
          loss {formatNumber(progress.loss)}, validation loss {formatNumber(progress.validationLoss)}
          {progress.validationMetricName && `, ${progress.validationMetricName} ${formatNumber(progress.validationMetric)}`}
        </p>
      )}
      {data.error && <p className="error">{data.error}</p>}
      {data.modelVersion && <Link href={`/versions/${data.modelVersion.id}`}>Model card of version {data.modelVersion.version}</Link>}
      <ErrorNotice error={job.error} />
    </section>
  );
}
