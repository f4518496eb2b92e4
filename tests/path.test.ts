import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import {
  condOTScheduler,
  customScheduler,
  veScheduler,
  vpScheduler,
  type Scheduler,
  type SchedulerValues,
} from "../src/path/scheduler";
import { AffineProbPath, condOTPath, vePath, vpPath } from "../src/path/affine";
import {
  convertPrediction,
  epsilonToX1,
  scoreToVelocity,
  velocityToX1,
  x1ToVelocity,
  PREDICTION_KINDS,
  type PredictionKind,
} from "../src/path/conversions";
import { normal, seed } from "../src/core/random";
import { conversionCoefficients } from "./helpers";

// ---- Helpers ----------------------------------------------------------------------------------

/**
 * Float32 machine epsilon (2^-23): the relative rounding of one float32 operation is at most half
 * of it.
 */
const EPS32 = 2 ** -23;

const SCHEDULERS: Scheduler[] = [
  condOTScheduler(),
  condOTScheduler({ sigmaMin: 0.1 }),
  vpScheduler({ schedule: "linear" }),
  vpScheduler({ schedule: "cosine" }),
  veScheduler(),
  veScheduler({ sigmaMin: 0.05, sigmaMax: 3 }),
];

const maxAbs = (x: tf.Tensor): number => tf.tidy(() => tf.max(tf.abs(x)).dataSync()[0]);
const maxDiff = (a: tf.Tensor, b: tf.Tensor): number => tf.tidy(() => maxAbs(tf.sub(a, b)));

/**
 * A seeded `[n, d]` matrix of standard normals as plain numbers (float64, then exact in float32
 * after rounding).
 */
const gaussianRows = (n: number, d: number, scale = 1): number[][] =>
  Array.from({ length: n }, () => Array.from({ length: d }, () => Math.fround(scale * normal())));

/** Asserts `tf.memory().numTensors` is unchanged by `fn` once its results are disposed. */
function expectNoLeak(fn: () => tf.TensorContainer): void {
  const before = tf.memory().numTensors;
  tf.dispose(fn());
  expect(tf.memory().numTensors).toBe(before);
}

/**
 * Central difference of f at t with step h, in float64. Truncation error h^2/6 |f'''|, round-off
 * ~ 1e-16 |f| / h: with h = 1e-5 both are below 1e-9 for the smooth schedules away from t = 1.
 */
const centralDiff = (f: (t: number) => number, t: number, h = 1e-5): number =>
  (f(t + h) - f(t - h)) / (2 * h);

/**
 * Largest relative mismatch between the scheduler's derivatives and finite differences over
 * `times`.
 */
function derivativeMismatch(
  s: Scheduler,
  times: number[],
  tweak: (v: SchedulerValues) => SchedulerValues = (v) => v,
): number {
  let worst = 0;
  for (const t of times) {
    const v = tweak(s.at(t));
    const fdA = centralDiff((u) => s.at(u).alpha, t);
    const fdS = centralDiff((u) => s.at(u).sigma, t);
    worst = Math.max(worst, Math.abs(v.dAlpha - fdA) / Math.max(1, Math.abs(fdA)));
    worst = Math.max(worst, Math.abs(v.dSigma - fdS) / Math.max(1, Math.abs(fdS)));
  }
  return worst;
}

// ---- Schedulers -------------------------------------------------------------------------------

