/*
 * Model cards (Mitchell et al. 2019, "Model Cards for Model Reporting"),
 * with the items of TRIPOD+AI (Collins et al. 2024) a prediction model
 * report needs: intended use, outcome, data source, participants and sample
 * size, predictors, missing data, validation, performance with uncertainty,
 * subgroups, baseline comparison and limitations.
 */
import type { Intervals, MetricSet } from './evaluate.ts';
import type { CrossValidationResult, FoldSpread } from './cross-validation.ts';
import type { TrainingResult } from './pipeline.ts';
import { calibrationSvg, predictedObservedSvg, residualsSvg, rocCurveSvg, svgDataUri } from './plots.ts';
import { formatNumber } from './stats.ts';
import { describeConformal } from './uncertainty.ts';
import { describeCalibration } from './calibration.ts';
import { describeAutoencoder } from './autoencoder.ts';
import type { SequenceEncoding } from './sequence-encoding.ts';

/** What people must write: the data cannot say what a model is for. */
export interface CardText {
  title: string;
  /** Primary intended use, e.g. decision support for clinicians. */
  intendedUse: string;
  intendedUsers: string;
  outOfScope: string[];
  /** What the target means and how it was determined. */
  outcomeDefinition: string;
  /** Where the data came from, with licence and citation. */
  dataSource: string;
  /** Who the rows are (setting, inclusion, period), as far as known. */
  population: string;
  limitations: string[];
  ethicalConsiderations: string[];
}

export interface HeadlineFigure {
  metric: string;
  model: number | null;
  modelInterval: [number, number] | null;
  baseline: number | null;
  baselineInterval: [number, number] | null;
}

/** A structured model card. JSON-serializable. */
export interface ModelCard {
  title: string;
  version: string | null;
  trainedAt: string;
  modelDetails: {
    task: string;
    architecture: string[];
    parameters: number;
    framework: string;
    seed: number;
    trainingSettings: TrainingResult['training']['settings'];
    epochs: { run: number; kept: number };
    weightsSha256: string;
    datasetSha256: string;
  };
  intendedUse: { primary: string; users: string; outOfScope: string[] };
  outcome: { target: string; definition: string; classes: string[] | null; positiveClass: string | null; threshold: number | null; thresholdRule: string | null };
  data: {
    source: string;
    file: string;
    population: string;
    rowsRead: number;
    sampleSize: number;
    events: TrainingResult['counts']['events'];
    classCounts: Record<string, number> | null;
    predictors: { name: string; label: string | null; unit: string | null; trainingRange: string | null; possibleRange: string | null }[];
    unitsNote: string | null;
    missingData: string;
    dataQualityNotes: string[];
  };
  validation: { method: string; split: { train: number; validation: number; test: number } };
  /** Sequence models: what each example sees and how visits were labelled, in words. */
  sequence?: string;
  /** Mean and spread of each metric across cross-validation folds, when it was run. */
  crossValidation?: CrossValidationResult;
  performance: {
    headline: HeadlineFigure[];
    model: MetricSet;
    baseline: MetricSet;
    trivial: MetricSet;
    comparison: string;
    trivialComparison: string;
    /** Split-conformal sets or intervals and their measured test coverage, in words. */
    uncertainty: string | null;
    /** Classifiers: the recalibration and the test ECE before and after, in words. */
    calibration: string | null;
    /** Tabular models: the autoencoder's out-of-distribution check and how many test rows it flags. */
    outOfDistribution: string | null;
    definitions: Record<string, string>;
  };
  subgroups: { group: string; n: number; events: number | null; figures: Record<string, number | null>; notes: string[] }[];
  limitations: string[];
  ethicalConsiderations: string[];
  /** Standalone SVG documents: ROC and calibration (classifiers), predicted against observed and residuals (regression). */
  plots: { roc: string | null; calibration: string | null; predictedObserved: string | null; residuals: string | null };
}

/** What a card is made from: a training result, its weights not needed (a registry keeps them apart). */
export type CardSource = Omit<TrainingResult, 'artifact'>;

/**
 * Builds the card of a trained version.
 * @param result the trained version
 * @param text what the data cannot tell: intended use, outcome definition, source, limitations
 * @param version the registry's version name, if any
 */
