import { badOption } from './errors.ts';
import type { Matrix } from './matrix.ts';
import { createRandom, type Random, shuffled } from './random.ts';
import { mean, solveLinearSystem, standardDeviation } from './stats.ts';
import { tf } from './tensorflow.ts';

/** What the network learns: the log-loss of one yes/no outcome, of one of several classes, or the squared error of a number. */
export type Objective = 'binary' | 'multiclass' | 'regression';

export interface TrainingSettings {
  /** Most passes over the training rows. */
  epochs: number;
  batchSize: number;
  /** Adam's step size. */
  learningRate: number;
  /** Stop after this many epochs without a lower validation loss, and go back to the best weights. */
  patience: number;
  /** L2 penalty on every kernel (not on biases), added to the training loss. */
  l2: number;
  /**
   * Large data sets: an epoch is at most this many batches, the next epoch
   * continuing the same shuffled pass, so that early stopping looks at the
   * validation loss often. Unset: an epoch is one pass over the training rows.
   */
  stepsPerEpoch?: number;
}

export interface EpochRecord {
  epoch: number;
  /** Mean training loss of the epoch (without the L2 penalty). */
  loss: number;
  valLoss: number;
  valMetric: number;
}

export interface ProgressEvent {
  /** Which network is training: the model, or its baseline. */
  phase: 'model' | 'baseline';
  /** Cross-validation: which fold's networks train, e.g. "3/25" (absent for the stored model). */
  fold?: string;
  epoch: number;
  epochs: number;
  loss: number;
  valLoss: number;
  valMetric: number;
  valMetricName: string;
}

export type ProgressCallback = (event: ProgressEvent) => void;

/** What is training, in words: "model", "baseline", or with cross-validation "fold 3/25 model". */
export function progressPhase(event: ProgressEvent): string {
  return event.fold ? `fold ${event.fold} ${event.phase}` : event.phase;
}

/** Input rows and targets (class index, or the number to predict). */
export interface TrainingData {
  x: Matrix;
  y: number[];
}

export interface FitResult {
  history: EpochRecord[];
  /** The epoch whose weights were kept (lowest validation loss). */
  bestEpoch: number;
  epochsRun: number;
  stoppedEarly: boolean;
  valMetricName: string;
}

export interface FitOptions {
  objective: Objective;
  /** Classes of a multiclass objective. */
  classes: number;
  settings: TrainingSettings;
  /** Seeds the shuffling of every epoch and every dropout mask. */
  seed: number;
  phase?: ProgressEvent['phase'];
  onProgress?: ProgressCallback;
  /** Train exactly settings.epochs epochs and keep the last weights: no early stopping (validation rows, when given, are only reported). */
  fixedEpochs?: boolean;
}

/**
 * Trains a network built by buildNetwork with Adam and early stopping on the
 * validation split, restoring the weights of the best epoch.
 *
 * The loop is written out rather than using model.fit, for two reasons:
 * repeatability (fit shuffles with Math.random, and a seeded Dropout layer
 * draws the same mask on every step), and backends (the wasm backend has no
 * gradient kernel for a convolution's filter, so convolutions train as
 * matrix products, which every backend can differentiate). The trained
 * weights live in the model's own layers; its graph is what serving runs.
 * Regression trains on a standardized target and folds the scale back into
 * the output layer, so the model predicts in the target's units.
 * @returns the history per epoch and where it stopped
 */
