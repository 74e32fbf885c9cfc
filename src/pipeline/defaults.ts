import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildModelCard, type CardText, type ModelCard } from './card.ts';
import { PipelineError } from './errors.ts';
import { readFeatureSpec } from './feature-spec.ts';
import { deserializeTrainingResult, type SerializedTrainingResult, serializeTrainingResult, type TrainingResult, type TrainModelOptions, trainModel } from './pipeline.ts';
import type { ProgressCallback } from './train.ts';
import type { CrossValidationOptions } from './cross-validation.ts';
import { pbcMortality } from './sequence-defaults.ts';

/** The data sets shipped with the project (copies; see datasets/README.md). */
export const datasetsDir = fileURLToPath(new URL('../../datasets/', import.meta.url));
/** Where the trained default models are written and read. */
export const defaultModelsDir = fileURLToPath(new URL('../../models/defaults/', import.meta.url));

export type DefaultModelName = 'breast-cancer' | 'diabetes-progression' | 'digits' | 'pbc-mortality';

/** A minimum (or maximum) a test-split metric of a shipped model must reach. */
export interface QualityBar {
  metric: string;
  min?: number;
  max?: number;
}

export interface DefaultModel {
  name: DefaultModelName;
  /** CSV file in datasetsDir. */
  dataset: string;
  /** Feature specification (units, possible ranges) in datasetsDir. */
  featureSpec: string;
  options: Omit<TrainModelOptions, 'data' | 'featureSpec' | 'onProgress'>;
  card: CardText;
  qualityBars: QualityBar[];
}

/** A shipped model file: the serialized training result and its card. */
export interface ShippedModelFile {
  formatVersion: 1;
  name: DefaultModelName;
  card: ModelCard;
  result: SerializedTrainingResult;
}

const commonEthics = [
  'Explanations show which inputs moved this model\'s output; they are not causes, and a clinician must judge them.',
  'Predictions should be recorded with the model version (the platform\'s audit log) so that decisions can be audited.',
];

/** The four models shipped with the product, with the settings they are trained with. */
export const defaultModels: DefaultModel[] = [
  {
    name: 'breast-cancer',
    dataset: 'wdbc.csv',
    featureSpec: 'wdbc.features.json',
    options: { target: 'diagnosis', task: 'binary', positiveClass: 'malignant', seed: 42, outcomeLabel: 'malignancy probability' },
    card: {
      title: 'Breast mass malignancy from fine-needle aspirate cytology (WDBC)',
      intendedUse:
        'Decision support for clinicians reviewing a breast mass: estimates the probability that the mass is malignant from 30 measurements of cell nuclei computed from a digitized image of a fine-needle aspirate. It informs the clinical and histological diagnosis and never replaces it.',
      intendedUsers: 'Clinicians (pathologists, breast surgeons, radiologists) and the people who audit the model.',
      outOfScope: [
        'Diagnosis without a clinician, or instead of histology.',
        'Screening of people without a breast mass.',
        'Measurements made with other image-analysis software or protocols than the source study\'s.',
        'Other tissues or cancers.',
      ],
      outcomeDefinition: 'the diagnosis of the breast mass, malignant or benign, as recorded in the source data set; the positive class is malignant.',
      dataSource:
        'Wisconsin Diagnostic Breast Cancer (WDBC): W. N. Street, W. H. Wolberg, O. L. Mangasarian (1995), UCI Machine Learning Repository, CC BY 4.0; the copy shipped by Debian\'s python3-sklearn 1.2.1 (datasets/wdbc.csv).',
      population:
        'Breast masses of patients of one centre (University of Wisconsin Hospitals, Madison) sampled by fine-needle aspiration. The data hold no age, sex or other demographic column, so performance by subgroup cannot be checked.',
      limitations: [
        'The source gives no units for the nucleus measurements, and their values depend on its image-analysis software: inputs from another system are out of scope.',
        'One centre and a data set several decades old: case mix and practice have changed since.',
        'No demographic data: fairness across age or ethnic groups cannot be assessed.',
      ],
      ethicalConsiderations: [
        'A false negative can delay cancer treatment; the default threshold of 0.5 is not tuned for sensitivity and should be chosen with clinicians before use.',
        ...commonEthics,
      ],
    },
    qualityBars: [
      { metric: 'accuracy', min: 0.96 },
      { metric: 'auroc', min: 0.99 },
      { metric: 'ece', max: 0.05 },
    ],
  },
  {
    name: 'diabetes-progression',
    dataset: 'diabetes.csv',
    featureSpec: 'diabetes.features.json',
    options: { target: 'progression', task: 'regression', seed: 42, outcomeLabel: 'predicted progression score' },
    card: {
      title: 'Diabetes progression one year after baseline',
      intendedUse:
        'Decision support for clinicians following adults with diabetes: estimates a quantitative score of disease progression one year after baseline from age, sex, body-mass index, blood pressure and six blood serum measurements, to help prioritise follow-up. It is not a diagnosis or a treatment recommendation.',
      intendedUsers: 'Clinicians in diabetes care and the people who audit the model.',
      outOfScope: ['Children and adolescents.', 'Deciding treatment on the predicted score alone.', 'People without diabetes.'],
      outcomeDefinition: 'a quantitative measure of disease progression one year after baseline, as defined by the source study (25 to 346 in the data, without unit).',
      dataSource:
        'Diabetes data of B. Efron, T. Hastie, I. Johnstone, R. Tibshirani (2004), "Least Angle Regression", Annals of Statistics 32(2); raw (unscaled) values as shipped by Debian\'s python3-sklearn 1.2.1 (datasets/diabetes.csv).',
      population: '442 patients with diabetes; the source describes neither the setting nor the period.',
      limitations: [
        'The source states no units; they are inferred from the value ranges (see datasets/README.md), and which sex code (1 or 2) is female is not documented.',
        'These ten baseline measurements explain only about half of the variation in progression: an individual prediction is imprecise (see the RMSE).',
      ],
      ethicalConsiderations: commonEthics,
    },
    qualityBars: [{ metric: 'r2', min: 0.45 }],
  },
  {
    name: 'digits',
    dataset: 'digits.csv',
    featureSpec: 'digits.features.json',
    options: {
      target: 'label',
      task: 'image',
      image: { width: 8, height: 8, pixelScale: 16 },
      seed: 42,
      training: { batchSize: 128, learningRate: 0.01 },
      baselineTraining: { batchSize: 128, learningRate: 0.03 },
    },
    card: {
      title: 'Handwritten digits, 8x8 (image pipeline demonstration, not clinical)',
      intendedUse:
        'Exercising the image path of the platform end to end (a convolutional network, its serving and its saliency maps) on a small public image set that stands in for medical images. It is NOT a clinical model.',
      intendedUsers: 'Developers and testers of the platform.',
      outOfScope: ['Any clinical use.', 'Any image other than an 8x8 digit bitmap with values 0 to 16.', 'Reading handwriting on real forms.'],
      outcomeDefinition: 'the digit written (0 to 9), as labelled in the source.',
      dataSource:
        'Optical Recognition of Handwritten Digits: E. Alpaydin, C. Kaynak (1998), UCI Machine Learning Repository, CC BY 4.0; the copy shipped by Debian\'s python3-sklearn 1.2.1 (datasets/digits.csv).',
      population: 'Digits written by a few dozen people, reduced by the source to 8x8 images of counts 0 to 16.',
      limitations: ['Not clinical data: its figures say nothing about any medical imaging task.'],
      ethicalConsiderations: ['Must not be offered to clinicians as a clinical model.'],
    },
    qualityBars: [{ metric: 'accuracy', min: 0.97 }],
  },
  pbcMortality,
];

