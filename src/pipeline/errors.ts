/**
 * What went wrong, in terms a user can act on:
 * - BAD_DATA: the data cannot be used as given (empty file, no header, one class, too few rows...)
 * - BAD_OPTION: an option is wrong (unknown task or target column, wrong image size...)
 * - BAD_INPUT: a value sent for a prediction is impossible or malformed
 * - BAD_ARTIFACT: a stored model does not match its own checksum or format
 */
export type PipelineErrorCode = 'BAD_DATA' | 'BAD_OPTION' | 'BAD_INPUT' | 'BAD_ARTIFACT';

/** An error of the model pipeline with a code and a message meant for the person who supplied the data or options. */
export class PipelineError extends Error {
  override readonly name = 'PipelineError';

  constructor(
    readonly code: PipelineErrorCode,
    message: string,
    /** Machine-readable facts (column names, counts) for an API to pass on. */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** Shorthands for the two most common kinds. */
export const badData = (message: string, details?: Record<string, unknown>) => new PipelineError('BAD_DATA', message, details);
export const badOption = (message: string, details?: Record<string, unknown>) =>
  new PipelineError('BAD_OPTION', message, details);
