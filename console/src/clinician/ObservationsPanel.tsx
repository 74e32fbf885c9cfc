import { useMemo, useState } from 'react';
import type { ChartConfiguration } from 'chart.js';
import { Chart } from '../components/Chart.tsx';
import { SelectField } from '../components/Field.tsx';
import { formatDate, formatNumber, formatTime } from '../components/format.ts';
import type { ClinicalCase } from './CasePage.tsx';

type Observation = NonNullable<ClinicalCase['observations']>[number];

/** The case's observations, with a time-series chart of the numeric code chosen. */
export function ObservationsPanel({ observations }: { observations: Observation[] }) {
  const numericCodes = useMemo(() => [...new Set(observations.filter((o) => o.value !== null && o.value !== undefined).map((o) => o.code))].sort(), [observations]);
  const [code, setCode] = useState<string>();
  const chosen = code ?? numericCodes[0];
  const series = observations.filter((o) => o.code === chosen && o.value !== null && o.value !== undefined);
  const unit = series[0]?.unit ?? '';
  const config = useMemo<ChartConfiguration>(
    () => ({
      type: 'line',
      data: {
        // x is the time of observation (a linear axis in milliseconds), so uneven gaps look uneven.
        datasets: [{ label: `${chosen}${unit ? ` (${unit})` : ''}`, data: series.map((o) => ({ x: Date.parse(o.observedAt), y: o.value! })), borderColor: '#0b5c73', backgroundColor: '#0b5c73', pointRadius: 4 }],
      },
      options: {
        scales: {
          x: { type: 'linear', ticks: { maxTicksLimit: 6, callback: (value) => formatDate(Number(value)) } },
          y: { title: { display: Boolean(unit), text: unit } },
        },
      },
    }),
    [observations, chosen],
  );
  return (
    <section className="panel" aria-labelledby="observations-heading">
      <h2 id="observations-heading">Observations ({observations.length})</h2>
      {numericCodes.length > 0 && chosen && (
        <>
          <SelectField label="Chart over time" value={chosen} onChange={(e) => setCode(e.target.value)}>
            {numericCodes.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </SelectField>
          <Chart
            config={config}
            label={`${chosen} over time`}
            table={
              <table>
                <thead>
                  <tr>
                    <th scope="col">Observed</th>
                    <th scope="col" className="number">
                      Value
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {series.map((o) => (
                    <tr key={o.id}>
                      <td>{formatTime(o.observedAt)}</td>
                      <td className="number">
                        {formatNumber(o.value, 4)} {o.unit}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            }
          />
        </>
      )}
      <details>
        <summary>All observations</summary>
        <table>
          <thead>
            <tr>
              <th scope="col">Code</th>
              <th scope="col" className="number">
                Value
              </th>
              <th scope="col">Observed</th>
            </tr>
          </thead>
          <tbody>
            {observations.map((o) => (
              <tr key={o.id}>
                <td>{o.code}</td>
                <td className="number">{o.text ?? `${formatNumber(o.value, 4)} ${o.unit ?? ''}`}</td>
                <td>{formatTime(o.observedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </section>
  );
}
