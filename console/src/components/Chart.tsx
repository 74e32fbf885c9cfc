import { lazy, Suspense, type ReactNode } from 'react';
import type { ChartConfiguration } from 'chart.js';

// Chart.js loads with the first page that draws a chart, not with the console's first page.
const ChartCanvas = lazy(() => import('./ChartCanvas.tsx'));

/** A chart, with its numbers in a table under "Data" for those who cannot see it. */
export function Chart({ config, label, table }: { config: ChartConfiguration; label: string; table: ReactNode }) {
  return (
    <figure>
      <Suspense fallback={<p role="status">Loading chart…</p>}>
        <ChartCanvas config={config} label={label} />
      </Suspense>
      <figcaption>
        {label}
        <details>
          <summary>Data</summary>
          {table}
        </details>
      </figcaption>
    </figure>
  );
}
