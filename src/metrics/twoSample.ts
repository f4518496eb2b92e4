/**
 * A two-sample test in one number (notebooks 1 and 2): the energy distance between two clouds in
 * units
 * of its noise floor, the value two finite samples of one distribution give on average
 * (`expectedEnergyDistance`). Samples of one distribution give a ratio of about 1 (for 2-D
 * Gaussians
 * and 600 points each, below 3.3 in 99% of draws); different distributions give a ratio that grows
 * with the sample size. The course calls two clouds equal when the ratio is below 5.
 */
import * as tf from "@tensorflow/tfjs";
import { energyDistance } from "./distance";
import { expectedEnergyDistance } from "./energyFloor";
import { readPointRows } from "./nearest";

/** The ratio below which two clouds count as samples of one distribution. */
export const SAME_DISTRIBUTION_RATIO = 5;

/**
 * energyDistance(a, b) / expectedEnergyDistance(b, n_a, n_b): about 1 when a and b sample the same
 * distribution, much larger when they do not. The floor is estimated from `b` (the reference).
 * Leak-free; tensors passed in are read, not disposed.
 * @param a samples `[n, d]` (tensor or rows)
 * @param b reference samples `[m, d]`, m >= 2
 * @example
 * energyRatio(pushed, flow.sample(800, 1));   // ~1 when the pushed cloud follows p_1
 */
export function energyRatio(a: tf.Tensor2D | number[][], b: tf.Tensor2D | number[][]): number {
  const rowsA = readPointRows(a, "energyRatio", "a");
  const rowsB = readPointRows(b, "energyRatio", "b");
  if (rowsA[0].length !== rowsB[0].length) {
    throw new Error(
      `energyRatio: a and b must have the same dimension; ` +
        `got ${rowsA[0].length} and ${rowsB[0].length}`,
    );
  }
  if (rowsB.length < 2)
    throw new Error(`energyRatio: the reference b needs at least 2 samples; got ${rowsB.length}`);
  return tf.tidy(() => {
    const ta = tf.tensor2d(rowsA);
    const tb = tf.tensor2d(rowsB);
    return energyDistance(ta, tb) / expectedEnergyDistance(tb, rowsA.length, rowsB.length);
  });
}
