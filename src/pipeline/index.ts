/*
 * The model pipeline's public API: collect, check, preprocess, train,
 * evaluate, save, serve and explain models with TensorFlow.js.
 */
export { type Architecture, type ConvArchitecture, type DenseArchitecture, defaultArchitectures } from './architectures.ts';
export { loadModelArtifact, type ModelArtifact, saveModelArtifact } from './artifact.ts';
export { buildModelCard, type CardText, type ModelCard, renderModelCardMarkdown } from './card.ts';
export { type Calibration, describeCalibration } from './calibration.ts';
export { type CrossValidationOptions, type CrossValidationResult, parseCrossValidation } from './cross-validation.ts';
export { type Dataset, datasetFromRecords, parseCsv, type RawRecord, type RawValue, readCsvFile, recordAt, sha256Hex } from './csv.ts';
export {
  checkQualityBars,
  datasetsDir,
  type DefaultModel,
  type DefaultModelName,
  defaultModel,
  defaultModels,
  defaultModelsDir,
  readShippedModel,
  shippedModelPath,
  trainDefaultModel,
  writeShippedModel,
} from './defaults.ts';
export { PipelineError, type PipelineErrorCode } from './errors.ts';
export { computeMetrics, type Evaluation, type EvaluationTarget, type MetricSet } from './evaluate.ts';
export { evaluateOnDataset } from './external-validation.ts';
export { explainOffThread } from './explain-off-thread.ts';
export { completenessFlagged, explainPrediction, integratedGradients, type SaliencyMap, saliencyMap, type TabularExplanation } from './explain.ts';
export { type FeatureSpec, parseFeatureSpec, readFeatureSpec } from './feature-spec.ts';
export {
  type DataSource,
  deserializeTrainingResult,
  type SerializedTrainingResult,
  serializeTrainingResult,
  type TrainingResult,
  type TrainModelOptions,
  trainModel,
} from './pipeline.ts';
export { type PreprocessingState } from './preprocess.ts';
export { trainingProgressBar } from './progress-bar.ts';
export { type StageEvent, stageName } from './stages.ts';
export { assessDataQuality, type DataQualityReport, renderQualityReport, type Task } from './quality.ts';
export { type FeatureInfo, loadServingModel, type ModelInput, type Prediction, type SequenceHistory, type ServingModel, type StoredModel } from './serving.ts';
export { type EventWithin, type SequenceOptions } from './sequence-data.ts';
export { prepareSequenceData } from './sequence.ts';
export { type SequenceEncoding, type Visit } from './sequence-encoding.ts';
export { initTensorflow, type TensorflowInfo, tf } from './tensorflow.ts';
export { startTypeScriptWorker } from './worker-thread.ts';
export { type Conformal, describeConformal, parseThresholdRule, type ThresholdRule } from './uncertainty.ts';
export { type ProgressCallback, type ProgressEvent, progressPhase, type TrainingSettings } from './train.ts';
