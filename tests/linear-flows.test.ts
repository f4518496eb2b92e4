import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import {
  DEFAULT_FLOW_MATRIX,
  DEFAULT_FLOW_SHIFT,
  invertMatrix,
  linearGaussianFlow,
  matMulArrays,
  rotatingGaussianFlow,
  spectralNorm,
  straightGaussianFlow,
  symmetricEigenvalues,
  transposeArrays,
} from "../src/examples/linearFlows";
import type { LinearGaussianFlow, Matrix } from "../src/examples/linearFlows";
import { solveOde } from "../src/solvers/ode";
import { seed } from "../src/core/random";

const A = DEFAULT_FLOW_MATRIX;
const b = DEFAULT_FLOW_SHIFT;

/** Largest absolute entry of a - b. */
function maxDiff(a: ArrayLike<number>, c: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - c[i]));
  return m;
}

function take<T extends tf.Tensor>(t: T): Float32Array {
  const v = t.dataSync() as Float32Array;
  const copy = v.slice();
  t.dispose();
  return copy;
}

const X0 = [
  [0, 0],
  [1, -0.5],
  [-1.2, 0.8],
  [0.3, 2.0],
];

describe("linear algebra helpers", () => {
  it("invertMatrix returns the inverse and the determinant", () => {
    const { inverse, det } = invertMatrix([
      [2, 1],
      [1, 3],
    ]);
    expect(det).toBeCloseTo(5, 12);
    expect(maxDiff(inverse.flat(), [0.6, -0.2, -0.2, 0.4])).toBeLessThan(1e-14);
    // a row swap flips the sign of the determinant
    expect(
      invertMatrix([
        [0, 1],
        [1, 0],
      ]).det,
    ).toBeCloseTo(-1, 14);
  });
  it("invertMatrix refuses a singular matrix (negative control)", () => {
    expect(() =>
      invertMatrix(
        [
          [1, 2],
          [2, 4],
        ],
        "M",
      ),
    ).toThrow(/M is singular/);
  });
  it("symmetricEigenvalues finds known spectra, largest first", () => {
    expect(
      maxDiff(
        symmetricEigenvalues([
          [2, 1],
          [1, 2],
        ]),
        [3, 1],
      ),
    ).toBeLessThan(1e-12);
    // a 3 x 3 matrix with eigenvalues 4, 2, 1 built as Q diag Q^T
    const c = Math.cos(0.7),
      s = Math.sin(0.7);
    const Q: Matrix = [
      [c, -s, 0],
      [s, c, 0],
      [0, 0, 1],
    ];
    const S = matMulArrays(
      matMulArrays(Q, [
        [1, 0, 0],
        [0, 4, 0],
        [0, 0, 2],
      ]),
      transposeArrays(Q),
    );
    expect(maxDiff(symmetricEigenvalues(S), [4, 2, 1])).toBeLessThan(1e-12);
  });
  it("spectralNorm is the largest singular value", () => {
    expect(
      spectralNorm([
        [0, -2],
        [2, 0],
      ]),
    ).toBeCloseTo(2, 12);
    expect(
      spectralNorm([
        [3, 0],
        [0, -5],
      ]),
    ).toBeCloseTo(5, 12);
    expect(
      spectralNorm([
        [1, 1],
        [0, 1],
      ]),
    ).toBeCloseTo((1 + Math.sqrt(5)) / 2, 12); // golden ratio
  });
  it("the default matrix is symmetric positive definite with eigenvalues 1.5 and 0.5", () => {
    expect(maxDiff(A.flat(), transposeArrays(A).flat())).toBeLessThan(1e-15);
    expect(maxDiff(symmetricEigenvalues(A), [1.5, 0.5])).toBeLessThan(1e-12);
  });
});

