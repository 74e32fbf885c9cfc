/** A step of the pipeline around training (reading the file, checking the data, evaluating), for progress displays. */
export interface StageEvent {
  stage: 'read' | 'check' | 'evaluate';
  /** Where in it, in words: "120000 rows", "leak checks", "bootstrap intervals". */
  detail: string;
  /** Share of the stage done, 0 to 1, when known. */
  fraction: number | null;
}

export type StageCallback = (event: StageEvent) => void;

const stageNames: Record<StageEvent['stage'], string> = { read: 'reading', check: 'checking the data', evaluate: 'evaluating' };

/** The stage in words, as progress displays and training jobs name it: "reading", "checking the data", "evaluating". */
export function stageName(event: StageEvent): string {
  return stageNames[event.stage];
}
