import type { RawValue } from './csv.ts';

/** Cell texts read as "no value" (compared case-insensitively, after trimming). */
// Words such as "none" or "missing" are left out on purpose: they can be real levels ("complications: none").
export const missingTokens = ['', 'na', 'n/a', '#n/a', '?', 'null', 'nan', '.'] as const;

const missingSet = new Set<string>(missingTokens);
const numberPattern = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** A cell read: missing, a finite number, or a trimmed text. */
export type Cell = { kind: 'missing' } | { kind: 'number'; value: number } | { kind: 'text'; value: string };

const missing: Cell = { kind: 'missing' };

/**
 * Reads one cell the same way in training and in serving.
 * @param value text from a CSV or a value from memory
 * @returns missing for the tokens above, null, undefined and non-finite numbers; a number when the text is one; else the text
 */
export function parseCell(value: RawValue): Cell {
  if (value === null || value === undefined) return missing;
  if (typeof value === 'number') return Number.isFinite(value) ? { kind: 'number', value } : missing;
  if (typeof value === 'boolean') return { kind: 'text', value: String(value) };
  const text = value.trim();
  if (missingSet.has(text.toLowerCase())) return missing;
  return numberPattern.test(text) ? { kind: 'number', value: Number(text) } : { kind: 'text', value: text };
}

/**
 * A cell as a category level: numbers print as JavaScript prints them ("1", "2.5").
 * @returns the level, or null when the cell is missing
 */
export function cellLevel(cell: Cell): string | null {
  return cell.kind === 'missing' ? null : String(cell.value);
}

/** True when the text is a plain decimal number (used to spot a missing header row). */
export function isNumberText(text: string): boolean {
  return numberPattern.test(text.trim());
}