describe("straightGaussianFlow", () => {
  const flow = straightGaussianFlow();

  it("psi_0 is the identity and psi_1(x0) = A x0 + b", () => {
    const x0 = tf.tensor2d(X0);
    // exactly the identity: the float32 copies of the inputs come back unchanged
    expect(maxDiff(take(flow.psi(x0, 0)), Float32Array.from(X0.flat()))).toBe(0);
    const expected = X0.flatMap((p) => [
      A[0][0] * p[0] + A[0][1] * p[1] + b[0],
      A[1][0] * p[0] + A[1][1] * p[1] + b[1],
    ]);
    expect(maxDiff(take(flow.psi(x0, 1)), expected)).toBeLessThan(1e-6);
    x0.dispose();
  });

  it(
    "moves every particle at a constant velocity (A - I) x0 + b: u_t(psi_t(x0)) does not depend " +
      "on t",
    () => {
      const x0 = tf.tensor2d(X0);
      const expected = X0.flatMap((p) => [
        (A[0][0] - 1) * p[0] + A[0][1] * p[1] + b[0],
        A[1][0] * p[0] + (A[1][1] - 1) * p[1] + b[1],
      ]);
      for (const t of [0, 0.3, 0.7, 1]) {
        const v = tf.tidy(() => flow.u(flow.psi(x0, t), t));
        // float32: entries of size ~3, a product with K^{-1} of norm <= 2: ~1e-6 relative
        expect(maxDiff(take(v), expected)).toBeLessThan(1e-5);
      }
      x0.dispose();
    },
  );

  it("p_t = N(t b, M_t M_t^T) with M_t = (1 - t) I + t A", () => {
    expect(maxDiff(flow.mean(0.25), [0.5, 0.25])).toBeLessThan(1e-15);
    const t = 0.4;
    const M = A.map((row, i) => row.map((a, j) => (1 - t) * (i === j ? 1 : 0) + t * a));
    expect(maxDiff(flow.cov(t).flat(), matMulArrays(M, transposeArrays(M)).flat())).toBeLessThan(
      1e-14,
    );
    expect(maxDiff(flow.cov(0).flat(), [1, 0, 0, 1])).toBe(0);
    expect(maxDiff(flow.cov(1).flat(), matMulArrays(A, A).flat())).toBeLessThan(1e-14);
  });

  it("its Lipschitz constant is max_i |a_i - 1| / (1 - t + t a_i) for a diagonal A", () => {
    const diag = straightGaussianFlow({
      A: [
        [0.5, 0],
        [0, 3],
      ],
      b: [0, 0],
    });
    for (const t of [0, 0.5, 1]) {
      const exact = Math.max(0.5 / (1 - t + 0.5 * t), 2 / (1 - t + 3 * t));
      expect(diag.lipschitz(t)).toBeCloseTo(exact, 12);
    }
  });

  it("works in any dimension (3-D)", () => {
    const f3 = straightGaussianFlow({
      A: [
        [2, 0, 0],
        [0, 1, 0],
        [0, 0, 0.5],
      ],
      b: [1, 2, 3],
    });
    const x = tf.tensor2d([[1, 1, 1]]);
    expect(maxDiff(take(f3.psi(x, 1)), [3, 3, 3.5])).toBeLessThan(1e-6);
    expect(maxDiff(take(f3.u(x, 0)), [2, 2, 2.5])).toBeLessThan(1e-6);
    x.dispose();
  });
});

describe("rotatingGaussianFlow", () => {
  const spin = rotatingGaussianFlow();

  it("ends at the same Gaussian as the straight flow, N(b, A A^T)", () => {
    expect(maxDiff(spin.mean(1), b)).toBeLessThan(1e-12);
    expect(maxDiff(spin.cov(1).flat(), matMulArrays(A, A).flat())).toBeLessThan(1e-12);
    expect(maxDiff(spin.cov(0).flat(), [1, 0, 0, 1])).toBeLessThan(1e-15);
  });

  it("takes a different path: half way it sits at -b/2, the straight flow at +b/2", () => {
    expect(maxDiff(spin.mean(0.5), [-1, -0.5])).toBeLessThan(1e-12);
    expect(maxDiff(straightGaussianFlow().mean(0.5), [1, 0.5])).toBeLessThan(1e-15);
  });

  it(
    "with half a turn it ends at N(-b, A A^T) instead (negative control for the end " + "point)",
    () => {
      const half = rotatingGaussianFlow({ turns: 0.5 });
      expect(maxDiff(half.mean(1), [-2, -1])).toBeLessThan(1e-12);
    },
  );

  it("refuses a non-2-D matrix", () => {
    expect(() =>
      rotatingGaussianFlow({
        A: [
          [1, 0, 0],
          [0, 1, 0],
          [0, 0, 1],
        ],
        b: [0, 0, 0],
      }),
    ).toThrow(/2 x 2 matrix/);
  });
});

