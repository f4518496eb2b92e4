// The Frechet distance (src/metrics/frechet.ts) against its closed forms on Gaussians, with
// negative controls; the symmetric eigendecomposition it rests on; bad input.
import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import {
  frechetDistance,
  frechetDistanceOf,
  gaussianFit,
  sqrtPsd,
  symmetricEigen,
  type GaussianFit,
} from "../src/metrics/frechet";

const fit = (mean: number[], cov: number[][]): GaussianFit => ({
  d: mean.length,
  n: 2,
  mean: Float64Array.from(mean),
  cov: Float64Array.from(cov.flat()),
});

/** A rotation of the plane by angle a, applied to diag(s1, s2): R diag R^T. */
function rotated(a: number, s1: number, s2: number): number[][] {
  const c = Math.cos(a);
  const s = Math.sin(a);
  return [
    [c * c * s1 + s * s * s2, c * s * (s1 - s2)],
    [c * s * (s1 - s2), s * s * s1 + c * c * s2],
  ];
}

/** A seeded random symmetric positive definite d x d matrix A A^T / d + eps I. */
function randomSpd(d: number, seed: number, eps = 0.1): number[][] {
  let x = seed;
  const r = () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
  const A = Array.from({ length: d }, () => Array.from({ length: d }, r));
  return A.map((row, i) =>
    A.map((other, j) => row.reduce((s, v, k) => s + v * other[k], 0) / d + (i === j ? eps : 0)),
  );
}

describe("symmetricEigen and sqrtPsd", () => {
  it("diagonalise a symmetric matrix: A = V diag(values) V^T with V orthonormal", () => {
    const d = 12;
    const A = randomSpd(d, 7);
    const { values, vectors } = symmetricEigen(A.flat(), d);
    let worst = 0;
    let orth = 0;
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) {
        let a = 0;
        let o = 0;
        for (let k = 0; k < d; k++) {
          a += vectors[i * d + k] * values[k] * vectors[j * d + k];
          o += vectors[k * d + i] * vectors[k * d + j];
        }
        worst = Math.max(worst, Math.abs(a - A[i][j]));
        orth = Math.max(orth, Math.abs(o - (i === j ? 1 : 0)));
      }
    }
    expect(worst).toBeLessThan(1e-12);
    expect(orth).toBeLessThan(1e-12);
    // the trace is the sum of the eigenvalues
    expect(
      Math.abs(values.reduce((a, b) => a + b, 0) - A.reduce((s, row, i) => s + row[i], 0)),
    ).toBeLessThan(1e-12);
  });

  it("sqrtPsd(S) squared is S", () => {
    const d = 8;
    const S = randomSpd(d, 3);
    const R = sqrtPsd(S.flat(), d);
    let worst = 0;
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) {
        let s = 0;
        for (let k = 0; k < d; k++) s += R[i * d + k] * R[k * d + j];
        worst = Math.max(worst, Math.abs(s - S[i][j]));
      }
    }
    expect(worst).toBeLessThan(1e-12);
  });

  it("rejects a matrix that is not symmetric or not square", () => {
    expect(() => symmetricEigen([1, 2, 3, 4], 2)).toThrow(
      "the matrix is not symmetric (entries [0, 1] and [1, 0]: 2 vs 3)",
    );
    expect(() => symmetricEigen([1, 2, 3], 2)).toThrow("need a 2 x 2 matrix (4 numbers); got 3");
    expect(() => symmetricEigen([1, NaN, NaN, 1], 2)).toThrow("the matrix must be finite");
  });
});

