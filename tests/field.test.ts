import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import {
  divergence,
  hutchinsonDivergence,
  hutchinsonProbes,
  velocityAndDivergence,
  velocityAndHutchinson,
} from "../src/field/divergence";
import { logLikelihood } from "../src/field/likelihood";
import { continuityResidual, grid2d } from "../src/field/continuity";
import type { VelocityField } from "../src/core/notation";
import { seed } from "../src/core/random";

// ---- Helpers ----------------------------------------------------------------------------------

/** u(x) = A x, row by row (x A^T). Its Jacobian is A everywhere, so div u = trace A. */
const linear = (A: number[][]): VelocityField => {
  const At = tf.tensor2d(A[0].map((_, j) => A.map((row) => row[j])));
  return (x) => tf.matMul(x, At) as tf.Tensor2D;
};

const maxAbs = (x: tf.Tensor): number => tf.tidy(() => tf.max(tf.abs(x)).dataSync()[0]);
const meanOf = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
const varianceOf = (v: number[]): number => {
  const m = meanOf(v);
  return v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1);
};

/** 2 x 2 helpers in float64 for the closed forms. */
type M2 = [[number, number], [number, number]];
const det2 = (m: M2): number => m[0][0] * m[1][1] - m[0][1] * m[1][0];
const inv2 = (m: M2): M2 => {
  const d = det2(m);
  return [
    [m[1][1] / d, -m[0][1] / d],
    [-m[1][0] / d, m[0][0] / d],
  ];
};
const mul2 = (a: M2, b: M2): M2 => [
  [a[0][0] * b[0][0] + a[0][1] * b[1][0], a[0][0] * b[0][1] + a[0][1] * b[1][1]],
  [a[1][0] * b[0][0] + a[1][1] * b[1][0], a[1][0] * b[0][1] + a[1][1] * b[1][1]],
];
const logNormal2 = (x: number[], m: number[], S: M2): number => {
  const P = inv2(S);
  const a = x[0] - m[0];
  const b = x[1] - m[1];
  const q = a * (P[0][0] * a + P[0][1] * b) + b * (P[1][0] * a + P[1][1] * b);
  return -0.5 * q - 0.5 * Math.log((2 * Math.PI) ** 2 * det2(S));
};

/**
 * A flow with a closed form: x_t = M_t x0 + t mu with M_t = I + t (L - I), L symmetric positive
 * definite. It carries N(0, I) to p_t = N(t mu, M_t M_t^T), in particular p_1 = N(mu, L^2). Its
 * velocity is u_t(x) = (L - I) M_t^{-1} (x - t mu) + mu, whose Jacobian (L - I) M_t^{-1} is
 * symmetric with non-zero off-diagonal entries (so Hutchinson's estimator has a genuine variance).
 */
const L: M2 = [
  [1.5, 0.4],
  [0.4, 0.8],
];
const mu = [1, -0.5];
const I2: M2 = [
  [1, 0],
  [0, 1],
];
const Mt = (t: number): M2 => [
  [1 + t * (L[0][0] - 1), t * L[0][1]],
  [t * L[1][0], 1 + t * (L[1][1] - 1)],
];
const gaussianFlow: VelocityField = (x, t) =>
  tf.tidy(() => {
    const s = t as number;
    const B = mul2(
      [
        [L[0][0] - 1, L[0][1]],
        [L[1][0], L[1][1] - 1],
      ],
      inv2(Mt(s)),
    );
    const Bt = tf.tensor2d([
      [B[0][0], B[1][0]],
      [B[0][1], B[1][1]],
    ]);
    const centred = tf.sub(x, tf.mul(tf.tensor2d([mu]), s));
    return tf.add(tf.matMul(centred, Bt), tf.tensor2d([mu])) as tf.Tensor2D;
  });
/** log p_t(x) in closed form, float64. */
const gaussianFlowLogp = (x: number[], t: number): number => {
  const M = Mt(t);
  const S = mul2(M, [
    [M[0][0], M[1][0]],
    [M[0][1], M[1][1]],
  ]);
  return logNormal2(x, [t * mu[0], t * mu[1]], S);
};

