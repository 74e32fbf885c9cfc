import cliProgress from 'cli-progress';
import { type StageCallback, type StageEvent, stageName } from './stages.ts';
import { type ProgressCallback, type ProgressEvent, progressPhase } from './train.ts';

/** Without a terminal (a log file, a pipe, CI), one progress line at most this often within a step. */
const lineIntervalMs = 5000;

/** Progress displays for trainModel's onProgress (epochs) and onStage (reading, checks, evaluation). */
export interface TrainingProgress {
  onProgress: ProgressCallback;
  onStage: StageCallback;
  /** Closes the last bar. */
  stop: () => void;
}

/**
 * Progress for people: on a terminal, one bar per step (reading the file,
 * checking the data, each network's training with the epoch, the losses and
 * the validation metric, evaluating); when the output is not a terminal, a
 * plain line at the start of each step and then every few seconds.
 * @param label shown before each bar or line, e.g. the model's name
 * @param output where to write (default: standard output)
 * @param intervalMs without a terminal, the least time between two lines of one step
 */
export function trainingProgressBar(label: string, output: NodeJS.WriteStream = process.stdout, intervalMs = lineIntervalMs): TrainingProgress {
  return output.isTTY ? terminalBars(label, output) : progressLines(label, output, intervalMs);
}

/** A step's name and where it stands, for a bar or a line. */
interface StepStatus {
  step: string;
  /** Bars: the value and total; lines: "value/total". */
  value: number;
  total: number;
  /** The rest of the line: the losses (training) or the detail (other steps). */
  text: string;
}

function trainingStatus(label: string, event: ProgressEvent): StepStatus {
  return {
    step: `${label} ${progressPhase(event)}`,
    value: event.epoch,
    total: event.epochs,
    text: `loss ${event.loss.toFixed(4)}, val loss ${event.valLoss.toFixed(4)}, val ${event.valMetricName} ${event.valMetric.toFixed(3)}`,
  };
}

function stageStatus(label: string, event: StageEvent): StepStatus {
  return { step: `${label} ${stageName(event)}`, value: Math.round((event.fraction ?? 0) * 100), total: 100, text: event.detail };
}

/** Sends both kinds of event, as statuses, to one display. */
function displaying(label: string, show: (status: StepStatus, counter: string) => void, stop: () => void): TrainingProgress {
  return {
    onProgress: (event) => show(trainingStatus(label, event), `epoch ${event.epoch}/${event.epochs}`),
    onStage: (event) => show(stageStatus(label, event), event.fraction === null ? '' : `${Math.round(event.fraction * 100)}%`),
    stop,
  };
}

function terminalBars(label: string, output: NodeJS.WriteStream): TrainingProgress {
  let bar: cliProgress.SingleBar | undefined;
  let step: string | undefined;
  const stop = () => bar?.stop();
  return displaying(
    label,
    (status) => {
      const values = { step: status.step.padEnd(30), text: status.text };
      if (status.step !== step) {
        stop();
        step = status.step;
        bar = new cliProgress.SingleBar({ format: '{step} |{bar}| {value}/{total}  {text}', hideCursor: true, stream: output }, cliProgress.Presets.shades_classic);
        bar.start(status.total, 0, values);
      }
      bar!.update(status.value, values);
    },
    stop,
  );
}

function progressLines(label: string, output: NodeJS.WriteStream, intervalMs: number): TrainingProgress {
  let step: string | undefined;
  let last = 0;
  return displaying(
    label,
    (status, counter) => {
      const now = Date.now();
      if (status.step === step && now - last < intervalMs) return;
      step = status.step;
      last = now;
      output.write(`${status.step}: ${counter ? `${counter}, ` : ''}${status.text}\n`);
    },
    () => {},
  );
}
