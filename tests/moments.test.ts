import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { gaussianMomentGaps, sampleMoments } from "../src/metrics/moments";
import { randn, seed } from "../src/core/random";

describe("sampleMoments", () => {
  it("gives the exact mean and unbiased covariance of a small sample", () => {
    // mean (1, 1); deviations (-1, -1), (1, -1), (0, 2): cov = [[2, 0], [0, 6]] / (3 - 1)
    expect(
      sampleMoments([
        [0, 0],
        [2, 0],
        [1, 3],
      ]),
    ).toEqual({
      n: 3,
      mean: [1, 1],
      cov: [
        [1, 0],
        [0, 3],
      ],
    });
  });

  it("reads a tensor without disposing it or leaking", () => {
    const x = tf.tensor2d([
      [1, 2],
      [3, 6],
      [5, 10],
    ]);
    const before = tf.memory().numTensors;
    const m = sampleMoments(x);
    expect(tf.memory().numTensors).toBe(before);
    expect(x.isDisposed).toBe(false);
    expect(m.mean).toEqual([3, 6]);
    // perfectly correlated columns: cov = [[4, 8], [8, 16]]
    expect(m.cov[0][0]).toBeCloseTo(4, 12);
    expect(m.cov[0][1]).toBeCloseTo(8, 12);
    expect(m.cov[1][0]).toBeCloseTo(8, 12);
    expect(m.cov[1][1]).toBeCloseTo(16, 12);
    x.dispose();
  });

  it("refuses fewer than two points, ragged rows and non-finite values", () => {
    expect(() => sampleMoments([[1, 2]])).toThrow("needs at least 2 points; got 1");
    expect(() => sampleMoments([[1, 2], [3]])).toThrow("row 1 has 1");
    expect(() =>
      sampleMoments([
        [1, NaN],
        [0, 0],
      ]),
    ).toThrow("entry [0, 1] is NaN");
    const v = tf.tensor1d([1, 2, 3]);
    expect(() => sampleMoments(v as unknown as tf.Tensor2D)).toThrow("got shape [3]");
    v.dispose();
  });
});

describe("gaussianMomentGaps", () => {
  it(
    "keeps the z-scores of samples of the claimed Gaussian small (a shifted, scaled, correlated " +
      "N(0, I))",
    () => {
      seed(0);
      const z = randn([4000, 2]) as tf.Tensor2D;
      // x = L z + m with L = [[2, 0], [1, 0.5]]: cov = L L^T = [[4, 2], [2, 1.25]]
      const rows = (z.arraySync() as number[][]).map(([a, b]) => [2 * a + 1, a + 0.5 * b - 3]);
      z.dispose();
      const g = gaussianMomentGaps(rows, {
        mean: [1, -3],
        cov: [
          [4, 2],
          [2, 1.25],
        ],
      });
      // six z-scores (two means, four covariance entries) of a correct claim: |z| < 4 with
      // probability ~1 - 4e-4
      expect(g.meanZ).toBeLessThan(4);
      expect(g.covZ).toBeLessThan(4);
      expect(g.sample.n).toBe(4000);
    },
  );

  it("rejects a wrong mean, a wrong variance and a missing correlation (negative controls)", () => {
    seed(1);
    const z = randn([4000, 2]) as tf.Tensor2D;
    const rows = (z.arraySync() as number[][]).map(([a, b]) => [2 * a + 1, a + 0.5 * b - 3]);
    z.dispose();
    // mean off by 0.3 standard deviations: z ~ 0.3 sqrt(4000) ~ 19
    expect(
      gaussianMomentGaps(rows, {
        mean: [1.6, -3],
        cov: [
          [4, 2],
          [2, 1.25],
        ],
      }).meanZ,
    ).toBeGreaterThan(10);
    // variance (1 - t) instead of (1 - t)^2 at t = 1/2 scaled: 4 claimed as 8
    expect(
      gaussianMomentGaps(rows, {
        mean: [1, -3],
        cov: [
          [8, 2],
          [2, 1.25],
        ],
      }).covZ,
    ).toBeGreaterThan(10);
    // independence claimed where the coordinates are correlated
    expect(
      gaussianMomentGaps(rows, {
        mean: [1, -3],
        cov: [
          [4, 0],
          [0, 1.25],
        ],
      }).covZ,
    ).toBeGreaterThan(10);
  });

  it(
    "checks the claim's shape and refuses a point mass (no sampling error to compare " + "with)",
    () => {
      const pts = [
        [0, 0],
        [1, 1],
        [2, 0],
      ];
      expect(() => gaussianMomentGaps(pts, { mean: [0], cov: [[1]] })).toThrow(
        "expected.mean must have 2 entries",
      );
      expect(() => gaussianMomentGaps(pts, { mean: [0, 0], cov: [[1, 0]] })).toThrow(
        "expected.cov must be 2 arrays of 2 numbers",
      );
      expect(() =>
        gaussianMomentGaps(pts, {
          mean: [0, 0],
          cov: [
            [0, 0],
            [0, 1],
          ],
        }),
      ).toThrow("positive finite diagonal");
    },
  );
});