// ---- Divergence -------------------------------------------------------------------------------

describe("divergence (exact, autodiff)", () => {
  it("of a linear field A x is trace A at every point, in 2 and 3 dimensions", () => {
    for (const A of [
      [
        [1, 2],
        [3, -4],
      ],
      [
        [0.5, -1, 2],
        [3, 1.5, 0],
        [-2, 4, -3],
      ],
    ]) {
      const d = A.length;
      const x = tf.randomNormal([7, d], 0, 1, "float32", 3) as tf.Tensor2D;
      const div = divergence(linear(A), x, 0.5);
      expect(div.shape).toEqual([7]);
      const trace = A.reduce((s, row, i) => s + row[i], 0);
      for (const v of div.dataSync()) expect(v).toBeCloseTo(trace, 5);
      tf.dispose([x, div]);
    }
  });

  it("of u = |x|^2 x is (d + 2) |x|^2; with a [n] time tensor, of u = t x it is d t", () => {
    const x = tf.tensor2d([
      [1, 2, 0.5],
      [-0.3, 0, 2],
    ]);
    const cubic: VelocityField = (xx) => tf.mul(xx, tf.sum(tf.square(xx), 1, true)) as tf.Tensor2D;
    const div = divergence(cubic, x, 0).arraySync();
    expect(div[0]).toBeCloseTo(5 * 5.25, 4);
    expect(div[1]).toBeCloseTo(5 * 4.09, 4);
    const t = tf.tensor1d([0.25, 0.75]);
    const scaled: VelocityField = (xx, tt) =>
      tf.mul(xx, tf.reshape(tt as tf.Tensor1D, [-1, 1])) as tf.Tensor2D;
    const divT = divergence(scaled, x, t).arraySync();
    expect(divT[0]).toBeCloseTo(0.75, 6);
    expect(divT[1]).toBeCloseTo(2.25, 6);
    tf.dispose([x, t]);
  });

  it("velocityAndDivergence returns the field's value too, with the same divergence", () => {
    const A = [
      [1, 2],
      [3, -4],
    ];
    const x = tf.tensor2d([
      [1, 1],
      [2, -1],
    ]);
    const { u, div } = velocityAndDivergence(linear(A), x, 0);
    expect(u.arraySync()).toEqual([
      [3, -1],
      [0, 10],
    ]);
    expect(Array.from(div.dataSync())).toEqual([-3, -3]);
    tf.dispose([x, u, div]);
  });

  it("is leak-free and rejects bad input", () => {
    const x = tf.tensor2d([
      [1, 1],
      [2, -1],
    ]);
    const u = linear([
      [1, 0],
      [0, 1],
    ]);
    let before = tf.memory().numTensors;
    divergence(u, x, 0).dispose();
    expect(tf.memory().numTensors).toBe(before);
    before = tf.memory().numTensors;
    tf.dispose(velocityAndDivergence(u, x, 0));
    expect(tf.memory().numTensors).toBe(before);
    const flat = tf.zeros([4]);
    expect(() => divergence(u, flat as unknown as tf.Tensor2D, 0)).toThrow(
      "divergence: x must have shape [n, d]; got shape [4]",
    );
    const wrong: VelocityField = (xx) => tf.sum(xx, 1, true) as tf.Tensor2D;
    before = tf.memory().numTensors;
    expect(() => divergence(wrong, x, 0)).toThrow(
      "divergence: the field must return a tensor shaped like x, [2, 2]; got shape [2, 1]",
    );
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, flat]);
  });
});

