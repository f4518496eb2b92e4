/**
 * Sample quality against held-out data (notebooks 06-08): how close are generated samples to the
 * data distribution, and are they new points or copies of the training set?
 *
 * - `slicedWasserstein2`: project both sets on random directions, where the 1-D Wasserstein-2
 *   distance is the L2 distance between sorted samples (quantile functions); average the squares,
 *   take the root.
 * - `mmd`: maximum mean discrepancy with a Gaussian kernel (unbiased estimate of MMD^2, and its
 *   root).
 * - `memorisation`: distance from each sample to its nearest training point, compared with the same
 *   distance for held-out data points (which are, by construction, not copies).
 * - the energy distance is in distance.ts.
 *
 * All arithmetic in float64 JavaScript on the coordinates; tensors are read, not disposed.
 */
import * as tf from "@tensorflow/tfjs";
import { normal } from "../core/random";
import { median } from "../core/arrays";
import { nearestPoints, readPointRows } from "./nearest";

type Points = tf.Tensor2D | number[][];

/** The points as rows (via nearest.ts's checked reader), at least 2 of them. */
function rowsOf(points: Points, fn: string, name: string): number[][] {
  const rows = readPointRows(points, fn, name);
  if (rows.length < 2)
    throw new Error(`${fn}: ${name} needs at least 2 points; got ${rows.length}`);
  return rows;
}

function sameDim(a: number[][], b: number[][], fn: string): number {
  if (a[0].length !== b[0].length)
    throw new Error(`${fn}: the two sets have ${a[0].length} and ${b[0].length} coordinates`);
  return a[0].length;
}

/** The q-quantile of sorted values by linear interpolation between order statistics. */
function quantileSorted(sorted: Float64Array, q: number): number {
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
}

/** Options of `slicedWasserstein2`. */
export interface SlicedWassersteinOptions {
  /** Number of random directions (drawn with the library's seeded generator). @default 128 */
  projections?: number;
}

/**
 * The sliced Wasserstein-2 distance: sqrt of the mean over random unit directions theta of
 * W2^2(theta . a, theta . b), each 1-D W2 computed from sorted projections (for sets of different
 * sizes, the larger set's quantiles at the smaller set's levels). 0 for identical sets; grows like
 * |shift| for a shifted copy (exactly |shift| / sqrt(d) in expectation over directions, for a
 * translation).
 * @example
 * fm.slicedWasserstein2(generated, heldOut);   // smaller is better
 */
export function slicedWasserstein2(
  a: Points,
  b: Points,
  options: SlicedWassersteinOptions = {},
): number {
  const fn = "slicedWasserstein2";
  const A = rowsOf(a, fn, "a");
  const B = rowsOf(b, fn, "b");
  const d = sameDim(A, B, fn);
  const projections = options.projections ?? 128;
  if (!Number.isInteger(projections) || projections < 1)
    throw new Error(`${fn}: projections must be a positive integer; got ${projections}`);
  const [small, large] = A.length <= B.length ? [A, B] : [B, A];
  const ps = new Float64Array(small.length);
  const pl = new Float64Array(large.length);
  let total = 0;
  for (let k = 0; k < projections; k++) {
    const dir = Array.from({ length: d }, () => normal());
    const norm = Math.hypot(...dir);
    for (let c = 0; c < d; c++) dir[c] /= norm;
    small.forEach((r, i) => (ps[i] = r.reduce((s, v, c) => s + v * dir[c], 0)));
    large.forEach((r, i) => (pl[i] = r.reduce((s, v, c) => s + v * dir[c], 0)));
    ps.sort();
    pl.sort();
    let w2 = 0;
    if (small.length === large.length)
      for (let i = 0; i < ps.length; i++) w2 += (ps[i] - pl[i]) ** 2;
    else
      for (let i = 0; i < ps.length; i++)
        w2 += (ps[i] - quantileSorted(pl, (i + 0.5) / ps.length)) ** 2;
    total += w2 / ps.length;
  }
  return Math.sqrt(total / projections);
}

/** Options of `mmd`. */
export interface MmdOptions {
  /**
   * Kernel widths h of k(x, y) = exp(-|x - y|^2 / (2 h^2)); with several, the kernels are summed.
   * @default the median distance between the points of both sets (the "median heuristic")
   */
  bandwidths?: number[];
  /**
   * `true`: the unbiased U-statistic (within-set pairs i != j), which can dip slightly below 0.
   * `false`: the V-statistic (all pairs, each point with itself included): never negative, exactly
   * 0 for two equal sets.
   * @default true
   */
  unbiased?: boolean;
}

/** What `mmd` returns. */
export interface MmdResult {
  /**
   * The estimate of MMD^2 (the unbiased one can be slightly negative when the sets come from one
   * distribution).
   */
  mmd2: number;
  /** sqrt(max(mmd2, 0)). */
  mmd: number;
  /** The kernel widths used. */
  bandwidths: number[];
}

/**
 * Maximum mean discrepancy with a Gaussian kernel, by default the unbiased U-statistic
 * MMD^2 = mean_{i != j} k(a_i, a_j) + mean_{i != j} k(b_i, b_j) - 2 mean_{i, j} k(a_i, b_j)
 * (`unbiased: false`: the means over all pairs, i = j included).
 * Cost O((n + m)^2): a few thousand points per set is fine.
 */