export async function fitNetwork(model: tf.Sequential, train: TrainingData, validation: TrainingData | null, options: FitOptions): Promise<FitResult> {
  checkSettings(options.settings);
  if (!validation && !options.fixedEpochs) throw badOption('Early stopping needs validation rows.');
  const { objective, settings } = options;
  const targetScale = objective === 'regression' ? { mean: mean(train.y), std: standardDeviation(train.y) || 1 } : { mean: 0, std: 1 };
  const random = createRandom(options.seed);
  const step = new TrainingStep(model, options, targetScale);
  const data = {
    x: tf.tensor2d(train.x.values, [train.x.rows, train.x.columns]),
    y: step.targets(train.y),
  };
  const held = validation && { x: tf.tensor2d(validation.x.values, [validation.x.rows, validation.x.columns]), y: step.targets(validation.y) };
  const history: EpochRecord[] = [];
  let best = { loss: Infinity, epoch: 0, weights: [] as tf.Tensor[] };
  const valMetricName = objective === 'regression' ? 'rmse' : 'accuracy';
  try {
    for (let epoch = 1; epoch <= settings.epochs; epoch++) {
      const loss = step.epoch(data.x, data.y, random);
      // Without validation rows (fixed epochs only) the training loss stands in, so that nothing is computed for no one.
      const { valLoss, valMetric } = held ? step.validate(held.x, held.y) : { valLoss: loss, valMetric: NaN };
      if (!Number.isFinite(loss) || !Number.isFinite(valLoss)) {
        throw badOption(`Training diverged at epoch ${epoch} (the loss is not a finite number): lower the learning rate.`);
      }
      history.push({ epoch, loss, valLoss, valMetric });
      options.onProgress?.({ phase: options.phase ?? 'model', epoch, epochs: settings.epochs, loss, valLoss, valMetric, valMetricName });
      if (options.fixedEpochs) {
        // Every epoch is run; the last weights are kept.
      } else if (valLoss < best.loss) {
        best.weights.forEach((tensor) => tensor.dispose());
        best = { loss: valLoss, epoch, weights: model.getWeights().map((tensor) => tf.keep(tensor.clone())) };
      } else if (epoch - best.epoch >= settings.patience) {
        break;
      }
      // Let other work on the event loop (requests, progress reports) run between epochs.
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (!options.fixedEpochs) model.setWeights(best.weights);
    if (objective === 'regression') foldTargetScale(model, targetScale);
  } finally {
    best.weights.forEach((tensor) => tensor.dispose());
    Object.values(data).forEach((tensor) => tensor.dispose());
    if (held) Object.values(held).forEach((tensor) => tensor.dispose());
    step.dispose();
  }
  const epochsRun = history.length;
  return { history, bestEpoch: options.fixedEpochs ? epochsRun : best.epoch, epochsRun, stoppedEarly: epochsRun < settings.epochs, valMetricName };
}

function checkSettings(settings: TrainingSettings): void {
  const positiveInt = (value: number) => Number.isInteger(value) && value > 0;
  if (!positiveInt(settings.epochs) || !positiveInt(settings.batchSize) || !positiveInt(settings.patience)) {
    throw badOption('epochs, batchSize and patience must be positive integers.');
  }
  if (!(settings.learningRate > 0) || !(settings.l2 >= 0)) throw badOption('learningRate must be above 0 and l2 at least 0.');
}

/** One network's optimizer, loss and differentiable forward pass. */
class TrainingStep {
  private readonly optimizer: tf.Optimizer;
  private readonly variables: tf.Variable[];
  private readonly kernels: tf.Variable[];

  constructor(
    private readonly model: tf.Sequential,
    private readonly options: FitOptions,
    private readonly targetScale: { mean: number; std: number },
  ) {
    this.optimizer = tf.train.adam(options.settings.learningRate);
    this.variables = model.trainableWeights.map((weight) => weight.read() as tf.Variable);
    // originalName: tfjs renames a variable whose name is taken (…/kernel_1) when a network with the same layer names is loaded.
    this.kernels = model.trainableWeights.filter((weight) => weight.originalName.endsWith('kernel')).map((weight) => weight.read() as tf.Variable);
  }

  /** Targets as the loss wants them: 0/1 column, one-hot rows, or standardized numbers. */
  targets(y: number[]): tf.Tensor2D {
    return tf.tidy(() => {
      if (this.options.objective === 'multiclass') return tf.oneHot(tf.tensor1d(y, 'int32'), this.options.classes).toFloat() as tf.Tensor2D;
      const scaled = y.map((value) => (value - this.targetScale.mean) / this.targetScale.std);
      return tf.tensor2d(scaled, [y.length, 1]);
    });
  }

  /** One pass over the training rows (or stepsPerEpoch batches of it) in a seeded order; returns the mean loss. */
  epoch(x: tf.Tensor2D, y: tf.Tensor2D, random: Random): number {
    const { batchSize, l2, stepsPerEpoch } = this.options.settings;
    const rows = stepsPerEpoch === undefined ? x.shape[0] : Math.min(x.shape[0], stepsPerEpoch * batchSize);
    let total = 0;
    for (let done = 0; done < rows; ) {
      const batch = this.nextBatch(x.shape[0], Math.min(batchSize, rows - done), random);
      done += batch.length;
      total += tf.tidy(() => {
        const indices = tf.tensor1d(batch, 'int32');
        const xb = tf.gather(x, indices);
        const yb = tf.gather(y, indices);
        let dataLoss = 0;
        this.optimizer.minimize(
          () => {
            const loss = this.loss(yb, this.forward(xb, random));
            dataLoss = loss.dataSync()[0]!;
            return l2 > 0 ? tf.add(loss, tf.mul(l2, tf.addN(this.kernels.map((kernel) => tf.sum(tf.square(kernel)))))) : loss;
          },
          false,
          this.variables,
        );
        return dataLoss * batch.length;
      });
    }
    return total / rows;
  }

  private order: number[] = [];
  private cursor = 0;

  /** The next rows of the current shuffled pass; a new pass (shuffled afresh) when it is used up. */
  private nextBatch(rows: number, size: number, random: Random): number[] {
    if (this.cursor >= this.order.length) {
      this.order = shuffled(
        Array.from({ length: rows }, (_, i) => i),
        random,
      );
      this.cursor = 0;
    }
    const batch = this.order.slice(this.cursor, this.cursor + size);
    this.cursor += batch.length;
    return batch;
  }

  /** Loss and metric (accuracy, or RMSE in the target's units) on the validation rows, without dropout. */
  validate(x: tf.Tensor2D, y: tf.Tensor2D): { valLoss: number; valMetric: number } {
    return tf.tidy(() => {
      const output = this.forward(x);
      const valLoss = this.loss(y, output).dataSync()[0]!;
      if (this.options.objective === 'regression') return { valLoss, valMetric: Math.sqrt(valLoss) * this.targetScale.std };
      const predicted = this.options.objective === 'binary' ? tf.greater(output, 0).toInt().reshape([-1]) : tf.argMax(output, 1);
      const actual = this.options.objective === 'binary' ? y.toInt().reshape([-1]) : tf.argMax(y, 1);
      return { valLoss, valMetric: tf.mean(tf.equal(predicted, actual).toFloat()).dataSync()[0]! };
    });
  }

  private loss(y: tf.Tensor, logits: tf.Tensor): tf.Scalar {
    if (this.options.objective === 'binary') return tf.losses.sigmoidCrossEntropy(y, logits);
    if (this.options.objective === 'multiclass') return tf.losses.softmaxCrossEntropy(y, logits);
    return tf.losses.meanSquaredError(y, logits);
  }

  /**
   * The network up to its output activation (logits), layer by layer with the
   * layers' own variables; dropout draws seeded masks when `random` is given.
   */
  private forward(x: tf.Tensor, random?: Random): tf.Tensor {
    let h = x;
    for (const layer of this.model.layers.slice(0, -1)) {
      const config = layer.getConfig();
      const [kernel, bias] = layer.trainableWeights.map((weight) => weight.read());
      switch (layer.getClassName()) {
        case 'Dense':
          h = activate(tf.add(matMul(h as tf.Tensor2D, kernel as tf.Tensor2D), bias!), config.activation);
          break;
        case 'Conv2D':
          h = activate(convolveByMatMul(h as tf.Tensor4D, kernel as tf.Tensor4D, bias!), config.activation);
          break;
        case 'InputLayer':
          break;
        case 'Dropout':
          if (random) h = tf.dropout(h, config.rate as number, undefined, random.seed());
          break;
        default:
          h = layer.apply(h) as tf.Tensor;
      }
    }
    return h;
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}

/**
 * A 'same'-padded, stride-1 convolution as matrix products: a constant 0/1
 * matrix gathers each pixel's neighbourhood (im2col), then one product with
 * the kernel. Equals tf.conv2d, with gradients that every backend has.
 * @param x images [n, height, width, channels]
 * @param kernel [kernelHeight, kernelWidth, channels, filters], odd sides
 * @param bias [filters]
 */
export function convolveByMatMul(x: tf.Tensor4D, kernel: tf.Tensor4D, bias: tf.Tensor): tf.Tensor4D {
  const [n, height, width, channels] = x.shape;
  const [kernelHeight, kernelWidth, , filters] = kernel.shape;
  const taps = kernelHeight * kernelWidth;
  const perChannel = tf.reshape(tf.transpose(tf.reshape(x, [n, height * width, channels]), [0, 2, 1]), [n * channels, height * width]);
  const neighbourhoods = patchProduct(height, width, kernelHeight, kernelWidth)(perChannel as tf.Tensor2D);
  const patches = tf.reshape(tf.transpose(tf.reshape(neighbourhoods, [n, channels, height * width, taps]), [0, 2, 3, 1]), [n * height * width, taps * channels]);
  const output = matMul(patches as tf.Tensor2D, tf.reshape(kernel, [taps * channels, filters]) as tf.Tensor2D);
  return tf.add(tf.reshape(output, [n, height, width, filters]), bias) as tf.Tensor4D;
}

// Small constant matrices, one per image and kernel size, kept for the process.
const patchProducts = new Map<string, (x: tf.Tensor2D) => tf.Tensor2D>();

/**
 * x [rows, pixels] times the constant patch matrix P; its gradient needs only
 * d x = dy P^T, with P^T computed once rather than transposed on every step.
 */
function patchProduct(height: number, width: number, kernelHeight: number, kernelWidth: number): (x: tf.Tensor2D) => tf.Tensor2D {
  const key = `${height}x${width}x${kernelHeight}x${kernelWidth}`;
  let product = patchProducts.get(key);
  if (!product) {
    const matrix = tf.keep(patchMatrix(height, width, kernelHeight, kernelWidth));
    const transposed = tf.keep(tf.transpose(matrix));
    product = tf.customGrad((a) => ({
      value: tf.matMul(a as tf.Tensor2D, matrix),
      gradFunc: (dy) => [tf.matMul(dy as tf.Tensor2D, transposed)],
    })) as (x: tf.Tensor2D) => tf.Tensor2D;
    patchProducts.set(key, product);
  }
  return product;
}

/** [pixels, pixels x taps]: entry (source, target * taps + tap) is 1 when the tap of target reads source. */
function patchMatrix(height: number, width: number, kernelHeight: number, kernelWidth: number): tf.Tensor2D {
  const taps = kernelHeight * kernelWidth;
  const pixels = height * width;
  const values = new Float32Array(pixels * pixels * taps);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let dy = 0; dy < kernelHeight; dy++) {
        for (let dx = 0; dx < kernelWidth; dx++) {
          const sourceY = y + dy - (kernelHeight - 1) / 2;
          const sourceX = x + dx - (kernelWidth - 1) / 2;
          if (sourceY < 0 || sourceX < 0 || sourceY >= height || sourceX >= width) continue;
          values[(sourceY * width + sourceX) * pixels * taps + (y * width + x) * taps + dy * kernelWidth + dx] = 1;
        }
      }
    }
  }
  return tf.tensor2d(values, [pixels, pixels * taps]);
}

