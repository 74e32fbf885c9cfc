/** A step of the pipeline around training (reading the file, checking the data, evaluating), for progress displays. */
export interface StageEvent {
  stage: 'read' | 'check' | 'evaluate';
  /** Where in it, in words: "120000 rows", "leak checks", "bootstrap intervals". */
  detail: string;
  /** Share of the stage done, 0 to 1, when known. */
  fraction: number | null;
}

export type StageCallback = (event: StageEvent) => void;
