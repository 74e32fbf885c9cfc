import { badOption } from './errors.ts';
import { tf } from './tensorflow.ts';

/** A fully connected network for tabular data; no hidden layer makes it a linear (or logistic) model. */
export interface DenseArchitecture {
  kind: 'dense';
  /** Units of each hidden ReLU layer, in order. */
  hiddenUnits: number[];
  /** Dropout rate after each hidden layer (0 = none). */
  dropout: number;
}

/** A small convolutional network for images: (conv 3x3 ReLU, max-pool 2x2) per filter count, then dense, then softmax. */
export interface ConvArchitecture {
  kind: 'cnn';
  /** Filters of each convolution block, in order. */
  filters: number[];
  /** Side of the square convolution kernels (odd). */
  kernelSize: number;
  /** Units of the dense ReLU layer before the output (0 = none). */
  denseUnits: number;
  /** Dropout rate before each dense layer (0 = none). */
  dropout: number;
}

export type Architecture = DenseArchitecture | ConvArchitecture;

/** The output layer's activation: probability of the positive class, class probabilities, or a number. */
export type OutputActivation = 'sigmoid' | 'softmax' | 'linear';

export interface NetworkShape {
  /** Length of one input row (images: width x height, pixels in row-major order). */
  inputSize: number;
  outputUnits: number;
  outputActivation: OutputActivation;
  image?: { width: number; height: number };
}

/** Defaults: a 32-16 ReLU network with dropout for tables; conv16-pool-conv32-pool-dense64 for images. */
export const defaultArchitectures = {
  dense: { kind: 'dense', hiddenUnits: [32, 16], dropout: 0.2 } satisfies DenseArchitecture,
  cnn: { kind: 'cnn', filters: [16, 32], kernelSize: 3, denseUnits: 64, dropout: 0.25 } satisfies ConvArchitecture,
  /** The baseline: logistic (or linear) regression on the same standardized inputs. */
  linear: { kind: 'dense', hiddenUnits: [], dropout: 0 } satisfies DenseArchitecture,
} as const;

/**
 * Builds an untrained network with seeded initial weights. The last layer is
 * a separate activation so that training can work on logits; the model's
 * input is always a flat row (images are reshaped inside), so serving and
 * explanations handle every model alike.
 * @param architecture layers to build
 * @param shape input and output sizes
 * @param seed seeds the initial weights (layer by layer)
 * @throws PipelineError BAD_OPTION for an impossible architecture
 */
export function buildNetwork(architecture: Architecture, shape: NetworkShape, seed: number): tf.Sequential {
  checkArchitecture(architecture);
  const model = tf.sequential();
  let layerSeed = seed;
  const init = () => ({ kernelInitializer: tf.initializers.glorotUniform({ seed: layerSeed++ }), biasInitializer: 'zeros' as const });
  if (architecture.kind === 'cnn') {
    if (!shape.image) throw badOption('A convolutional network needs image data (task "image").');
    addConvolutions(model, architecture, shape.image, init);
  } else {
    model.add(tf.layers.inputLayer({ inputShape: [shape.inputSize] }));
    for (const units of architecture.hiddenUnits) {
      model.add(tf.layers.dense({ units, activation: 'relu', ...init() }));
      if (architecture.dropout > 0) model.add(tf.layers.dropout({ rate: architecture.dropout }));
    }
  }
  model.add(tf.layers.dense({ units: shape.outputUnits, activation: 'linear', ...init() }));
  model.add(tf.layers.activation({ activation: shape.outputActivation }));
  return model;
}

type Initializers = () => { kernelInitializer: ReturnType<typeof tf.initializers.glorotUniform>; biasInitializer: 'zeros' };

function addConvolutions(model: tf.Sequential, architecture: ConvArchitecture, image: { width: number; height: number }, init: Initializers): void {
  model.add(tf.layers.reshape({ targetShape: [image.height, image.width, 1], inputShape: [image.width * image.height] }));
  let { width, height } = image;
  for (const filters of architecture.filters) {
    model.add(tf.layers.conv2d({ filters, kernelSize: architecture.kernelSize, padding: 'same', activation: 'relu', ...init() }));
    // Pool while the image is still at least 2x2.
    if (width >= 2 && height >= 2) {
      model.add(tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }));
      width = Math.floor(width / 2);
      height = Math.floor(height / 2);
    }
  }
  model.add(tf.layers.flatten());
  if (architecture.denseUnits > 0) {
    if (architecture.dropout > 0) model.add(tf.layers.dropout({ rate: architecture.dropout }));
    model.add(tf.layers.dense({ units: architecture.denseUnits, activation: 'relu', ...init() }));
  }
  if (architecture.dropout > 0) model.add(tf.layers.dropout({ rate: architecture.dropout }));
}

function checkArchitecture(architecture: Architecture): void {
  const positiveInts = (values: number[]) => values.every((value) => Number.isInteger(value) && value > 0);
  if (!(architecture.dropout >= 0 && architecture.dropout < 1)) throw badOption('dropout must be at least 0 and below 1.');
  if (architecture.kind === 'dense' && !positiveInts(architecture.hiddenUnits)) {
    throw badOption('hiddenUnits must be positive integers.');
  }
  if (architecture.kind === 'cnn') {
    if (!positiveInts(architecture.filters) || architecture.filters.length === 0) throw badOption('filters must be one or more positive integers.');
    if (!positiveInts([architecture.kernelSize]) || architecture.kernelSize % 2 === 0) throw badOption('kernelSize must be an odd positive integer.');
    if (!(Number.isInteger(architecture.denseUnits) && architecture.denseUnits >= 0)) throw badOption('denseUnits must be an integer of at least 0.');
  }
}

/**
 * A one-line-per-layer summary and the number of trainable parameters, for model cards and registries.
 */
export function describeNetwork(model: tf.LayersModel): { layers: string[]; parameters: number } {
  const layers = model.layers.map((layer) => {
    const config = layer.getConfig();
    const details = ['units', 'filters', 'kernelSize', 'poolSize', 'rate', 'activation', 'targetShape']
      .filter((key) => config[key] !== undefined)
      .map((key) => `${key}=${JSON.stringify(config[key])}`);
    return `${layer.getClassName()}(${details.join(', ')})`;
  });
  return { layers, parameters: model.countParams() };
}
