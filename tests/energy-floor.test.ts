import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { expectedEnergyDistance, meanPairwiseDistance } from "../src/metrics/energyFloor";
import { energyDistance } from "../src/metrics/distance";
import { randn, seed } from "../src/core/random";

describe("meanPairwiseDistance", () => {
  it("averages |x_i - x_j| over pairs of different points", () => {
    const two = tf.tensor2d([
      [0, 0],
      [3, 4],
    ]);
    expect(meanPairwiseDistance(two)).toBeCloseTo(5, 6);
    // 1-D points 0, 1, 3: pairs (i != j) have distances 1, 3, 2, each twice: mean 2
    const three = tf.tensor2d([[0], [1], [3]]);
    expect(meanPairwiseDistance(three)).toBeCloseTo(2, 6);
    tf.dispose([two, three]);
  });

  it("estimates E|X - X'| = 1/3 for the uniform distribution on [0, 1]", () => {
    const n = 1001;
    const grid = tf.tensor2d(Array.from({ length: n }, (_, i) => [i / (n - 1)]));
    // the evenly spaced grid gives (n + 1) / (3 (n - 1)) exactly: 1/3 + O(1/n)
    expect(meanPairwiseDistance(grid)).toBeCloseTo((n + 1) / (3 * (n - 1)), 5);
    grid.dispose();
  });

  it("works in chunks for a large sample (same answer as a plain loop)", () => {
    seed(1);
    const x = randn([2100, 2]) as tf.Tensor2D; // 2100 * 2100 * 2 > the chunk size
    const rows = x.arraySync() as number[][];
    let total = 0;
    for (let i = 0; i < rows.length; i++) {
      for (let j = 0; j < rows.length; j++)
        total += Math.hypot(rows[i][0] - rows[j][0], rows[i][1] - rows[j][1]);
    }
    const plain = total / (rows.length * (rows.length - 1));
    expect(Math.abs(meanPairwiseDistance(x) - plain) / plain).toBeLessThan(1e-5);
    x.dispose();
  });

  it("refuses fewer than two points and non-finite values", () => {
    const one = tf.tensor2d([[1, 2]]);
    const bad = tf.tensor2d([
      [1, NaN],
      [0, 0],
    ]);
    expect(() => meanPairwiseDistance(one)).toThrow(
      "meanPairwiseDistance: needs at least 2 samples; got 1",
    );
    expect(() => meanPairwiseDistance(bad)).toThrow(/must be finite/);
    tf.dispose([one, bad]);
  });

  it("is leak-free", () => {
    const x = tf.tensor2d([
      [0, 0],
      [1, 1],
      [2, 0],
    ]);
    const before = tf.memory().numTensors;
    meanPairwiseDistance(x);
    expectedEnergyDistance(x, 10);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});

describe("expectedEnergyDistance", () => {
  it("is (1/n + 1/m) E|X - X'|", () => {
    const two = tf.tensor2d([
      [0, 0],
      [3, 4],
    ]);
    expect(expectedEnergyDistance(two, 10, 40)).toBeCloseTo((1 / 10 + 1 / 40) * 5, 6);
    expect(expectedEnergyDistance(two, 10)).toBeCloseTo(0.2 * 5, 6);
    two.dispose();
  });

  it("matches the average energy distance between independent samples of one distribution", () => {
    seed(2);
    const n = 200;
    const reps = 60;
    let sum = 0;
    for (let r = 0; r < reps; r++) {
      const a = randn([n, 2]) as tf.Tensor2D;
      const b = randn([n, 2]) as tf.Tensor2D;
      sum += energyDistance(a, b);
      tf.dispose([a, b]);
    }
    // E|X - X'| for 2-D standard normals is sqrt(2) * sqrt(pi / 2) = sqrt(pi)
    const exact = (2 / n) * Math.sqrt(Math.PI);
    const reference = randn([3000, 2]) as tf.Tensor2D;
    const estimate = expectedEnergyDistance(reference, n);
    reference.dispose();
    expect(Math.abs(estimate - exact) / exact).toBeLessThan(0.03);
    // the Monte Carlo mean of 60 distances: relative standard error ~ 0.7 / sqrt(60) ~ 0.09
    expect(Math.abs(sum / reps - exact) / exact).toBeLessThan(0.3);
  });

  it("is far below the distance between different distributions (negative control)", () => {
    seed(3);
    const a = randn([300, 2]) as tf.Tensor2D;
    const b = tf.tidy(() => tf.add(randn([300, 2]), 1)) as tf.Tensor2D; // shifted by (1, 1)
    expect(energyDistance(a, b)).toBeGreaterThan(20 * expectedEnergyDistance(a, 300));
    tf.dispose([a, b]);
  });

  it("says what it got for bad sizes", () => {
    const x = tf.tensor2d([
      [0, 0],
      [1, 1],
    ]);
    expect(() => expectedEnergyDistance(x, 0)).toThrow(
      "expectedEnergyDistance: n must be a positive integer; got 0",
    );
    expect(() => expectedEnergyDistance(x, 5, 2.5)).toThrow(
      "m must be a positive integer; got 2.5",
    );
    x.dispose();
  });
});