/**
 * Finds a default model's definition.
 * @throws PipelineError BAD_OPTION for an unknown name
 */
export function defaultModel(name: string): DefaultModel {
  const model = defaultModels.find((candidate) => candidate.name === name);
  if (!model) throw new PipelineError('BAD_OPTION', `Unknown default model "${name}": use one of ${defaultModels.map((m) => m.name).join(', ')}.`);
  return model;
}

/**
 * Trains a default model from the shipped data set with its shipped settings.
 * @param model the definition
 * @param onProgress called after every epoch
 * @returns the result and its card
 */
export async function trainDefaultModel(
  model: DefaultModel,
  onProgress?: ProgressCallback,
  crossValidation?: CrossValidationOptions,
): Promise<{ result: TrainingResult; card: ModelCard }> {
  const featureSpec = await readFeatureSpec(path.join(datasetsDir, model.featureSpec));
  // Cross-validation runs before the stored model and leaves it as without it (every network is seeded), so the retraining test can skip it.
  const result = await trainModel({
    ...model.options,
    data: { csvPath: path.join(datasetsDir, model.dataset) },
    featureSpec,
    ...(onProgress ? { onProgress } : {}),
    ...(crossValidation ? { crossValidation } : {}),
  });
  return { result, card: buildModelCard(result, model.card) };
}

/**
 * Checks a result's test-split metrics against a default model's quality bars.
 * @returns each bar with the value reached and whether it is met
 */
export function checkQualityBars(model: DefaultModel, result: TrainingResult): { bar: QualityBar; value: number | null; met: boolean }[] {
  const metrics = result.evaluation.model.metrics as unknown as Record<string, number | null>;
  return model.qualityBars.map((bar) => {
    const value = metrics[bar.metric] ?? null;
    return { bar, value, met: value !== null && (bar.min === undefined || value >= bar.min) && (bar.max === undefined || value <= bar.max) };
  });
}

/** The path of a shipped model's file. */
export function shippedModelPath(name: DefaultModelName, dir = defaultModelsDir): string {
  return path.join(dir, `${name}.json`);
}

/**
 * Writes a trained default model as models/defaults/<name>.json.
 * @returns the path written
 */
export async function writeShippedModel(name: DefaultModelName, trained: { result: TrainingResult; card: ModelCard }, dir = defaultModelsDir): Promise<string> {
  const file: ShippedModelFile = { formatVersion: 1, name, card: trained.card, result: serializeTrainingResult(trained.result) };
  await mkdir(dir, { recursive: true });
  const target = shippedModelPath(name, dir);
  await writeFile(target, `${JSON.stringify(file)}\n`);
  return target;
}

/**
 * Reads a shipped model (for the registry's first start).
 * @throws PipelineError BAD_ARTIFACT when the file is missing or malformed
 */
export async function readShippedModel(name: DefaultModelName, dir = defaultModelsDir): Promise<{ name: DefaultModelName; card: ModelCard; result: TrainingResult }> {
  const text = await readFile(shippedModelPath(name, dir), 'utf8').catch(() => {
    throw new PipelineError('BAD_ARTIFACT', `The shipped model ${name} is missing: run npx tsx scripts/train-defaults.ts.`);
  });
  const file = JSON.parse(text) as ShippedModelFile;
  if (file.formatVersion !== 1 || file.name !== name) throw new PipelineError('BAD_ARTIFACT', `The shipped model file of ${name} is not in format version 1.`);
  return { name, card: file.card, result: deserializeTrainingResult(file.result) };
}
