/**
 * Log-likelihood under a flow, by the instantaneous change of variables of continuous normalizing
 * flows (lecture concept 2, "the historical method"):
 *
 *     log p_1(x_1) = log p_0(x_0) - int_0^1 div u_t(x_t) dt,
 *
 * where x_t is the trajectory through x_1, found by solving the ODE backward from t = 1 to t = 0.
 * The divergence integral rides along as one extra coordinate of the state: the augmented ODE
 *
 *     d/dt [x_t, l_t] = [u_t(x_t), div u_t(x_t)],    x_1 given, l_1 = 0,
 *
 * integrated from t = 1 down to 0 gives x_0 and l_0 = -int_0^1 div u_t(x_t) dt, so log p_1(x_1) =
 * log p_0(x_0) + l_0. Every step of it needs d gradient passes (or one per Hutchinson probe): this
 * is why maximum-likelihood training of CNFs is slow, and what flow matching avoids. Introduced in
 * notebook 2 (continuity equation).
 */
import * as tf from "@tensorflow/tfjs";
import { assert2D, assertFinite } from "../core/checks";
import type { VelocityField } from "../core/notation";
import { solveOde } from "../solvers/ode";
import type { OdeMethod } from "../solvers/ode";
import { hutchinsonProbes, velocityAndDivergence, velocityAndHutchinson } from "./divergence";
import type { HutchinsonNoise } from "./divergence";

/** Options of `logLikelihood`. */
export interface LogLikelihoodOptions {
  /** ODE method for the backward solve (see `solveOde`). @default "dopri5" */
  method?: OdeMethod;
  /** Steps of a fixed-step method. @default 100 */
  steps?: number;
  /** dopri5 relative tolerance. @default 1e-5 */
  rtol?: number;
  /** dopri5 absolute tolerance. @default 1e-5 */
  atol?: number;
  /**
   * log p_0, the density at the start time `t0`: `(x0 [n, d]) -> [n]`. @default the standard normal
   * N(0, I)
   */
  logP0?: (x0: tf.Tensor2D) => tf.Tensor1D;
  /**
   * How to compute div u: `"exact"` (d gradient passes per evaluation) or `"hutchinson"` (one pass
   * per probe; the probes are drawn once, seeded, and kept along the whole solve, as in FFJORD, so
   * the ODE stays deterministic and the estimate of log p stays unbiased).
   * @default "exact"
   */
  divergence?: "exact" | "hutchinson";
  /** Hutchinson probes per evaluation. @default 1 */
  hutchinsonSamples?: number;
  /** Hutchinson probe distribution. @default "rademacher" */
  noise?: HutchinsonNoise;
  /** The time of the known density p_0. @default 0 */
  t0?: number;
  /**
   * The time of the points whose density is wanted (log p_{t1}(x)); the solve runs from t1 down to
   * t0. @default 1
   */
  t1?: number;
}

/**
 * What `logLikelihood` returns; `tf.dispose(result)` frees every tensor. (A type alias, not an
 * interface, so that `tf.dispose` accepts it.)
 */
export type LogLikelihoodResult = {
  /** log p_{t1}(x1), `[n]`. */
  logp: tf.Tensor1D;
  /** The trajectories' starting points x0 = psi_{t1 -> t0}(x1), `[n, d]`. */
  x0: tf.Tensor2D;
  /** log p_0(x0), `[n]`. */
  logp0: tf.Tensor1D;
  /** int_{t0}^{t1} div u_t(x_t) dt along each trajectory, `[n]` (so logp = logp0 - divIntegral). */
  divIntegral: tf.Tensor1D;
  /** Evaluations of the augmented dynamics by the ODE solver. */
  nfe: number;
  /** Calls of the velocity field, counting each gradient pass (d per evaluation for "exact"). */
  fieldEvaluations: number;
};

/** log N(x; 0, I), row by row: -|x|^2 / 2 - (d / 2) log(2 pi). */
function standardNormalLogp(x: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const d = x.shape[1];
    return tf.sub(
      tf.mul(tf.sum(tf.square(x), 1), -0.5),
      (d / 2) * Math.log(2 * Math.PI),
    ) as tf.Tensor1D;
  });
}

