// The four predictions (velocity, x1, epsilon, score) of one affine path are one quantity: the
// exact answers of a Gaussian mixture, computed by the target's own independent formulas, are
// related by the conversion formulas on the lecture's, VP, VE and DDPM paths; the
// stochastic-interpolant statement (of noise, score and velocity, two determine the third) checked
// numerically. Issue 7, notebook 08.
import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { AffineProbPath, condOTPath, vePath, vpPath } from "../src/path/affine";
import {
  convertPrediction,
  scoreToVelocity,
  velocityToScore,
  type PredictionKind,
} from "../src/path/conversions";
import { conversionCoefficients } from "./helpers";
import { ddpmPath, ddpmSchedule } from "../src/path/ddpm";
import { GaussianMixture } from "../src/targets/gaussian-mixture";
import { predictionField } from "../src/solvers/sde";
import { randn, seed } from "../src/core/random";

const EPS32 = 2 ** -23;
const maxAbs = (x: tf.Tensor): number => tf.tidy(() => tf.max(tf.abs(x)).dataSync()[0]);
const maxDiff = (a: tf.Tensor, b: tf.Tensor): number => tf.tidy(() => maxAbs(tf.sub(a, b)));

const mixture = new GaussianMixture({
  means: [
    [-2, 0],
    [2, 0],
    [0, 2.5],
  ],
  stds: 0.4,
  weights: [0.3, 0.3, 0.4],
});
const PATHS: [string, AffineProbPath][] = [
  ["condOT", condOTPath()],
  ["VP linear", vpPath()],
  ["VP cosine", vpPath({ schedule: "cosine" })],
  ["VE", vePath({ sigmaMin: 0.05, sigmaMax: 5 })],
  ["DDPM K=100", ddpmPath(ddpmSchedule({ steps: 100 }))],
];
const TIMES = [0.1, 0.3, 0.8]; // not 0.5, where t and 1 - t coincide

/**
 * Points spread over p_t: x = alpha x1 + sigma x0 with x1 from the mixture (so the posterior is not
 * degenerate).
 */
function pointsOn(path: AffineProbPath, t: number, n: number): tf.Tensor2D {
  const x1 = mixture.sample(n);
  const x0 = randn([n, 2]) as tf.Tensor2D;
  const { xt, dxt } = path.sample(x0, x1, t);
  tf.dispose([x1, x0, dxt]);
  return xt;
}

/**
 * |A| |prediction| + |B| |x|, the size of the terms of out = A prediction + B x (A, B read back by
 *   converting unit inputs).
 */
function termScale(
  path: AffineProbPath,
  t: number,
  from: PredictionKind,
  to: PredictionKind,
  pred: tf.Tensor2D,
  x: tf.Tensor2D,
): number {
  const { a, b } = conversionCoefficients(path, t, from, to);
  return a * maxAbs(pred) + b * maxAbs(x);
}

describe("the exact answers of a Gaussian mixture are related by the conversion formulas", () => {
  // The mixture's velocity, score and posterior mean are evaluated in float32 by separate formulas
  // (each a posterior-weighted sum): relative error a few eps32 of its terms. The conversion adds
  // ~4 eps32 of its own terms. Budget: 64 eps32 (~8e-6) of the larger term scale. Measured worst:
  // see the report.
  const budget = (scale: number): number => 64 * EPS32 * scale;

  for (const [name, path] of PATHS) {
    it(
      `${name}: velocity <-> score <-> x1 (posterior mean) <-> epsilon at t = ` +
        `${TIMES.join(", ")}; the other time convention fails`,
      () => {
        seed(11);
        for (const t of TIMES) {
          const x = pointsOn(path, t, 200);
          const truth = {
            velocity: mixture.velocity(x, t, path),
            score: mixture.score(x, t, path),
            x1: mixture.posteriorMean(x, t, path),
          };
          const pairs: ["velocity" | "score" | "x1", "velocity" | "score" | "x1"][] = [
            ["velocity", "score"],
            ["score", "velocity"],
            ["velocity", "x1"],
            ["x1", "velocity"],
            ["score", "x1"],
            ["x1", "score"],
          ];
          for (const [from, to] of pairs) {
            const out = convertPrediction(truth[from], x, t, path, from, to);
            const err = maxDiff(out, truth[to]);
            const scale = Math.max(termScale(path, t, from, to, truth[from], x), maxAbs(truth[to]));
            expect(err, `${name} t=${t} ${from}->${to}: err ${err}, scale ${scale}`).toBeLessThan(
              budget(scale),
            );
            out.dispose();
          }
          // Negative controls: the diffusion papers' time read as the course's (s = 1 - t), and the
          // wrong sign.
          const flipped = velocityToScore(truth.velocity, x, 1 - t, path);
          const wrongSign = velocityToScore(tf.neg(truth.velocity) as tf.Tensor2D, x, t, path);
          // Each must miss by far more than the budget of the right conversion (1000x).
          const scale = termScale(path, t, "velocity", "score", truth.velocity, x);
          expect(maxDiff(flipped, truth.score), `${name} t=${t}: flipped time`).toBeGreaterThan(
            1000 * budget(scale),
          );
          expect(maxDiff(wrongSign, truth.score), `${name} t=${t}: wrong sign`).toBeGreaterThan(
            1000 * budget(scale),
          );
          tf.dispose([x, truth, flipped, wrongSign]);
        }
      },
    );
  }
});

