/**
 * Four ways to say the same thing about an affine path (lecture concept 8: unification).
 *
 * On a path x = alpha_t x1 + sigma_t x0 (x0 = epsilon, the noise), a network may predict
 *   - the data point          x1_hat  (x1-prediction, "denoiser"),
 *   - the noise               eps_hat (epsilon-prediction, DDPM),
 *   - the score               score   = -eps_hat / sigma_t (score matching, score SDE),
 *   - the velocity            v       = dAlpha_t x1_hat + dSigma_t eps_hat (flow matching).
 * Given x and t, each is an affine function of any other: `out = A(t) * prediction + B(t) * x`,
 * with the coefficients below (D = dAlpha sigma - alpha dSigma, which is 1 on the lecture's path):
 *
 *   x1 -> eps = (x - alpha x1) / sigma          eps -> x1 = (x - sigma eps) / alpha
 *   v  -> x1  = (sigma v - dSigma x) / D        x1  -> v  = dAlpha x1 + dSigma (x - alpha x1) /
 *     sigma
 *   v  -> eps = (dAlpha x - alpha v) / D        eps -> v  = dAlpha (x - sigma eps) / alpha + dSigma
 *     eps
 *   eps -> score = -eps / sigma                 score -> eps = -sigma score
 *
 * Each named function takes `(prediction, x, t, path)`; a conversion that would divide by zero at
 * that time (sigma_t = 0, alpha_t = 0 or D = 0) is an error that names the reason. Applied to exact
 * answers (e.g. a Gaussian mixture's score) the conversions give the other exact answers, which is
 * how the unification notebook shows DDPM, score matching and flow matching learn the same thing.
 */
import * as tf from "@tensorflow/tfjs";
import { assert2D, assertSameShape, type Time } from "../core/checks";
import type { AffineProbPath } from "./affine";
import { combine, timedTable } from "./internal";
import type { SchedulerValues } from "./scheduler";

/**
 * What a model predicts: the velocity, the data point x1, the noise epsilon (= x0) or the score.
 */
export type PredictionKind = "velocity" | "x1" | "epsilon" | "score";

/** The kinds `convertPrediction` accepts. */
export const PREDICTION_KINDS: readonly PredictionKind[] = ["velocity", "x1", "epsilon", "score"];

type Need = "sigma" | "alpha" | "D";

interface Rule {
  /** Quantities that must be non-zero. */
  needs: Need[];
  /** The coefficients (A, B) of out = A * prediction + B * x. */
  coef: (v: SchedulerValues) => [number, number];
}

const D = (v: SchedulerValues): number => v.dAlpha * v.sigma - v.alpha * v.dSigma;

const RULES: Record<string, Rule> = {
  "x1>velocity": { needs: ["sigma"], coef: (v) => [D(v) / v.sigma, v.dSigma / v.sigma] },
  "velocity>x1": { needs: ["D"], coef: (v) => [v.sigma / D(v), -v.dSigma / D(v)] },
  "epsilon>velocity": { needs: ["alpha"], coef: (v) => [-D(v) / v.alpha, v.dAlpha / v.alpha] },
  "velocity>epsilon": { needs: ["D"], coef: (v) => [-v.alpha / D(v), v.dAlpha / D(v)] },
  "epsilon>score": { needs: ["sigma"], coef: (v) => [-1 / v.sigma, 0] },
  "score>epsilon": { needs: [], coef: (v) => [-v.sigma, 0] },
  "x1>epsilon": { needs: ["sigma"], coef: (v) => [-v.alpha / v.sigma, 1 / v.sigma] },
  "epsilon>x1": { needs: ["alpha"], coef: (v) => [-v.sigma / v.alpha, 1 / v.alpha] },
  "x1>score": {
    needs: ["sigma"],
    coef: (v) => [v.alpha / (v.sigma * v.sigma), -1 / (v.sigma * v.sigma)],
  },
  "score>x1": { needs: ["alpha"], coef: (v) => [(v.sigma * v.sigma) / v.alpha, 1 / v.alpha] },
  "score>velocity": {
    needs: ["alpha"],
    coef: (v) => [(v.sigma * D(v)) / v.alpha, v.dAlpha / v.alpha],
  },
  "velocity>score": {
    needs: ["D", "sigma"],
    coef: (v) => [v.alpha / (D(v) * v.sigma), -v.dAlpha / (D(v) * v.sigma)],
  },
};

const WHY: Record<Need, string> = {
  sigma:
    "sigma_t = 0 (no noise left: x = alpha x1 says nothing about the noise, and the score is " +
    "infinite)",
  alpha: "alpha_t = 0 (pure noise: x says nothing about x1)",
  D: "dAlpha*sigma - alpha*dSigma = 0 (the velocity no longer separates x1 from the noise)",
};

/**
 * Converts a prediction of one kind into another on an affine path: `out = A(t) prediction + B(t)
 * x`. The named functions (`velocityToX1`, ...) call this.
 *
 * @param prediction the model's output `[n, d]` (of kind `from`)
 * @param x the points it was evaluated at, `[n, d]`
 * @param t a number or `[n]`, in [0, 1]
 * @param path the affine path (e.g. `condOTPath()`)
 * @param from the kind of `prediction`
 * @param to the kind wanted
 * @example
 * const path = condOTPath(); const v = convertPrediction(score, x, 0.5, path, "score", "velocity");
 * // v = x / t + (1 - t) / t * score
 */