describe("hutchinsonDivergence", () => {
  // A non-symmetric A: its symmetric part S has off-diagonal entries, so the estimator varies.
  const A = [
    [1, 2, 0],
    [0.5, -3, 1],
    [-1, 0.4, 0.5],
  ];
  const trace = -1.5;
  const S = A.map((row, i) => row.map((a, j) => (a + A[j][i]) / 2));
  let offDiag2 = 0;
  let frob2 = 0;
  S.forEach((row, i) => row.forEach((s, j) => ((frob2 += s * s), i !== j && (offDiag2 += s * s))));
  const theory = { rademacher: 2 * offDiag2, gaussian: 2 * frob2 };
  const n = 4000; // each row is an independent estimate: the MC standard error is sqrt(var / n)

  for (const noise of ["rademacher", "gaussian"] as const) {
    it(`is unbiased with ${noise} probes, with the predicted variance`, () => {
      seed(11);
      const x = tf.randomNormal([n, 3], 0, 1, "float32", 5) as tf.Tensor2D;
      const est = hutchinsonDivergence(linear(A), x, 0.3, { noise });
      const v = Array.from(est.dataSync());
      const se = Math.sqrt(theory[noise] / n);
      expect(Math.abs(meanOf(v) - trace)).toBeLessThan(4 * se);
      // The sample variance of 4000 draws is within ~10% of the truth (its own relative error is
      // ~sqrt(kurtosis / n) < 7% here); 25% leaves room without letting a wrong formula through.
      expect(varianceOf(v) / theory[noise]).toBeGreaterThan(0.75);
      expect(varianceOf(v) / theory[noise]).toBeLessThan(1.25);
      // Averaging 8 probes divides the variance by 8.
      const est8 = hutchinsonDivergence(linear(A), x, 0.3, { noise, samples: 8 });
      const v8 = Array.from(est8.dataSync());
      expect(Math.abs(meanOf(v8) - trace)).toBeLessThan((4 * se) / Math.sqrt(8));
      expect((8 * varianceOf(v8)) / theory[noise]).toBeGreaterThan(0.75);
      expect((8 * varianceOf(v8)) / theory[noise]).toBeLessThan(1.25);
      tf.dispose([x, est, est8]);
    });
  }

  it(
    "negative control: probes without E[eps eps^T] = I are biased far outside the MC " + "error",
    () => {
      const x = tf.randomNormal([n, 3], 0, 1, "float32", 5) as tf.Tensor2D;
      // eps = (1, 1, 1): estimates sum_ij A_ij, not trace A
      const ones = tf.ones([n, 3]) as tf.Tensor2D;
      const est = hutchinsonDivergence(linear(A), x, 0, { probes: [ones] });
      const sumAll = A.flat().reduce((a, b) => a + b, 0);
      for (const v of est.dataSync()) expect(v).toBeCloseTo(sumAll, 4);
      expect(Math.abs(sumAll - trace)).toBeGreaterThan(20 * Math.sqrt(theory.rademacher / n));
      tf.dispose([x, ones, est]);
    },
  );

  it("is exact for a Jacobian with diagonal symmetric part, with Rademacher probes", () => {
    // A = diag + antisymmetric: eps^T A eps = trace A for every sign vector.
    const B = [
      [2, 1],
      [-1, -0.5],
    ];
    const x = tf.randomNormal([50, 2], 0, 1, "float32", 9) as tf.Tensor2D;
    const est = hutchinsonDivergence(linear(B), x, 0);
    for (const v of est.dataSync()) expect(v).toBeCloseTo(1.5, 5);
    tf.dispose([x, est]);
  });

  it("repeats under the same seed, and is leak-free", () => {
    const x = tf.randomNormal([20, 3], 0, 1, "float32", 1) as tf.Tensor2D;
    const u = linear(A);
    const before = tf.memory().numTensors;
    seed(4);
    const a = hutchinsonDivergence(u, x, 0, { samples: 2, noise: "gaussian" });
    seed(4);
    const b = hutchinsonDivergence(u, x, 0, { samples: 2, noise: "gaussian" });
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    tf.dispose([a, b]);
    tf.dispose(hutchinsonProbes(3, 20, 3));
    tf.dispose(velocityAndHutchinson(u, x, 0, { samples: 3 }));
    expect(tf.memory().numTensors).toBe(before);
    expect(() => hutchinsonDivergence(u, x, 0, { samples: 0 })).toThrow(
      "samples must be a positive integer; got 0",
    );
    // @ts-expect-error: a wrong name on purpose
    expect(() => hutchinsonDivergence(u, x, 0, { noise: "uniform" })).toThrow(
      'noise must be "rademacher" or "gaussian"; got "uniform"',
    );
    const p = tf.ones([20, 2]) as tf.Tensor2D;
    expect(() => hutchinsonDivergence(u, x, 0, { probes: [p] })).toThrow(
      "probes[0] must have 3 columns",
    );
    const failing: VelocityField = () => {
      throw new Error("boom");
    };
    expect(() => hutchinsonDivergence(failing, x, 0, { samples: 2 })).toThrow("boom");
    expect(tf.memory().numTensors).toBe(before + 1);
    tf.dispose([x, p]);
  });
});