/**
 * Log-density of points under the flow of a velocity field, by integrating the augmented ODE
 * backward.
 *
 * @param field the velocity u, called `field(x [n, d], t: number)`; must act row by row
 * @param x1 points `[n, d]` at time t1 (default 1)
 * @param options method, steps/tolerances, `logP0`, divergence estimator, t0/t1
 * @returns `{ logp, x0, logp0, divIntegral, nfe, fieldEvaluations }`
 * @example
 * // u(x) = mu: a pure shift maps N(0, I) to N(mu, I); div u = 0, so log p_1(x) = log N(x - mu; 0,
 * I). const mu = tf.tensor2d([[1, -2]]); const r = logLikelihood((x) => tf.add(tf.zerosLike(x), mu)
 * as tf.Tensor2D, tf.tensor2d([[1, -2]])); r.logp.dataSync()[0]; // returns ~ -1.8379 (= -log(2
 * pi)) tf.dispose(r);
 */
export function logLikelihood(
  field: VelocityField,
  x1: tf.Tensor2D,
  options: LogLikelihoodOptions = {},
): LogLikelihoodResult {
  if (typeof field !== "function")
    throw new Error(
      `logLikelihood: field must be a function (x, t) => tensor; got ${typeof field}`,
    );
  assert2D(x1, "logLikelihood: x1");
  assertFinite(x1, "logLikelihood: x1");
  const mode = options.divergence ?? "exact";
  if (mode !== "exact" && mode !== "hutchinson") {
    throw new Error(
      `logLikelihood: divergence must be "exact" or "hutchinson"; got "${String(mode)}"`,
    );
  }
  const logP0 = options.logP0 ?? standardNormalLogp;
  if (typeof logP0 !== "function")
    throw new Error(
      `logLikelihood: logP0 must be a function (x0) => [n] tensor; got ${typeof logP0}`,
    );
  const t0 = options.t0 ?? 0;
  const t1 = options.t1 ?? 1;
  const [n, d] = x1.shape;

  let fieldEvaluations = 0;
  const counted: VelocityField = (x, t) => {
    fieldEvaluations++;
    return field(x, t);
  };
  const probes =
    mode === "hutchinson"
      ? hutchinsonProbes(options.hutchinsonSamples ?? 1, n, d, options.noise ?? "rademacher")
      : [];

  // The augmented state z = [x, l], shape [n, d + 1]; its velocity is [u, div u].
  const augmented: VelocityField = (z, t) =>
    tf.tidy(() => {
      const x = tf.slice(z, [0, 0], [n, d]) as tf.Tensor2D;
      let u: tf.Tensor2D;
      let div: tf.Tensor1D;
      if (mode === "exact") {
        ({ u, div } = velocityAndDivergence(counted, x, t));
      } else {
        ({ u, div } = velocityAndHutchinson(counted, x, t, { probes }));
      }
      return tf.concat([u, tf.reshape(div, [n, 1])], 1) as tf.Tensor2D;
    });

  const z1 = tf.tidy(() => tf.concat([x1, tf.zeros([n, 1])], 1) as tf.Tensor2D);
  let sol;
  try {
    sol = solveOde(augmented, z1, {
      method: options.method ?? "dopri5",
      steps: options.steps,
      rtol: options.rtol,
      atol: options.atol,
      t0: t1,
      t1: t0,
    });
  } finally {
    z1.dispose();
    tf.dispose(probes);
  }
  const zEnd = sol.x;
  try {
    const out = tf.tidy(() => {
      const x0 = tf.slice(zEnd, [0, 0], [n, d]) as tf.Tensor2D;
      const l0 = tf.reshape(tf.slice(zEnd, [0, d], [n, 1]), [n]) as tf.Tensor1D; // = -int div dt
      const logp0 = logP0(x0);
      if (!(logp0 instanceof tf.Tensor) || logp0.rank !== 1 || logp0.shape[0] !== n) {
        const got = logp0 instanceof tf.Tensor ? `shape [${logp0.shape.join(", ")}]` : typeof logp0;
        throw new Error(`logLikelihood: logP0 must return a [${n}] tensor; got ${got}`);
      }
      return {
        logp: tf.add(logp0, l0) as tf.Tensor1D,
        x0,
        logp0: tf.clone(logp0),
        divIntegral: tf.neg(l0) as tf.Tensor1D,
      };
    });
    return { ...out, nfe: sol.nfe, fieldEvaluations };
  } finally {
    zEnd.dispose();
  }
}