export function convertPrediction(
  prediction: tf.Tensor2D,
  x: tf.Tensor2D,
  t: Time,
  path: AffineProbPath,
  from: PredictionKind,
  to: PredictionKind,
): tf.Tensor2D {
  for (const [name, kind] of [
    ["from", from],
    ["to", to],
  ] as const) {
    if (!PREDICTION_KINDS.includes(kind)) {
      throw new Error(
        `convertPrediction: ${name} must be one of ${PREDICTION_KINDS.join(", ")}; got ` +
          `${JSON.stringify(kind)}`,
      );
    }
  }
  const label = `${from}To${to[0].toUpperCase()}${to.slice(1)}`;
  assert2D(prediction, `${label}: prediction`);
  assert2D(x, `${label}: x`);
  assertSameShape(prediction, x, "prediction", "x");
  if (!path || !path.scheduler)
    throw new Error(
      `${label}: path must be an AffineProbPath (e.g. condOTPath()); got ${String(path)}`,
    );
  if (from === to) return tf.clone(prediction);
  const rule = RULES[`${from}>${to}`];
  const { times, table } = timedTable(path.scheduler, t, x.shape[0]);
  const m = table.length;
  const A = new Float64Array(m);
  const B = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    const v: SchedulerValues = table[i];
    for (const need of rule.needs) {
      const value = need === "sigma" ? v.sigma : need === "alpha" ? v.alpha : D(v);
      if (value === 0) {
        throw new Error(
          `${label}: singular at t = ${times[i]} on the ${path.scheduler.name} path: ${WHY[need]}`,
        );
      }
    }
    [A[i], B[i]] = rule.coef(v);
    if (!Number.isFinite(A[i]) || !Number.isFinite(B[i])) {
      throw new Error(
        `${label}: the conversion is not finite at t = ${times[i]} on the ${path.scheduler.name} ` +
          `path ` +
          `(alpha = ${v.alpha}, sigma = ${v.sigma}, dAlpha = ${v.dAlpha}, dSigma = ${v.dSigma})`,
      );
    }
  }
  return combine(A, B, prediction, x);
}

/** A named conversion `(prediction [n, d], x [n, d], t, path) -> [n, d]`. */
export type PredictionConverter = (
  prediction: tf.Tensor2D,
  x: tf.Tensor2D,
  t: Time,
  path: AffineProbPath,
) => tf.Tensor2D;
const converter =
  (from: PredictionKind, to: PredictionKind): PredictionConverter =>
  (prediction, x, t, path) =>
    convertPrediction(prediction, x, t, path, from, to);

/**
 * x1 = (sigma v - dSigma x) / D, D = dAlpha sigma - alpha dSigma (lecture's path: x1 = x + (1 - t)
 * v).
 */
export const velocityToX1: PredictionConverter = converter("velocity", "x1");
/**
 * v = dAlpha x1 + dSigma (x - alpha x1) / sigma (lecture's path: (x1 - x) / (1 - t)); needs sigma_t
 * > 0.
 */
export const x1ToVelocity: PredictionConverter = converter("x1", "velocity");
/** eps = (dAlpha x - alpha v) / D (lecture's path: eps = x - t v). */
export const velocityToEpsilon: PredictionConverter = converter("velocity", "epsilon");
/**
 * v = dAlpha (x - sigma eps) / alpha + dSigma eps (lecture's path: (x - eps) / t); needs alpha_t >
 * 0.
 */
export const epsilonToVelocity: PredictionConverter = converter("epsilon", "velocity");
/** score = -eps / sigma; needs sigma_t > 0. */
export const epsilonToScore: PredictionConverter = converter("epsilon", "score");
/** eps = -sigma score. */
export const scoreToEpsilon: PredictionConverter = converter("score", "epsilon");
/**
 * v = dAlpha x / alpha + sigma D score / alpha (lecture's path: (x + (1 - t) score) / t); needs
 * alpha_t > 0.
 */
export const scoreToVelocity: PredictionConverter = converter("score", "velocity");
/**
 * score = (alpha v - dAlpha x) / (D sigma) (lecture's path: (t v - x) / (1 - t)); needs sigma_t >
 * 0.
 */
export const velocityToScore: PredictionConverter = converter("velocity", "score");
/** eps = (x - alpha x1) / sigma; needs sigma_t > 0. */
export const x1ToEpsilon: PredictionConverter = converter("x1", "epsilon");
/** x1 = (x - sigma eps) / alpha; needs alpha_t > 0. */
export const epsilonToX1: PredictionConverter = converter("epsilon", "x1");
/** score = (alpha x1 - x) / sigma^2 (Tweedie's formula read backwards); needs sigma_t > 0. */
export const x1ToScore: PredictionConverter = converter("x1", "score");
/** x1 = (x + sigma^2 score) / alpha (Tweedie's formula); needs alpha_t > 0. */
export const scoreToX1: PredictionConverter = converter("score", "x1");