// ---- Likelihood -------------------------------------------------------------------------------

describe("logLikelihood (CNF change of variables)", () => {
  const points = [
    [1, -0.5],
    [2.2, 0.3],
    [-0.4, -1.6],
    [0.5, 0.9],
  ];

  it("matches the closed-form log-density of a known flow (N(0, I) -> N(mu, L^2))", () => {
    const x1 = tf.tensor2d(points);
    for (const [method, opts] of [
      ["dopri5", { rtol: 1e-6, atol: 1e-6 }],
      ["rk4", { steps: 50 }],
    ] as const) {
      const r = logLikelihood(gaussianFlow, x1, { method, ...opts });
      const logp = r.logp.arraySync();
      // float32 state, tolerance 1e-6: the log-density is right to ~1e-5.
      points.forEach((p, i) =>
        expect(Math.abs(logp[i] - gaussianFlowLogp(p, 1))).toBeLessThan(2e-4),
      );
      // The pieces: x0 = M_1^{-1}(x1 - mu), and int div = log det L for every trajectory.
      const Minv = inv2(Mt(1));
      const x0 = r.x0.arraySync();
      points.forEach((p, i) => {
        const c = [p[0] - mu[0], p[1] - mu[1]];
        expect(x0[i][0]).toBeCloseTo(Minv[0][0] * c[0] + Minv[0][1] * c[1], 4);
        expect(x0[i][1]).toBeCloseTo(Minv[1][0] * c[0] + Minv[1][1] * c[1], 4);
      });
      for (const v of r.divIntegral.dataSync()) expect(v).toBeCloseTo(Math.log(det2(L)), 4);
      if (method === "rk4") {
        expect(r.nfe).toBe(200);
        expect(r.fieldEvaluations).toBe(400); // 2 gradient passes (d = 2) per evaluation
      }
      tf.dispose(r);
    }
    x1.dispose();
  });

  it("negative control: a wrong field (the shift alone, no scaling) gives a wrong density", () => {
    const x1 = tf.tensor2d(points);
    const shift: VelocityField = (x) => tf.add(tf.zerosLike(x), tf.tensor2d([mu])) as tf.Tensor2D;
    const r = logLikelihood(shift, x1, { method: "rk4", steps: 20 });
    const logp = r.logp.arraySync();
    const worst = Math.max(...points.map((p, i) => Math.abs(logp[i] - gaussianFlowLogp(p, 1))));
    expect(worst).toBeGreaterThan(0.1);
    // ...though it is exactly right for its own target, N(mu, I): the method is not at fault.
    points.forEach((p, i) => expect(logp[i]).toBeCloseTo(logNormal2(p, mu, I2), 4));
    tf.dispose(r);
    x1.dispose();
  });

  it("gives log p_t at an intermediate time with t1 < 1, and accepts a custom logP0", () => {
    const x = tf.tensor2d(points);
    const r = logLikelihood(gaussianFlow, x, { method: "rk4", steps: 40, t1: 0.5 });
    const logp = r.logp.arraySync();
    points.forEach((p, i) =>
      expect(Math.abs(logp[i] - gaussianFlowLogp(p, 0.5))).toBeLessThan(2e-4),
    );
    tf.dispose(r);
    // From t0 = 0.5 (density known there) to t1 = 1.
    const logP0 = (x0: tf.Tensor2D): tf.Tensor1D =>
      tf.tensor1d(x0.arraySync().map((p) => gaussianFlowLogp(p, 0.5)));
    const r2 = logLikelihood(gaussianFlow, x, { method: "rk4", steps: 40, t0: 0.5, logP0 });
    const logp2 = r2.logp.arraySync();
    points.forEach((p, i) =>
      expect(Math.abs(logp2[i] - gaussianFlowLogp(p, 1))).toBeLessThan(2e-4),
    );
    tf.dispose(r2);
    x.dispose();
  });

  it("with Hutchinson probes is unbiased around the exact value, with the predicted spread", () => {
    seed(21);
    const n = 300;
    const x1 = tf.randomNormal([n, 2], 0, 1.5, "float32", 2) as tf.Tensor2D;
    const exact = logLikelihood(gaussianFlow, x1, { method: "rk4", steps: 20 });
    const hutch = logLikelihood(gaussianFlow, x1, {
      method: "rk4",
      steps: 20,
      divergence: "hutchinson",
    });
    const diff = tf.tidy(() => Array.from(tf.sub(hutch.logp, exact.logp).dataSync()));
    // With one probe eps kept along the solve, the estimate of int div is eps^T (int B_t dt) eps =
    // eps^T log(L) eps (the B_t commute), so its error is 2 eps_1 eps_2 log(L)_12: +-2 log(L)_12.
    const [l1, l2] = [L[0][0] + L[1][1], det2(L)]; // trace and determinant of L
    const disc = Math.sqrt((l1 * l1) / 4 - l2);
    const [e1, e2] = [l1 / 2 + disc, l1 / 2 - disc]; // eigenvalues of L
    const logL12 = (L[0][1] * (Math.log(e1) - Math.log(e2))) / (e1 - e2); // off-diagonal of log L
    for (const v of diff) expect(Math.abs(Math.abs(v) - 2 * Math.abs(logL12))).toBeLessThan(1e-3);
    expect(Math.abs(meanOf(diff))).toBeLessThan((4 * 2 * Math.abs(logL12)) / Math.sqrt(n));
    expect(hutch.fieldEvaluations).toBe(hutch.nfe); // one gradient pass per probe
    tf.dispose([exact, hutch]);
    x1.dispose();
  });

  it("is leak-free and rejects bad input", () => {
    const x1 = tf.tensor2d(points);
    let before = tf.memory().numTensors;
    tf.dispose(logLikelihood(gaussianFlow, x1, { method: "euler", steps: 5 }));
    tf.dispose(
      logLikelihood(gaussianFlow, x1, {
        method: "dopri5",
        divergence: "hutchinson",
        hutchinsonSamples: 2,
      }),
    );
    expect(tf.memory().numTensors).toBe(before);
    // @ts-expect-error: a wrong name on purpose
    expect(() => logLikelihood(gaussianFlow, x1, { divergence: "trace" })).toThrow(
      'divergence must be "exact" or "hutchinson"; got "trace"',
    );
    // @ts-expect-error: a wrong name on purpose
    expect(() => logLikelihood(gaussianFlow, x1, { method: "leapfrog" })).toThrow(
      "Unknown ODE method",
    );
    const bad = (x: tf.Tensor2D): tf.Tensor1D => tf.zeros([x.shape[0] + 1]) as tf.Tensor1D;
    before = tf.memory().numTensors;
    expect(() =>
      logLikelihood(gaussianFlow, x1, { method: "euler", steps: 2, logP0: bad }),
    ).toThrow("logP0 must return a [4] tensor; got shape [5]");
    expect(tf.memory().numTensors).toBe(before);
    x1.dispose();
  });
});

