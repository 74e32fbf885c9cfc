import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { CsvError, parse } from 'csv-parse';
import { parse as parseSync } from 'csv-parse/sync';
import { badData } from './errors.ts';
import type { StageCallback } from './stages.ts';
import { type Cell, isNumberText, parseCell } from './values.ts';

/** One cell as collected: text from a CSV, or a value from the database. */
export type RawValue = string | number | boolean | null | undefined;
/** One row, by column name. */
export type RawRecord = Record<string, RawValue>;

/**
 * One column's cells as read (see parseCell), stored compactly so that a
 * file of millions of rows fits in memory: numbers in a typed array, texts
 * only where a cell is text.
 */
export interface DataColumn {
  /** Per row: the number, or NaN when the cell is missing or text. */
  numbers: Float64Array;
  /** Per row: the text where the cell is text; null when no cell of the column is. */
  texts: (string | undefined)[] | null;
}

/** Rows collected for training, column by column, with where they came from and a fingerprint of them. */
export interface Dataset {
  /** Column names in their original order. */
  columns: string[];
  rowCount: number;
  /** The cells of each column, by name. */
  data: Map<string, DataColumn>;
  /** SHA-256 (hex) of the CSV bytes, or of the canonical JSON of in-memory rows. */
  sha256: string;
  /** A name for the source (file name, or what the caller said). */
  source: string;
}

/**
 * One cell of a column, as parseCell reads it.
 * @param column a dataset's column
 * @param row the row index (0 = first data row)
 */
export function cellAt(column: DataColumn, row: number): Cell {
  const text = column.texts?.[row];
  if (text !== undefined) return { kind: 'text', value: text };
  const value = column.numbers[row]!;
  return Number.isNaN(value) ? { kind: 'missing' } : { kind: 'number', value };
}

/**
 * One row as a record (numbers, texts and nulls), e.g. to serve it.
 * @param dataset the rows
 * @param row the row index (0 = first data row)
 */
export function recordAt(dataset: Dataset, row: number): RawRecord {
  const record: RawRecord = {};
  for (const name of dataset.columns) {
    record[name] = rawValueOf(cellAt(dataset.data.get(name)!, row));
  }
  return record;
}

/** A cell as a plain value: its number or text, or null when missing. */
export function rawValueOf(cell: Cell): RawValue {
  return cell.kind === 'missing' ? null : cell.value;
}

/** While reading a file, progress is reported every this many rows. */
const rowsPerReadEvent = 10_000;

/**
 * Reads a CSV file with a header row as a stream, so that its size is
 * limited by the columns' compact storage, not by the text.
 * @param path the file to read
 * @param onStage told every 10,000 rows how many rows and what share of the bytes have been read
 * @returns its cells by column, keyed by the header's names
 * @throws PipelineError BAD_DATA when the file is empty, has no header or is malformed
 */
export async function readCsvFile(path: string, onStage?: StageCallback): Promise<Dataset> {
  const source = path.split(/[\\/]/).pop() ?? path;
  const hash = createHash('sha256');
  const size = onStage ? await stat(path).then((info) => info.size, () => null) : null;
  let bytesRead = 0;
  const file = createReadStream(path);
  file.on('data', (chunk) => {
    hash.update(chunk);
    bytesRead += chunk.length;
  });
  const parser = file.pipe(parse(csvOptions));
  file.on('error', (error: NodeJS.ErrnoException) => parser.destroy(badData(`Cannot read the data file ${path}: ${error.code ?? error.message}`)));
  const builder = new DatasetBuilder(source);
  try {
    for await (const cells of parser as AsyncIterable<string[]>) {
      builder.add(cells);
      if (onStage && builder.rows % rowsPerReadEvent === 0 && builder.rows > 0) {
        onStage({ stage: 'read', detail: `${builder.rows} rows`, fraction: size ? Math.min(1, bytesRead / size) : null });
      }
    }
  } catch (error) {
    throw csvFailure(error, source);
  }
  return builder.finish(hash.digest('hex'));
}

/**
 * Parses CSV text or bytes with a header row (comma separated, quotes allowed, a BOM ignored).
 * @param content the CSV
 * @param source a name for the data in messages and reports
 * @throws PipelineError BAD_DATA when it is empty, has no header or is malformed
 */
