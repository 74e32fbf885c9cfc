import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link } from 'wouter';
import { request } from '../api/client.ts';
import { ErrorNotice } from '../components/errors.tsx';
import { SelectField, TextField } from '../components/Field.tsx';
import { formatNumber, formatTime } from '../components/format.ts';
import { Pager, useCursorPages } from '../components/Pager.tsx';
import { type TrainingJobFieldsFragment, type TrainingJobStatus, type TrainingTask, TrainModelDocument, TrainingJobsDocument } from '../generated/graphql.ts';

/** While a listed job is queued or running its progress is polled each second; otherwise the list looks for new jobs now and then. */
const pollMs = { active: 1000, idle: 10_000 };
const pageSize = 20;
const statuses: TrainingJobStatus[] = ['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED'];
const isActive = (job: Pick<TrainingJobFieldsFragment, 'status'>) => job.status === 'QUEUED' || job.status === 'RUNNING';

/** Starts training (uploaded CSV or platform cases with outcomes) and lists every job, whoever started it, with live progress. */
export function TrainingPage() {
  const queryClient = useQueryClient();
  const [status, setStatus] = useState<TrainingJobStatus | ''>('');
  const pages = useCursorPages();
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
    onSuccess: () => {
      pages.reset();
      return queryClient.invalidateQueries({ queryKey: ['TrainingJobs'] });
    },
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
      <section className="panel" aria-labelledby="jobs-heading">
        <h2 id="jobs-heading">Training jobs</h2>
        <div className="grid">
          <SelectField
            label="Status"
            value={status}
            onChange={(event) => {
              pages.reset();
              setStatus(event.target.value as TrainingJobStatus | '');
            }}
          >
            <option value="">any</option>
            {statuses.map((value) => (
              <option key={value} value={value}>
                {value.toLowerCase()}
              </option>
            ))}
          </SelectField>
        </div>
        <TrainingJobs status={status || undefined} pages={pages} />
      </section>
    </>
  );
}

/** One page of training jobs, newest first, refreshed while any of them is still training. */
function TrainingJobs({ status, pages }: { status: TrainingJobStatus | undefined; pages: ReturnType<typeof useCursorPages> }) {
  const variables = { first: pageSize, ...(status ? { status } : {}), ...(pages.after ? { after: pages.after } : {}) };
  const jobs = useQuery({
    queryKey: ['TrainingJobs', variables],
    queryFn: () => request(TrainingJobsDocument, variables),
    placeholderData: keepPreviousData,
    refetchInterval: (query) => (query.state.data?.trainingJobs?.edges.some(({ node }) => isActive(node)) ? pollMs.active : pollMs.idle),
  });
  const connection = jobs.data?.trainingJobs;
  return (
    <>
      <ErrorNotice error={jobs.error} fields={['status']} />
      {connection && (
        <>
          <table>
            <caption>Newest first ({connection.totalCount} in all)</caption>
            <thead>
              <tr>
                <th scope="col">Model</th>
                <th scope="col">Status</th>
                <th scope="col">Progress</th>
                <th scope="col">Requested by</th>
                <th scope="col">Requested</th>
                <th scope="col">Result</th>
              </tr>
            </thead>
            <tbody>
              {connection.edges.map(({ node }) => (
                <TrainingJobRow key={node.id} job={node} />
              ))}
            </tbody>
          </table>
          <Pager pages={pages} hasNextPage={connection.pageInfo.hasNextPage} endCursor={connection.pageInfo.endCursor} total={connection.totalCount} />
        </>
      )}
    </>
  );
}

function TrainingJobRow({ job }: { job: TrainingJobFieldsFragment }) {
  const { progress, stage } = job;
  return (
    <tr aria-label={`Training job ${job.modelName}`}>
      <th scope="row">{job.modelName}</th>
      <td>
        <span className={`badge ${job.status}`}>{job.status.toLowerCase()}</span>
      </td>
      <td>
        {!isActive(job) ? (
          `ended ${formatTime(job.finishedAt)}`
        ) : progress || stage ? (
          <>
            {stage && <TrainingStageLine stage={stage} />}
            {progress && <TrainingEpochs progress={progress} />}
          </>
        ) : (
          'waiting to start'
        )}
      </td>
      <td>{job.requestedBy}</td>
      <td>{formatTime(job.createdAt)}</td>
      <td>
        {job.error && <span className="error">{job.error}</span>}
        {job.modelVersion && <Link href={`/versions/${job.modelVersion.id}`}>Model card of version {job.modelVersion.version}</Link>}
        {!job.error && !job.modelVersion && (isActive(job) ? 'training…' : '—')}
      </td>
    </tr>
  );
}

/** The step a running job is in (checking the data, training, evaluating), with how far along it is when known. */
function TrainingStageLine({ stage }: { stage: NonNullable<TrainingJobFieldsFragment['stage']> }) {
  return (
    <div>
      {stage.step}: {stage.detail}
      {stage.fraction != null && ` (${Math.round(stage.fraction * 100)}%)`}
    </div>
  );
}

/** The epochs of the network being trained, with its latest losses. */
function TrainingEpochs({ progress }: { progress: NonNullable<TrainingJobFieldsFragment['progress']> }) {
  return (
    <>
      <label>
        {progress.phase}, epoch {progress.epoch} of {progress.epochs}{' '}
        <progress max={progress.epochs} value={progress.epoch}>
          {progress.epoch}/{progress.epochs}
        </progress>
      </label>
      <br />
      loss {formatNumber(progress.loss)}, validation loss {formatNumber(progress.validationLoss)}
      {progress.validationMetricName && `, ${progress.validationMetricName} ${formatNumber(progress.validationMetric)}`}
    </>
  );
}
