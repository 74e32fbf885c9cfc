/**
 * Model inputs as one flat row-major Float32Array: what TensorFlow.js takes
 * without copying row by row, and a fraction of the memory of number[][].
 */
export interface Matrix {
  values: Float32Array;
  rows: number;
  columns: number;
}

/**
 * A matrix from rows of numbers (tests, small inputs).
 * @param rows equally long rows
 */
export function matrixFromRows(rows: readonly (readonly number[])[]): Matrix {
  const columns = rows[0]?.length ?? 0;
  const values = new Float32Array(rows.length * columns);
  rows.forEach((row, r) => values.set(row, r * columns));
  return { values, rows: rows.length, columns };
}

/**
 * The rows at the given positions, in that order.
 * @param matrix the source
 * @param positions row indices
 */
export function selectRows(matrix: Matrix, positions: readonly number[]): Matrix {
  const { columns } = matrix;
  const values = new Float32Array(positions.length * columns);
  positions.forEach((position, r) => values.set(matrix.values.subarray(position * columns, (position + 1) * columns), r * columns));
  return { values, rows: positions.length, columns };
}

/** One row as numbers (a view would be overwritten by nothing, but callers may keep it). */
export function matrixRow(matrix: Matrix, row: number): number[] {
  return Array.from(matrix.values.subarray(row * matrix.columns, (row + 1) * matrix.columns));
}