// ---- Continuity equation ----------------------------------------------------------------------

describe("continuityResidual", () => {
  // The lecture's conditional path p_t(x | x1) = N(t x1, (1 - t)^2 I) and its field (x1 - x)/(1 -
  // t).
  const x1 = tf.tensor2d([[1, -0.5]]);
  const logCond = (x: tf.Tensor2D, t: number | tf.Tensor1D): tf.Tensor1D =>
    tf.tidy(() => {
      const s = 1 - (t as number);
      const sq = tf.sum(tf.square(tf.sub(x, tf.mul(x1, t as number))), 1);
      return tf.sub(tf.div(sq, -2 * s * s), 2 * Math.log(s) + Math.log(2 * Math.PI)) as tf.Tensor1D;
    });
  /** k (x1 - x) / (1 - c t): k = 1, c = 1 is the lecture's field; others are wrong. */
  const field =
    (k: number, c: number): VelocityField =>
    (x, t) =>
      tf.tidy(() => tf.mul(tf.sub(x1, x), k / (1 - c * (t as number))) as tf.Tensor2D);
  const grid = (): tf.Tensor2D =>
    grid2d({ xmin: -3, xmax: 3, ymin: -3, ymax: 3, nx: 31, ny: 31 }).points;
  /** max |residual| relative to max |dp/dt| over the grid. */
  const relative = (
    k: number,
    c: number,
    t: number,
    opts: { dt?: number; order?: 2 | 4 } = {},
  ): number => {
    const x = grid();
    const r = continuityResidual({ logDensity: logCond, velocity: field(k, c), x, t, ...opts });
    const rel = maxAbs(r.residual) / maxAbs(r.dpdt);
    tf.dispose([r, x]);
    return rel;
  };

  it(
    "is small for the conditional Gaussian path and its conditional field (t = 0, 0.3, 0.7, and " +
      "0.9 with a finer dt)",
    () => {
      // Fourth-order differences with dt = 1e-2: ~1e-5 relative error from t = 0 to 0.7 (one-sided
      // at t = 0). At t = 0.9 the path changes on the time scale 1 - t = 0.1, so dt must shrink
      // with it.
      for (const t of [0, 0.3, 0.7]) expect(relative(1, 1, t)).toBeLessThan(2e-4);
      expect(relative(1, 1, 0.9, { dt: 1e-3 })).toBeLessThan(2e-4);
    },
  );

  it(
    "negative controls: a wrong sign or a wrong time scaling leaves a residual of order " + "one",
    () => {
      for (const t of [0.3, 0.7]) {
        expect(relative(-1, 1, t)).toBeGreaterThan(1); // -(x1 - x)/(1 - t): residual = 2 dp/dt
        expect(relative(2, 1, t)).toBeGreaterThan(0.5); // twice as fast
        // x1 - x: the straight-line target, but at x, not x_t
        expect(relative(1, 0, t)).toBeGreaterThan(0.2);
      }
    },
  );

  it(
    "has the documented orders in dt: halving dt divides the error by ~4 (order 2) or ~16 " +
      "(order 4)",
    () => {
      // At t = 0.7 both are truncation-dominated at these steps (round-off ~1e-6 is below them).
      const r2 =
        relative(1, 1, 0.7, { order: 2, dt: 0.02 }) / relative(1, 1, 0.7, { order: 2, dt: 0.01 });
      expect(Math.log2(r2)).toBeGreaterThan(1.7);
      expect(Math.log2(r2)).toBeLessThan(2.3);
      const r4 =
        relative(1, 1, 0.7, { order: 4, dt: 0.04 }) / relative(1, 1, 0.7, { order: 4, dt: 0.02 });
      expect(Math.log2(r4)).toBeGreaterThan(3.4);
      expect(Math.log2(r4)).toBeLessThan(4.6);
    },
  );

  it("returns each term: p, dp/dt against the closed form, and div(p u) = -dp/dt", () => {
    const x = tf.tensor2d([
      [0.2, 0.1],
      [1, -1],
    ]);
    const t = 0.4;
    const r = continuityResidual({ logDensity: logCond, velocity: field(1, 1), x, t });
    // d/dt log p = d/(1 - t) - |x - t x1|^2/(1 - t)^3 + (x - t x1).x1/(1 - t)^2 for this path (d =
    // 2).
    const pts = x.arraySync();
    const s = 1 - t;
    const expected = pts.map((p) => {
      const c = [p[0] - t * 1, p[1] - t * -0.5];
      const logp = -(c[0] ** 2 + c[1] ** 2) / (2 * s * s) - 2 * Math.log(s) - Math.log(2 * Math.PI);
      const dlog = 2 / s - (c[0] ** 2 + c[1] ** 2) / s ** 3 + (c[0] * 1 + c[1] * -0.5) / s ** 2;
      return { p: Math.exp(logp), dpdt: Math.exp(logp) * dlog };
    });
    const [p, dpdt, divFlux] = [r.p, r.dpdt, r.divFlux].map((v) => v.arraySync() as number[]);
    expected.forEach((e, i) => {
      expect(p[i]).toBeCloseTo(e.p, 6);
      // The documented round-off of the 4th-order difference: 1.5 eps L / dt on d/dt log p, with
      // eps = 6e-8 and L ~ 5 the size of the terms of log p here, times p; truncation (~1e-9) is
      // negligible.
      expect(Math.abs(dpdt[i] - e.dpdt)).toBeLessThan((e.p * 1.5 * 6e-8 * 5) / 1e-2);
      // Autodiff is exact up to a few float32 roundings of values of size |dp/dt|.
      expect(Math.abs(divFlux[i] + e.dpdt)).toBeLessThan(1e-5 * Math.abs(e.dpdt) + 1e-7);
    });
    tf.dispose([r, x]);
  });

  it("is leak-free and rejects bad input", () => {
    const x = grid();
    const before = tf.memory().numTensors;
    tf.dispose(continuityResidual({ logDensity: logCond, velocity: field(1, 1), x, t: 0.5 }));
    tf.dispose(
      continuityResidual({ logDensity: logCond, velocity: field(1, 1), x, t: 0, order: 2 }),
    );
    expect(tf.memory().numTensors).toBe(before);
    expect(() =>
      continuityResidual({ logDensity: logCond, velocity: field(1, 1), x, t: 1.2 }),
    ).toThrow("continuityResidual: t must lie in [0, 1]; got 1.2");
    expect(() =>
      continuityResidual({ logDensity: logCond, velocity: field(1, 1), x, t: 0.5, dt: 0.5 }),
    ).toThrow("dt must be a number in (0, 0.2]; got 0.5");
    const wrongShape: VelocityField = (xx) => tf.sum(xx, 1, true) as tf.Tensor2D;
    expect(() =>
      continuityResidual({ logDensity: logCond, velocity: wrongShape, x, t: 0.5 }),
    ).toThrow("velocity must return a tensor shaped like x, [961, 2]; got shape [961, 1]");
    const wrongLog = (xx: tf.Tensor2D): tf.Tensor1D =>
      tf.zeros([xx.shape[0], 1]) as unknown as tf.Tensor1D;
    expect(() =>
      continuityResidual({ logDensity: wrongLog, velocity: field(1, 1), x, t: 0.5 }),
    ).toThrow("logDensity must return a [961] tensor; got shape [961, 1]");
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});

describe("grid2d", () => {
  it("lays points out row-major with x fastest, edges included", () => {
    const g = grid2d({ xmin: -1, xmax: 1, ymin: 0, ymax: 3, nx: 3, ny: 4 });
    expect(g.xs).toEqual([-1, 0, 1]);
    expect(g.ys).toEqual([0, 1, 2, 3]);
    expect(g.points.shape).toEqual([12, 2]);
    const pts = g.points.arraySync();
    expect(pts[0]).toEqual([-1, 0]);
    expect(pts[1]).toEqual([0, 0]);
    expect(pts[3]).toEqual([-1, 1]);
    expect(pts[11]).toEqual([1, 3]);
    g.points.dispose();
  });
  it("rejects bad ranges and sizes", () => {
    expect(() => grid2d({ xmin: 1, xmax: 1, ymin: 0, ymax: 1, nx: 3, ny: 3 })).toThrow(
      "xmax must exceed xmin; got xmin = 1, xmax = 1",
    );
    expect(() => grid2d({ xmin: 0, xmax: 1, ymin: 0, ymax: 1, nx: 1, ny: 3 })).toThrow(
      "nx must be an integer >= 2; got 1",
    );
    expect(() => grid2d({ xmin: 0, xmax: NaN, ymin: 0, ymax: 1, nx: 3, ny: 3 })).toThrow(
      "xmax must be a finite number; got NaN",
    );
  });
});