/** Checks, for one flow, the identities every linear flow must satisfy. */
function identities(flow: LinearGaussianFlow) {
  it(
    "u is the time derivative of psi: u_t(psi_t(x0)) = K'_t x0 + m'_t (exact derivative by " +
      "central differences in float64)",
    () => {
      const x0 = tf.tensor2d(X0);
      for (const t of [0.1, 0.5, 0.9]) {
        const h = 1e-6;
        const Kp = flow.K(t + h),
          Km = flow.K(t - h);
        const mp = flow.mean(t + h),
          mm = flow.mean(t - h);
        // d/dt (K_t x0 + m_t) in float64; the difference error is O(h^2) ~ 1e-11
        const expected = X0.flatMap((p) =>
          [0, 1].map(
            (i) =>
              ((Kp[i][0] - Km[i][0]) * p[0] + (Kp[i][1] - Km[i][1]) * p[1] + mp[i] - mm[i]) /
              (2 * h),
          ),
        );
        const v = tf.tidy(() => flow.u(flow.psi(x0, t), t));
        // float32 arithmetic on speeds up to ~20 (the rotation): relative 1e-6
        expect(maxDiff(take(v), expected)).toBeLessThan(1e-4);
      }
      x0.dispose();
    },
  );

  it(
    "the ODE dx = u dt, solved numerically from x0, lands on psi_1(x0) (the flow solves the " +
      "ODE)",
    () => {
      const x0 = tf.tensor2d(X0);
      const sol = solveOde(flow.u, x0, { method: "rk4", steps: 200 });
      const exact = flow.psi(x0, 1);
      // rk4 error ~ (h w)^4 with w <= 2 pi: ~1e-6; float32 round-off over 200 steps ~1e-5
      expect(maxDiff(take(sol.x), take(exact))).toBeLessThan(1e-4);
      x0.dispose();
    },
  );

  it("the density is N(m_t, Sigma_t): matches the Gaussian formula and integrates to 1", () => {
    const t = 0.6;
    const m = flow.mean(t);
    const S = flow.cov(t);
    const det = S[0][0] * S[1][1] - S[0][1] * S[1][0];
    const P = [
      [S[1][1] / det, -S[0][1] / det],
      [-S[1][0] / det, S[0][0] / det],
    ];
    const gauss = (x: number[]) => {
      const dx = [x[0] - m[0], x[1] - m[1]];
      const q =
        dx[0] * (P[0][0] * dx[0] + P[0][1] * dx[1]) + dx[1] * (P[1][0] * dx[0] + P[1][1] * dx[1]);
      return Math.exp(-0.5 * q) / (2 * Math.PI * Math.sqrt(det));
    };
    const pts = [
      [0, 0],
      [1, 1],
      [m[0], m[1]],
      [-1, 2],
    ];
    const x = tf.tensor2d(pts);
    const p = take(flow.density(x, t));
    pts.forEach((pt, i) => expect(Math.abs(p[i] - gauss(pt)) / gauss(pt)).toBeLessThan(1e-5));
    x.dispose();
    // Riemann sum over a box of +-7 standard deviations around the mean
    const sd = Math.sqrt(Math.max(S[0][0], S[1][1]));
    const n = 200;
    const lo = [m[0] - 7 * sd, m[1] - 7 * sd];
    const hstep = (14 * sd) / n;
    const grid: number[][] = [];
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) grid.push([lo[0] + (i + 0.5) * hstep, lo[1] + (j + 0.5) * hstep]);
    const g = tf.tensor2d(grid);
    const mass = take(tf.tidy(() => tf.sum(flow.density(g, t))))[0] * hstep * hstep;
    g.dispose();
    expect(Math.abs(mass - 1)).toBeLessThan(1e-3);
  });

  it(
    "the score is the gradient of the log-density (autodiff), and is not the velocity (negative " +
      "control)",
    () => {
      const x = tf.tensor2d(X0);
      for (const t of [0, 0.5, 1]) {
        const grad = tf.tidy(() =>
          tf.grad((y: tf.Tensor) => tf.sum(flow.logDensity(y as tf.Tensor2D, t)))(x),
        );
        const score = flow.score(x, t);
        const g = take(grad);
        expect(maxDiff(take(score), g)).toBeLessThan(1e-4);
        expect(maxDiff(take(flow.u(x, t)), g)).toBeGreaterThan(0.5);
      }
      x.dispose();
    },
  );

  it("samples have the mean and covariance of p_t", () => {
    seed(3);
    const n = 20000;
    for (const t of [0.3, 1]) {
      const xs = flow.sample(n, t);
      const data = take(xs);
      const m = [0, 0];
      for (let i = 0; i < n; i++) for (let j = 0; j < 2; j++) m[j] += data[2 * i + j] / n;
      const C = [
        [0, 0],
        [0, 0],
      ];
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < 2; j++)
          for (let k = 0; k < 2; k++)
            C[j][k] += ((data[2 * i + j] - m[j]) * (data[2 * i + k] - m[k])) / (n - 1);
      }
      // standard errors: sd / sqrt(n) <= 1.6 / 141 ~ 0.011 for the mean; ~ var sqrt(2 / n) ~ 0.03
      // for the covariance
      expect(maxDiff(m, flow.mean(t))).toBeLessThan(0.05);
      expect(maxDiff(C.flat(), flow.cov(t).flat())).toBeLessThan(0.1);
    }
  });

  it("accepts one time per row ([n] tensor), agreeing with row-by-row calls", () => {
    const x = tf.tensor2d(X0);
    const times = [0, 0.25, 0.5, 1];
    const tt = tf.tensor1d(times);
    for (const f of [flow.psi, flow.u, flow.score]) {
      const batched = take(f(x, tt));
      times.forEach((t, i) => {
        const row = tf.tidy(() => f(tf.slice(x, [i, 0], [1, 2]) as tf.Tensor2D, t));
        expect(maxDiff(batched.slice(2 * i, 2 * i + 2), take(row))).toBeLessThan(1e-5);
      });
    }
    const lb = take(flow.logDensity(x, tt));
    times.forEach((t, i) => {
      const row = tf.tidy(() => flow.logDensity(tf.slice(x, [i, 0], [1, 2]) as tf.Tensor2D, t));
      expect(Math.abs(lb[i] - take(row)[0])).toBeLessThan(1e-5);
    });
    tf.dispose([x, tt]);
  });

  it("is leak-free", () => {
    const x = tf.tensor2d(X0);
    const tt = tf.tensor1d([0, 0.25, 0.5, 1]);
    for (const call of [
      () => flow.psi(x, 0.5),
      () => flow.u(x, 0.5),
      () => flow.u(x, tt),
      () => flow.score(x, 0.5),
      () => flow.logDensity(x, tt),
      () => flow.density(x, 0.5),
      () => flow.sample(10, 0.5),
    ]) {
      const before = tf.memory().numTensors;
      call().dispose();
      expect(tf.memory().numTensors).toBe(before);
    }
    tf.dispose([x, tt]);
  });
}

