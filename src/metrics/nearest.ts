/**
 * Nearest training points: does a generator make new points or repeat its training set? (Lecture
 * concept 4, notebook 4: the exact marginal field of a finite data set carries noise onto the
 * training points themselves, so its samples sit at distance ~0 from them; a model that generalises
 * produces points at distances comparable to the spacing of the data. Used again to check trained
 * models.)
 *
 * Plain float64 arithmetic on the coordinates (differences taken directly, never by expanding
 * |a - b|^2 = |a|^2 - 2 a.b + |b|^2, whose float32 cancellation would hide distances below ~1e-3
 * for points of size ~2). No tensor is created; tensor arguments are read, not disposed.
 */
import * as tf from "@tensorflow/tfjs";

/** What `nearestPoints` returns. */
export type NearestPoints = {
  /** For each query point, the distance to the nearest reference point, n numbers. */
  distance: number[];
  /** For each query point, the index of that reference point, n numbers. */
  index: number[];
};

/**
 * Reads `[n, d]` points from a tensor (read, not disposed) or nested arrays, checking there is at
 * least one, that they are finite and of one dimension. `fn` and `name` name the caller and
 * argument in errors.
 */
export function readPointRows(
  points: tf.Tensor2D | number[][],
  fn: string,
  name: string,
): number[][] {
  let rows: number[][];
  if (points instanceof tf.Tensor) {
    if (points.rank !== 2)
      throw new Error(
        `${fn}: ${name} must have shape [n, d]; got shape [${points.shape.join(", ")}]`,
      );
    rows = points.arraySync() as number[][];
  } else if (Array.isArray(points)) {
    rows = points;
  } else {
    throw new Error(
      `${fn}: ${name} must be a [n, d] tensor or n arrays of d numbers; got ` +
        `${points === null ? "null" : typeof points}`,
    );
  }
  if (rows.length === 0) throw new Error(`${fn}: ${name} must hold at least one point; got none`);
  const d = Array.isArray(rows[0]) ? rows[0].length : 0;
  if (d < 1) throw new Error(`${fn}: the points of ${name} need at least one coordinate; got ${d}`);
  rows.forEach((r, i) => {
    if (!Array.isArray(r) || r.length !== d)
      throw new Error(
        `${fn}: every point of ${name} must have ${d} coordinates; point ${i} has ` +
          `${Array.isArray(r) ? r.length : typeof r}`,
      );
    for (const v of r)
      if (typeof v !== "number" || !Number.isFinite(v))
        throw new Error(`${fn}: ${name} must be finite; point ${i} has ${v}`);
  });
  return rows;
}

/**
 * For each point of `x`, the nearest point of `reference` (Euclidean) and its distance.
 *
 * @param x query points `[n, d]` (e.g. generated samples)
 * @param reference the reference set `[K, d]` (e.g. the training set)
 * @returns `{ distance, index }`, n numbers each
 * @example
 * nearestPoints([[0.1, 0], [3, 4]], [[0, 0], [3, 3]]); // returns { distance: [0.1, 1], index: [0,
 * 1] }
 */
export function nearestPoints(
  x: tf.Tensor2D | number[][],
  reference: tf.Tensor2D | number[][],
): NearestPoints {
  const fn = "nearestPoints";
  const q = readPointRows(x, fn, "x");
  const r = readPointRows(reference, fn, "reference");
  const d = r[0].length;
  if (q[0].length !== d)
    throw new Error(
      `${fn}: x and reference must have the same dimension; got ${q[0].length} and ${d}`,
    );
  const distance = new Array<number>(q.length);
  const index = new Array<number>(q.length);
  q.forEach((p, i) => {
    let best = Infinity;
    let arg = 0;
    for (let k = 0; k < r.length; k++) {
      let sq = 0;
      for (let c = 0; c < d; c++) sq += (p[c] - r[k][c]) ** 2;
      if (sq < best) {
        best = sq;
        arg = k;
      }
    }
    distance[i] = Math.sqrt(best);
    index[i] = arg;
  });
  return { distance, index };
}

/**
 * The spacing of a point set: for each point, the distance to its nearest *other* point of the set.
 * The natural unit for `nearestPoints` distances: a sample much closer to a training point than the
 * training points are to each other is a copy of it.
 *
 * @param points `[K, d]`, K >= 2
 * @returns K distances
 * @example
 * pointSpacing([[0, 0], [1, 0], [3, 0]]);   // returns [1, 1, 2]
 */
export function pointSpacing(points: tf.Tensor2D | number[][]): number[] {
  const fn = "pointSpacing";
  const p = readPointRows(points, fn, "points");
  if (p.length < 2) throw new Error(`${fn}: needs at least 2 points; got ${p.length}`);
  const d = p[0].length;
  return p.map((a, i) => {
    let best = Infinity;
    p.forEach((b, k) => {
      if (k === i) return;
      let sq = 0;
      for (let c = 0; c < d; c++) sq += (a[c] - b[c]) ** 2;
      if (sq < best) best = sq;
    });
    return Math.sqrt(best);
  });
}
