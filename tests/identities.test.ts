// The lecture's identities, checked with the library's own tools on the exact targets:
// - the conditional and the marginal velocity fields generate their paths (continuity equation),
//   and wrong fields do not (negative controls);
// - pushing N(0, I) through the exact marginal velocity of a Gaussian mixture lands on the mixture;
// - the CNF log-likelihood (instantaneous change of variables) equals the path's exact log-density.
import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { continuityResidual, grid2d } from "../src/field/continuity";
import { logLikelihood } from "../src/field/likelihood";
import { solveOde } from "../src/solvers/ode";
import { energyDistance } from "../src/metrics/distance";
import { expectedEnergyDistance } from "../src/metrics/energyFloor";
import { FiniteSet, GaussianMixture } from "../src/targets/gaussian-mixture";
import type { IsotropicMixture } from "../src/targets/gaussian-mixture";
import { AffineProbPath, condOTPath, vpPath } from "../src/path/affine";
import type { ScalarField, VelocityField } from "../src/core/notation";
import { randn, seed } from "../src/core/random";

const maxAbs = (x: tf.Tensor): number => tf.tidy(() => tf.max(tf.abs(x)).dataSync()[0]);

/** max |residual| / max |dp/dt| of the continuity equation over a grid of [-4, 4]^2. */
function relativeResidual(
  logDensity: ScalarField,
  velocity: VelocityField,
  t: number,
  dt?: number,
): number {
  const { points } = grid2d({ xmin: -4, xmax: 4, ymin: -4, ymax: 4, nx: 31, ny: 31 });
  const r = continuityResidual({ logDensity, velocity, x: points, t, dt });
  const rel = maxAbs(r.residual) / maxAbs(r.dpdt);
  tf.dispose([r, points]);
  return rel;
}

const mixture = new GaussianMixture({
  means: [
    [-2, 0],
    [2, 0],
    [0, 2.5],
  ],
  stds: 0.4,
  weights: [0.3, 0.3, 0.4],
});
const finite = new FiniteSet([
  [-2, 0],
  [2, 0],
  [0.5, 1.5],
]);
const paths: [string, AffineProbPath][] = [
  ["the lecture's path", condOTPath()],
  ["the VP cosine path", vpPath({ schedule: "cosine" })],
];
// Away from the ends the 4th-order time difference with dt = 1e-2 leaves ~1e-5 (relative); at t =
// 0.9 the finite set's path sharpens on the time scale 1 - t, so dt = 1e-3 there. Measured: at most
// 3e-4 (t = 0, one-sided difference); the bound 1e-3 is far below the O(1) of every wrong field.
const TIMES = [0, 0.3, 0.7, 0.9];
const dtAt = (t: number): number => (t > 0.8 ? 1e-3 : 1e-2);
const SMALL = 1e-3;

describe("continuity equation: the conditional field generates the conditional path", () => {
  for (const [name, path] of paths) {
    it(
      `on ${name}: u_t(x | x1) and p_t(x | x1) = N(alpha x1, sigma^2 I) (a one-point ` + `target)`,
      () => {
        const x1 = tf.tensor2d([[1, -0.5]]);
        const single = new FiniteSet(x1);
        const u = path.conditionalField(x1);
        for (const t of TIMES)
          expect(relativeResidual(single.logDensityField(path), u, t, dtAt(t))).toBeLessThan(SMALL);
        // Negative controls: the wrong sign, and the right field at the wrong time (time scaling t
        // -> t/2).
        const flipped: VelocityField = (x, t) => tf.tidy(() => tf.neg(u(x, t)));
        const slow: VelocityField = (x, t) => u(x, (t as number) / 2);
        for (const t of [0.3, 0.7]) {
          expect(relativeResidual(single.logDensityField(path), flipped, t)).toBeGreaterThan(1);
          expect(relativeResidual(single.logDensityField(path), slow, t)).toBeGreaterThan(0.1);
        }
        x1.dispose();
      },
    );
  }
});

describe("continuity equation: the marginal field generates the marginal path", () => {
  const targets: [string, IsotropicMixture][] = [
    ["a finite set", finite],
    ["a Gaussian mixture", mixture],
  ];
  for (const [tname, target] of targets) {
    for (const [pname, path] of paths) {
      it(
        `${tname} on ${pname}: small residual at t = ${TIMES.join(", ")}; wrong fields ` + `fail`,
        () => {
          for (const t of TIMES) {
            expect(
              relativeResidual(target.logDensityField(path), target.field(path), t, dtAt(t)),
            ).toBeLessThan(SMALL);
          }
          const flipped: VelocityField = (x, t) =>
            tf.tidy(() => tf.neg(target.velocity(x, t, path)));
          // One conditional field alone (all mass heading to the first point) does not move the
          // mixture.
          const x1 = tf.tensor2d([target.means[0]]);
          const oneConditional = path.conditionalField(x1);
          for (const t of [0.3, 0.7]) {
            expect(relativeResidual(target.logDensityField(path), flipped, t)).toBeGreaterThan(1);
            expect(
              relativeResidual(target.logDensityField(path), oneConditional, t),
            ).toBeGreaterThan(0.1);
          }
          x1.dispose();
        },
      );
    }
  }
});

