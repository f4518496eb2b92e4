/**
 * How small "small" is for the energy distance: its size between two finite samples of the SAME
 * distribution (its noise floor). Used to decide whether two sample clouds come from one
 * distribution (notebook 1: two different flows reach the same p_1; later notebooks: a sampler
 * lands on its target).
 *
 * For independent samples of sizes n and m from one distribution, the V-statistic `energyDistance`
 * (self-pairs included) has expectation exactly
 *
 *     E[ED] = (1/n + 1/m) E|X - X'|,
 *
 * because the cross term estimates E|X - X'| without bias while each within-set term counts n zero
 * self-distances among its n^2 pairs, i.e. estimates (1 - 1/n) E|X - X'|. Between two different
 * distributions ED tends to a positive constant instead of shrinking like 1/n.
 */
import * as tf from "@tensorflow/tfjs";
import { assert2D, assertFinite } from "../core/checks";
import { sumPairwiseDistances } from "./distance";

/**
 * The mean distance between two different points of a sample: an unbiased estimate of E|X - X'|
 * (average of |x_i - x_j| over i != j). Computed in chunks of rows, summed in float64.
 * @param x samples `[n, d]`, n >= 2
 * @example
 * meanPairwiseDistance(tf.tensor2d([[0, 0], [3, 4]]));   // returns 5
 */
export function meanPairwiseDistance(x: tf.Tensor2D): number {
  assert2D(x, "meanPairwiseDistance: x");
  assertFinite(x, "meanPairwiseDistance: x");
  const n = x.shape[0];
  if (n < 2) throw new Error(`meanPairwiseDistance: needs at least 2 samples; got ${n}`);
  // Self-distances are exactly 0, so the sum over all pairs is the sum over i != j.
  return sumPairwiseDistances(x, x) / (n * (n - 1));
}

/**
 * The expected `energyDistance` (V-statistic) between two independent samples of sizes `n` and `m`
 * drawn from the distribution that `reference` samples: (1/n + 1/m) E|X - X'|, with E|X - X'|
 * estimated from `reference`. A measured distance a few times this value is what equal
 * distributions give; a much larger one means the distributions differ.
 * (For 2-D Gaussians and n = m = 600, 99% of equal-distribution distances fall below 3.3 times
 * this value in a simulation of 150 pairs.)
 *
 * @param reference samples of the distribution, `[k, d]` (k >= 2)
 * @param n size of the first sample
 * @param m size of the second sample @default n
 * @example
 * const floor = expectedEnergyDistance(exact, 600); energyDistance(pushed, exact) < 5 * floor; //
 * true when the pushed cloud has the exact distribution
 */
export function expectedEnergyDistance(reference: tf.Tensor2D, n: number, m: number = n): number {
  for (const [name, v] of [
    ["n", n],
    ["m", m],
  ] as const) {
    if (!Number.isInteger(v) || v < 1)
      throw new Error(`expectedEnergyDistance: ${name} must be a positive integer; got ${v}`);
  }
  return (1 / n + 1 / m) * meanPairwiseDistance(reference);
}
