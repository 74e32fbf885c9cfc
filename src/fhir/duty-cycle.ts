import type { RequestsInFlight } from '../server/requests-in-flight.ts';

/** A budget of time for background work: at most `workMs` of every `periodMs`. */
export interface DutyCycleBudget {
  workMs: number;
  periodMs: number;
}

/**
 * Paces background work by a budget of time, so interactive requests keep
 * (nearly) the whole process and database: steps run back to back until
 * `workMs` is spent, then the work rests for the rest of the period (longer,
 * in proportion, after a step that overran the budget). Wall time counts, so
 * a step's database work is paced too, not just its JavaScript. Only a server
 * that has answered no interactive request for a whole period lets the work
 * run unpaced.
 */
export class DutyCycle {
  private spent = 0;

  constructor(
    private readonly budget: DutyCycleBudget,
    private readonly requests: RequestsInFlight,
  ) {}

  /** Runs one step of the work, then rests if this period's budget is spent. */
  async step<T>(work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    const result = await work();
    this.spent += performance.now() - started;
    await this.pause();
    return result;
  }

  private pause(): Promise<void> {
    const { workMs, periodMs } = this.budget;
    if (this.spent < workMs) return new Promise((resolve) => setImmediate(resolve));
    const rest = (this.spent * (periodMs - workMs)) / workMs;
    this.spent = 0;
    if (this.requests.idleMs() > periodMs) return new Promise((resolve) => setImmediate(resolve));
    return new Promise((resolve) => setTimeout(resolve, rest));
  }
}