function activate(x: tf.Tensor, activation: unknown): tf.Tensor {
  if (activation === 'relu') return tf.relu(x);
  if (activation === 'linear') return x;
  throw new Error(`Training supports relu and linear hidden activations, not ${String(activation)}`);
}

/**
 * A matrix product whose gradient transposes explicitly: the wasm backend's
 * product with a transposed operand is several times slower than a transpose
 * followed by a plain product.
 */
const matMul = tf.customGrad((a, b, save) => {
  (save as tf.GradSaveFunc)([a as tf.Tensor2D, b as tf.Tensor2D]);
  return {
    value: tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
    gradFunc: (dy, saved) => {
      const [left, right] = saved as tf.Tensor2D[];
      return [tf.matMul(dy as tf.Tensor2D, tf.transpose(right!)), tf.matMul(tf.transpose(left!), dy as tf.Tensor2D)];
    },
  };
}) as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D;

/** Makes the output layer predict target units: w' = w * std, b' = b * std + mean. */
function foldTargetScale(model: tf.Sequential, scale: { mean: number; std: number }): void {
  const output = model.layers.filter((layer) => layer.getClassName() === 'Dense').pop()!;
  const [kernel, bias] = output.getWeights();
  const folded = tf.tidy(() => [tf.mul(kernel!, scale.std), tf.add(tf.mul(bias!, scale.std), scale.mean)]);
  output.setWeights(folded);
  folded.forEach((tensor) => tensor.dispose());
}

