import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { FiniteSet, GaussianMixture, IsotropicMixture } from "../src/targets/gaussian-mixture";
import { AffineProbPath, condOTPath, vePath, vpPath } from "../src/path/affine";
import { scoreToVelocity, velocityToScore, x1ToVelocity } from "../src/path/conversions";
import type { SchedulerValues } from "../src/path/scheduler";
import { normal, seed } from "../src/core/random";

// ---- Helpers ----------------------------------------------------------------------------------

const EPS32 = 2 ** -23;

const maxAbs = (x: tf.Tensor): number => tf.tidy(() => tf.max(tf.abs(x)).dataSync()[0]);
const maxDiff = (a: tf.Tensor, b: tf.Tensor): number => tf.tidy(() => maxAbs(tf.sub(a, b)));

function expectNoLeak(fn: () => tf.TensorContainer): void {
  const before = tf.memory().numTensors;
  tf.dispose(fn());
  expect(tf.memory().numTensors).toBe(before);
}

const MEANS = [
  [-2, 0],
  [2, 1],
  [0.5, -2],
];
const STDS = [0.5, 0.3, 0.8];
const WEIGHTS = [0.2, 0.5, 0.3];
const gm = new GaussianMixture({ means: MEANS, stds: STDS, weights: WEIGHTS });

const PATHS: AffineProbPath[] = [
  condOTPath(),
  vpPath({ schedule: "linear" }),
  vpPath({ schedule: "cosine" }),
  vePath({ sigmaMin: 0.05, sigmaMax: 5 }),
];

/**
 * A plain float64 reference (loops, log-sum-exp by hand) of the mixture's answers at one point,
 * written from the formulas of the module's header, independently of its tensor code.
 */
function reference(
  mix: IsotropicMixture,
  x: number[],
  v: SchedulerValues,
): { logp: number; post: number[]; velocity: number[]; score: number[] } {
  const d = x.length;
  const logits = mix.means.map((mu, k) => {
    const vk = v.alpha ** 2 * mix.stds[k] ** 2 + v.sigma ** 2;
    let sq = 0;
    for (let j = 0; j < d; j++) sq += (x[j] - v.alpha * mu[j]) ** 2;
    return Math.log(mix.weights[k]) - sq / (2 * vk) - (d / 2) * Math.log(2 * Math.PI * vk);
  });
  const top = Math.max(...logits);
  const logp = top + Math.log(logits.reduce((a, l) => a + Math.exp(l - top), 0));
  const post = logits.map((l) => Math.exp(l - logp));
  const velocity = new Array<number>(d).fill(0);
  const score = new Array<number>(d).fill(0);
  mix.means.forEach((mu, k) => {
    const s2 = mix.stds[k] ** 2;
    const vk = v.alpha ** 2 * s2 + v.sigma ** 2;
    for (let j = 0; j < d; j++) {
      const diff = x[j] - v.alpha * mu[j];
      const ex1 = mu[j] + ((v.alpha * s2) / vk) * diff;
      const ex0 = (v.sigma / vk) * diff;
      velocity[j] += post[k] * (v.dAlpha * ex1 + v.dSigma * ex0);
      score[j] -= (post[k] * diff) / vk;
    }
  });
  return { logp, post, velocity, score };
}

/** Points spread over the region where p_t lives: samples of p_t plus a few far ones. */
function probePoints(
  mix: IsotropicMixture,
  path: AffineProbPath,
  t: number,
  n: number,
): number[][] {
  const v = path.scheduler.at(t);
  const x1 = mix.sample(n).arraySync();
  const rows = x1.map((r) => r.map((x) => Math.fround(v.alpha * x + v.sigma * normal())));
  rows.push([Math.fround(6 * v.sigma + 3), -4], [0, 0]);
  return rows;
}

// ---- The marginal path p_t --------------------------------------------------------------------

