import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useMemo, useState, type FormEvent } from 'react';
import type { ChartConfiguration } from 'chart.js';
import { Link } from 'wouter';
import { request } from '../api/client.ts';
import { Chart } from '../components/Chart.tsx';
import { ErrorNotice } from '../components/errors.tsx';
import { TextField } from '../components/Field.tsx';
import { formatNumber, formatTime } from '../components/format.ts';
import { ModelVersionCardDocument, PromoteModelVersionDocument } from '../generated/graphql.ts';
import { type Evaluation, evaluationOf, figureWithInterval } from './metrics.ts';

/** A version's model card: figures with intervals, ROC and calibration plots (regression: predicted against observed, residuals), provenance, and promotion. */
export function VersionPage({ id }: { id: string }) {
  const card = useQuery({ queryKey: ['ModelVersionCard', id], queryFn: () => request(ModelVersionCardDocument, { id }) });
  const version = card.data?.modelVersion;
  if (!version) return <ErrorNotice error={card.error} />;
  const evaluation = evaluationOf(version.metrics);
  return (
    <>
      <p>
        <Link href="/">← Registry</Link>
      </p>
      <h1>
        {version.model.name} v{version.version} <span className={`badge ${version.stage}`}>{version.stage.toLowerCase()}</span>
      </h1>
      {evaluation.comparison?.statement && <p>{evaluation.comparison.statement}</p>}
      <table>
        <caption>Held-out test figures (95% bootstrap intervals)</caption>
        <tbody>
          {(evaluation.headline ?? []).map((name) => (
            <tr key={name}>
              <th scope="row">{name}</th>
              <td>{figureWithInterval(evaluation, name)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {evaluation.curves?.scatter ? (
        <div className="two-columns">
          <PredictedObservedChart evaluation={evaluation} />
          <ResidualsChart evaluation={evaluation} />
        </div>
      ) : (
        <div className="two-columns">
          <RocChart evaluation={evaluation} />
          <CalibrationChart evaluation={evaluation} />
        </div>
      )}
      <Promote versionId={version.id} stage={version.stage} />
      <section className="panel" aria-labelledby="provenance-heading">
        <h2 id="provenance-heading">Provenance</h2>
        <dl className="detail">
          <dt>Trained</dt>
          <dd>
            {formatTime(version.trainedAt)} by {version.trainedBy} (seed {version.seed}, TensorFlow.js {version.tfjsVersion} on {version.backend})
          </dd>
          <dt>Weights SHA-256</dt>
          <dd className="mono">{version.weightsSha256}</dd>
          <dt>Data set SHA-256</dt>
          <dd className="mono">{version.datasetSha256}</dd>
          <dt>Promoted</dt>
          <dd>{version.promotedAt ? `${formatTime(version.promotedAt)} by ${version.promotedBy}: “${version.promotionComment ?? ''}”` : '—'}</dd>
        </dl>
      </section>
      <details className="panel">
        <summary>Model card (Markdown)</summary>
        <pre className="mono card-text">{version.card.markdown}</pre>
      </details>
    </>
  );
}

function RocChart({ evaluation }: { evaluation: Evaluation }) {
  const roc = evaluation.curves?.roc;
  const config = useMemo<ChartConfiguration | undefined>(
    () =>
      roc
        ? {
            type: 'line',
            data: {
              datasets: [
                { label: 'model', data: roc.model.map((p) => ({ x: p.fpr, y: p.tpr })), borderColor: '#0b5c73', backgroundColor: '#0b5c73' },
                ...(roc.baseline ? [{ label: evaluation.baseline?.description ?? 'baseline', data: roc.baseline.map((p) => ({ x: p.fpr, y: p.tpr })), borderColor: '#7a4d00', backgroundColor: '#7a4d00', borderDash: [6, 4] }] : []),
              ],
            },
            options: { scales: { x: { type: 'linear', min: 0, max: 1, title: { display: true, text: 'false positive rate' } }, y: { min: 0, max: 1, title: { display: true, text: 'true positive rate' } } } },
          }
        : undefined,
    [roc],
  );
  if (!roc || !config) return <p className="hint">No ROC curve (not a binary classifier).</p>;
  return (
    <Chart
      config={config}
      label="ROC curve on the test split"
      table={<PointsTable rows={roc.model.map((p) => [formatNumber(p.fpr), formatNumber(p.tpr)])} headers={['false positive rate', 'true positive rate']} />}
    />
  );
}

function CalibrationChart({ evaluation }: { evaluation: Evaluation }) {
  const bins = evaluation.curves?.calibration?.model.filter((bin) => bin.count > 0 && bin.meanPredicted !== null && bin.observed !== null);
  const config = useMemo<ChartConfiguration | undefined>(
    () =>
      bins
        ? {
            type: 'line',
            data: {
              datasets: [
                { label: 'model', data: bins.map((bin) => ({ x: bin.meanPredicted!, y: bin.observed! })), borderColor: '#0b5c73', backgroundColor: '#0b5c73' },
                { label: 'perfect calibration', data: [{ x: 0, y: 0 }, { x: 1, y: 1 }], borderColor: '#7b8894', borderDash: [4, 4], pointRadius: 0 },
              ],
            },
            options: { scales: { x: { type: 'linear', min: 0, max: 1, title: { display: true, text: 'mean predicted probability' } }, y: { min: 0, max: 1, title: { display: true, text: 'observed share' } } } },
          }
        : undefined,
    [evaluation],
  );
  if (!bins || !config) return <p className="hint">No calibration plot (not a classifier).</p>;
  return (
    <Chart
      config={config}
      label="Calibration on the test split"
      table={<PointsTable rows={bins.map((bin) => [formatNumber(bin.meanPredicted), formatNumber(bin.observed), String(bin.count)])} headers={['mean predicted', 'observed', 'cases']} />}
    />
  );
}

type Scatter = NonNullable<NonNullable<Evaluation['curves']>['scatter']>;

/** The model as filled dots, the baseline as hollow rings on top, so that points lying on each other both show. */
function scatterConfig(evaluation: Evaluation, scatter: Scatter, point: (observed: number, predicted: number) => { x: number; y: number }, axes: [string, string]): ChartConfiguration {
  const series = (predicted: number[]) => scatter.observed.map((observed, i) => point(observed, predicted[i]!));
  return {
    type: 'scatter',
    data: {
      datasets: [
        { label: 'model', data: series(scatter.model), borderColor: '#0b5c73', backgroundColor: '#0b5c7399', pointRadius: 3 },
        { label: evaluation.baseline?.description ?? 'baseline', data: series(scatter.baseline), borderColor: '#7a4d00', backgroundColor: 'transparent', pointRadius: 4 },
      ],
    },
    options: { scales: { x: { type: 'linear', title: { display: true, text: axes[0] } }, y: { type: 'linear', title: { display: true, text: axes[1] } } } },
  };
}

function PredictedObservedChart({ evaluation }: { evaluation: Evaluation }) {
  const scatter = evaluation.curves!.scatter!;
  const config = useMemo(() => scatterConfig(evaluation, scatter, (observed, predicted) => ({ x: observed, y: predicted }), ['observed', 'predicted']), [evaluation, scatter]);
  return (
    <Chart
      config={config}
      label="Predicted against observed on the test split"
      table={<PointsTable rows={scatter.observed.map((observed, i) => [formatNumber(observed), formatNumber(scatter.model[i])])} headers={['observed', 'predicted']} />}
    />
  );
}

function ResidualsChart({ evaluation }: { evaluation: Evaluation }) {
  const scatter = evaluation.curves!.scatter!;
  const config = useMemo(
    () => scatterConfig(evaluation, scatter, (observed, predicted) => ({ x: predicted, y: observed - predicted }), ['predicted', 'residual (observed - predicted)']),
    [evaluation, scatter],
  );
  return (
    <Chart
      config={config}
      label="Residuals on the test split"
      table={<PointsTable rows={scatter.observed.map((observed, i) => [formatNumber(scatter.model[i]), formatNumber(observed - scatter.model[i]!)])} headers={['predicted', 'residual']} />}
    />
  );
}

function PointsTable({ headers, rows }: { headers: string[]; rows: string[][] }) {
  return (
    <table>
      <thead>
        <tr>
          {headers.map((header) => (
            <th scope="col" key={header}>
              {header}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map((row, index) => (
          <tr key={index}>
            {row.map((cell, column) => (
              <td key={column}>{cell}</td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Promote({ versionId, stage }: { versionId: string; stage: string }) {
  const client = useQueryClient();
  const [comment, setComment] = useState('');
  const promote = useMutation({
    mutationFn: () => request(PromoteModelVersionDocument, { id: versionId, comment }),
    onSuccess: () => client.invalidateQueries(),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    promote.mutate();
  };
  if (stage === 'PRODUCTION') return <p className="notice">This version serves predictions.</p>;
  return (
    <form className="panel" onSubmit={submit} aria-labelledby="promote-heading">
      <h2 id="promote-heading">{stage === 'ARCHIVED' ? 'Roll back to this version' : 'Promote to production'}</h2>
      <p className="hint">The current production version is archived. Your comment is kept with the version.</p>
      <div className="actions">
        <TextField label="Comment" value={comment} onChange={(e) => setComment(e.target.value)} serverName="comment" error={promote.error} />
        <button type="submit" disabled={promote.isPending}>
          Promote
        </button>
      </div>
      <ErrorNotice error={promote.error} fields={['comment']} />
    </form>
  );
}
