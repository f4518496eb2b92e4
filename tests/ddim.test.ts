// DDPM's ancestral sampler and DDIM driven by a velocity field: both land on the target; DDIM with
// N steps equals N Euler steps in the reparametrised time alpha / sigma (or sigma / alpha) to
// float32 precision and differs from Euler in t on a VP path; on the lecture's path DDIM is Euler
// in t; eta = 1 is the ancestral sampler. Issue 7, notebook 08.
import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { condOTPath, vePath, vpPath, type AffineProbPath } from "../src/path/affine";
import { ddpmPath, ddpmSchedule, ddpmTimeGrid } from "../src/path/ddpm";
import { GaussianMixture } from "../src/targets/gaussian-mixture";
import { ddimOde, sampleAncestral, sampleDdim } from "../src/solvers/ddim";
import { solveOde } from "../src/solvers/ode";
import type { VelocityField } from "../src/core/notation";
import { energyDistance } from "../src/metrics/distance";
import { expectedEnergyDistance } from "../src/metrics/energyFloor";
import { randn, seed } from "../src/core/random";

const mixture = new GaussianMixture({
  means: [
    [-2, 0],
    [2, 0],
    [0, 2.5],
  ],
  stds: 0.4,
  weights: [0.3, 0.3, 0.4],
});
const maxAbs = (x: tf.Tensor): number => tf.tidy(() => tf.max(tf.abs(x)).dataSync()[0]);
const maxDiff = (a: tf.Tensor, b: tf.Tensor): number => tf.tidy(() => maxAbs(tf.sub(a, b)));
const N = 800;
const PASS = 4; // x the two-sample noise floor (see sde.test.ts)
const FAIL = 10;

/**
 * Plain Euler in t on an arbitrary increasing grid (the comparison DDIM is NOT equal to on curved
 * schedules).
 */
function eulerOnGrid(u: VelocityField, x0: tf.Tensor2D, times: number[]): tf.Tensor2D {
  let x = tf.clone(x0) as tf.Tensor2D;
  for (let i = 0; i + 1 < times.length; i++) {
    const next = tf.tidy(
      () => tf.add(x, tf.mul(u(x, times[i]), times[i + 1] - times[i])) as tf.Tensor2D,
    );
    x.dispose();
    x = next;
  }
  return x;
}