export function parseCsv(content: string | Uint8Array, source = 'csv'): Dataset {
  const text = typeof content === 'string' ? content : Buffer.from(content).toString('utf8');
  const builder = new DatasetBuilder(source);
  try {
    for (const cells of parseSync(text, csvOptions) as string[][]) builder.add(cells);
  } catch (error) {
    throw csvFailure(error, source);
  }
  return builder.finish(sha256Hex(typeof content === 'string' ? Buffer.from(content) : content));
}

const csvOptions = { bom: true, skip_empty_lines: true, trim: true, relax_column_count: false } as const;

function csvFailure(error: unknown, source: string): unknown {
  if (error instanceof CsvError) return badData(`The data file ${source} is not valid CSV: ${error.message}`);
  return error;
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
  const canonical = JSON.stringify({ columns, rows: records.map((row) => columns.map((column) => row[column] ?? null)) });
  const builders = columns.map(() => new ColumnBuilder());
  for (const record of records) columns.forEach((column, i) => builders[i]!.add(parseCell(record[column])));
  return { columns, rowCount: records.length, data: new Map(columns.map((column, i) => [column, builders[i]!.finish(records.length)])), sha256: sha256Hex(canonical), source };
}

/**
 * SHA-256 of bytes or text, in hex.
 * @param content bytes, or text hashed as UTF-8
 */
export function sha256Hex(content: Uint8Array | string): string {
  return createHash('sha256').update(content).digest('hex');
}

/** Collects parsed CSV records (header first) into columns. */
class DatasetBuilder {
  private columns: string[] | null = null;
  private builders: ColumnBuilder[] = [];
  private rowCount = 0;

  constructor(private readonly source: string) {}

  /** Data rows collected so far. */
  get rows(): number {
    return this.rowCount;
  }

  add(cells: string[]): void {
    if (!this.columns) {
      this.columns = checkHeader(cells, this.source);
      this.builders = this.columns.map(() => new ColumnBuilder());
      return;
    }
    for (let i = 0; i < cells.length; i++) this.builders[i]!.add(parseCell(cells[i]));
    this.rowCount += 1;
  }

  finish(sha256: string): Dataset {
    if (!this.columns) throw badData(`The data file ${this.source} is empty: it needs a header row and at least one data row.`);
    if (this.rowCount === 0) throw badData(`The data file ${this.source} has a header but no data rows.`);
    const data = new Map(this.columns.map((column, i) => [column, this.builders[i]!.finish(this.rowCount)]));
    return { columns: this.columns, rowCount: this.rowCount, data, sha256, source: this.source };
  }
}

/** Texts repeated this often are stored once (category levels); beyond it, every text is kept as read. */
const internLimit = 10_000;

/** Grows one column's storage by doubling, keeping texts only once a text cell appears. */
class ColumnBuilder {
  private numbers = new Float64Array(1024);
  private texts: (string | undefined)[] | null = null;
  private readonly interned = new Map<string, string>();
  private size = 0;

  add(cell: Cell): void {
    if (this.size === this.numbers.length) {
      const grown = new Float64Array(this.numbers.length * 2);
      grown.set(this.numbers);
      this.numbers = grown;
    }
    if (cell.kind === 'text') {
      this.texts ??= new Array<string | undefined>(this.size);
      this.texts[this.size] = this.intern(cell.value);
      this.numbers[this.size] = Number.NaN;
    } else {
      // Written even when undefined, so the array grows by one slot and stays a plain list.
      if (this.texts) this.texts[this.size] = undefined;
      this.numbers[this.size] = cell.kind === 'number' ? cell.value : Number.NaN;
    }
    this.size += 1;
  }

  finish(rowCount: number): DataColumn {
    if (this.texts) this.texts.length = rowCount;
    return { numbers: this.numbers.subarray(0, rowCount), texts: this.texts };
  }

  private intern(text: string): string {
    const known = this.interned.get(text);
    if (known !== undefined) return known;
    if (this.interned.size < internLimit) this.interned.set(text, text);
    return text;
  }
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