export function mmd(a: Points, b: Points, options: MmdOptions = {}): MmdResult {
  const fn = "mmd";
  const A = rowsOf(a, fn, "a");
  const B = rowsOf(b, fn, "b");
  const d = sameDim(A, B, fn);
  const sq = (x: number[], y: number[]) => {
    let s = 0;
    for (let c = 0; c < d; c++) s += (x[c] - y[c]) ** 2;
    return s;
  };
  let bandwidths = options.bandwidths;
  if (bandwidths === undefined) {
    // Median heuristic on up to 500 points of the pooled sets (a fixed, evenly spaced subset:
    // deterministic).
    const pool = [...A, ...B];
    const stride = Math.max(1, Math.floor(pool.length / 500));
    const sub = pool.filter((_, i) => i % stride === 0);
    const dists: number[] = [];
    for (let i = 0; i < sub.length; i++)
      for (let j = i + 1; j < sub.length; j++) dists.push(Math.sqrt(sq(sub[i], sub[j])));
    bandwidths = [median(dists)];
    if (!(bandwidths[0] > 0)) {
      throw new Error(
        `${fn}: the median heuristic found no kernel width: at least half of the pairs of points ` +
          `coincide (median distance 0), e.g. identical sets of one repeated point; pass ` +
          `bandwidths yourself, e.g. { bandwidths: [1] }`,
      );
    }
  }
  const badWidth = (h: number) => !(h > 0) || !Number.isFinite(h);
  if (!Array.isArray(bandwidths) || bandwidths.length === 0 || bandwidths.some(badWidth)) {
    const got = Array.isArray(bandwidths) ? `[${bandwidths.join(", ")}]` : String(bandwidths);
    throw new Error(`${fn}: bandwidths must be a non-empty array of positive numbers; got ${got}`);
  }
  const gammas = bandwidths.map((h) => 1 / (2 * h * h));
  const k = (x: number[], y: number[]) => {
    const s = sq(x, y);
    let v = 0;
    for (const g of gammas) v += Math.exp(-g * s);
    return v;
  };
  const unbiased = options.unbiased ?? true;
  const within = (X: number[][]) => {
    let s = 0;
    for (let i = 0; i < X.length; i++) for (let j = i + 1; j < X.length; j++) s += k(X[i], X[j]);
    // k(x, x) = number of kernels, for each of the n diagonal pairs (V-statistic only).
    return unbiased
      ? (2 * s) / (X.length * (X.length - 1))
      : (2 * s + X.length * gammas.length) / (X.length * X.length);
  };
  let cross = 0;
  for (const x of A) for (const y of B) cross += k(x, y);
  const mmd2 = within(A) + within(B) - (2 * cross) / (A.length * B.length);
  return { mmd2, mmd: Math.sqrt(Math.max(mmd2, 0)), bandwidths };
}

/** What `memorisation` returns. */
export interface Memorisation {
  /** Median distance from a generated sample to its nearest training point. */
  sampleMedian: number;
  /**
   * Median distance from a held-out data point to its nearest training point (what "new" looks
   * like).
   */
  heldOutMedian: number;
  /**
   * sampleMedian / heldOutMedian: near 1 for a model that generalises, near 0 for one that copies.
   */
  ratio: number;
  /** Fraction of samples closer to a training point than `copyRadius`. */
  copyFraction: number;
  /** The radius under which a sample counts as a copy: 1/10 of the held-out median unless given. */
  copyRadius: number;
  /** The distance of every sample to its nearest training point. */
  distances: number[];
}

/**
 * Does a generator make new points or repeat its training set? Compares each sample's distance to
 * the nearest training point with held-out points' distance to the nearest training point.
 * @example
 * const m = fm.memorisation(samples, train, heldOut);   // m.ratio ~ 1: new points; ~ 0: copies
 */
export function memorisation(
  samples: Points,
  train: Points,
  heldOut: Points,
  options: { copyRadius?: number } = {},
): Memorisation {
  const fn = "memorisation";
  const S = rowsOf(samples, fn, "samples");
  const T = rowsOf(train, fn, "train");
  const H = rowsOf(heldOut, fn, "heldOut");
  sameDim(S, T, fn);
  sameDim(H, T, fn);
  const distances = nearestPoints(S, T).distance;
  const sampleMedian = median(distances);
  const heldOutMedian = median(nearestPoints(H, T).distance);
  if (!(heldOutMedian > 0))
    throw new Error(
      `${fn}: the held-out points coincide with training points; held-out data must be separate ` +
        `from the training set`,
    );
  const copyRadius = options.copyRadius ?? heldOutMedian / 10;
  if (!(copyRadius > 0)) throw new Error(`${fn}: copyRadius must be positive; got ${copyRadius}`);
  const copyFraction = distances.filter((x) => x < copyRadius).length / distances.length;
  return {
    sampleMedian,
    heldOutMedian,
    ratio: sampleMedian / heldOutMedian,
    copyFraction,
    copyRadius,
    distances,
  };
}