describe("schedulers", () => {
  const times = [0.001, 0.05, 0.2, 0.37, 0.5, 0.8, 0.95, 0.99];

  it("closed-form derivatives match central finite differences (float64, relative 1e-7)", () => {
    for (const s of SCHEDULERS) {
      expect(derivativeMismatch(s, times), s.name).toBeLessThan(1e-7);
    }
  });

  it("negative control: a derivative perturbed by 0.1% fails the same check", () => {
    for (const s of SCHEDULERS) {
      const bump = (value: number): number => value + 1e-3 * Math.max(1, Math.abs(value));
      const wrongA = derivativeMismatch(s, times, (v) => ({ ...v, dAlpha: bump(v.dAlpha) }));
      const wrongS = derivativeMismatch(s, times, (v) => ({ ...v, dSigma: bump(v.dSigma) }));
      expect(wrongA, s.name).toBeGreaterThan(1e-4);
      expect(wrongS, s.name).toBeGreaterThan(1e-4);
    }
  });

  it("the lecture's path is alpha = t, sigma = 1 - (1 - sigmaMin) t", () => {
    expect(condOTScheduler().at(0.25)).toEqual({ alpha: 0.25, sigma: 0.75, dAlpha: 1, dSigma: -1 });
    expect(condOTScheduler().at(0)).toEqual({ alpha: 0, sigma: 1, dAlpha: 1, dSigma: -1 });
    expect(condOTScheduler().at(1)).toEqual({ alpha: 1, sigma: 0, dAlpha: 1, dSigma: -1 });
    const v = condOTScheduler({ sigmaMin: 0.1 }).at(1);
    expect(v.sigma).toBeCloseTo(0.1, 15);
    expect(v.dSigma).toBeCloseTo(-0.9, 15);
  });

  it(
    "VP schedules preserve variance: alpha^2 + sigma^2 = 1 (float64, 1e-14), data at t = " + "1",
    () => {
      for (const s of [
        vpScheduler({ schedule: "linear" }),
        vpScheduler({ schedule: "cosine" }),
        vpScheduler({ schedule: "linear", betaMin: 0.5, betaMax: 5 }),
      ]) {
        for (let i = 0; i <= 100; i++) {
          const { alpha, sigma } = s.at(i / 100);
          expect(
            Math.abs(alpha * alpha + sigma * sigma - 1),
            `${s.name} t=${i / 100}`,
          ).toBeLessThan(1e-14);
        }
        expect(s.at(1).alpha).toBe(1);
        expect(s.at(1).sigma).toBe(0);
        // sigma ~ sqrt(1 - t) near the data: its slope is infinite at t = 1 (documented, not a
        // NaN).
        expect(s.at(1).dSigma).toBe(-Infinity);
      }
      expect(vpScheduler({ schedule: "cosine" }).at(0).alpha).toBe(0);
    },
  );

  it(
    "VP linear equals DDPM's alpha_bar = exp(-integral of beta) (Simpson quadrature, " +
      "independent of the closed form)",
    () => {
      const betaMin = 0.1;
      const betaMax = 20;
      const s = vpScheduler({ schedule: "linear", betaMin, betaMax });
      for (const t of [0, 0.1, 0.5, 0.9, 1]) {
        const upper = 1 - t; // diffusion time
        const m = 200;
        const h = upper / m;
        let integral = 0;
        for (let i = 0; i <= m; i++) {
          const w = i === 0 || i === m ? 1 : i % 2 === 1 ? 4 : 2;
          integral += (w * h * (betaMin + i * h * (betaMax - betaMin))) / 3;
        }
        expect(s.at(t).alpha ** 2).toBeCloseTo(Math.exp(-integral), 12);
      }
      // alpha_0 is small but not zero: exp(-(betaMin + betaMax) / 4).
      expect(s.at(0).alpha).toBeCloseTo(Math.exp(-(betaMin + betaMax) / 4), 14);
    },
  );

  it(
    "VP cosine equals Nichol & Dhariwal's alpha_bar(s) = f(s) / f(0), f(s) = cos^2((s + 0.008) " +
      "/ 1.008 * pi / 2), s = 1 - t",
    () => {
      const f = (s: number): number => Math.cos(((s + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
      const sch = vpScheduler({ schedule: "cosine" });
      for (const t of [0, 0.1, 0.3, 0.5, 0.9, 1]) {
        expect(sch.at(t).alpha ** 2).toBeCloseTo(f(1 - t) / f(0), 13);
      }
    },
  );

  it("VE: alpha = 1, sigma geometric from sigmaMax (t = 0) to sigmaMin (t = 1)", () => {
    const s = veScheduler({ sigmaMin: 0.01, sigmaMax: 50 });
    expect(s.at(0).sigma).toBeCloseTo(50, 12);
    expect(s.at(1).sigma).toBeCloseTo(0.01, 14);
    expect(s.at(0.5).sigma).toBeCloseTo(Math.sqrt(0.5), 13);
    expect(s.at(0.3).alpha).toBe(1);
    expect(s.at(0.3).dAlpha).toBe(0);
  });

  it(
    "columns: a number fills n rows, a [n] tensor gives one row per time, equal to at(); " +
      "leak-free",
    () => {
      const s = vpScheduler({ schedule: "cosine" });
      const times = [0, 0.25, 0.5, 1];
      const t = tf.tensor1d(times);
      const c = s.columns(t);
      expect(c.alpha.shape).toEqual([4, 1]);
      const alpha = c.alpha.dataSync();
      const dSigma = c.dSigma.dataSync();
      times.forEach((ti, i) => {
        expect(alpha[i]).toBeCloseTo(s.at(ti).alpha, 6);
        if (ti < 1) expect(dSigma[i]).toBeCloseTo(s.at(ti).dSigma, 4);
      });
      tf.dispose(c);
      const filled = s.columns(0.5, 3);
      expect(filled.sigma.shape).toEqual([3, 1]);
      tf.dispose(filled);
      expectNoLeak(() => s.columns(t));
      expectNoLeak(() => s.columns(0.3, 5));
      t.dispose();
    },
  );

  it("bad options and times give clear errors", () => {
    expect(() => condOTScheduler({ sigmaMin: 1 })).toThrow(/sigmaMin .*\[0, 1\); got 1/);
    expect(() => condOTScheduler({ sigmaMin: -0.1 })).toThrow(/sigmaMin/);
    expect(() => vpScheduler({ schedule: "quadratic" as "linear" })).toThrow(
      /schedule must be "linear" or "cosine"/,
    );
    expect(() => vpScheduler({ schedule: "linear", betaMin: 5, betaMax: 1 })).toThrow(
      /betaMax .*>= betaMin/,
    );
    expect(() => vpScheduler({ schedule: "linear", betaMin: NaN })).toThrow(/betaMin .*got NaN/);
    expect(() => veScheduler({ sigmaMin: 2, sigmaMax: 1 })).toThrow(/sigmaMax .*> sigmaMin/);
    expect(() => veScheduler({ sigmaMin: 0 })).toThrow(/sigmaMin/);
    const s = condOTScheduler();
    expect(() => s.at(1.2)).toThrow(/t must lie in \[0, 1\]; got 1.2/);
    expect(() => s.at(NaN)).toThrow(/must be a finite number; got NaN/);
    const t2 = tf.tensor2d([[0.5]]);
    expect(() => s.columns(t2 as unknown as tf.Tensor1D)).toThrow(
      /shape \[n\]; got a tensor of shape \[1, 1\]/,
    );
    t2.dispose();
    const bad = tf.tensor1d([0.5, 1.5]);
    expect(() => s.columns(bad)).toThrow(/t must lie in \[0, 1\]; entry 1 is 1.5/);
    bad.dispose();
  });
});

// ---- Affine paths -----------------------------------------------------------------------------

describe("affine probability paths", () => {
  seed(0);
  const n = 64;
  const d = 3;
  const x0Rows = gaussianRows(n, d);
  const x1Rows = gaussianRows(n, d, 2);
  // distinct times in (0, 1)
  const perRow = Array.from({ length: n }, (_, i) => (i + 0.5) / (n + 1));

  it(
    "sample: x_t = alpha x1 + sigma x0 and dxt = dAlpha x1 + dSigma x0, for a number t and " +
      "per-row times",
    () => {
      const x0 = tf.tensor2d(x0Rows);
      const x1 = tf.tensor2d(x1Rows);
      const tt = tf.tensor1d(perRow);
      for (const s of SCHEDULERS) {
        const path = new AffineProbPath(s);
        for (const t of [0.3, tt] as const) {
          const { xt, dxt } = path.sample(x0, x1, t);
          const xtData = xt.arraySync();
          const dxtData = dxt.arraySync();
          let worst = 0;
          let scale = 1;
          for (let i = 0; i < n; i++) {
            const v = s.at(typeof t === "number" ? t : perRow[i]);
            for (let j = 0; j < d; j++) {
              const refX = v.alpha * x1Rows[i][j] + v.sigma * x0Rows[i][j];
              const refV = v.dAlpha * x1Rows[i][j] + v.dSigma * x0Rows[i][j];
              scale = Math.max(
                scale,
                Math.abs(v.alpha * x1Rows[i][j]) + Math.abs(v.sigma * x0Rows[i][j]),
                Math.abs(v.dAlpha * x1Rows[i][j]) + Math.abs(v.dSigma * x0Rows[i][j]),
              );
              worst = Math.max(
                worst,
                Math.abs(xtData[i][j] - refX),
                Math.abs(dxtData[i][j] - refV),
              );
            }
          }
          // Float32: inputs and coefficients rounded (2 x eps/2) plus two products and a sum: < 4
          // eps of the scale.
          expect(worst, s.name).toBeLessThan(4 * EPS32 * scale);
          tf.dispose([xt, dxt]);
        }
      }
      tf.dispose([x0, x1, tt]);
    },
  );

  it("on the lecture's path u_t(x_t | x1) = x1 - x0 (the two conditional forms agree)", () => {
    const x0 = tf.tensor2d(x0Rows);
    const x1 = tf.tensor2d(x1Rows);
    const path = condOTPath();
    const target = tf.sub(x1, x0);
    for (const t of [0, 0.1, 0.5, 0.9, 0.999]) {
      const { xt, dxt } = path.sample(x0, x1, t);
      const u = path.conditionalVelocity(xt, x1, t);
      expect(maxDiff(dxt, target)).toBeLessThan(1e-6);
      // (x1 - x_t) / (1 - t): x_t carries float32 rounding ~eps |x|, amplified by 1 / (1 - t).
      expect(maxDiff(u, target), `t=${t}`).toBeLessThan((8 * EPS32 * 8) / (1 - t));
      tf.dispose([xt, dxt, u]);
    }
    tf.dispose([x0, x1, target]);
  });

  it(
    "the two conditional forms agree on every scheduler (u_t(x_t | x1) = dAlpha x1 + dSigma " +
      "x0); a wrong field does not",
    () => {
      const x0 = tf.tensor2d(x0Rows);
      const x1 = tf.tensor2d(x1Rows);
      const tt = tf.tensor1d(perRow);
      for (const s of SCHEDULERS) {
        const path = new AffineProbPath(s);
        for (const t of [0.2, 0.7, tt] as const) {
          const { xt, dxt } = path.sample(x0, x1, t);
          const u = path.conditionalVelocity(xt, x1, t);
          const scale = maxAbs(dxt) + 1;
          // The residual is round-off of x_t amplified by |dSigma| / sigma (largest for per-row t
          // near 1).
          const times = typeof t === "number" ? [t] : perRow;
          const amp = Math.max(
            ...times.map(
              (ti) =>
                (Math.abs(s.at(ti).dSigma) / s.at(ti).sigma) *
                (Math.abs(s.at(ti).alpha) * 6 + s.at(ti).sigma * 4),
            ),
          );
          expect(maxDiff(u, dxt), `${s.name}`).toBeLessThan(8 * EPS32 * (scale + amp));
          // Negative control: another path's conditional field (the lecture's, or VP's for the
          // lecture's own paths) applied to this path's points misses by O(1).
          if (typeof t === "number") {
            const other = s.name === "condOT" ? vpPath() : condOTPath();
            const wrong = other.conditionalVelocity(xt, x1, t);
            expect(maxDiff(wrong, dxt), `${s.name} control`).toBeGreaterThan(0.1);
            wrong.dispose();
          }
          tf.dispose([xt, dxt, u]);
        }
      }
      tf.dispose([x0, x1, tt]);
    },
  );

  it(
    "conditionalVelocity is (x1 - x) / (1 - t) on the lecture's path at any x (not only on the " +
      "line)",
    () => {
      const x = tf.tensor2d(x0Rows);
      const x1 = tf.tensor2d(x1Rows);
      const t = 0.6;
      const u = condOTPath().conditionalVelocity(x, x1, t).arraySync();
      let worst = 0;
      for (let i = 0; i < n; i++)
        for (let j = 0; j < d; j++)
          worst = Math.max(worst, Math.abs(u[i][j] - (x1Rows[i][j] - x0Rows[i][j]) / (1 - t)));
      expect(worst).toBeLessThan(1e-5);
      // sigmaMin > 0: (x1 - (1 - sigmaMin) x) / (1 - (1 - sigmaMin) t) (Lipman et al. eq. 21), fine
      // at t = 1.
      const sm = 0.1;
      const v = condOTPath(sm).conditionalVelocity(x, x1, 1).arraySync();
      worst = 0;
      for (let i = 0; i < n; i++)
        for (let j = 0; j < d; j++)
          worst = Math.max(
            worst,
            Math.abs(v[i][j] - (x1Rows[i][j] - (1 - sm) * x0Rows[i][j]) / sm),
          );
      expect(worst).toBeLessThan(1e-4);
      tf.dispose([x, x1]);
    },
  );

  it(
    "at t = 1 with sigma_1 = 0 the conditional velocity is a clear error (and so is the VP " +
      "path's infinite slope)",
    () => {
      const x = tf.tensor2d(x0Rows);
      const x1 = tf.tensor2d(x1Rows);
      expect(() => condOTPath().conditionalVelocity(x, x1, 1)).toThrow(
        /sigma_t = 0 at t = 1 .*\(x1 - x\) \/ \(1 - t\)/,
      );
      const tt = tf.tensor1d(perRow.map((ti, i) => (i === 5 ? 1 : ti)));
      expect(() => condOTPath().conditionalVelocity(x, x1, tt)).toThrow(/sigma_t = 0 at t = 1/);
      expect(() => vpPath().sample(x, x1, 1)).toThrow(/not finite at t = 1/);
      tf.dispose([x, x1, tt]);
    },
  );

  it("conditionalField(x1) broadcasts one data point; leak-free", () => {
    const x = tf.tensor2d(x0Rows);
    const point = tf.tensor2d([x1Rows[0]]);
    const field = condOTPath().conditionalField(point);
    const u = field(x, 0.25).arraySync();
    expect(u[7][1]).toBeCloseTo((x1Rows[0][1] - x0Rows[7][1]) / 0.75, 5);
    expectNoLeak(() => field(x, 0.25));
    tf.dispose([x, point]);
  });

  it("sample, targetVelocity, conditionalVelocity and coefficients are leak-free", () => {
    const x0 = tf.tensor2d(x0Rows);
    const x1 = tf.tensor2d(x1Rows);
    const tt = tf.tensor1d(perRow);
    for (const path of [condOTPath(), vpPath({ schedule: "cosine" }), vePath()]) {
      expectNoLeak(() => path.sample(x0, x1, 0.4));
      expectNoLeak(() => path.sample(x0, x1, tt));
      expectNoLeak(() => path.targetVelocity(x0, x1, 0.4));
      expectNoLeak(() => path.conditionalVelocity(x0, x1, tt));
      expectNoLeak(() => path.coefficients(0.4, n));
    }
    tf.dispose([x0, x1, tt]);
  });

  it("bad inputs give clear errors", () => {
    const path = condOTPath();
    const a = tf.tensor2d(x0Rows);
    const b = tf.tensor2d([[1, 2]]);
    const nan = tf.tensor2d([[0, NaN, 0]]);
    const one = tf.tensor2d([[0, 0, 0]]);
    const flat = tf.tensor1d([1, 2, 3]);
    expect(() => path.sample(a, b, 0.5)).toThrow(
      /x0 and x1 must have the same shape; got \[64, 3\] and \[1, 2\]/,
    );
    expect(() => path.sample(flat as unknown as tf.Tensor2D, a, 0.5)).toThrow(
      /x0 must have shape \[n, d\]; got shape \[3\]/,
    );
    expect(() => path.sample(a, a, 1.2)).toThrow(/t must lie in \[0, 1\]; got 1.2/);
    expect(() => path.sample(a, a, NaN)).toThrow(/finite number; got NaN/);
    expect(() => path.sample(nan, one, 0.5)).toThrow(/x0 must be finite; entry 1/);
    const short = tf.tensor1d([0.5, 0.5]);
    expect(() => path.conditionalVelocity(a, a, short)).toThrow(
      /one time per row: shape \[64\]; got \[2\]/,
    );
    expect(() => new AffineProbPath({} as Scheduler)).toThrow(/needs a Scheduler/);
    tf.dispose([a, b, nan, one, flat, short]);
  });
});

// ---- Conversions ------------------------------------------------------------------------------

describe("conversions between velocity, x1, epsilon and score", () => {
  seed(1);
  const n = 32;
  const d = 2;
  const x0Rows = gaussianRows(n, d);
  const x1Rows = gaussianRows(n, d, 1.5);

  /** The four exact quantities at (x0, x1, t) in float64, and x. */
  function truths(s: Scheduler, t: number): Record<PredictionKind | "x", number[][]> {
    const v = s.at(t);
    const map = (f: (x0: number, x1: number) => number): number[][] =>
      x0Rows.map((r, i) => r.map((x0, j) => f(x0, x1Rows[i][j])));
    return {
      x: map((x0, x1) => v.alpha * x1 + v.sigma * x0),
      x1: map((_, x1) => x1),
      epsilon: map((x0) => x0),
      velocity: map((x0, x1) => v.dAlpha * x1 + v.dSigma * x0),
      score: map((x0) => -x0 / v.sigma),
    };
  }

  /**
   * The error budget of out = A pred + B x in float32: the inputs (pred, x) are rounded to float32
   * and the two products and the sum each round once, so |error| <= ~4 eps (|A||pred| + |B||x|). A
   * and B are read back by converting (1, 0) and (0, 1).
   */
  function budget(
    from: PredictionKind,
    to: PredictionKind,
    t: number,
    path: AffineProbPath,
    pred: number[][],
    x: number[][],
  ): number {
    const { a, b } = conversionCoefficients(path, t, from, to);
    let scale = 0;
    pred.forEach((r, i) =>
      r.forEach((p, j) => (scale = Math.max(scale, a * Math.abs(p) + b * Math.abs(x[i][j])))),
    );
    return 8 * EPS32 * scale;
  }

  it(
    "every conversion maps the exact quantity of one kind to the exact quantity of another, on " +
      "every scheduler",
    () => {
      for (const s of SCHEDULERS) {
        const path = new AffineProbPath(s);
        for (const t of [0.15, 0.5, 0.85]) {
          const truth = truths(s, t);
          const x = tf.tensor2d(truth.x);
          for (const from of PREDICTION_KINDS) {
            const pred = tf.tensor2d(truth[from]);
            for (const to of PREDICTION_KINDS) {
              const out = convertPrediction(pred, x, t, path, from, to);
              const want = tf.tensor2d(truth[to]);
              const err = maxDiff(out, want);
              expect(err, `${s.name} t=${t} ${from}->${to}`).toBeLessThan(
                budget(from, to, t, path, truth[from], truth.x) + 4 * EPS32 * maxAbs(want),
              );
              tf.dispose([out, want]);
            }
            pred.dispose();
          }
          x.dispose();
        }
      }
    },
  );

  it("round trips (A -> B -> A) return the prediction, with per-row times", () => {
    const tt = tf.tensor1d(Array.from({ length: n }, (_, i) => 0.1 + (0.8 * i) / (n - 1)));
    const pred = tf.tensor2d(x1Rows);
    const x = tf.tensor2d(x0Rows);
    for (const s of SCHEDULERS) {
      const path = new AffineProbPath(s);
      for (const from of PREDICTION_KINDS) {
        for (const to of PREDICTION_KINDS) {
          const there = convertPrediction(pred, x, tt, path, from, to);
          const back = convertPrediction(there, x, tt, path, to, from);
          // Two affine maps with coefficients of order 1..30 here (VE: sigma up to ~30): relative
          // 1e-4.
          expect(maxDiff(back, pred), `${s.name} ${from}->${to}->${from}`).toBeLessThan(
            1e-4 * (1 + maxAbs(there)),
          );
          tf.dispose([there, back]);
        }
      }
    }
    tf.dispose([tt, pred, x]);
  });

  it(
    "negative control: a wrong formula does not round-trip or match (x1 = x + t v instead of x " +
      "+ (1 - t) v; the wrong path)",
    () => {
      const path = condOTPath();
      const t = 0.3;
      const truth = truths(path.scheduler, t);
      const x = tf.tensor2d(truth.x);
      const v = tf.tensor2d(truth.velocity);
      const x1 = tf.tensor2d(truth.x1);
      const right = velocityToX1(v, x, t, path);
      const wrongFormula = tf.add(x, tf.mul(v, t));
      const wrongPath = velocityToX1(v, x, t, vpPath());
      expect(maxDiff(right, x1)).toBeLessThan(1e-5);
      expect(maxDiff(wrongFormula, x1)).toBeGreaterThan(0.1);
      expect(maxDiff(wrongPath, x1)).toBeGreaterThan(0.1);
      const back = x1ToVelocity(wrongFormula as tf.Tensor2D, x, t, path);
      expect(maxDiff(back, v)).toBeGreaterThan(0.1);
      tf.dispose([x, v, x1, right, wrongFormula, wrongPath, back]);
    },
  );

  it("the lecture's path: v = (x + (1 - t) score) / t and x1 = x + (1 - t) v", () => {
    const t = 0.4;
    const x = tf.tensor2d(x0Rows);
    const score = tf.tensor2d(x1Rows);
    const v = scoreToVelocity(score, x, t, condOTPath()).arraySync();
    expect(v[3][1]).toBeCloseTo((x0Rows[3][1] + (1 - t) * x1Rows[3][1]) / t, 5);
    const x1 = velocityToX1(score, x, t, condOTPath()).arraySync();
    expect(x1[3][1]).toBeCloseTo(x0Rows[3][1] + (1 - t) * x1Rows[3][1], 5);
    tf.dispose([x, score]);
  });

  it(
    "singular conversions are clear errors: sigma = 0, alpha = 0, dAlpha sigma - alpha dSigma = " +
      "0, infinite slope",
    () => {
      const x = tf.tensor2d(x0Rows);
      const p = tf.tensor2d(x1Rows);
      expect(() => x1ToVelocity(p, x, 1, condOTPath())).toThrow(
        /x1ToVelocity: singular at t = 1 .*sigma_t = 0/,
      );
      expect(() => epsilonToX1(p, x, 0, condOTPath())).toThrow(
        /epsilonToX1: singular at t = 0 .*alpha_t = 0/,
      );
      const degenerate = new AffineProbPath(
        customScheduler({
          name: "degenerate",
          at: (t) => ({ alpha: t, sigma: t, dAlpha: 1, dSigma: 1 }),
        }),
      );
      expect(() => velocityToX1(p, x, 0.5, degenerate)).toThrow(
        /dAlpha\*sigma - alpha\*dSigma = 0/,
      );
      expect(() => velocityToX1(p, x, 1, vpPath())).toThrow(/not finite at t = 1/);
      // Fine where nothing is singular: velocity -> x1 at t = 1 on the lecture's path (D = 1).
      tf.dispose(velocityToX1(p, x, 1, condOTPath()));
      tf.dispose([x, p]);
    },
  );

  it("conversions are leak-free and check their inputs", () => {
    const x = tf.tensor2d(x0Rows);
    const p = tf.tensor2d(x1Rows);
    const tt = tf.tensor1d(new Array(n).fill(0.5));
    for (const from of PREDICTION_KINDS)
      for (const to of PREDICTION_KINDS)
        expectNoLeak(() => convertPrediction(p, x, tt, vePath(), from, to));
    const wrong = tf.tensor2d([[1, 2, 3]]);
    expect(() => velocityToX1(wrong, x, 0.5, condOTPath())).toThrow(
      /prediction and x must have the same shape; got \[1, 3\] and \[32, 2\]/,
    );
    expect(() => velocityToX1(p, x, -0.1, condOTPath())).toThrow(
      /t must lie in \[0, 1\]; got -0.1/,
    );
    expect(() =>
      convertPrediction(p, x, 0.5, condOTPath(), "noise" as PredictionKind, "x1"),
    ).toThrow(/from must be one of velocity, x1, epsilon, score; got "noise"/);
    tf.dispose([x, p, tt, wrong]);
  });
});