describe("Gaussian mixture and finite set: exact answers along affine paths", () => {
  it("p_0 is the standard normal on the lecture's path (and on the cosine VP path)", () => {
    seed(2);
    const rows = probePoints(gm, condOTPath(), 0, 50);
    const x = tf.tensor2d(rows);
    for (const path of [condOTPath(), vpPath({ schedule: "cosine" })]) {
      const lp = gm.logDensity(x, 0, path).dataSync();
      rows.forEach((r, i) => {
        const want = -0.5 * (r[0] ** 2 + r[1] ** 2) - Math.log(2 * Math.PI);
        // float32: |log p| up to ~20 here, relative rounding ~1e-7 per op.
        expect(Math.abs(lp[i] - want), `${path.name} row ${i}`).toBeLessThan(
          1e-5 * (1 + Math.abs(want)),
        );
      });
    }
    // Negative control: at t = 0.3 the density is no longer N(0, I).
    const lp = gm.logDensity(x, 0.3).dataSync();
    const worst = Math.max(
      ...rows.map((r, i) =>
        Math.abs(lp[i] - (-0.5 * (r[0] ** 2 + r[1] ** 2) - Math.log(2 * Math.PI))),
      ),
    );
    expect(worst).toBeGreaterThan(0.1);
    x.dispose();
  });

  it(
    "logDensity, posterior, velocity and score match a float64 plain-loop reference on every " +
      "path, for t near 0 and near 1",
    () => {
      seed(3);
      for (const path of PATHS) {
        for (const t of [1e-6, 0.3, 0.7, 0.999, 0.9999]) {
          const v = path.scheduler.at(t);
          const rows = probePoints(gm, path, t, 30);
          const x = tf.tensor2d(rows);
          const lp = gm.logDensity(x, t, path).dataSync();
          const post = gm.posterior(x, t, path).arraySync();
          const vel = gm.velocity(x, t, path).arraySync();
          const sc = gm.score(x, t, path).arraySync();
          rows.forEach((r, i) => {
            const ref = reference(gm, r, v);
            const where = `${path.name} t=${t} row ${i}`;
            // Float32 logits: the quadratic term |x - alpha mu|^2 / (2 v) rounds at ~1e-7 of its
            // size.
            expect(Math.abs(lp[i] - ref.logp), where).toBeLessThan(2e-6 * (1 + Math.abs(ref.logp)));
            ref.post.forEach((p, k) =>
              expect(Math.abs(post[i][k] - p), where).toBeLessThan(1e-5 * (1 + Math.abs(ref.logp))),
            );
            // velocity and score: sums of terms as large as |x| / v_k (score) or |dSigma| sigma |x|
            // / v_k.
            const scale =
              Math.max(1, ...r.map(Math.abs)) *
              (1 +
                (Math.abs(v.dSigma) * v.sigma + Math.abs(v.dAlpha)) /
                  Math.min(...STDS.map((s) => v.alpha ** 2 * s * s + v.sigma ** 2)));
            for (let j = 0; j < 2; j++) {
              expect(Math.abs(vel[i][j] - ref.velocity[j]), `${where} velocity`).toBeLessThan(
                1e-5 * scale * (1 + Math.abs(ref.logp)),
              );
              expect(Math.abs(sc[i][j] - ref.score[j]), `${where} score`).toBeLessThan(
                1e-5 * scale * (1 + Math.abs(ref.logp)),
              );
            }
          });
          x.dispose();
        }
      }
    },
  );

  it("posterior rows sum to 1 (and are finite) for t near 0 and 1, per-row times included", () => {
    seed(4);
    const set = new FiniteSet(gm.sample(40));
    for (const target of [gm, set] as IsotropicMixture[]) {
      for (const t of [0, 1e-6, 0.5, 0.999, 0.9999]) {
        const x = tf.tensor2d(probePoints(target, condOTPath(), t, 60));
        const post = target.posterior(x, t);
        const sums = tf.sum(post, 1);
        // Float64 weights renormalised to sum 1, each rounded to float32 (relative 6e-8).
        expect(maxDiff(sums, tf.onesLike(sums)), `${target.label} t=${t}`).toBeLessThan(1e-6);
        expect(Number.isFinite(tf.sum(post).dataSync()[0])).toBe(true);
        tf.dispose([x, post, sums]);
      }
    }
    const x = tf.tensor2d(probePoints(gm, condOTPath(), 0.5, 20));
    const tt = tf.linspace(0, 1, x.shape[0]) as tf.Tensor1D;
    const post = gm.posterior(x, tt);
    const sums = tf.sum(post, 1);
    expect(maxDiff(sums, tf.onesLike(sums))).toBeLessThan(1e-6);
    tf.dispose([x, tt, post, sums]);
  });

  it(
    "p_t integrates to 1 over a 2-D grid at several t (trapezoid rule, exponentially accurate " +
      "for Gaussians)",
    () => {
      const h = 0.04;
      const m = 301; // [-6, 6]^2
      const pts: number[][] = [];
      for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) pts.push([-6 + i * h, -6 + j * h]);
      const x = tf.tensor2d(pts);
      const integral = (logp: tf.Tensor1D): number =>
        Array.from(logp.dataSync()).reduce((a, l) => a + Math.exp(l), 0) * h * h;
      for (const [target, t] of [
        [gm, 0],
        [gm, 0.5],
        [gm, 0.9],
        [gm, 1],
        [new FiniteSet(MEANS), 0.5],
        [new FiniteSet(MEANS), 0.9],
      ] as [IsotropicMixture, number][]) {
        const lp = target.logDensity(x, t);
        // Mass outside [-6, 6]^2: under 1e-5 (the widest component at t = 0 has std 1, centred
        // within 2 of 0). Trapezoid error for a Gaussian of std >= 0.1 with h = 0.04: below 1e-12.
        // Float32 exp: 1e-6 relative.
        expect(Math.abs(integral(lp) - 1), `${target.label} t=${t}`).toBeLessThan(1e-4);
        lp.dispose();
      }
      // Negative control: the density of 2x without its Jacobian (p_t(2x)) integrates to 1/4.
      const x2 = tf.mul(x, 2) as tf.Tensor2D;
      const lp2 = gm.logDensity(x2, 0.5);
      expect(Math.abs(integral(lp2) - 1)).toBeGreaterThan(0.5);
      tf.dispose([x, x2, lp2]);
    },
  );

  it(
    "a GaussianMixture at t = 1 is the mixture itself (no error); a FiniteSet at t = 1 is a " +
      "clear error, never a NaN",
    () => {
      const x = tf.tensor2d([
        [0, 0],
        [2, 1],
      ]);
      const lp = gm.logDensity(x, 1).dataSync();
      [
        [0, 0],
        [2, 1],
      ].forEach((r, i) =>
        expect(lp[i]).toBeCloseTo(
          reference(gm, r, { alpha: 1, sigma: 0, dAlpha: 1, dSigma: -1 }).logp,
          4,
        ),
      );
      tf.dispose(gm.velocity(x, 1));
      const set = new FiniteSet(MEANS);
      for (const method of [
        "logDensity",
        "posterior",
        "velocity",
        "score",
        "posteriorMean",
      ] as const) {
        expect(() => set[method](x, 1), method).toThrow(
          /FiniteSet\.\w+: at t = 1 the condOT path has sigma_t = 0.*Dirac deltas.*t < 1/,
        );
      }
      const tt = tf.tensor1d([0.5, 1]);
      expect(() => set.velocity(x, tt)).toThrow(/at t = 1/);
      // Fine on a path that keeps a width at t = 1.
      tf.dispose(set.velocity(x, 1, condOTPath(0.01)));
      // The VP velocity needs dSigma, which is infinite at t = 1: a clear error, not a NaN.
      expect(() => gm.velocity(x, 1, vpPath())).toThrow(/dSigma_t = -Infinity at t = 1/);
      tf.dispose([x, tt]);
    },
  );

  it("a FiniteSet equals a GaussianMixture with tiny stds (1e-6)", () => {
    seed(5);
    const set = new FiniteSet(MEANS, WEIGHTS);
    const thin = new GaussianMixture({ means: MEANS, stds: 1e-6, weights: WEIGHTS });
    for (const t of [0.2, 0.9, 0.999]) {
      const x = tf.tensor2d(probePoints(set, condOTPath(), t, 40));
      for (const method of ["logDensity", "posterior", "velocity", "score"] as const) {
        const a = set[method](x, t);
        const b = thin[method](x, t);
        // alpha^2 s^2 = 1e-12 against sigma^2 >= 1e-6: relative change <= 1e-6, below float32 noise
        // of the velocity at t = 0.999 (|x| eps / sigma ~ 1e-4).
        expect(maxDiff(a, b), `${method} t=${t}`).toBeLessThan(1e-4 * (1 + maxAbs(a)));
        tf.dispose([a, b]);
      }
      x.dispose();
    }
  });

  it(
    "near t = 1 the finite set's velocity at x_t = t x1_k + (1 - t) z is x1_k - z (posterior " +
      "one-hot, no overflow)",
    () => {
      seed(6);
      const set = new FiniteSet(MEANS);
      for (const t of [0.999, 0.9999]) {
        const z = [
          [0.3, -0.7],
          [1.2, 0.4],
          [-0.5, -1.1],
        ];
        const x = tf.tensor2d(MEANS.map((mu, k) => mu.map((m, j) => t * m + (1 - t) * z[k][j])));
        const u = set.velocity(x, t).arraySync();
        // x is rounded to float32 (|x| <= 2, error 1.2e-7) and divided by 1 - t in the velocity.
        const tol = (4 * 2 * EPS32) / (1 - t) + 1e-5;
        MEANS.forEach((mu, k) =>
          mu.forEach((m, j) =>
            expect(Math.abs(u[k][j] - (m - z[k][j])), `t=${t}`).toBeLessThan(tol),
          ),
        );
        x.dispose();
      }
    },
  );

  it(
    "the exact score and the exact velocity (and posterior mean) are related by the conversion " +
      "formulas, on every path",
    () => {
      seed(7);
      for (const path of PATHS) {
        for (const t of [0.2, 0.6, 0.9]) {
          const x = tf.tensor2d(probePoints(gm, path, t, 40));
          const u = gm.velocity(x, t, path);
          const s = gm.score(x, t, path);
          const x1hat = gm.posteriorMean(x, t, path);
          const fromScore = scoreToVelocity(s, x, t, path);
          const fromX1 = x1ToVelocity(x1hat, x, t, path);
          const backScore = velocityToScore(u, x, t, path);
          const scale = 1 + maxAbs(u) + maxAbs(s);
          // Both sides in float32 from the same posterior; the conversions' coefficients are below
          // ~30 here.
          expect(maxDiff(fromScore, u), `${path.name} t=${t} score->velocity`).toBeLessThan(
            2e-4 * scale,
          );
          expect(maxDiff(fromX1, u), `${path.name} t=${t} x1->velocity`).toBeLessThan(2e-4 * scale);
          expect(maxDiff(backScore, s), `${path.name} t=${t} velocity->score`).toBeLessThan(
            2e-4 * scale,
          );
          // Negative control: the score converted with another path's coefficients is not the
          // velocity.
          const other = path === PATHS[0] ? PATHS[1] : PATHS[0];
          const wrong = scoreToVelocity(s, x, t, other);
          expect(maxDiff(wrong, u), `${path.name} control`).toBeGreaterThan(0.05 * scale);
          tf.dispose([x, u, s, x1hat, fromScore, fromX1, backScore, wrong]);
        }
      }
    },
  );

  it(
    "the exact marginal velocity matches a Monte-Carlo estimate of E[dAlpha x1 + dSigma x0 | " +
      "x_t = x]; a wrong field misses",
    () => {
      // Self-normalised importance sampling with x1_j ~ p_1 drawn by `sample` (not using the
      // closed-form posterior): given x1_j, x_t = x has likelihood N(x; alpha x1_j, sigma^2 I) and
      // then x0 = (x - alpha x1_j) / sigma, so the conditional velocity is u_t(x | x1_j). The
      // estimate is sum_j w_j u_t(x | x1_j) / sum_j w_j, with standard error sqrt(sum_j w_j^2 (f_j
      // - mean)^2) / sum_j w_j.
      seed(8);
      const M = 100_000;
      const x1 = gm.sample(M);
      const x1Data = x1.dataSync();
      x1.dispose();
      for (const path of [condOTPath(), vpPath({ schedule: "cosine" })]) {
        for (const t of [0.35, 0.7]) {
          const v = path.scheduler.at(t);
          const queries = probePoints(gm, path, t, 6).slice(0, 6);
          const x = tf.tensor2d(queries);
          const exact = gm.velocity(x, t, path).arraySync();
          // the field at another time
          const wrongField = gm.velocity(x, Math.min(1, t + 0.15), path).arraySync();
          let worstZ = 0;
          let wrongZ = 0;
          queries.forEach((q, i) => {
            const logw = new Float64Array(M);
            let top = -Infinity;
            for (let m = 0; m < M; m++) {
              const a = q[0] - v.alpha * x1Data[2 * m];
              const b = q[1] - v.alpha * x1Data[2 * m + 1];
              logw[m] = -(a * a + b * b) / (2 * v.sigma * v.sigma);
              top = Math.max(top, logw[m]);
            }
            for (let j = 0; j < 2; j++) {
              let sw = 0;
              let swf = 0;
              for (let m = 0; m < M; m++) {
                const w = Math.exp(logw[m] - top);
                const f =
                  v.dAlpha * x1Data[2 * m + j] +
                  (v.dSigma * (q[j] - v.alpha * x1Data[2 * m + j])) / v.sigma;
                sw += w;
                swf += w * f;
              }
              const est = swf / sw;
              let sv = 0;
              for (let m = 0; m < M; m++) {
                const w = Math.exp(logw[m] - top);
                const f =
                  v.dAlpha * x1Data[2 * m + j] +
                  (v.dSigma * (q[j] - v.alpha * x1Data[2 * m + j])) / v.sigma;
                sv += w * w * (f - est) ** 2;
              }
              const se = Math.sqrt(sv) / sw;
              worstZ = Math.max(worstZ, Math.abs(exact[i][j] - est) / (se + 1e-5));
              wrongZ = Math.max(wrongZ, Math.abs(wrongField[i][j] - est) / (se + 1e-5));
            }
          });
          // 12 comparisons of an approximately standard normal z: |z| < 4.5 unless something is
          // wrong.
          expect(worstZ, `${path.name} t=${t}`).toBeLessThan(4.5);
          expect(wrongZ, `${path.name} t=${t} control`).toBeGreaterThan(10);
          x.dispose();
        }
      }
    },
  );

  it(
    "sample: seeded, with the mixture's mean and covariance (within Monte-Carlo error); a " +
      "finite set samples its points",
    () => {
      seed(9);
      const a = gm.sample(20_000);
      seed(9);
      const b = gm.sample(20_000);
      expect(maxDiff(a, b)).toBe(0);
      const data = a.arraySync();
      const mean = [0, 1].map((j) => MEANS.reduce((s, mu, k) => s + WEIGHTS[k] * mu[j], 0));
      const second = [0, 1].map((j) =>
        MEANS.reduce((s, mu, k) => s + WEIGHTS[k] * (mu[j] ** 2 + STDS[k] ** 2), 0),
      );
      for (let j = 0; j < 2; j++) {
        const col = data.map((r) => r[j]);
        const m = col.reduce((s, c) => s + c, 0) / col.length;
        const sd = Math.sqrt(second[j] - mean[j] ** 2);
        expect(Math.abs(m - mean[j])).toBeLessThan((4 * sd) / Math.sqrt(col.length));
      }
      tf.dispose([a, b]);
      const set = new FiniteSet(MEANS, WEIGHTS);
      const s = set.sample(300).arraySync();
      expect(s.every((r) => MEANS.some((mu) => mu[0] === r[0] && mu[1] === r[1]))).toBe(true);
      expect(set.dim).toBe(2);
      expect(set.numComponents).toBe(3);
      expect(set.points).toEqual(MEANS);
    },
  );

  it("field(), scoreField() and logDensityField() are the methods as closures", () => {
    const x = tf.tensor2d([[0.1, 0.2]]);
    const path = vpPath({ schedule: "cosine" });
    const pairs: [tf.Tensor, tf.Tensor][] = [
      [gm.field(path)(x, 0.4), gm.velocity(x, 0.4, path)],
      [gm.scoreField()(x, 0.4), gm.score(x, 0.4)],
      [gm.logDensityField()(x, 0.4), gm.logDensity(x, 0.4)],
    ];
    for (const [p, q] of pairs) expect(maxDiff(p, q)).toBe(0);
    tf.dispose([x, pairs]);
  });

  it("every method is leak-free", () => {
    const x = tf.tensor2d([
      [0.1, 0.2],
      [1, -1],
    ]);
    const tt = tf.tensor1d([0.2, 0.8]);
    const set = new FiniteSet(MEANS);
    for (const target of [gm, set] as IsotropicMixture[]) {
      for (const t of [0.5, tt] as const) {
        expectNoLeak(() => target.logDensity(x, t));
        expectNoLeak(() => target.posterior(x, t));
        expectNoLeak(() => target.velocity(x, t, vpPath()));
        expectNoLeak(() => target.score(x, t));
        expectNoLeak(() => target.posteriorMean(x, t));
        expectNoLeak(() => target.field()(x, t));
      }
      expectNoLeak(() => target.sample(10));
    }
    // The constructor reads a tensor without keeping or disposing it.
    const means = tf.tensor2d(MEANS);
    expectNoLeak(() => {
      new GaussianMixture({ means, stds: 1 });
      return [];
    });
    expect(means.isDisposed).toBe(false);
    tf.dispose([x, tt, means]);
  });

  it("bad input gives clear errors", () => {
    expect(() => new GaussianMixture({ means: [[0, 0], [1]], stds: 1 })).toThrow(
      /every row of means must have 2 entries; row 1 has 1/,
    );
    expect(() => new GaussianMixture({ means: [[0, NaN]], stds: 1 })).toThrow(
      /means must be finite; entry \[0, 1\] is NaN/,
    );
    expect(() => new GaussianMixture({ means: [], stds: 1 })).toThrow(/at least one row/);
    expect(() => new GaussianMixture({ means: MEANS, stds: 0 })).toThrow(
      /stds must be finite and > 0 \(use FiniteSet for zero width\); entry 0 is 0/,
    );
    expect(() => new GaussianMixture({ means: MEANS, stds: [1, 1] })).toThrow(
      /one per component \(3\); got 2/,
    );
    expect(() => new GaussianMixture({ means: MEANS, stds: 1, weights: [0.5, 0.5] })).toThrow(
      /weights must have one entry per component \(3\); got 2/,
    );
    expect(() => new GaussianMixture({ means: MEANS, stds: 1, weights: [0.5, 0.5, 0.5] })).toThrow(
      /weights must sum to 1; they sum to 1.5/,
    );
    expect(
      () => new GaussianMixture({ means: MEANS, stds: 1, weights: [1.2, -0.1, -0.1] }),
    ).toThrow(/weights must be finite and > 0; entry 1 is -0.1/);
    const flat = tf.tensor1d([1, 2]);
    expect(() => new FiniteSet(flat as unknown as tf.Tensor2D)).toThrow(
      /points must have shape \[K, d\]; got shape \[2\]/,
    );
    const x3 = tf.tensor2d([[0, 0, 0]]);
    expect(() => gm.velocity(x3, 0.5)).toThrow(
      new RegExp(
        String.raw`GaussianMixture.velocity: x must have shape \[n, 2\]` +
          String.raw` \(the target has dimension 2\); got shape \[1, 3\]`,
      ),
    );
    const x = tf.tensor2d([
      [0, 0],
      [NaN, 1],
    ]);
    expect(() => gm.logDensity(x, 0.5)).toThrow(/x must be finite; entry 2/);
    const ok = tf.tensor2d([[0, 0]]);
    expect(() => gm.logDensity(ok, 1.5)).toThrow(/t must lie in \[0, 1\]; got 1.5/);
    expect(() => gm.logDensity(ok, NaN)).toThrow(/t must be a finite number; got NaN/);
    const tt = tf.tensor1d([0.5, 0.5]);
    expect(() => gm.posterior(ok, tt)).toThrow(/one time per row: shape \[1\]; got \[2\]/);
    expect(() => gm.score(ok, 0.5, {} as AffineProbPath)).toThrow(/path must be an AffineProbPath/);
    expect(() => gm.sample(0)).toThrow(/n must be a positive integer; got 0/);
    tf.dispose([flat, x3, x, ok, tt]);
  });
});