describe("frechetDistance against closed forms", () => {
  it("1-D: (m1 - m2)^2 + (s1 - s2)^2", () => {
    expect(frechetDistance(fit([0], [[4]]), fit([1], [[1]]))).toBeCloseTo(2, 12);
    expect(frechetDistance(fit([3], [[9]]), fit([-1], [[0.25]]))).toBeCloseTo(16 + 2.5 ** 2, 12);
  });

  it(
    "commuting covariances: |m1 - m2|^2 + sum " + "(sqrt a_i - sqrt b_i)^2, in any rotated frame",
    () => {
      const a = [2, 0.5];
      const b = [0.3, 3];
      const expected =
        1 + 4 + a.reduce((s, ai, i) => s + (Math.sqrt(ai) - Math.sqrt(b[i])) ** 2, 0);
      for (const angle of [0, 0.4, 1.3]) {
        const got = frechetDistance(
          fit([1, 2], rotated(angle, a[0], a[1])),
          fit([0, 0], rotated(angle, b[0], b[1])),
        );
        expect(Math.abs(got - expected)).toBeLessThan(1e-12);
      }
    },
  );

  it(
    "non-commuting covariances: tr(S1 + S2 - 2 " +
      "(S1^1/2 S2 S1^1/2)^1/2) from the 2 x 2 closed form",
    () => {
      // For 2 x 2 SPD M, tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)).
      const S1 = rotated(0, 3, 0.5);
      const S2 = rotated(0.9, 2, 0.2);
      const tr = (m: number[][]) => m[0][0] + m[1][1];
      const det = (m: number[][]) => m[0][0] * m[1][1] - m[0][1] * m[1][0];
      const prod = [
        [S1[0][0] * S2[0][0] + S1[0][1] * S2[1][0], S1[0][0] * S2[0][1] + S1[0][1] * S2[1][1]],
        [S1[1][0] * S2[0][0] + S1[1][1] * S2[1][0], S1[1][0] * S2[0][1] + S1[1][1] * S2[1][1]],
      ];
      // S1^1/2 S2 S1^1/2 has the trace and determinant of S1 S2
      const expected = tr(S1) + tr(S2) - 2 * Math.sqrt(tr(prod) + 2 * Math.sqrt(det(prod)));
      const got = frechetDistance(fit([0, 0], S1), fit([0, 0], S2));
      expect(Math.abs(got - expected)).toBeLessThan(1e-12);
      // negative control: the shortcut sum (sqrt a_i - sqrt b_i)^2 of the diagonals is wrong here
      const naive = [0, 1].reduce(
        (s, i) => s + (Math.sqrt(S1[i][i]) - Math.sqrt(S2[i][i])) ** 2,
        0,
      );
      expect(Math.abs(naive - expected)).toBeGreaterThan(0.05);
    },
  );

  it(
    "is a squared distance: 0 for a Gaussian with itself, symmetric, and its square root obeys " +
      "the triangle inequality",
    () => {
      const d = 6;
      const A = fit([1, 0, 0, 2, 0, 1], randomSpd(d, 11));
      const B = fit([0, 1, 0, 0, 0, 0], randomSpd(d, 12));
      const C = fit([0, 0, 3, 0, 1, 0], randomSpd(d, 13, 0.5));
      expect(frechetDistance(A, A)).toBeLessThan(1e-12);
      expect(Math.abs(frechetDistance(A, B) - frechetDistance(B, A))).toBeLessThan(1e-10);
      const w = (x: GaussianFit, y: GaussianFit) => Math.sqrt(frechetDistance(x, y));
      expect(w(A, C)).toBeLessThanOrEqual(w(A, B) + w(B, C) + 1e-12);
    },
  );

  it(
    "from samples: two samples of one Gaussian give a small value that falls like 1/n; a " +
      "shifted one does not",
    () => {
      const d = 4;
      const draw = (n: number, s: number, shift = 0) =>
        tf.tidy(() => tf.add(tf.randomNormal([n, d], 0, 1, "float32", s), shift) as tf.Tensor2D);
      const value = (n: number) => {
        const a = draw(n, 1);
        const b = draw(n, 2);
        const v = frechetDistanceOf(a, b);
        tf.dispose([a, b]);
        return v;
      };
      const small = value(500);
      const large = value(8000);
      // E[FD] of two samples of N(0, I_d) is about d (d + 1) / n... for large n: a few hundredths
      // here
      expect(small).toBeLessThan(0.2);
      expect(large).toBeLessThan(small / 4);
      const a = draw(2000, 3);
      const b = draw(2000, 4, 0.5);
      const shifted = frechetDistanceOf(a, b);
      // the mean term alone is d * 0.25 = 1
      expect(Math.abs(shifted - 1)).toBeLessThan(0.15);
      tf.dispose([a, b]);
    },
  );
});

describe("gaussianFit and bad input", () => {
  it("fits mean and unbiased covariance, from a tensor or rows, leak-free", () => {
    const rows = [
      [1, 2],
      [3, 2],
      [2, 5],
    ];
    const x = tf.tensor2d(rows);
    const before = tf.memory().numTensors;
    const g = gaussianFit(x);
    expect(tf.memory().numTensors).toBe(before);
    expect(Array.from(g.mean)).toEqual([2, 3]);
    expect(Array.from(g.cov)).toEqual([1, 0, 0, 3]);
    expect(gaussianFit(rows).cov).toEqual(g.cov);
    x.dispose();
  });

  it("says what is wrong", () => {
    expect(() => gaussianFit([[1, 2]])).toThrow(
      "needs at least 2 vectors of at least 1 number; got 1 of 2",
    );
    expect(() => gaussianFit([[1, 2], [3]])).toThrow(
      "every row must have 2 numbers; row 1 does not",
    );
    expect(() =>
      gaussianFit([
        [1, NaN],
        [3, 4],
      ]),
    ).toThrow("features must be finite; row 0, column 1 is NaN");
    expect(() => gaussianFit("x" as never)).toThrow(/must be a \[n, d\] tensor/);
    expect(() =>
      frechetDistance(
        fit([0], [[1]]),
        fit(
          [0, 0],
          [
            [1, 0],
            [0, 1],
          ],
        ),
      ),
    ).toThrow("both fits must have the same dimension; got 1 and 2");
  });
});