/**
 * Fits a linear model (one Dense layer, linear output) by least squares in
 * closed form, the exact linear-regression baseline. A ridge of 1e-4 x rows on
 * the slopes (not the intercept) keeps the normal equations solvable when
 * columns are collinear, as one-hot columns are with the intercept; it shrinks
 * standardized slopes by about 0.01%.
 * @param model a network from buildNetwork with no hidden layer
 * @param train its training rows
 */
export function fitLeastSquares(model: tf.Sequential, train: TrainingData): void {
  const { columns, rows, values } = train.x;
  const ridge = 1e-4 * rows;
  // Normal equations of [x, 1]: (X'X + ridge on the slopes) w = X'y.
  const gram = Array.from({ length: columns + 1 }, () => new Array<number>(columns + 1).fill(0));
  const moment = new Array<number>(columns + 1).fill(0);
  const extended = new Array<number>(columns + 1).fill(1);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < columns; i++) extended[i] = values[r * columns + i]!;
    extended.forEach((vi, i) => {
      moment[i]! += vi * train.y[r]!;
      extended.forEach((vj, j) => (gram[i]![j]! += vi * vj));
    });
  }
  for (let i = 0; i < columns; i++) gram[i]![i]! += ridge;
  const solution = solveLinearSystem(gram, moment);
  const dense = model.layers.find((layer) => layer.getClassName() === 'Dense')!;
  const weights = [tf.tensor2d(solution.slice(0, columns), [columns, 1]), tf.tensor1d([solution[columns]!])];
  dense.setWeights(weights);
  tf.dispose(weights);
}
