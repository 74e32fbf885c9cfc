/** Plain-text tables and number formats for the benchmark's output. */

/**
 * A Markdown table. Columns whose cells are all numbers (with units) are
 * right-aligned, text columns left-aligned.
 */
export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((row) => row.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  const numeric = headers.map((_, i) => i > 0 && rows.every((row) => /^(-?[\d.,]+( ?[a-zA-Z%]+)?|n\/a|)$/.test(String(row[i] ?? '').trim())));
  const line = (row: string[]) => `| ${row.map((cell, i) => (numeric[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (numeric[i] ? `${'-'.repeat(w + 1)}:` : `${'-'.repeat(w + 2)}`)).join('|')}|`;
  return [line(cells[0]!), rule, ...cells.slice(1).map(line)].join('\n');
}

export const fmt = {
  /** A rate or count, without decimals beyond what is meaningful. */
  n(value: number): string {
    if (!Number.isFinite(value)) return 'n/a';
    if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en');
    if (Math.abs(value) >= 10) return value.toFixed(1);
    return value.toFixed(2);
  },
  ms(value: number): string {
    return Number.isFinite(value) ? (value >= 100 ? `${Math.round(value)} ms` : `${value.toFixed(value >= 10 ? 1 : 2)} ms`) : 'n/a';
  },
  pct(value: number): string {
    return Number.isFinite(value) ? `${(value * 100).toFixed(1)}%` : 'n/a';
  },
  x(value: number): string {
    return Number.isFinite(value) ? `${value.toFixed(2)}x` : 'n/a';
  },
  mib(value: number): string {
    return Number.isFinite(value) ? `${Math.round(value)} MiB` : 'n/a';
  },
};

/**
 * The phases of a round in order, reversed every other round (A B, B A, A B,
 * ...): with one fixed order, whatever drifts within a round (the machine's
 * load, work a phase leaves behind for the next, such as the audit's
 * sequencer and autovacuum after audited reads) falls on the same side in
 * every round and biases every ratio alike; alternating it cancels over an
 * even number of rounds.
 * @param round counted from 0
 */
export function inRoundOrder<T>(phases: readonly T[], round: number): T[] {
  return round % 2 === 0 ? [...phases] : [...phases].reverse();
}

export function median(values: number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The value at quantile `q` (0 to 1) of some samples, by the nearest rank below; NaN without samples. */
export function percentile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : NaN;
}

/** One figure against its target, for the summary. */
export interface Verdict {
  section: string;
  figure: string;
  value: string;
  target: string;
  met: boolean | undefined;
}

export const verdicts: Verdict[] = [];

export function verdict(section: string, figure: string, value: string, target: string, met: boolean | undefined): void {
  verdicts.push({ section, figure, value, target, met });
}

export function log(message: string): void {
  const elapsed = ((performance.now() - startedAt) / 1000).toFixed(0).padStart(4);
  process.stdout.write(`[${elapsed} s] ${message}\n`);
}

const startedAt = performance.now();
export const elapsedSeconds = () => (performance.now() - startedAt) / 1000;