describe("identities of the straight flow", () => identities(straightGaussianFlow()));
describe("identities of the rotating flow", () => identities(rotatingGaussianFlow()));

describe("linearGaussianFlow", () => {
  it("a wrong velocity (another flow's) does not solve this flow's ODE (negative control)", () => {
    const straight = straightGaussianFlow();
    const spin = rotatingGaussianFlow();
    const x0 = tf.tensor2d(X0);
    const sol = solveOde(spin.u, x0, { method: "rk4", steps: 100, t1: 0.5 });
    const diff = maxDiff(take(sol.x), take(straight.psi(x0, 0.5)));
    expect(diff).toBeGreaterThan(1);
    x0.dispose();
  });

  it("checks that psi_0 is the identity", () => {
    const base = {
      dim: 2,
      dK: () => [
        [0, 0],
        [0, 0],
      ],
      m: () => [0, 0],
      dm: () => [0, 0],
    };
    expect(() =>
      linearGaussianFlow({
        ...base,
        K: () => [
          [2, 0],
          [0, 1],
        ],
      }),
    ).toThrow(/K\(0\) must be the identity/);
    expect(() =>
      linearGaussianFlow({
        ...base,
        K: () => [
          [1, 0],
          [0, 1],
        ],
        m: () => [1, 0],
      }),
    ).toThrow(/m\(0\) must be 0/);
  });

  it("refuses a flow that folds space (K_t singular inside [0, 1])", () => {
    expect(() =>
      straightGaussianFlow({
        A: [
          [-1, 0],
          [0, 1],
        ],
        b: [0, 0],
      }),
    ).toThrow(/K_t must stay invertible.*t = 0\.5|K\(0\.5\)/);
  });

  it("says what it got for bad times and shapes", () => {
    const flow = straightGaussianFlow();
    const x = tf.tensor2d(X0);
    expect(() => flow.u(x, 1.2)).toThrow("t must lie in [0, 1]; got 1.2");
    expect(() => flow.psi(x, tf.tensor1d([0, 1]))).toThrow(
      /one time per row: shape \[4\]; got \[2\]/,
    );
    const x3 = tf.zeros([2, 3]);
    expect(() => flow.u(x3 as tf.Tensor2D, 0.5)).toThrow(/2 columns/);
    expect(() => flow.sample(0, 0.5)).toThrow(/positive integer; got 0/);
    expect(() =>
      straightGaussianFlow({
        A: [
          [1, 0],
          [0, 1],
        ],
        b: [1, 2, 3],
      }),
    ).toThrow(/b must be 2 finite numbers/);
    tf.dispose([x, x3]);
  });
});