describe("DDIM is Euler in a reparametrised time", () => {
  const cases: [string, AffineProbPath, "snr" | "nsr", number, number][] = [
    // [name, path, variable, start time, end time]
    ["VP linear, r = alpha / sigma", vpPath(), "snr", 0, 0.99],
    [
      "VP cosine, r = alpha / sigma (from pure noise, alpha_0 = 0)",
      vpPath({ schedule: "cosine" }),
      "snr",
      0,
      0.99,
    ],
    ["VP linear, rho = sigma / alpha (the DDIM paper's form)", vpPath(), "nsr", 0.2, 1],
    ["VE, rho = sigma (Karras et al.)", vePath({ sigmaMin: 0.02, sigmaMax: 5 }), "nsr", 0, 1],
  ];
  for (const [name, path, variable, tStart, tEnd] of cases) {
    it(
      `${name}: N = 20 DDIM steps on the grid t_i = t(v_i) equal 20 Euler steps in v (float32); ` +
        `Euler in t differs`,
      () => {
        seed(31);
        const u = mixture.field(path);
        const ode = ddimOde(u, path, variable);
        const v0 = ode.valueAt(tStart);
        const v1 = ode.valueAt(tEnd);
        const steps = 20;
        const vs = Array.from({ length: steps + 1 }, (_, i) =>
          i === steps ? v1 : v0 + ((v1 - v0) * i) / steps,
        ); // solveOde's grid
        const times = vs.map((v) => ode.timeAt(v));
        const x0 = tf.tidy(
          () =>
            tf.mul(
              randn([200, 2]),
              path.scheduler.at(tStart).sigma + path.scheduler.at(tStart).alpha,
            ) as tf.Tensor2D,
        );
        const ddim = sampleDdim(u, path, x0, { times });
        const y0 = ode.toState(x0, times[0]);
        const euler = solveOde(ode.field, y0, { method: "euler", t0: v0, t1: v1, steps });
        const back = ode.fromState(euler.x, times[steps]);
        const plain = eulerOnGrid(u, x0, times);
        // Float32: each step forms alpha x1_hat + sigma eps_hat in one way and y + dv *
        // (derivative) in the other; a few roundings of the states' size per step, 20 steps: 1e-5
        // of the largest value (measured ~1e-6).
        const scale = maxAbs(ddim.x) + maxAbs(x0);
        const same = maxDiff(ddim.x, back);
        const differs = maxDiff(ddim.x, plain);
        expect(same, `${name}: DDIM vs Euler in ${variable}`).toBeLessThan(1e-5 * scale);
        expect(differs, `${name}: DDIM vs Euler in t`).toBeGreaterThan(1e-2 * scale);
        expect(ddim.nfe).toBe(steps);
        expect(euler.nfe).toBe(steps);
        tf.dispose([x0, ddim, y0, euler, back, plain]);
      },
    );
  }

  it(
    "on the lecture's path (alpha = t, sigma = 1 - t) DDIM IS Euler in t (float32); negative " +
      "control: a VP path with the same grid is not",
    () => {
      seed(32);
      const x0 = randn([200, 2]) as tf.Tensor2D;
      const ddim = sampleDdim(mixture.field(), condOTPath(), x0, { steps: 10 });
      const euler = solveOde(mixture.field(), x0, { method: "euler", steps: 10 });
      expect(maxDiff(ddim.x, euler.x)).toBeLessThan(1e-5 * (maxAbs(euler.x) + maxAbs(x0)));
      const vp = vpPath({ schedule: "cosine" });
      const ddimVp = sampleDdim(mixture.field(vp), vp, x0, { steps: 10 });
      const eulerVp = solveOde(mixture.field(vp), x0, { method: "euler", steps: 10, t1: 0.999 });
      expect(maxDiff(ddimVp.x, eulerVp.x)).toBeGreaterThan(0.05);
      tf.dispose([x0, ddim, euler, ddimVp, eulerVp]);
    },
  );
});

