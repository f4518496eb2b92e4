/**
 * The two flow matching losses side by side (lecture concept 5, notebook 05).
 *
 *     L_FM(theta)  = E_{t, x_t ~ p_t}        |u_theta(x_t, t) - u_t(x_t)|^2          (marginal
 *       field: intractable in general)
 *     L_CFM(theta) = E_{t, x1, x0, x_t}      |u_theta(x_t, t) - (dAlpha x1 + dSigma x0)|^2
 *       (conditional target: simple)
 *
 * For a target with an exact marginal field (a `FiniteSet` or `GaussianMixture`), both can be
 * estimated on the SAME draws (t, x0, x1, x_t): their difference does not depend on theta, and
 * their gradients with respect to theta agree in expectation. `flowMatchingLosses` returns both
 * values and both gradients, so the notebook can watch the Monte-Carlo estimates converge to each
 * other.
 */
import * as tf from "@tensorflow/tfjs";
import { normal, uniform } from "../core/random";
import { AffineProbPath, condOTPath } from "../path/affine";
import type { IsotropicMixture } from "../targets/gaussian-mixture";
import { lossAndGradient, type LossAndGradient } from "./backprop";
import { VelocityModel } from "./mlp";

/** Options of `flowMatchingLosses`. */
export interface FlowMatchingLossOptions {
  /** Monte-Carlo sample size (draws of t, x0, x1). @default 1024 */
  n?: number;
  /** The probability path. @default condOTPath() */
  path?: AffineProbPath;
  /**
   * The regression target of the conditional loss: `"velocity"` (dAlpha x1 + dSigma x0, the right
   * one) or `"x1"` (a deliberately wrong target, for the negative control of notebook 05).
   * @default "velocity"
   */
  conditionalTarget?: "velocity" | "x1";
}

/** Both losses and both gradients on one set of draws. */
export interface FlowMatchingLosses {
  /** L_CFM and its gradient. */
  cfm: LossAndGradient;
  /** L_FM (exact marginal field as target) and its gradient. */
  fm: LossAndGradient;
  /** Monte-Carlo sample size. */
  n: number;
}

/**
 * One Monte-Carlo draw of both losses and their gradients at the model's current parameters.
 * Seeded through `fm.seed`. Leak-free.
 * @example
 * const { cfm, fm: marginal } = fm.flowMatchingLosses(model, new fm.FiniteSet(points), { n: 4096
 * });
 */
export function flowMatchingLosses(
  model: VelocityModel,
  target: IsotropicMixture,
  options: FlowMatchingLossOptions = {},
): FlowMatchingLosses {
  const n = options.n ?? 1024;
  if (!Number.isInteger(n) || n < 1) throw new Error(`n must be a positive integer; got ${n}`);
  const path = options.path ?? condOTPath();
  const kind = options.conditionalTarget ?? "velocity";
  if (kind !== "velocity" && kind !== "x1")
    throw new Error(`conditionalTarget must be "velocity" or "x1"; got ${JSON.stringify(kind)}`);
  const d = model.config.dim;
  if (target.dim !== d)
    throw new Error(`the target's points have ${target.dim} coordinates but the model's have ${d}`);
  const x1 = target.sample(n);
  const x0v = new Float32Array(n * d);
  for (let i = 0; i < x0v.length; i++) x0v[i] = normal();
  const tv = new Float32Array(n);
  for (let i = 0; i < n; i++) tv[i] = uniform();
  const x0 = tf.tensor2d(x0v, [n, d]);
  const t = tf.tensor1d(tv);
  try {
    const { xt, dxt } = path.sample(x0, x1, t);
    const exact = target.velocity(xt, t, path);
    const cfmTarget = kind === "velocity" ? dxt : x1;
    const result = {
      cfm: lossAndGradient(model, xt, t, cfmTarget),
      fm: lossAndGradient(model, xt, t, exact),
      n,
    };
    tf.dispose([xt, dxt, exact]);
    return result;
  } finally {
    tf.dispose([x0, t, x1]);
  }
}
