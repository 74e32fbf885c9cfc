import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useMemo, useState, type FormEvent } from 'react';
import type { ChartConfiguration } from 'chart.js';
import { request } from '../api/client.ts';
import { Chart } from '../components/Chart.tsx';
import { ErrorNotice } from '../components/errors.tsx';
import { TextField } from '../components/Field.tsx';
import { formatNumber, formatTime } from '../components/format.ts';
import { type PredictionFieldsFragment, type ReviewDecision, ReviewPredictionDocument } from '../generated/graphql.ts';

const shownAttributions = 10;

/** One prediction: the answer, its certainty, what drove it (signed bars), input caveats, and the clinician's review. */
export function PredictionCard({ caseId, prediction }: { caseId: string; prediction: PredictionFieldsFragment }) {
  return (
    <section className="panel" aria-label={`Prediction by ${prediction.modelName} at ${formatTime(prediction.createdAt)}`}>
      <h2>
        {prediction.modelName} v{prediction.modelVersion.version}: {prediction.label ?? formatNumber(prediction.value)}
      </h2>
      <p className="hint">
        {prediction.outcomeLabel} · asked by {prediction.requestedBy} at {formatTime(prediction.createdAt)}
        {prediction.threshold !== null && prediction.threshold !== undefined && ` · threshold ${formatNumber(prediction.threshold)}`}
      </p>
      {prediction.probabilities && (
        <table>
          <caption>Probabilities</caption>
          <tbody>
            {prediction.probabilities.map((entry) => (
              <tr key={entry.label}>
                <th scope="row">{entry.label}</th>
                <td className="number">{(entry.probability * 100).toFixed(1)}%</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <InputCaveats prediction={prediction} />
      {prediction.explanation && <ExplanationChart explanation={prediction.explanation} />}
      <Review caseId={caseId} prediction={prediction} />
    </section>
  );
}

/** Out-of-distribution inputs and data-quality warnings, in plain words. */
function InputCaveats({ prediction }: { prediction: PredictionFieldsFragment }) {
  if (prediction.outOfDistribution.length === 0 && prediction.warnings.length === 0) {
    return <p className="notice">Every input lies within the range the model was trained on.</p>;
  }
  return (
    <div className="warning" role="note">
      {prediction.outOfDistribution.length > 0 && (
        <p>
          Outside what the model saw in training: <strong>{prediction.outOfDistribution.join(', ')}</strong>. The model is less reliable for values like these; weigh this prediction
          accordingly.
        </p>
      )}
      {prediction.warnings.map((warning) => (
        <p key={warning}>{warning}</p>
      ))}
    </div>
  );
}

type Explanation = NonNullable<PredictionFieldsFragment['explanation']>;

/** Integrated-gradients attributions as signed horizontal bars, largest first, with units and the completeness gap. */
function ExplanationChart({ explanation }: { explanation: Explanation }) {
  const top = useMemo(() => [...explanation.attributions].sort((a, b) => Math.abs(b.attribution) - Math.abs(a.attribution)).slice(0, shownAttributions), [explanation]);
  const name = (entry: Explanation['attributions'][number]) => `${entry.feature} = ${String(entry.value)}${entry.unit ? ` ${entry.unit}` : ''}`;
  const config = useMemo<ChartConfiguration>(
    () => ({
      type: 'bar',
      data: {
        labels: top.map(name),
        datasets: [
          {
            label: `Effect on ${explanation.outputName ?? 'the output'}`,
            data: top.map((entry) => entry.attribution),
            backgroundColor: top.map((entry) => (entry.attribution >= 0 ? '#a3161b' : '#0b5c73')),
          },
        ],
      },
      options: { indexAxis: 'y', plugins: { legend: { display: false } }, scales: { x: { title: { display: true, text: `change in ${explanation.outputName ?? 'output'}` } } } },
    }),
    [top, explanation.outputName],
  );
  return (
    <>
      <h3>Why ({explanation.method})</h3>
      <ul>
        {explanation.summary.map((line) => (
          <li key={line}>{line}</li>
        ))}
      </ul>
      {top.length > 0 && (
        <Chart
          config={config}
          label={`What moved ${explanation.outputName ?? 'the output'} from a typical case (${formatNumber(explanation.baselineOutput)}) to this one (${formatNumber(explanation.output)}): red raises it, blue lowers it`}
          table={
            <table>
              <thead>
                <tr>
                  <th scope="col">Input</th>
                  <th scope="col">Typical</th>
                  <th scope="col" className="number">
                    Effect
                  </th>
                </tr>
              </thead>
              <tbody>
                {top.map((entry) => (
                  <tr key={entry.feature}>
                    <td>
                      {name(entry)} <span className="hint">{entry.label}</span>
                    </td>
                    <td>{String(entry.typical)}</td>
                    <td className="number">{formatNumber(entry.attribution, 4)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          }
        />
      )}
      {explanation.completenessGap !== null && explanation.completenessGap !== undefined && (
        <p className={explanation.completenessFlagged ? 'warning' : 'hint'}>
          The effects add up to the change from a typical case within {formatNumber(Math.abs(explanation.completenessGap), 4)}
          {explanation.completenessFlagged ? ': more than 5% of it, so read this explanation with care.' : '.'}
        </p>
      )}
    </>
  );
}

function Review({ caseId, prediction }: { caseId: string; prediction: PredictionFieldsFragment }) {
  const client = useQueryClient();
  const [decision, setDecision] = useState<ReviewDecision>('AGREE');
  const [note, setNote] = useState('');
  const review = useMutation({
    mutationFn: () => request(ReviewPredictionDocument, { id: prediction.id, decision, ...(note ? { note } : {}) }),
    onSuccess: () => client.invalidateQueries({ queryKey: ['ClinicianCase', caseId] }),
  });
  if (prediction.review) {
    return (
      <p>
        Reviewed: <span className={`badge ${prediction.review.decision}`}>{prediction.review.decision.toLowerCase()}</span> by {prediction.review.reviewedBy} at{' '}
        {formatTime(prediction.review.reviewedAt)}
        {prediction.review.note && ` — “${prediction.review.note}”`}
      </p>
    );
  }
  const submit = (event: FormEvent) => {
    event.preventDefault();
    review.mutate();
  };
  return (
    <form onSubmit={submit} aria-label={`Review of the ${prediction.modelName} prediction`}>
      <h3>Your review</h3>
      <fieldset className="actions">
        <legend className="hint">Do you agree with the model?</legend>
        {(['AGREE', 'DISAGREE'] as const).map((value) => (
          <label key={value}>
            <input type="radio" name={`decision-${prediction.id}`} value={value} checked={decision === value} onChange={() => setDecision(value)} /> {value === 'AGREE' ? 'Agree' : 'Disagree'}
          </label>
        ))}
      </fieldset>
      <div className="actions">
        <TextField label="Note" value={note} onChange={(e) => setNote(e.target.value)} serverName="note" error={review.error} />
        <button type="submit" disabled={review.isPending}>
          Save review
        </button>
      </div>
      <ErrorNotice error={review.error} fields={['note']} />
    </form>
  );
}
