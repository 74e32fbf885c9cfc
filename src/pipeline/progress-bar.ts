import cliProgress from 'cli-progress';
import { type ProgressCallback, progressPhase } from './train.ts';

/** Without a terminal (a log file, a pipe, CI), one progress line at most this often. */
const lineIntervalMs = 5000;

/**
 * Training progress for people: on a terminal, one bar per network (model,
 * then baseline) with the epoch, the losses and the validation metric; when
 * the output is not a terminal, a plain line every few seconds and at each
 * change of network.
 * @param label shown before each bar or line, e.g. the model's name
 * @param output where to write (default: standard output)
 * @returns the callback for trainModel, and stop() to close the last bar
 */
export function trainingProgressBar(label: string, output: NodeJS.WriteStream = process.stdout): { onProgress: ProgressCallback; stop: () => void } {
  return output.isTTY ? terminalBar(label, output) : progressLines(label, output);
}

function terminalBar(label: string, output: NodeJS.WriteStream): { onProgress: ProgressCallback; stop: () => void } {
  let bar: cliProgress.SingleBar | undefined;
  let phase: string | undefined;
  const stop = () => bar?.stop();
  const onProgress: ProgressCallback = (event) => {
    const values = {
      phase: `${label} ${progressPhase(event)}`.padEnd(30),
      loss: event.loss.toFixed(4),
      valLoss: event.valLoss.toFixed(4),
      metric: `${event.valMetricName} ${event.valMetric.toFixed(3)}`,
    };
    if (progressPhase(event) !== phase) {
      stop();
      phase = progressPhase(event);
      bar = new cliProgress.SingleBar(
        { format: '{phase} |{bar}| epoch {value}/{total}  loss {loss}  val loss {valLoss}  val {metric}', hideCursor: true, stream: output },
        cliProgress.Presets.shades_classic,
      );
      bar.start(event.epochs, 0, values);
    }
    bar!.update(event.epoch, values);
  };
  return { onProgress, stop };
}

function progressLines(label: string, output: NodeJS.WriteStream): { onProgress: ProgressCallback; stop: () => void } {
  let phase: string | undefined;
  let last = 0;
  const onProgress: ProgressCallback = (event) => {
    const now = Date.now();
    if (progressPhase(event) === phase && now - last < lineIntervalMs) return;
    phase = progressPhase(event);
    last = now;
    output.write(
      `${label} ${phase}: epoch ${event.epoch}/${event.epochs}, loss ${event.loss.toFixed(4)}, val loss ${event.valLoss.toFixed(4)}, val ${event.valMetricName} ${event.valMetric.toFixed(3)}\n`,
    );
  };
  return { onProgress, stop: () => {} };
}
