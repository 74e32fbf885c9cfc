/*
 * Longitudinal files, one row per visit: who each row belongs to, when it
 * happened, and (optionally) a label "event within a horizon of this visit"
 * that leaves out visits whose window is censored.
 */
import { cellAt, type DataColumn, type Dataset } from './csv.ts';
import { badData, badOption } from './errors.ts';

/** How to read a longitudinal file. */
export interface SequenceOptions {
  /** The column naming each row's patient: a patient's visits form one sequence and stay on one side of every split. */
  id: string;
  /** The column of each visit's time, a number (days since a fixed point, so serving can use observation dates). */
  time: string;
  /** Most recent visits the network sees (default 16). */
  steps?: number;
  /** Units of the recurrent layer (default 16). */
  units?: number;
  /** Label each visit by an event within a horizon of it, instead of reading the target column. */
  eventWithin?: EventWithin;
}

/**
 * "The event happened within `horizon` of this visit", from survival columns:
 * 1 when the event time lies within the window, 0 when follow-up reaches past
 * it, and no label (history only, not an example) when follow-up ends inside
 * the window without the event: that window is censored, and counting it as
 * 0 would bias the risk down.
 */
export interface EventWithin {
  /** Time of the end of follow-up (same unit and origin as the visit time). */
  followUp: string;
  /** Status at the end of follow-up. */
  status: string;
  /** Status values that are the event; every other value censors at followUp (e.g. a transplant). */
  eventValues: number[];
  /** Window length, in the time column's unit. */
  horizon: number;
}

/** Each patient's rows in time order. */
export interface Timeline {
  /** Per patient (in order of first appearance): row indices sorted by time (ties by row order). */
  patients: Map<string, number[]>;
  /** Per row: its time. */
  times: Float64Array;
  /** Per row: its patient. */
  patientOf: string[];
}

export const eventLabels = { positive: 'yes', negative: 'no' } as const;

/**
 * Reads who and when of every row.
 * @throws PipelineError BAD_OPTION when a sequence column is absent; BAD_DATA for a missing patient or a time that is not a number
 */
export function readTimeline(dataset: Dataset, options: SequenceOptions): Timeline {
  const ids = requiredColumn(dataset, options.id, '--sequence-id');
  const timeColumn = requiredColumn(dataset, options.time, '--sequence-time');
  const times = new Float64Array(dataset.rowCount);
  const patientOf: string[] = [];
  const patients = new Map<string, number[]>();
  for (let row = 0; row < dataset.rowCount; row++) {
    const id = cellAt(ids, row);
    if (id.kind === 'missing') throw badData(`Row ${row + 1} has no ${options.id}: every visit must name its patient.`, { column: options.id, row: row + 1 });
    const time = cellAt(timeColumn, row);
    if (time.kind !== 'number') {
      throw badData(`The visit time ${options.time} must be a number on every row; row ${row + 1} has ${time.kind === 'missing' ? 'none' : `"${time.value}"`}.`, {
        column: options.time,
        row: row + 1,
      });
    }
    const patient = String(id.value);
    times[row] = time.value;
    patientOf.push(patient);
    const rows = patients.get(patient);
    if (rows) rows.push(row);
    else patients.set(patient, [row]);
  }
  for (const rows of patients.values()) rows.sort((a, b) => times[a]! - times[b]! || a - b);
  return { patients, times, patientOf };
}

function requiredColumn(dataset: Dataset, name: string, option: string): DataColumn {
  const column = dataset.data.get(name);
  if (!column) throw badOption(`The sequence column ${name} (${option}) is not in the data; its columns are ${dataset.columns.join(', ')}.`, { column: name });
  return column;
}

/**
 * Adds the label column `target` ("yes", "no", or missing for a censored window).
 * @returns the dataset with the column, and how many visits were left unlabelled
 * @throws PipelineError BAD_OPTION for absent columns or a horizon that is not positive; BAD_DATA for follow-up that is not a number
 */
export function labelEventWithin(dataset: Dataset, timeline: Timeline, rule: EventWithin, target: string): { dataset: Dataset; censored: number } {
  if (!(rule.horizon > 0)) throw badOption('The horizon of an event label must be a positive number.');
  if (dataset.data.has(target)) throw badOption(`The label column ${target} already exists in the data: name the derived label differently.`, { column: target });
  const followUp = requiredColumn(dataset, rule.followUp, 'follow-up');
  const status = requiredColumn(dataset, rule.status, 'status');
  const texts: (string | undefined)[] = new Array(dataset.rowCount);
  let censored = 0;
  for (let row = 0; row < dataset.rowCount; row++) {
    const end = cellAt(followUp, row);
    const state = cellAt(status, row);
    if (end.kind !== 'number' || state.kind !== 'number') throw badData(`Row ${row + 1}: ${rule.followUp} and ${rule.status} must be numbers.`, { row: row + 1 });
    const windowEnd = timeline.times[row]! + rule.horizon;
    const event = rule.eventValues.includes(state.value);
    if (event && end.value <= windowEnd) texts[row] = eventLabels.positive;
    else if (end.value >= windowEnd) texts[row] = eventLabels.negative;
    else censored++;
  }
  const column: DataColumn = { numbers: new Float64Array(dataset.rowCount).fill(Number.NaN), texts };
  return { dataset: { ...dataset, columns: [...dataset.columns, target], data: new Map([...dataset.data, [target, column]]) }, censored };
}
