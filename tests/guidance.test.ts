// Classifier-free guidance with exact fields (src/targets/guidance.ts): the guided field's score is
// that of p_t(x | c) p_t(c | x)^w, yet guided ODE sampling does not produce the tilted p_1(x | c)
// p_1(c | x)^w.
import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { seed, randn } from "../src/core/random";
import { GaussianMixture } from "../src/targets/gaussian-mixture";
import {
  classConditional,
  compareGuidance,
  exactGuidedField,
  guidedLogDensity,
  mixtureDivergence,
  tiltedLogDensity,
} from "../src/targets/guidance";
import { condOTPath } from "../src/path/affine";
import { convertPrediction } from "../src/path/conversions";
import { solveOde } from "../src/solvers/ode";

const gm = new GaussianMixture({
  means: [
    [-1.5, 0],
    [1.5, 0],
    [0, 2.2],
  ],
  stds: 0.8,
});

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

describe("exact class-conditional and guided fields", () => {
  it(
    "class c is component c alone; w = 0 and w = -1 give the conditional and the unconditional " +
      "field",
    () => {
      const c0 = classConditional(gm, 0);
      expect(c0.means).toEqual([[-1.5, 0]]);
      expect(c0.stds).toEqual([0.8]);
      const x = randn([50, 2]) as tf.Tensor2D;
      const before = tf.memory().numTensors;
      const at = (f: (x: tf.Tensor2D, t: number) => tf.Tensor2D, t: number) => f(x, t);
      const cond = at(c0.field(), 0.6);
      const uncond = at(gm.field(), 0.6);
      const w0 = at(exactGuidedField(gm, 0, 0), 0.6);
      const wm1 = at(exactGuidedField(gm, 0, -1), 0.6);
      const w2 = at(exactGuidedField(gm, 0, 2), 0.6);
      expect(maxAbsDiff(w0, cond)).toBe(0);
      expect(maxAbsDiff(wm1, uncond)).toBeLessThan(1e-6);
      const manual = tf.tidy(() => tf.sub(tf.mul(cond, 3), tf.mul(uncond, 2)));
      expect(maxAbsDiff(w2, manual)).toBeLessThan(1e-5);
      tf.dispose([cond, uncond, w0, wm1, w2, manual]);
      expect(tf.memory().numTensors).toBe(before);
      x.dispose();
    },
  );

  it(
    "the guided velocity is the velocity of the score grad log p_t(x | c) + w grad log p_t(c | " +
      "x), at every t",
    () => {
      const path = condOTPath();
      const c = 1;
      const w = 2;
      for (const t of [0.2, 0.5, 0.9]) {
        tf.tidy(() => {
          const x = randn([80, 2]) as tf.Tensor2D;
          const guidedScore = convertPrediction(
            exactGuidedField(gm, c, w)(x, t),
            x,
            t,
            path,
            "velocity",
            "score",
          );
          const scoreC = classConditional(gm, c).score(x, t);
          // grad log p(c | x) = grad log p(x | c) - grad log p(x)  (Bayes; log p(c) is constant)
          const tilted = tf.add(scoreC, tf.mul(tf.sub(scoreC, gm.score(x, t)), w));
          const scale = tf.max(tf.abs(tilted)).dataSync()[0];
          expect(maxAbsDiff(guidedScore, tilted) / scale).toBeLessThan(1e-4);
          // negative control: the score of p(x | c) alone is another field
          expect(maxAbsDiff(guidedScore, scoreC) / scale).toBeGreaterThan(0.05);
        });
      }
    },
  );

  it("tiltedLogDensity is log p(x | c) + w log p(c | x)", () => {
    const x = randn([20, 2]) as tf.Tensor2D;
    const logCond = classConditional(gm, 2).logDensity(x, 1);
    const logPost = tf.tidy(() =>
      tf.log(tf.squeeze(tf.slice(gm.posterior(x, 1), [0, 2], [-1, 1]), [1])),
    );
    const tilted = tiltedLogDensity(gm, 2, 1.5, x);
    const expected = tf.tidy(() => tf.add(logCond, tf.mul(logPost, 1.5)));
    expect(maxAbsDiff(tilted, expected)).toBeLessThan(1e-4);
    tf.dispose([x, logCond, logPost, tilted, expected]);
  });

  it("rejects a class that is not a component and a weight below -1", () => {
    expect(() => classConditional(gm, 3)).toThrow(
      "classConditional: class must be an integer in [0, 3); got 3",
    );
    expect(() => exactGuidedField(gm, 0, -1.5)).toThrow("w must lie in [-1, 1000]; got -1.5");
    const x = tf.zeros([1, 2]) as tf.Tensor2D;
    expect(() => tiltedLogDensity(gm, 0, -2, x)).toThrow("w must be a number >= -1; got -2");
    x.dispose();
    const threeD = new GaussianMixture({
      means: [
        [0, 0, 0],
        [1, 1, 1],
      ],
      stds: 1,
    });
    expect(() => compareGuidance(threeD, 0, 1)).toThrow(/works on 2-D mixtures/);
    expect(() => compareGuidance(gm, 0, 1, { steps: 0 })).toThrow(
      "steps must be a positive integer; got 0",
    );
  });
});

