/** A budget of time for background work: at most `workMs` of every `periodMs`. */
export interface DutyCycleBudget {
  workMs: number;
  periodMs: number;
}

/**
 * What pacing needs to know of the server's interactive requests (the
 * server layer counts them: src/server/requests-in-flight.ts).
 */
export interface InteractiveRequests {
  /** 0 while one is in flight; else the milliseconds since the last one finished (Infinity: none yet). */
  idleMs(): number;
  /** Resolves when none is in flight (at once when none is). */
  noneInFlight(): Promise<void>;
}

/**
 * Paces background work by a budget of time, so interactive requests keep
 * (nearly) the whole process and database: steps run back to back until
 * `workMs` is spent, then the work rests for the rest of the period (longer,
 * in proportion, after a step that overran the budget). Wall time counts, so
 * a step's database work is paced too, not just its JavaScript. Only a server
 * that has answered no interactive request for a whole period lets the work
 * run unpaced.
 *
 * A step also starts only when no interactive request is in flight, so it
 * does not hold the event loop (or a core) while one is being answered; it
 * waits at most one period for that, so the work still advances, a step a
 * period at least, under requests that never pause.
 */
export class DutyCycle {
  private spent = 0;

  constructor(
    private readonly budget: DutyCycleBudget,
    private readonly requests: InteractiveRequests,
  ) {}

  /** Runs one step of the work once no interactive request is in flight (or a period has passed), then rests if this period's budget is spent. */
  async step<T>(work: () => Promise<T>): Promise<T> {
    await this.gapInRequests();
    const started = performance.now();
    const result = await work();
    this.spent += performance.now() - started;
    await this.pause();
    return result;
  }

  private async gapInRequests(): Promise<void> {
    if (this.requests.idleMs() > 0) return;
    let timer: NodeJS.Timeout | undefined;
    const periodOver = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.budget.periodMs)));
    await Promise.race([this.requests.noneInFlight(), periodOver]);
    clearTimeout(timer);
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
