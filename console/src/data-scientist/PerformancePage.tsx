import { useQueries, useQuery } from '@tanstack/react-query';
import { useMemo, useState } from 'react';
import type { ChartConfiguration } from 'chart.js';
import { Link } from 'wouter';
import { request } from '../api/client.ts';
import { Chart } from '../components/Chart.tsx';
import { ErrorNotice } from '../components/errors.tsx';
import { formatNumber } from '../components/format.ts';
import { ModelPerformanceDocument } from '../generated/graphql.ts';

const weeks = 8;
const week = 7 * 24 * 60 * 60 * 1000;

/** Live performance week by week (reviews, outcomes) and input drift (PSI per feature) of a model's production version. */
export function PerformancePage({ model }: { model: string }) {
  const [now] = useState(() => Date.now());
  const windows = useMemo(
    () => Array.from({ length: weeks }, (_, index) => ({ from: new Date(now - (weeks - index) * week).toISOString(), to: new Date(now - (weeks - index - 1) * week).toISOString() })),
    [now],
  );
  const weekly = useQueries({
    queries: windows.map((window) => ({ queryKey: ['ModelPerformance', model, window], queryFn: () => request(ModelPerformanceDocument, { model, ...window }) })),
  });
  const whole = useQuery({ queryKey: ['ModelPerformance', model, 'all'], queryFn: () => request(ModelPerformanceDocument, { model, from: windows[0]!.from }) });
  const rows = weekly.map((result, index) => ({ week: new Date(windows[index]!.to).toLocaleDateString('en-GB'), figures: result.data?.modelPerformance }));
  const error = weekly.find((result) => result.error)?.error ?? whole.error;

  const trend = useMemo<ChartConfiguration>(
    () => ({
      type: 'line',
      data: {
        labels: rows.map((row) => row.week),
        datasets: [
          { label: 'agreement of reviews', data: rows.map((row) => row.figures?.agreementRate ?? null), borderColor: '#0b5c73', backgroundColor: '#0b5c73', spanGaps: true },
          { label: 'accuracy against outcomes', data: rows.map((row) => row.figures?.accuracy ?? null), borderColor: '#a3161b', backgroundColor: '#a3161b', spanGaps: true },
        ],
      },
      options: { scales: { y: { min: 0, max: 1 } } },
    }),
    [JSON.stringify(rows)],
  );
  const drift = whole.data?.modelPerformance?.drift ?? [];
  const driftChart = useMemo<ChartConfiguration>(
    () => ({
      type: 'bar',
      data: {
        labels: drift.map((entry) => entry.feature),
        datasets: [{ label: 'PSI', data: drift.map((entry) => entry.psi), backgroundColor: drift.map((entry) => (entry.level === 'shifted' ? '#a3161b' : entry.level === 'moderate' ? '#7a4d00' : '#1d6b36')) }],
      },
      options: { plugins: { legend: { display: false } }, scales: { y: { title: { display: true, text: 'population stability index' } } } },
    }),
    [drift],
  );

  return (
    <>
      <p>
        <Link href="/">← Registry</Link>
      </p>
      <h1>{model}: performance and drift</h1>
      <ErrorNotice error={error} />
      <Chart
        config={trend}
        label={`Weekly agreement of clinicians' reviews and accuracy against recorded outcomes, last ${weeks} weeks`}
        table={
          <table>
            <thead>
              <tr>
                <th scope="col">Week to</th>
                <th scope="col">Predictions</th>
                <th scope="col">Reviewed (agreed)</th>
                <th scope="col">With outcome</th>
                <th scope="col">Accuracy</th>
                <th scope="col">RMSE</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <tr key={row.week}>
                  <td>{row.week}</td>
                  <td>{row.figures?.predictions ?? '—'}</td>
                  <td>{row.figures ? `${row.figures.reviewed} (${row.figures.agreed})` : '—'}</td>
                  <td>{row.figures?.withOutcome ?? '—'}</td>
                  <td>{formatNumber(row.figures?.accuracy)}</td>
                  <td>{formatNumber(row.figures?.rmse)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        }
      />
      <h2>Input drift since {new Date(windows[0]!.from).toLocaleDateString('en-GB')}</h2>
      {drift.length === 0 ? (
        <p className="hint">No predictions in this period, so no drift to measure.</p>
      ) : (
        <Chart
          config={driftChart}
          label="Population stability index per feature (under 0.1 stable, 0.1 to 0.25 moderate, 0.25 and over shifted)"
          table={
            <table>
              <thead>
                <tr>
                  <th scope="col">Feature</th>
                  <th scope="col">PSI</th>
                  <th scope="col">Level</th>
                  <th scope="col">Inputs</th>
                </tr>
              </thead>
              <tbody>
                {drift.map((entry) => (
                  <tr key={entry.feature}>
                    <td>{entry.feature}</td>
                    <td>{formatNumber(entry.psi)}</td>
                    <td>{entry.level}</td>
                    <td>{entry.count}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          }
        />
      )}
    </>
  );
}
