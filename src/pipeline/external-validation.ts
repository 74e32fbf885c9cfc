import { type Dataset, type RawValue, recordAt } from './csv.ts';
import { PipelineError } from './errors.ts';
import { computeMetrics, type MetricSet } from './evaluate.ts';
import type { ServingModel } from './serving.ts';
import { parseCell } from './values.ts';

/**
 * Evaluates a trained version on new labelled data (external validation):
 * the same metrics as its test-split evaluation, on rows it has never seen.
 * Rows whose target is missing or unknown to the model are left out.
 * @throws PipelineError BAD_DATA when the data lacks the target or every feature column, or has no usable rows
 */
export async function evaluateOnDataset(serving: ServingModel, dataset: Dataset): Promise<{ metrics: MetricSet; rowsUsed: number; rowsSkipped: number }> {
  const { stored } = serving;
  if (!dataset.columns.includes(stored.target)) {
    throw new PipelineError('BAD_DATA', `The data has no column ${stored.target}, the outcome this model predicts.`);
  }
  const usable: { input: Record<string, string | number>; actual: number }[] = [];
  for (let index = 0; index < dataset.rowCount; index++) {
    const row = recordAt(dataset, index);
    const actual = actualOf(stored.classLabels, row[stored.target]);
    if (actual === undefined) continue;
    const input: Record<string, string | number> = {};
    for (const feature of stored.features) {
      const cell = parseCell(row[feature.name]);
      if (cell.kind !== 'missing') input[feature.name] = cell.value;
    }
    usable.push({ input, actual });
  }
  if (usable.length === 0) throw new PipelineError('BAD_DATA', 'No row of the data has a target value this model knows.');
  const { rows } = serving.encode(usable.map((item) => (stored.image ? stored.features.map((feature) => Number(item.input[feature.name] ?? 0)) : item.input)));
  const outputs = await serving.outputs(rows);
  const kind = stored.task === 'image' ? 'multiclass' : stored.task;
  const metrics = computeMetrics({ kind, labels: stored.classLabels, threshold: stored.threshold ?? 0.5 }, usable.map((item) => item.actual), outputs);
  return { metrics, rowsUsed: usable.length, rowsSkipped: dataset.rowCount - usable.length };
}

/** The class index (classifiers) or value (regression) of a target cell; undefined when unusable. */
function actualOf(labels: string[] | null, raw: RawValue): number | undefined {
  const cell = parseCell(raw);
  if (cell.kind === 'missing') return undefined;
  if (!labels) return typeof cell.value === 'number' ? cell.value : undefined;
  const index = labels.indexOf(String(cell.value));
  return index === -1 ? undefined : index;
}
