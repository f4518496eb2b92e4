// DDPM's discrete forward process, its continuous limit (the VP-SDE), the VE-SDE, the
// time-convention translators, and the ancestral step's posterior against Ho et al.'s formulas
// (issue 7, notebook 08).
import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import {
  courseToDiffusionTime,
  ddpmForwardStep,
  ddpmIndexToTime,
  ddpmNoise,
  ddpmPath,
  ddpmSchedule,
  ddpmScheduler,
  ddpmTimeGrid,
  diffusionToCourseTime,
  timeToDdpmIndex,
} from "../src/path/ddpm";
import { forwardSde, veSde, vpSde } from "../src/path/sde";
import { condOTPath, vePath, vpPath } from "../src/path/affine";
import { vpScheduler } from "../src/path/scheduler";
import { ancestralCoefficients } from "../src/solvers/ddim";
import { simulateForwardSde } from "../src/solvers/sde";
import { randn, seed } from "../src/core/random";
import { sampleMoments } from "../src/metrics/moments";

const leakFree = (fn: () => tf.TensorContainer): void => {
  const before = tf.memory().numTensors;
  tf.dispose(fn());
  expect(tf.memory().numTensors).toBe(before);
};

describe("DDPM's schedules", () => {
  it("linear: Ho et al.'s 1e-4 .. 0.02 at K = 1000, alphaBar the running product", () => {
    const d = ddpmSchedule();
    expect(d.K).toBe(1000);
    expect(d.betas[1]).toBeCloseTo(1e-4, 15);
    expect(d.betas[1000]).toBeCloseTo(0.02, 15);
    expect(d.betas[500] - d.betas[499]).toBeCloseTo((0.02 - 1e-4) / 999, 15);
    let prod = 1;
    for (let k = 1; k <= 1000; k++) prod *= 1 - d.betas[k];
    expect(d.alphaBars[1000]).toBe(prod);
    expect(d.alphaBars[1000]).toBeLessThan(1e-4); // ~4e-5: almost pure noise
  });

  it(
    "cosine: alphaBar_k = f(k/K) / f(0) at every step but the clipped last one (beta_K = " +
      "0.999)",
    () => {
      const d = ddpmSchedule({ steps: 200, schedule: "cosine" });
      const f = (s: number): number => Math.cos(((s + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
      let worst = 0;
      for (let k = 0; k < 200; k++)
        worst = Math.max(worst, Math.abs(d.alphaBars[k] - f(k / 200) / f(0)));
      expect(worst).toBeLessThan(1e-14); // a product of 199 ratios in float64
      expect(d.betas[200]).toBe(0.999);
      expect(d.alphaBars[200]).toBeCloseTo(d.alphaBars[199] * 0.001, 18);
    },
  );

  it(
    "the discrete alphaBar tends to the VP-SDE's exp(-integral beta) at rate 1/K (linear); a " +
      "mismatched limit does not",
    () => {
      // Error over all steps k of |alphaBar_k - alphaBar(k / K)|. The two O(1/K) sources: the
      // Riemann sum of beta on the linspace nodes, and log(1 - beta_k) = -beta_k - beta_k^2 / 2 -
      // ...
      const Ks = [100, 200, 400, 800, 1600];
      const errs = Ks.map((K) => {
        const d = ddpmSchedule({ steps: K });
        let worst = 0;
        for (let k = 0; k <= K; k++)
          worst = Math.max(worst, Math.abs(d.alphaBars[k] - d.limit.at(1 - k / K).alpha ** 2));
        return worst;
      });
      const slopes = errs.slice(1).map((e, i) => Math.log(e / errs[i]) / Math.log(2));
      for (const s of slopes) expect(s).toBeGreaterThan(-1.1);
      for (const s of slopes) expect(s).toBeLessThan(-0.9);
      expect(errs[errs.length - 1]).toBeLessThan(2e-3);
      // Negative control: the limit with the other time convention (alpha at t = k / K instead of 1
      // - k / K).
      const K = 1600;
      const d = ddpmSchedule({ steps: K });
      let wrong = 0;
      for (let k = 0; k <= K; k++)
        wrong = Math.max(wrong, Math.abs(d.alphaBars[k] - d.limit.at(k / K).alpha ** 2));
      expect(wrong).toBeGreaterThan(0.5);
      // Negative control: Ho's betas NOT rescaled by K (betaMin, betaMax = 1e-4, 0.02 as continuous
      // rates).
      const unscaled = vpScheduler({ betaMin: 1e-4, betaMax: 0.02 });
      let off = 0;
      for (let k = 0; k <= K; k++)
        off = Math.max(off, Math.abs(d.alphaBars[k] - unscaled.at(1 - k / K).alpha ** 2));
      expect(off).toBeGreaterThan(0.5);
    },
  );

  it(
    "ddpmScheduler is exact at the step times, continuous in between, with alpha^2 + sigma^2 = " +
      "1 and the derivative of its interpolant",
    () => {
      const d = ddpmSchedule({ steps: 50 });
      const s = ddpmScheduler(d);
      for (let k = 0; k <= 50; k++) {
        const v = s.at(ddpmIndexToTime(k, 50));
        expect(Math.abs(v.alpha ** 2 - d.alphaBars[k])).toBeLessThan(1e-15);
        expect(Math.abs(v.alpha ** 2 + v.sigma ** 2 - 1)).toBeLessThan(1e-15);
      }
      // Inside a step: central difference of alpha against dAlpha (log-linear interpolation,
      // float64).
      for (const t of [0.111, 0.5037, 0.95]) {
        const h = 1e-7;
        const v = s.at(t);
        expect(Math.abs((s.at(t + h).alpha - s.at(t - h).alpha) / (2 * h) - v.dAlpha)).toBeLessThan(
          1e-6 * (1 + Math.abs(v.dAlpha)),
        );
        expect(Math.abs((s.at(t + h).sigma - s.at(t - h).sigma) / (2 * h) - v.dSigma)).toBeLessThan(
          1e-6 * (1 + Math.abs(v.dSigma)),
        );
      }
      expect(s.at(1)).toEqual({
        alpha: 1,
        sigma: 0,
        dAlpha: expect.any(Number),
        dSigma: -Infinity,
      });
      expect(ddpmPath(d).name).toBe("ddpm-linear-K50");
    },
  );

  it("bad options are clear errors", () => {
    expect(() => ddpmSchedule({ steps: 1 })).toThrow(/steps \(K\) must be an integer >= 2; got 1/);
    expect(() => ddpmSchedule({ steps: 10 })).toThrow(
      /beta_K = betaMax \/ K must be < 1; got 20 \/ 10/,
    );
    expect(() => ddpmSchedule({ schedule: "cosine", betaMax: 3 })).toThrow(
      /betaMin and betaMax belong to the linear schedule/,
    );
    expect(() => ddpmSchedule({ schedule: "quadratic" as "linear" })).toThrow(
      /schedule must be "linear" or "cosine"; got "quadratic"/,
    );
    expect(() => ddpmSchedule({ K: 5 } as object)).toThrow(/unknown option "K"/);
  });
});

describe("time conventions", () => {
  it("course t <-> diffusion s = 1 - t and DDPM's k <-> t_k = 1 - k / K round-trip", () => {
    for (let i = 0; i <= 64; i++) {
      const t = i / 64; // dyadic: exact
      expect(diffusionToCourseTime(courseToDiffusionTime(t))).toBe(t);
    }
    for (const t of [0.1, 0.3, 0.7, 0.9999])
      expect(Math.abs(diffusionToCourseTime(courseToDiffusionTime(t)) - t)).toBeLessThanOrEqual(
        2 ** -53,
      );
    for (const K of [10, 1000, 999])
      for (let k = 0; k <= K; k++) expect(timeToDdpmIndex(ddpmIndexToTime(k, K), K)).toBe(k);
    expect(ddpmIndexToTime(0, 1000)).toBe(1); // DDPM's clean data is the course's t = 1
    expect(ddpmIndexToTime(1000, 1000)).toBe(0);
    expect(timeToDdpmIndex(0.7503, 1000, "nearest")).toBe(250);
    expect(ddpmTimeGrid(1000, 250)).toEqual([0, 0.25, 0.5, 0.75, 1]);
    // Negative control: reading k as a course time directly (t = k / K) does not round-trip.
    expect(timeToDdpmIndex(250 / 1000, 1000)).not.toBe(250);
  });

  it("off-grid times and bad indices are clear errors", () => {
    expect(() => timeToDdpmIndex(0.7503, 1000)).toThrow(
      /t = 0.7503 is not a step time 1 - k \/ 1000/,
    );
    expect(() => ddpmIndexToTime(1001, 1000)).toThrow(
      /k must be an integer in \[0, 1000\]; got 1001/,
    );
    expect(() => courseToDiffusionTime(1.2)).toThrow(/t must lie in \[0, 1\]; got 1.2/);
    expect(() => ddpmTimeGrid(1000, 3)).toThrow(
      /stride must be a positive integer dividing K = 1000; got 3/,
    );
  });
});

describe("DDPM's forward process in its own index", () => {
  it(
    "iterating q(x_k | x_{k-1}) gives the closed form q(x_k | x_data) (moments, 4000 points); " +
      "skipping the sqrt(1 - beta) shrink does not",
    () => {
      seed(3);
      const d = ddpmSchedule({ steps: 100 });
      const n = 4000;
      const xData = tf.fill([n, 1], 2) as tf.Tensor2D;
      let x = tf.clone(xData) as tf.Tensor2D;
      let bad = tf.clone(xData) as tf.Tensor2D;
      for (let k = 1; k <= 30; k++) {
        const next = ddpmForwardStep(x, k, d);
        x.dispose();
        x = next;
        const b = tf.tidy(
          () => tf.add(bad, tf.mul(randn([n, 1]), Math.sqrt(d.betas[k]))) as tf.Tensor2D,
        ); // no shrink
        bad.dispose();
        bad = b;
      }
      const ab = d.alphaBars[30];
      const m = sampleMoments(x);
      // Standard errors: sd / sqrt(n) ~ 0.016 for the mean, ~sd^2 sqrt(2 / n) ~ 0.02 for the
      // variance: 4 se.
      const sd = Math.sqrt(1 - ab);
      expect(Math.abs(m.mean[0] - 2 * Math.sqrt(ab))).toBeLessThan((4 * sd) / Math.sqrt(n));
      expect(Math.abs(m.cov[0][0] - (1 - ab))).toBeLessThan(4 * (1 - ab) * Math.sqrt(2 / n));
      const closed = ddpmNoise(xData, 30, d);
      const mc = sampleMoments(closed.xk);
      expect(Math.abs(mc.mean[0] - 2 * Math.sqrt(ab))).toBeLessThan((4 * sd) / Math.sqrt(n));
      const mb = sampleMoments(bad);
      expect(Math.abs(mb.mean[0] - 2 * Math.sqrt(ab))).toBeGreaterThan((20 * sd) / Math.sqrt(n));
      tf.dispose([xData, x, bad, closed]);
    },
  );

  it(
    "ddpmNoise with given noise is sqrt(alphaBar) x + sqrt(1 - alphaBar) eps exactly; " +
      "leak-free",
    () => {
      const d = ddpmSchedule({ steps: 100 });
      const xData = tf.tensor2d([
        [1, -2],
        [0.5, 3],
      ]);
      const eps = tf.tensor2d([
        [0.3, 0.1],
        [-1, 2],
      ]);
      const { xk, noise } = ddpmNoise(xData, 40, d, eps);
      const ab = d.alphaBars[40];
      const want = [
        [Math.sqrt(ab) + 0.3 * Math.sqrt(1 - ab), -2 * Math.sqrt(ab) + 0.1 * Math.sqrt(1 - ab)],
        [0.5 * Math.sqrt(ab) - Math.sqrt(1 - ab), 3 * Math.sqrt(ab) + 2 * Math.sqrt(1 - ab)],
      ];
      (xk.arraySync() as number[][]).forEach((r, i) =>
        r.forEach((v, j) => expect(Math.abs(v - want[i][j])).toBeLessThan(1e-6)),
      );
      expect(noise.arraySync()).toEqual(eps.arraySync());
      // It is the course's affine path at t_k = 1 - k / K with x1 = data, x0 = noise:
      const s = ddpmPath(d).sample(eps, xData, ddpmIndexToTime(40, 100));
      expect(tf.tidy(() => tf.max(tf.abs(tf.sub(s.xt, xk))).dataSync()[0])).toBeLessThan(1e-6);
      leakFree(() => ddpmNoise(xData, 40, d));
      leakFree(() => ddpmForwardStep(xData, 40, d));
      expect(() => ddpmNoise(xData, 101, d)).toThrow(/k must be an integer in \[0, 100\]; got 101/);
      expect(() => ddpmForwardStep(xData, 0, d)).toThrow(
        /k must be an integer in \[1, 100\]; got 0/,
      );
      tf.dispose([xData, eps, xk, noise, s]);
    },
  );
});

describe("forward SDEs as affine paths", () => {
  it(
    "the generic f = -dAlpha / alpha, g^2 = 2 sigma D / alpha gives the VP-SDE's -beta / 2, " +
      "beta and the VE-SDE's 0, d sigma^2 / ds",
    () => {
      const vp = vpSde();
      const ve = veSde({ sigmaMin: 0.05, sigmaMax: 5 });
      const gvp = forwardSde(vpPath());
      const gve = forwardSde(vePath({ sigmaMin: 0.05, sigmaMax: 5 }));
      for (const s of [0.01, 0.2, 0.5, 0.9, 1]) {
        const beta = 0.1 + s * 19.9;
        expect(vp.at(s).f).toBeCloseTo(-beta / 2, 12);
        expect(Math.abs(gvp.at(s).f - vp.at(s).f)).toBeLessThan(1e-12 * beta);
        expect(Math.abs(gvp.at(s).g2 - vp.at(s).g2)).toBeLessThan(1e-10 * beta);
        expect(Math.abs(gve.at(s).g2 - ve.at(s).g2)).toBeLessThan(1e-10 * ve.at(s).g2);
        expect(gve.at(s).f).toBeCloseTo(0, 15);
      }
      // the closed form is fine at s = 0
      expect(vp.at(0)).toEqual({ f: -0.05, g: Math.sqrt(0.1), g2: 0.1 });
      expect(() => gvp.at(0)).toThrow(/slope is not finite at s = 0/);
      expect(() => forwardSde(condOTPath()).at(1)).toThrow(/alpha = 0 at s = 1/);
    },
  );

  it(
    "the mean and variance ODEs d alpha/ds = f alpha, d sigma^2/ds = 2 f sigma^2 + g^2 (RK4, " +
      "float64) reproduce each path; wrong g fails",
    () => {
      const cases = [
        forwardSde(vpPath({ schedule: "cosine" })),
        forwardSde(condOTPath()),
        vpSde(),
        veSde({ sigmaMin: 0.05, sigmaMax: 5 }),
      ];
      for (const sde of cases) {
        const path = sde.path;
        // Start at s = 0.01 (t = 0.99) from the path's own values and integrate to s = 0.9.
        const s0 = 0.01;
        const s1 = 0.9;
        const N = 400;
        const h = (s1 - s0) / N;
        const rhs = (s: number, y: number[], gScale: number): number[] => {
          const { f, g2 } = sde.at(s);
          return [f * y[0], 2 * f * y[1] + gScale * g2];
        };
        const run = (gScale: number): number[] => {
          const start = path.scheduler.at(1 - s0);
          let y = [start.alpha, start.sigma ** 2];
          for (let i = 0; i < N; i++) {
            const s = s0 + i * h;
            const k1 = rhs(s, y, gScale);
            const k2 = rhs(
              s + h / 2,
              y.map((v, j) => v + (h / 2) * k1[j]),
              gScale,
            );
            const k3 = rhs(
              s + h / 2,
              y.map((v, j) => v + (h / 2) * k2[j]),
              gScale,
            );
            const k4 = rhs(
              s + h,
              y.map((v, j) => v + h * k3[j]),
              gScale,
            );
            y = y.map((v, j) => v + (h / 6) * (k1[j] + 2 * k2[j] + 2 * k3[j] + k4[j]));
          }
          return y;
        };
        const end = path.scheduler.at(1 - s1);
        const [a, v] = run(1);
        expect(Math.abs(a - end.alpha), sde.name).toBeLessThan(1e-7 * (1 + end.alpha));
        expect(Math.abs(v - end.sigma ** 2), sde.name).toBeLessThan(1e-7 * (1 + end.sigma ** 2));
        const [, vWrong] = run(0.5);
        expect(Math.abs(vWrong - end.sigma ** 2), `${sde.name} with g^2 halved`).toBeGreaterThan(
          0.05 * end.sigma ** 2,
        );
      }
    },
  );

  it(
    "simulating the VP-SDE from data (Euler-Maruyama, 500 steps) lands on the path's marginal " +
      "N(alpha m, sigma^2 + alpha^2 v)",
    () => {
      seed(5);
      const n = 4000;
      // N(1.5, 0.25)
      const xData = tf.tidy(() => tf.add(tf.mul(randn([n, 1]), 0.5), 1.5) as tf.Tensor2D);
      const sde = vpSde();
      const out = simulateForwardSde(sde, xData, { steps: 500, s1: 0.3, saveAt: [0.1, 0.3] });
      expect(out.trajectory!.shape).toEqual([2, n, 1]);
      expect(out.nfe).toBe(0);
      const { alpha, sigma } = sde.path.scheduler.at(0.7);
      const m = sampleMoments(out.x);
      const varWant = sigma ** 2 + alpha ** 2 * 0.25;
      // EM's step error is O(1/500); sampling error ~ sd / sqrt(n) = 0.016: 4 se plus 1e-2.
      expect(Math.abs(m.mean[0] - 1.5 * alpha)).toBeLessThan(
        (4 * Math.sqrt(varWant)) / Math.sqrt(n) + 1e-2,
      );
      expect(Math.abs(m.cov[0][0] - varWant)).toBeLessThan(4 * varWant * Math.sqrt(2 / n) + 1e-2);
      leakFree(() => simulateForwardSde(sde, xData, { steps: 10, saveAt: [0.5] }));
      tf.dispose([xData, out]);
    },
  );
});

describe("the ancestral step's posterior", () => {
  it("on DDPM's grid equals Ho et al.'s mean coefficients and beta~_k (float64, 1e-12)", () => {
    for (const schedule of ["linear", "cosine"] as const) {
      const d = ddpmSchedule({ steps: 100, schedule });
      const path = ddpmPath(d);
      for (const k of [1, 2, 37, 99, 100]) {
        const c = ancestralCoefficients(path, ddpmIndexToTime(k, 100), ddpmIndexToTime(k - 1, 100));
        const ab = d.alphaBars[k];
        const abPrev = d.alphaBars[k - 1];
        const beta = d.betas[k];
        const want = {
          xCoef: (Math.sqrt(1 - beta) * (1 - abPrev)) / (1 - ab),
          x1Coef: (Math.sqrt(abPrev) * beta) / (1 - ab),
          std: Math.sqrt(((1 - abPrev) * beta) / (1 - ab)),
        };
        expect(Math.abs(c.xCoef - want.xCoef), `${schedule} k=${k}`).toBeLessThan(1e-12);
        expect(Math.abs(c.x1Coef - want.x1Coef), `${schedule} k=${k}`).toBeLessThan(1e-12);
        expect(Math.abs(c.std - want.std), `${schedule} k=${k}`).toBeLessThan(1e-12);
        expect(Math.abs(c.stepStd - Math.sqrt(beta)), `${schedule} k=${k}`).toBeLessThan(1e-12);
        // Negative control: beta_k as the variance (Ho's other choice) is not the posterior's,
        // except where 1 - abPrev ~ 1 - ab.
        if (k < 5) expect(Math.abs(c.std - Math.sqrt(beta))).toBeGreaterThan(1e-3);
      }
    }
    expect(ancestralCoefficients(condOTPath(), 0, 0.5)).toEqual({
      xCoef: 0,
      x1Coef: 0.5,
      std: 0.5,
      stepStd: 1,
    });
    expect(() => ancestralCoefficients(condOTPath(), 0.5, 0.5)).toThrow(/needs t < s/);
  });
});
