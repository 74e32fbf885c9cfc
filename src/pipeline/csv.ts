import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { CsvError, parse } from 'csv-parse/sync';
import { badData } from './errors.ts';
import { isNumberText } from './values.ts';

/** One cell as collected: text from a CSV, or a value from the database. */
export type RawValue = string | number | boolean | null | undefined;
/** One row, by column name. */
export type RawRecord = Record<string, RawValue>;

/** Rows collected for training, with where they came from and a fingerprint of them. */
export interface Dataset {
  /** Column names in their original order. */
  columns: string[];
  rows: RawRecord[];
  /** SHA-256 (hex) of the CSV bytes, or of the canonical JSON of in-memory rows. */
  sha256: string;
  /** A name for the source (file name, or what the caller said). */
  source: string;
}

/**
 * Reads a CSV file with a header row.
 * @param path the file to read
 * @returns its rows as records of text, keyed by the header's names
 * @throws PipelineError BAD_DATA when the file is empty, has no header or is malformed
 */
export async function readCsvFile(path: string): Promise<Dataset> {
  const bytes = await readFile(path).catch((error: NodeJS.ErrnoException) => {
    throw badData(`Cannot read the data file ${path}: ${error.code ?? error.message}`);
  });
  return parseCsv(bytes, path.split(/[\\/]/).pop() ?? path);
}

/**
 * Parses CSV text or bytes with a header row (comma separated, quotes allowed, a BOM ignored).
 * @param content the CSV
 * @param source a name for the data in messages and reports
 * @throws PipelineError BAD_DATA when it is empty, has no header or is malformed
 */
export function parseCsv(content: string | Uint8Array, source = 'csv'): Dataset {
  const text = typeof content === 'string' ? content : Buffer.from(content).toString('utf8');
  if (text.trim() === '') throw badData(`The data file ${source} is empty: it needs a header row and at least one data row.`);
  let table: string[][];
  try {
    table = parse(text, { bom: true, skip_empty_lines: true, trim: true, relax_column_count: false });
  } catch (error) {
    throw badData(`The data file ${source} is not valid CSV: ${error instanceof CsvError ? error.message : String(error)}`);
  }
  const [header = [], ...body] = table;
  const columns = checkHeader(header, source);
  const rows = body.map((cells) => Object.fromEntries(columns.map((column, i) => [column, cells[i]])));
  if (rows.length === 0) throw badData(`The data file ${source} has a header but no data rows.`);
  return { columns, rows, sha256: sha256Hex(typeof content === 'string' ? Buffer.from(content) : content), source };
}

/**
 * Takes rows already in memory (for example observations of cases with known outcomes).
 * @param records one object per row; the columns are the union of their keys, in order of first appearance
 * @param source a name for the data in messages and reports
 * @throws PipelineError BAD_DATA when there are no rows or no columns
 */
export function datasetFromRecords(records: readonly RawRecord[], source = 'records'): Dataset {
  if (records.length === 0) throw badData(`No rows were given (${source}).`);
  const columns = [...new Set(records.flatMap((record) => Object.keys(record)))];
  if (columns.length === 0) throw badData(`The rows given (${source}) have no columns.`);
  const rows = records.map((record) => ({ ...record }));
  const canonical = JSON.stringify({ columns, rows: rows.map((row) => columns.map((column) => row[column] ?? null)) });
  return { columns, rows, sha256: sha256Hex(canonical), source };
}

/**
 * SHA-256 of bytes or text, in hex.
 * @param content bytes, or text hashed as UTF-8
 */
export function sha256Hex(content: Uint8Array | string): string {
  return createHash('sha256').update(content).digest('hex');
}

/**
 * A header names every column once; a first row made only of numbers is data,
 * which means the header row is missing.
 */
function checkHeader(header: string[], source: string): string[] {
  if (header.every(isNumberText)) {
    throw badData(
      `The data file ${source} has no header row: its first line holds only numbers. Add a first line naming the columns.`,
    );
  }
  const blank = header.findIndex((cell) => cell === '');
  if (blank >= 0) throw badData(`Column ${blank + 1} of the header of ${source} has no name.`);
  const repeated = header.filter((cell, i) => header.indexOf(cell) !== i);
  if (repeated.length > 0) {
    throw badData(`The header of ${source} names these columns more than once: ${[...new Set(repeated)].join(', ')}.`);
  }
  return header;
}
