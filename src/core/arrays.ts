/**
 * Small helpers between tensors and plain arrays, for notebooks: figures and checks work on plain
 * numbers, and these read a tensor and free it in one step.
 */
import * as tf from "@tensorflow/tfjs";

/** Reads a tensor `[n, d]` into nested arrays and disposes it. */
export function rowsOf(x: tf.Tensor): number[][] {
  const rows = x.arraySync() as number[][];
  x.dispose();
  return rows;
}

/** Reads a tensor into a flat array of numbers and disposes it. */
export function valuesOf(x: tf.Tensor): number[] {
  const values = Array.from(x.dataSync());
  x.dispose();
  return values;
}

/** The largest absolute entry-wise difference of two equally shaped lists of rows. */
export function maxAbsDiff(a: number[][], b: number[][]): number {
  if (a.length !== b.length)
    throw new Error(`maxAbsDiff needs equally many rows; got ${a.length} and ${b.length}`);
  let m = 0;
  a.forEach((row, i) => {
    if (row.length !== b[i].length) {
      throw new Error(
        `maxAbsDiff needs equally long rows; row ${i} has ${row.length} and ${b[i].length} entries`,
      );
    }
    row.forEach((v, j) => (m = Math.max(m, Math.abs(v - b[i][j]))));
  });
  return m;
}

/** The median of a non-empty list of numbers. */
export function median(values: number[]): number {
  if (values.length === 0) throw new Error("median of an empty list");
  const s = values.slice().sort((p, q) => p - q);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}