describe("compareGuidance: what guided sampling produces", () => {
  const spec = { grid: { xRange: [-5.5, 5.5] as [number, number], n: 33 }, steps: 16 };

  it("at w = 0 the guided density is p(x | c) itself (the measurement works)", () => {
    const before = tf.memory().numTensors;
    const r = compareGuidance(gm, 0, 0, spec);
    expect(tf.memory().numTensors).toBe(before);
    expect(Math.abs(r.guidedMass - 1)).toBeLessThan(2e-3);
    expect(r.totalVariation).toBeLessThan(5e-3);
    expect(Math.abs(r.guidedMean[0] + 1.5)).toBeLessThan(5e-3);
  });

  it(
    "at w = 2 it is not the tilted density: far in total variation, and its mean is where " +
      "guided samples land",
    () => {
      const r = compareGuidance(gm, 0, 2, spec);
      expect(Math.abs(r.guidedMass - 1)).toBeLessThan(5e-3);
      expect(r.totalVariation).toBeGreaterThan(0.3);
      // forward ODE samples with the guided field: their mean agrees with the density's (Monte
      // Carlo error ~ 1/sqrt(4000) of the spread), and not with the tilted density's mean (negative
      // control)
      seed(7);
      const x0 = randn([4000, 2]) as tf.Tensor2D;
      const sol = solveOde(exactGuidedField(gm, 0, 2), x0, { method: "rk4", steps: 30 });
      const m = Array.from(tf.tidy(() => tf.mean(sol.x, 0)).dataSync());
      tf.dispose([x0, sol.x]);
      expect(Math.hypot(m[0] - r.guidedMean[0], m[1] - r.guidedMean[1])).toBeLessThan(0.06);
      expect(Math.hypot(m[0] - r.tiltedMean[0], m[1] - r.tiltedMean[1])).toBeGreaterThan(0.3);
    },
  );
});

describe("mixtureDivergence and guidedLogDensity", () => {
  it(
    "the closed-form divergence of a mixture's " +
      "velocity equals the automatic one (fm.divergence)",
    async () => {
      const { divergence } = await import("../src/field/divergence");
      const skewed = new GaussianMixture({
        means: [
          [-1, 0.5],
          [2, -1],
          [0, 2],
        ],
        stds: [0.5, 1.2, 0.8],
        weights: [0.2, 0.5, 0.3],
      });
      for (const t of [0, 0.3, 0.8, 1]) {
        const x = randn([40, 2]) as tf.Tensor2D;
        const exact = mixtureDivergence(skewed, x, t);
        const auto = divergence(skewed.field(), x, t);
        expect(maxAbsDiff(exact, auto)).toBeLessThan(
          1e-4 *
            Math.max(
              1,
              tf.tidy(() => tf.max(tf.abs(auto)).dataSync()[0]),
            ),
        );
        // negative control: another mixture's divergence is another function (except at t = 0 and
        // 1, where every mixture's field is m - x and x, of divergence -d and d)
        const other = mixtureDivergence(gm, x, t);
        if (t > 0 && t < 1) expect(maxAbsDiff(other, auto)).toBeGreaterThan(1e-2);
        tf.dispose([x, exact, auto, other]);
      }
    },
  );

  it("at w = 0 gives log p(x | c) (the component's exact log-density), leak-free", () => {
    const x = tf.tidy(
      () => tf.add(tf.mul(randn([30, 2]), 1.2), tf.tensor1d([-1.5, 0])) as tf.Tensor2D,
    );
    const before = tf.memory().numTensors;
    const lg = guidedLogDensity(gm, 0, 0, x, 20);
    expect(tf.memory().numTensors).toBe(before + 1);
    const exact = classConditional(gm, 0).logDensity(x, 1);
    expect(maxAbsDiff(lg, exact)).toBeLessThan(2e-3);
    tf.dispose([x, lg, exact]);
  });
});