export function buildModelCard(result: CardSource, text: CardText, version: string | null = null): ModelCard {
  const { evaluation, counts, quality } = result;
  const headlineOf = (intervals: Intervals, name: string) => {
    const interval = intervals[name];
    return interval ? ([interval.lower, interval.upper] as [number, number]) : null;
  };
  return {
    title: text.title,
    version,
    trainedAt: result.trainedAt,
    modelDetails: {
      task: result.task,
      architecture: result.architecture.layers,
      parameters: result.architecture.parameters,
      framework: `TensorFlow.js ${result.training.tfjsVersion}, trained on the ${result.training.backend} backend`,
      seed: result.training.seed,
      trainingSettings: result.training.settings,
      epochs: { run: result.training.epochsRun, kept: result.training.bestEpoch },
      weightsSha256: result.weightsSha256,
      datasetSha256: result.datasetSha256,
    },
    intendedUse: { primary: text.intendedUse, users: text.intendedUsers, outOfScope: text.outOfScope },
    outcome: { target: result.target, definition: text.outcomeDefinition, classes: result.classLabels, positiveClass: result.positiveClass, threshold: result.threshold, thresholdRule: result.thresholdRule ?? null },
    data: {
      source: text.dataSource,
      file: result.datasetSource,
      population: text.population,
      rowsRead: counts.rowsRead,
      sampleSize: counts.usableRows,
      events: counts.events,
      classCounts: counts.classCounts,
      predictors: predictors(result),
      unitsNote: result.unitsNote,
      missingData: missingData(result),
      dataQualityNotes: quality.notes,
    },
    validation: {
      method: `Internal validation on one random split of the data, stratified by ${result.split.stratifiedBy}${result.split.groupedBy ? `, whole groups of ${result.split.groupedBy} to one side (no group's rows in two splits)` : ''} (seed ${result.split.seed}): training ${counts.train} rows, validation ${counts.validation} rows (early stopping, and the recalibration, the decision threshold and the conformal quantile), held-out test ${counts.test} rows (all figures below). Preprocessing statistics were fitted on the training rows only.`,
      split: { train: counts.train, validation: counts.validation, test: counts.test },
    },
    ...(result.crossValidation ? { crossValidation: result.crossValidation } : {}),
    ...(result.sequence ? { sequence: describeSequence(result.sequence) } : {}),
    performance: {
      headline: evaluation.headline.map((metric) => ({
        metric,
        model: metricOf(evaluation.model.metrics, metric),
        modelInterval: headlineOf(evaluation.model.intervals, metric),
        baseline: metricOf(evaluation.baseline.metrics, metric),
        baselineInterval: headlineOf(evaluation.baseline.intervals, metric),
      })),
      model: evaluation.model.metrics,
      baseline: evaluation.baseline.metrics,
      trivial: evaluation.trivial.metrics,
      comparison: evaluation.comparison.statement,
      trivialComparison: evaluation.comparison.trivialStatement,
      uncertainty: result.conformal ? describeConformal(result.conformal, result.counts.test) : null,
      calibration: result.calibration ? describeCalibration(result.calibration, evaluation.model.intervals.ece) : null,
      outOfDistribution: result.autoencoder ? describeAutoencoder(result.autoencoder) : null,
      definitions: evaluation.definitions,
    },
    subgroups: evaluation.subgroups.map((subgroup) => ({
      group: `${subgroup.column} ${subgroup.group}`,
      n: subgroup.n,
      events: subgroup.events,
      figures: Object.fromEntries(evaluation.headline.map((metric) => [metric, metricOf(subgroup.metrics, metric)])),
      notes: subgroup.notes,
    })),
    limitations: [...text.limitations, ...automaticLimitations(result)],
    ethicalConsiderations: text.ethicalConsiderations,
    plots: plots(result),
  };
}

function describeSequence(sequence: SequenceEncoding): string {
  return [
    sequence.description,
    `A GRU reads the visits in time order; each visit is its standardized values (a missing value filled with the training median or most frequent level) with a missing indicator per predictor, the time since the previous visit (${sequence.time}, divided by the mean gap ${formatNumber(sequence.gapScale, 4)}) and a visit marker; shorter histories are padded with zeros before the first visit.`,
    sequence.staticFeatures.length > 0 ? `Constant within each patient, so each visit carries the patient's latest value: ${sequence.staticFeatures.join(', ')}.` : '',
    'The baseline is a logistic regression on the last visit alone (its values and missing indicators). Both are evaluated on the same test patients; intervals resample whole patients.',
  ]
    .filter(Boolean)
    .join(' ');
}

function metricOf(metrics: MetricSet, name: string): number | null {
  return (metrics as unknown as Record<string, number | null>)[name] ?? null;
}

function predictors(result: CardSource): ModelCard['data']['predictors'] {
  if (result.image) {
    const { width, height } = result.image;
    const first = result.features[0];
    const range = (r: { min: number; max: number } | null | undefined) => (r ? `${r.min} to ${r.max}` : null);
    return [{ name: `${width}x${height} pixels`, label: 'image pixels, row-major', unit: first?.unit ?? null, trainingRange: range(first?.trainingRange), possibleRange: range(first?.possibleRange) }];
  }
  return result.features.map((feature) => ({
    name: feature.name,
    label: feature.label,
    unit: feature.unit,
    trainingRange: feature.trainingRange ? `${formatNumber(feature.trainingRange.min, 4)} to ${formatNumber(feature.trainingRange.max, 4)}` : feature.levels ? `levels: ${feature.levels.join(', ')}` : null,
    possibleRange: feature.possibleRange ? `${feature.possibleRange.min} to ${feature.possibleRange.max}` : null,
  }));
}

function missingData(result: CardSource): string {
  const { quality } = result;
  const missingCells = quality.columns.filter((column) => column.role !== 'target').reduce((sum, column) => sum + column.missing, 0);
  const dropped = quality.dropped;
  return [
    missingCells === 0 ? 'No feature value was missing in the usable rows.' : `${missingCells} feature value(s) were missing in the usable rows.`,
    `Policy: ${quality.rules.imputation}.`,
    `${dropped.unusableTarget} row(s) were dropped for an unusable target, ${dropped.duplicates} as duplicates, ${dropped.missingFeatures + dropped.unusableImage} for missing values.`,
  ].join(' ');
}

function automaticLimitations(result: CardSource): string[] {
  const { counts, evaluation } = result;
  const limitations = [
    'Validated internally only (a random split of one data set): performance in another hospital, period or population is unknown until it is validated externally.',
  ];
  const events = counts.events ? ` with ${counts.events.test} events` : '';
  if (counts.test < 200) {
    const nearOne = result.classLabels ? ', and figures near 1 should not be read as perfection' : '';
    limitations.push(`The test split is small (${counts.test} rows${events}): the confidence intervals are wide${nearOne}.`);
  }
  if (evaluation.comparison.verdict !== 'beats') limitations.push(evaluation.comparison.statement);
  const small = evaluation.subgroups.filter((subgroup) => subgroup.n < 30).map((subgroup) => `${subgroup.column} ${subgroup.group} (${subgroup.n})`);
  if (small.length > 0) limitations.push(`Some subgroups have few test rows, so their figures are imprecise: ${small.join(', ')}.`);
  limitations.push('Inputs outside the training ranges are extrapolations; the service flags them, and refuses physiologically impossible values.');
  return limitations;
}

function plots(result: CardSource): ModelCard['plots'] {
  const { curves, baseline } = result.evaluation;
  return {
    roc: curves.roc ? rocCurveSvg([{ name: 'model', points: curves.roc.model }, { name: baseline.description, points: curves.roc.baseline }]) : null,
    calibration: curves.calibration
      ? calibrationSvg(
          [{ name: 'model', bins: curves.calibration.model }, { name: baseline.description, bins: curves.calibration.baseline }],
          result.task === 'binary' ? 'Calibration (test split)' : 'Calibration of the top class (test split)',
        )
      : null,
    ...(curves.scatter ? regressionPlots(result, curves.scatter, baseline.description) : { predictedObserved: null, residuals: null }),
  };
}

function regressionPlots(result: CardSource, scatter: NonNullable<CardSource['evaluation']['curves']['scatter']>, baselineName: string) {
  const series = [
    { name: 'model', observed: scatter.observed, predicted: scatter.model },
    { name: baselineName, observed: scatter.observed, predicted: scatter.baseline },
  ];
  return { predictedObserved: predictedObservedSvg(series, result.target), residuals: residualsSvg(series, result.target) };
}

/**
 * The card as Markdown, plots embedded as data: URIs.
 */
export function renderModelCardMarkdown(card: ModelCard): string {
  const lines: string[] = [`# Model card: ${card.title}${card.version ? ` (${card.version})` : ''}`, ''];
  const section = (title: string, ...body: string[]) => lines.push(`## ${title}`, '', ...body, '');
  const bullets = (items: string[]) => items.map((item) => `- ${item}`);
  const { modelDetails: details, data, performance } = card;

  section('Intended use', `**Primary use:** ${card.intendedUse.primary}`, '', `**Users:** ${card.intendedUse.users}`, '', '**Out of scope:**', '', ...bullets(card.intendedUse.outOfScope));
  section(
    'Outcome',
    `Target column \`${card.outcome.target}\`: ${card.outcome.definition}`,
    ...(card.outcome.classes ? ['', `Classes: ${card.outcome.classes.join(', ')}${card.outcome.positiveClass ? `; positive class **${card.outcome.positiveClass}**, predicted at a probability of ${formatNumber(card.outcome.threshold!, 4)} or more${card.outcome.thresholdRule ? ` (threshold ${card.outcome.thresholdRule})` : ''}` : ''}.`] : []),
  );
  section(
    'Data',
    `**Source:** ${data.source}`,
    '',
    `**Population:** ${data.population}`,
    '',
    `**Sample size:** ${data.sampleSize} usable rows of ${data.rowsRead} read${data.events ? `; ${data.events.total} events (${data.events.train} train / ${data.events.validation} validation / ${data.events.test} test)` : ''}${data.classCounts ? `; classes: ${Object.entries(data.classCounts).map(([label, count]) => `${label} ${count}`).join(', ')}` : ''}.`,
    '',
    `**Missing data:** ${data.missingData}`,
    '',
    `**Predictors** (${data.unitsNote ?? 'units as given'}):`,
    '',
    '| predictor | unit | training range | possible range |',
    '| --- | --- | --- | --- |',
    ...data.predictors.map((p) => `| ${p.name}${p.label && p.label !== p.name ? ` (${p.label})` : ''} | ${p.unit ?? '-'} | ${p.trainingRange ?? '-'} | ${p.possibleRange ?? '-'} |`),
    ...(data.dataQualityNotes.length > 0 ? ['', '**Data-quality notes:**', '', ...bullets(data.dataQualityNotes)] : []),
  );
  section(
    'Model',
    `${details.task} model, ${details.parameters} parameters: ${details.architecture.join(' → ')}.`,
    '',
    `${details.framework}; seed ${details.seed}; ${details.epochs.run} epochs run, weights of epoch ${details.epochs.kept} kept (early stopping on the validation loss); settings ${JSON.stringify(details.trainingSettings)}.`,
    '',
    `Weights SHA-256 \`${details.weightsSha256}\`; data set SHA-256 \`${details.datasetSha256}\`.`,
  );
  section('Validation', card.validation.method);
  if (card.sequence) section('Sequence model', card.sequence);
  if (card.crossValidation) {
    const cv = card.crossValidation;
    const spread = (value: FoldSpread | null) => (value ? `${fmt(value.mean)} ± ${fmt(value.sd)} (${fmt(value.min)} to ${fmt(value.max)})` : 'n/a');
    section(
      'Cross-validation',
      cv.procedure,
      '',
      '| metric | model: mean ± SD (range) | baseline: mean ± SD (range) |',
      '| --- | --- | --- |',
      ...Object.entries(cv.metrics).map(([metric, { model, baseline }]) => `| ${metric} | ${spread(model)} | ${spread(baseline)} |`),
      '',
      cv.statement,
    );
  }
  section(
    'Performance (test split)',
    '| metric | model (95% CI) | baseline (95% CI) |',
    '| --- | --- | --- |',
    ...performance.headline.map((figure) => `| ${figure.metric} | ${withInterval(figure.model, figure.modelInterval)} | ${withInterval(figure.baseline, figure.baselineInterval)} |`),
    '',
    performance.comparison,
    '',
    performance.trivialComparison,
    '',
    ...(performance.calibration ? [performance.calibration, ''] : []),
    ...(performance.uncertainty ? [performance.uncertainty, ''] : []),
    ...(performance.outOfDistribution ? [performance.outOfDistribution, ''] : []),
    `All model metrics: ${figures(performance.model)}.`,
    '',
    ...bullets(Object.entries(performance.definitions).map(([name, definition]) => `${name}: ${definition}`)),
  );
  const plotLines = [
    card.plots.roc && `![ROC curve](${svgDataUri(card.plots.roc)})`,
    card.plots.calibration && `![Calibration](${svgDataUri(card.plots.calibration)})`,
    card.plots.predictedObserved && `![Predicted against observed](${svgDataUri(card.plots.predictedObserved)})`,
    card.plots.residuals && `![Residuals](${svgDataUri(card.plots.residuals)})`,
  ].filter((line): line is string => Boolean(line));
  if (plotLines.length > 0) section('Plots', ...plotLines);
  if (card.subgroups.length > 0) {
    const metrics = Object.keys(card.subgroups[0]!.figures);
    section(
      'Subgroups (test split)',
      `| group | n | events | ${metrics.join(' | ')} | notes |`,
      `| --- | --- | --- | ${metrics.map(() => '---').join(' | ')} | --- |`,
      ...card.subgroups.map((s) => `| ${s.group} | ${s.n} | ${s.events ?? '-'} | ${metrics.map((m) => fmt(s.figures[m] ?? null)).join(' | ')} | ${s.notes.join('; ')} |`),
    );
  }
  section('Limitations', ...bullets(card.limitations));
  section('Ethical considerations', ...bullets(card.ethicalConsiderations));
  return `${lines.join('\n').trimEnd()}\n`;
}

function fmt(value: number | null): string {
  return value === null ? 'n/a' : value.toFixed(3);
}

function withInterval(value: number | null, interval: [number, number] | null): string {
  return interval ? `${fmt(value)} (${fmt(interval[0])} to ${fmt(interval[1])})` : fmt(value);
}

function figures(metrics: MetricSet): string {
  return Object.entries(metrics)
    .filter(([name, value]) => typeof value === 'number' && name !== 'n' && name !== 'threshold')
    .map(([name, value]) => `${name} ${fmt(value as number)}`)
    .join(', ');
}
