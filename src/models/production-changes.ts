/**
 * Tells the caches of this process that depend on which model versions are
 * in production (the FHIR code catalog) that they changed here: a promotion
 * commits, and the next request sees it without each request asking the
 * database. Other processes learn of it by the caches' own time limit.
 */
export class ProductionChanges {
  private readonly listeners = new Set<() => void>();

  /** Calls `listener` after each change; returns what stops it. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The versions in production changed (committed). */
  notify(): void {
    for (const listener of this.listeners) listener();
  }
}
