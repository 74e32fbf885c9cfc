import cliProgress from 'cli-progress';
import type { ProgressCallback, ProgressEvent } from './train.ts';

/**
 * A terminal progress bar fed by training progress events: one bar per
 * network (model, then baseline), showing the epoch, the losses and the
 * validation metric. Draws nothing when the output is not a terminal.
 * @param label shown before each bar, e.g. the model's name
 * @returns the callback for trainModel, and stop() to close the last bar
 */
export function trainingProgressBar(label: string): { onProgress: ProgressCallback; stop: () => void } {
  let bar: cliProgress.SingleBar | undefined;
  let phase: ProgressEvent['phase'] | undefined;
  const stop = () => bar?.stop();
  const onProgress: ProgressCallback = (event) => {
    const values = {
      phase: `${label} ${event.phase}`.padEnd(30),
      loss: event.loss.toFixed(4),
      valLoss: event.valLoss.toFixed(4),
      metric: `${event.valMetricName} ${event.valMetric.toFixed(3)}`,
    };
    if (event.phase !== phase) {
      stop();
      phase = event.phase;
      bar = new cliProgress.SingleBar(
        { format: '{phase} |{bar}| epoch {value}/{total}  loss {loss}  val loss {valLoss}  val {metric}', hideCursor: true },
        cliProgress.Presets.shades_classic,
      );
      bar.start(event.epochs, 0, values);
    }
    bar!.update(event.epoch, values);
  };
  return { onProgress, stop };
}