describe("stochastic interpolants: of noise, score and velocity, two determine the third", () => {
  it(
    "noise from the posterior mean, score and velocity of the mixture satisfy eps = -sigma " +
      "score and u = dAlpha x1_hat + dSigma eps; a wrong field breaks both",
    () => {
      seed(12);
      for (const [name, path] of PATHS) {
        for (const t of TIMES) {
          const x = pointsOn(path, t, 200);
          const { alpha, sigma, dAlpha, dSigma } = path.scheduler.at(t);
          const u = mixture.velocity(x, t, path);
          const score = mixture.score(x, t, path);
          const x1hat = mixture.posteriorMean(x, t, path);
          // The noise E[x0 | x] from x = alpha E[x1 | x] + sigma E[x0 | x] (its own estimate, not
          // the score's).
          const eps = tf.tidy(() => tf.div(tf.sub(x, tf.mul(x1hat, alpha)), sigma) as tf.Tensor2D);
          // (noise, velocity) -> score; (score, velocity) -> noise; (noise, score) -> velocity with
          // x1_hat from x.
          const scoreFromNoise = tf.tidy(() => tf.div(eps, -sigma));
          const noiseFromScore = tf.tidy(() => tf.mul(score, -sigma));
          const uFromNoise = tf.tidy(() =>
            tf.add(
              tf.mul(tf.div(tf.sub(x, tf.mul(noiseFromScore, sigma)), alpha), dAlpha),
              tf.mul(eps, dSigma),
            ),
          );
          const scale =
            maxAbs(u) + Math.abs(dAlpha / alpha) * maxAbs(x) + Math.abs(dSigma) * maxAbs(eps);
          expect(maxDiff(scoreFromNoise, score), `${name} t=${t} score`).toBeLessThan(
            64 * EPS32 * (maxAbs(score) + maxAbs(x) / sigma),
          );
          expect(maxDiff(noiseFromScore, eps), `${name} t=${t} noise`).toBeLessThan(
            (64 * EPS32 * (maxAbs(x) + alpha * maxAbs(x1hat))) / sigma,
          );
          expect(maxDiff(uFromNoise, u), `${name} t=${t} velocity`).toBeLessThan(
            64 * EPS32 * scale,
          );
          // Negative control: the score of a mixture with wider components does not give the
          // velocity.
          const other = new GaussianMixture({
            means: mixture.means,
            stds: 0.6,
            weights: mixture.weights,
          });
          const wrongScore = other.score(x, t, path);
          const wrongU = scoreToVelocity(wrongScore, x, t, path);
          // (At t = 0.1 alpha is ~0.01 on the VP paths: p_t hardly depends on the data there, so
          // any mixture's score is nearly right; the wrong sign is wrong everywhere.)
          if (t >= 0.3)
            expect(maxDiff(wrongU, u), `${name} t=${t} wrong score`).toBeGreaterThan(
              100 * 64 * EPS32 * scale,
            ); // 100x the budget of the right identity
          const flippedU = scoreToVelocity(tf.neg(score) as tf.Tensor2D, x, t, path);
          expect(maxDiff(flippedU, u), `${name} t=${t} score of the wrong sign`).toBeGreaterThan(
            100 * 64 * EPS32 * scale,
          );
          flippedU.dispose();
          tf.dispose([
            x,
            u,
            score,
            x1hat,
            eps,
            scoreFromNoise,
            noiseFromScore,
            uFromNoise,
            wrongScore,
            wrongU,
          ]);
        }
      }
    },
  );

  it(
    "predictionField turns a velocity model into a score / noise / x1 model; leak-free; checks " +
      "its inputs",
    () => {
      const path = vpPath({ schedule: "cosine" });
      const x = tf.tensor2d([
        [0.3, -1],
        [2, 0.5],
      ]);
      const scoreOf = predictionField(mixture.field(path), path);
      const s = scoreOf(x, 0.4);
      const exact = mixture.score(x, 0.4, path);
      expect(maxDiff(s, exact)).toBeLessThan(1e-4 * (1 + maxAbs(exact)));
      const before = tf.memory().numTensors;
      tf.dispose(predictionField(mixture.field(path), path, "velocity", "epsilon")(x, 0.4));
      expect(tf.memory().numTensors).toBe(before);
      expect(() => predictionField(mixture.field(path), {} as AffineProbPath)).toThrow(
        /path must be an AffineProbPath/,
      );
      tf.dispose([x, s, exact]);
    },
  );
});