describe("sampling with the exact marginal velocity lands on the mixture", () => {
  it(
    "N(0, I) pushed through u_t reaches p_1 (energy distance at the noise floor; a wrong field " +
      "does not)",
    () => {
      seed(0);
      const n = 1000;
      const x0 = randn([n, 2]) as tf.Tensor2D;
      const fresh = mixture.sample(n);
      // Two independent samples of one distribution: E[ED] = (1/n + 1/m) E|X - X'| (the noise
      // floor).
      const floor = expectedEnergyDistance(fresh, n);
      const pushed = solveOde(mixture.field(), x0, { method: "rk4", steps: 20 });
      const good = energyDistance(pushed.x, fresh);
      // A sample ED has a standard deviation of the order of its mean: 3x the floor is a generous
      // bound.
      expect(good).toBeLessThan(3 * floor);
      // The same pushing through the VP cosine path's marginal field also ends on p_1: another
      // path, the same end points (p_0 = N(0, I), p_1 = the mixture).
      const vp = solveOde(mixture.field(vpPath({ schedule: "cosine" })), x0, {
        method: "dopri5",
        t1: 1 - 1e-6,
      });
      expect(energyDistance(vp.x, fresh)).toBeLessThan(3 * floor);
      // Negative control: the field of a mixture with the wrong weights lands elsewhere.
      const wrong = new GaussianMixture({
        means: mixture.means,
        stds: 0.4,
        weights: [0.6, 0.3, 0.1],
      });
      const off = solveOde(wrong.field(), x0, { method: "rk4", steps: 20 });
      expect(energyDistance(off.x, fresh)).toBeGreaterThan(10 * floor);
      tf.dispose([x0, fresh, pushed.x, vp.x, off.x]);
    },
  );
});

describe("CNF log-likelihood equals the exact log-density of the path", () => {
  const points = [
    [-2, 0.1],
    [2.3, -0.2],
    [0, 2.5],
    [1, 1],
    [0, 0],
  ];
  /** float32 state with rtol = atol = 1e-6: agreement to ~1e-5 relative, plus ~1e-4 absolute. */
  const close = (got: number, want: number): boolean =>
    Math.abs(got - want) < 2e-5 * Math.abs(want) + 2e-4;

  it(
    "for a Gaussian mixture at t = 1, along two different paths; a wrong field does not " + "match",
    () => {
      const x = tf.tensor2d(points);
      const exact = Array.from(mixture.logDensity(x, 1).dataSync());
      const r = logLikelihood(mixture.field(), x, { rtol: 1e-6, atol: 1e-6 });
      Array.from(r.logp.dataSync()).forEach((v, i) => expect(close(v, exact[i])).toBe(true));
      // The VP cosine path ends on the same p_1 from the same p_0, so its field gives the same log
      // p_1 (it is singular exactly at t = 1: start the backward solve just below).
      const vp = vpPath({ schedule: "cosine" });
      const rv = logLikelihood(mixture.field(vp), x, { rtol: 1e-6, atol: 1e-6, t1: 1 - 1e-6 });
      const exactVp = Array.from(mixture.logDensity(x, 1 - 1e-6, vp).dataSync());
      Array.from(rv.logp.dataSync()).forEach((v, i) => expect(close(v, exactVp[i])).toBe(true));
      // Negative control: the wrong-width mixture's field assigns different densities.
      const wide = new GaussianMixture({
        means: mixture.means,
        stds: 0.6,
        weights: mixture.weights,
      });
      const rw = logLikelihood(wide.field(), x, { rtol: 1e-6, atol: 1e-6 });
      const wrongGap = Math.max(
        ...Array.from(rw.logp.dataSync()).map((v, i) => Math.abs(v - exact[i])),
      );
      expect(wrongGap).toBeGreaterThan(0.1);
      tf.dispose([x, r, rv, rw]);
    },
  );

  it("for a finite set at t = 0.9 (log p_t of the Gaussian-mixture path it spans)", () => {
    const x = tf.tensor2d(points);
    const exact = Array.from(finite.logDensity(x, 0.9).dataSync());
    const r = logLikelihood(finite.field(), x, { rtol: 1e-6, atol: 1e-6, t1: 0.9 });
    Array.from(r.logp.dataSync()).forEach((v, i) => expect(close(v, exact[i])).toBe(true));
    tf.dispose([x, r]);
  });

  it("is leak-free on the exact targets", () => {
    const x = tf.tensor2d(points);
    const before = tf.memory().numTensors;
    tf.dispose(logLikelihood(mixture.field(), x, { method: "rk4", steps: 4 }));
    const { points: g } = grid2d({ xmin: -1, xmax: 1, ymin: -1, ymax: 1, nx: 3, ny: 3 });
    tf.dispose(
      continuityResidual({
        logDensity: finite.logDensityField(),
        velocity: finite.field(),
        x: g,
        t: 0.5,
      }),
    );
    g.dispose();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});