describe("DDPM ancestral and DDIM sampling from a velocity field land on the target", () => {
  seed(33);
  const fresh = mixture.sample(N);
  const floor = expectedEnergyDistance(fresh, N);
  const ddpm = ddpmSchedule({ steps: 1000 });
  const path = ddpmPath(ddpm);
  const u = mixture.field(path);

  it(
    "DDPM's own chain (K = 1000 ancestral steps, Ho's posterior variance) and a 50-step " +
      "respaced chain",
    () => {
      seed(34);
      // p at t = 0 is N(0, I) up to alpha = sqrt(alphaBar_K) = 0.006
      const x0 = randn([N, 2]) as tf.Tensor2D;
      const full = sampleAncestral(u, path, x0, { times: ddpmTimeGrid(1000) });
      expect(full.nfe).toBe(1000);
      expect(energyDistance(full.x, fresh) / floor, "K = 1000").toBeLessThan(PASS);
      const short = sampleAncestral(u, path, x0, { times: ddpmTimeGrid(1000, 20) });
      expect(energyDistance(short.x, fresh) / floor, "50 steps").toBeLessThan(PASS);
      const stepVar = sampleAncestral(u, path, x0, { times: ddpmTimeGrid(1000), variance: "step" });
      expect(energyDistance(stepVar.x, fresh) / floor, "K = 1000, variance beta_k").toBeLessThan(
        PASS,
      );
      tf.dispose([x0, full, short, stepVar]);
    },
  );

  it(
    "DDIM with eta = 0 (deterministic) and eta = 0.5 in 50 steps; the same model on the " +
      "lecture's path",
    () => {
      seed(35);
      const x0 = randn([N, 2]) as tf.Tensor2D;
      const grid = ddpmTimeGrid(1000, 20);
      const a = sampleDdim(u, path, x0, { times: grid });
      expect(energyDistance(a.x, fresh) / floor, "eta 0").toBeLessThan(PASS);
      const b = sampleDdim(u, path, x0, { times: grid, eta: 0.5 });
      expect(energyDistance(b.x, fresh) / floor, "eta 0.5").toBeLessThan(PASS);
      const c = sampleAncestral(mixture.field(), condOTPath(), x0, { steps: 50 });
      expect(energyDistance(c.x, fresh) / floor, "ancestral on condOT").toBeLessThan(PASS);
      tf.dispose([x0, a, b, c]);
    },
  );

  it("DDIM with eta = 1 is the ancestral sampler (same seed: equal to float32 precision)", () => {
    const x0 = tf.tidy(() => randn([200, 2]) as tf.Tensor2D);
    const grid = ddpmTimeGrid(1000, 50);
    seed(36);
    const a = sampleDdim(u, path, x0, { times: grid, eta: 1 });
    seed(36);
    const b = sampleAncestral(u, path, x0, { times: grid });
    // two formulas for one Gaussian, 20 steps
    expect(maxDiff(a.x, b.x)).toBeLessThan(1e-4 * maxAbs(b.x));
    seed(36);
    const c = sampleDdim(u, path, x0, { times: grid, eta: 0 });
    expect(maxDiff(c.x, b.x)).toBeGreaterThan(0.1);
    tf.dispose([x0, a, b, c]);
  });

  it(
    "negative control: the model read in the diffusion papers' time (t -> 1 - t) misses the " +
      "target",
    () => {
      seed(37);
      const x0 = randn([N, 2]) as tf.Tensor2D;
      const flipped: VelocityField = (x, t) => u(x, 1 - (t as number));
      // At t = 0 the flipped model is asked about t = 1, where sigma = 0: stop the grid one step
      // short of both ends.
      const grid = ddpmTimeGrid(1000, 20).slice(1, -1);
      const bad = sampleDdim(flipped, path, x0, { times: grid });
      expect(energyDistance(bad.x, fresh) / floor).toBeGreaterThan(FAIL);
      tf.dispose([x0, bad]);
    },
  );

  it("leak-free, saves trajectories, checks its inputs", () => {
    const x0 = tf.zeros([10, 2]) as tf.Tensor2D;
    const before = tf.memory().numTensors;
    tf.dispose(
      sampleDdim(u, path, x0, { times: ddpmTimeGrid(1000, 100), eta: 0.3, saveAt: [0, 0.5, 1] }),
    );
    tf.dispose(sampleAncestral(u, path, x0, { steps: 5, saveAt: [0.2, 1] }));
    const ode = ddimOde(u, path);
    tf.dispose([ode.toState(x0, 0.5), ode.fromState(x0, 0.5), ode.field(x0, ode.valueAt(0.5))]);
    expect(tf.memory().numTensors).toBe(before);
    const out = sampleAncestral(u, path, x0, { steps: 5, saveAt: [0, 0.2, 1] });
    expect(out.trajectory!.shape).toEqual([3, 10, 2]);
    expect(out.mesh).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(() => sampleDdim(u, path, x0, { eta: 2 })).toThrow(/eta must lie in \[0, 1\]; got 2/);
    expect(() => sampleDdim(u, path, x0, { times: [0, 0.5], steps: 3 })).toThrow(
      /either times or steps/,
    );
    expect(() => sampleDdim(u, path, x0, { times: [0, 0.5, 1], saveAt: [0.3] })).toThrow(
      /saveAt time 0.3 is not one of the given times/,
    );
    expect(() => sampleAncestral(u, path, x0, { eta: 1 } as object)).toThrow(
      /unknown option "eta"/,
    );
    expect(() => sampleAncestral(u, path, x0, { variance: "large" as "step" })).toThrow(
      /variance must be "posterior" or "step"; got "large"/,
    );
    expect(() => ddimOde(u, path, "snr").valueAt(1)).toThrow(/snr variable is infinite at t = 1/);
    expect(() => ddimOde(u, condOTPath(), "nsr").toState(x0, 0)).toThrow(/alpha = 0 at t = 0/);
    tf.dispose([x0, out]);
  });
});
