/**
 * Two-sample distances: how far generated samples are from data samples, without densities.
 * Used to check that a flow "lands on" its target (notebooks 4, 6, 7).
 */
import * as tf from "@tensorflow/tfjs";
import { assert2D, assertFinite } from "../core/checks";

/** Options of `energyDistance`. */
export interface EnergyDistanceOptions {
  /**
   * `false`: the V-statistic (all pairs, including each point with itself): never negative and
   * exactly 0 when the two sets are equal. `true`: the U-statistic (within-set pairs i != j only):
   * an unbiased estimate of the population energy distance, which can dip slightly below 0 and is
   * not 0 for two equal sets.
   * @default false
   */
  unbiased?: boolean;
  /**
   * Most pairwise differences (rows x columns x d) held in memory at once. @default 4194304 (16 MB
   * of float32)
   */
  maxChunkElements?: number;
}

/**
 * Sum of |a_i - b_j| over all pairs, in float64 across chunks of rows of `a` (each chunk's
 * differences are formed directly, not by the |a|^2 + |b|^2 - 2ab expansion, which loses float32
 * precision for nearby points). `maxChunkElements` bounds the differences held at once
 * (@default 4194304, about 16 MB). Used by `energyDistance` and `meanPairwiseDistance`.
 */
export function sumPairwiseDistances(
  a: tf.Tensor2D,
  b: tf.Tensor2D,
  maxChunkElements = 4194304,
): number {
  const [n, d] = a.shape;
  const m = b.shape[0];
  const rows = Math.max(1, Math.floor(maxChunkElements / Math.max(1, m * d)));
  let total = 0;
  for (let start = 0; start < n; start += rows) {
    const size = Math.min(rows, n - start);
    const rowSums = tf.tidy(() => {
      const chunk = tf.slice(a, [start, 0], [size, d]);
      const diff = tf.sub(tf.expandDims(chunk, 1), tf.expandDims(b, 0)); // [size, m, d]
      const dist = tf.sqrt(tf.sum(tf.square(diff), 2)); // [size, m]
      return tf.sum(dist, 1); // [size]: per-row sums keep each float32 sum short
    });
    const values = rowSums.dataSync();
    rowSums.dispose();
    for (let i = 0; i < values.length; i++) total += values[i];
  }
  return total;
}

/**
 * The energy distance between two sample sets (Szekely & Rizzo), a plain number:
 *
 *     E(a, b) = 2 E|X - Y| - E|X - X'| - E|Y - Y'|,   X, X' ~ a,  Y, Y' ~ b.
 *
 * The population value is >= 0 and is 0 only when the two distributions are equal; it is the
 * squared maximum mean discrepancy with the distance kernel. Units: a length (it scales like the
 * data). See `EnergyDistanceOptions.unbiased` for the two estimators.
 * Cost O(n m d) time, O(maxChunkElements) memory.
 *
 * @param a samples `[n, d]`
 * @param b samples `[m, d]` (the same d)
 * @example
 * energyDistance(x, x);          // returns 0
 * energyDistance(generated, fresh);   // small when the generator matches the data
 */
export function energyDistance(
  a: tf.Tensor2D,
  b: tf.Tensor2D,
  options: EnergyDistanceOptions = {},
): number {
  assert2D(a, "energyDistance: a");
  assert2D(b, "energyDistance: b", a.shape[1]);
  assertFinite(a, "energyDistance: a");
  assertFinite(b, "energyDistance: b");
  const unbiased = options.unbiased ?? false;
  const maxChunkElements = options.maxChunkElements ?? 4194304;
  if (!Number.isInteger(maxChunkElements) || maxChunkElements < 1) {
    throw new Error(
      `energyDistance: maxChunkElements must be a positive integer; got ${maxChunkElements}`,
    );
  }
  const n = a.shape[0];
  const m = b.shape[0];
  if (n < (unbiased ? 2 : 1) || m < (unbiased ? 2 : 1)) {
    throw new Error(
      `energyDistance: needs at least ${unbiased ? 2 : 1} samples in each set; got ${n} and ${m}`,
    );
  }
  const ab = sumPairwiseDistances(a, b, maxChunkElements) / (n * m);
  const aa = sumPairwiseDistances(a, a, maxChunkElements) / (unbiased ? n * (n - 1) : n * n);
  const bb = sumPairwiseDistances(b, b, maxChunkElements) / (unbiased ? m * (m - 1) : m * m);
  return 2 * ab - aa - bb;
}
