/**
 * Affine probability paths (lecture concept 4: conditional probability paths and vector fields).
 *
 *     x_t = alpha_t x1 + sigma_t x0,   x0 ~ N(0, I),   so   p_t(x | x1) = N(alpha_t x1, sigma_t^2
 *       I)
 *
 * Given a scheduler, the path samples points x_t and their velocities d/dt x_t = dAlpha x1 + dSigma
 * x0 (the regression target of conditional flow matching), and gives the conditional velocity field
 *
 *     u_t(x | x1) = dAlpha x1 + dSigma (x - alpha x1) / sigma,
 *
 * which on the lecture's path (alpha = t, sigma = 1 - t) is (x1 - x) / (1 - t). The two forms agree
 * along the path: u_t(x_t | x1) = x1 - x0. Introduced in notebook 4 (conditional paths); the
 * marginal versions live in `targets/`.
 */
import * as tf from "@tensorflow/tfjs";
import { assert2D, assertFinite, assertSameShape, type Time } from "../core/checks";
import {
  condOTScheduler,
  veScheduler,
  vpScheduler,
  type Scheduler,
  type SchedulerColumns,
  type VESchedulerOptions,
  type VPSchedulerOptions,
} from "./scheduler";
import { combine, timedTable } from "./internal";

/** A point on the path and its velocity, both `[n, d]`; `tf.dispose(sample)` frees them. */
export type PathSample = {
  /** x_t = alpha_t x1 + sigma_t x0. */
  xt: tf.Tensor2D;
  /**
   * d/dt x_t = dAlpha_t x1 + dSigma_t x0 (x1 - x0 on the lecture's path): the conditional velocity
   * at x_t.
   */
  dxt: tf.Tensor2D;
};

/** Throws unless `x` is a finite `[n, d]` tensor. */
function checkPoints(x: unknown, name: string, d?: number): asserts x is tf.Tensor2D {
  assert2D(x, name, d);
  assertFinite(x, name);
}

/**
 * The affine probability path x_t = alpha_t x1 + sigma_t x0 of a scheduler.
 *
 * @example
 * const path = condOTPath();
 * const x0 = fm.randn([4, 2]) as tf.Tensor2D, x1 = fm.twoMoons(4);
 * const { xt, dxt } = path.sample(x0, x1, 0.3);     // xt = 0.3 x1 + 0.7 x0, dxt = x1 - x0
 * const u = path.conditionalVelocity(xt, x1, 0.3);  // equals dxt (to float32 rounding)
 */
export class AffineProbPath {
  /** The scheduler giving alpha_t, sigma_t and their derivatives. */
  readonly scheduler: Scheduler;

  constructor(scheduler: Scheduler) {
    if (!scheduler || typeof scheduler.at !== "function" || typeof scheduler.name !== "string") {
      throw new Error(
        `AffineProbPath needs a Scheduler (e.g. condOTScheduler()); got ${String(scheduler)}`,
      );
    }
    this.scheduler = scheduler;
  }

  /** The scheduler's name, e.g. `"condOT"`. */
  get name(): string {
    return this.scheduler.name;
  }

  /**
   * alpha_t, sigma_t, dAlpha_t, dSigma_t as columns for a batch of n rows: `[1, 1]` for a number t,
   * `[n, 1]` for a `[n]` tensor. The caller disposes them (`tf.dispose(columns)`).
   */
  coefficients(t: Time, n: number): SchedulerColumns {
    return this.scheduler.columns(t, n);
  }

  /**
   * A point on the path between noise x0 and data x1, and its time derivative.
   * @param x0 noise `[n, d]` (usually `randn([n, d])`)
   * @param x1 data `[n, d]`
   * @param t a number or one time per row (`[n]`), in [0, 1]
   * @returns `{ xt, dxt }`, each `[n, d]`
   */
  sample(x0: tf.Tensor2D, x1: tf.Tensor2D, t: Time): PathSample {
    checkPoints(x0, "x0");
    checkPoints(x1, "x1");
    assertSameShape(x0, x1, "x0", "x1");
    const { times, table } = timedTable(this.scheduler, t, x0.shape[0]);
    for (let i = 0; i < table.length; i++) {
      if (!Number.isFinite(table[i].dAlpha) || !Number.isFinite(table[i].dSigma)) {
        throw new Error(
          `${this.name} path: dAlpha or dSigma is not finite at t = ${times[i]} (dSigma = ` +
            `${table[i].dSigma}); ` +
            `the ${this.name} scheduler's sigma_t ~ sqrt(1 - t) has an infinite slope at t = 1: ` +
            `sample at t < 1`,
        );
      }
    }
    return {
      xt: combine(
        table.map((v) => v.alpha),
        table.map((v) => v.sigma),
        x1,
        x0,
      ),
      dxt: combine(
        table.map((v) => v.dAlpha),
        table.map((v) => v.dSigma),
        x1,
        x0,
      ),
    };
  }

  /**
   * The velocity d/dt x_t = dAlpha_t x1 + dSigma_t x0 of the straight-or-curved line from x0 to x1
   * (x1 - x0 on the lecture's path): the conditional flow matching target, without computing x_t.
   */
  targetVelocity(x0: tf.Tensor2D, x1: tf.Tensor2D, t: Time): tf.Tensor2D {
    const { xt, dxt } = this.sample(x0, x1, t);
    xt.dispose();
    return dxt;
  }

  /**
   * The conditional velocity field u_t(x | x1) = dAlpha x1 + dSigma (x - alpha x1) / sigma: the
   * field that moves p_t(. | x1) = N(alpha_t x1, sigma_t^2 I) along the path. On the lecture's path
   * it is (x1 - x) / (1 - t).
   *
   * Where sigma_t = 0 (t = 1 on a path that ends exactly on x1) the formula divides by zero: an
   * error that says so (every point of p_1(. | x1) sits on x1, where the velocity is dAlpha x1 +
   * dSigma * 0 only in the limit along the path).
   *
   * @param x points `[n, d]`
   * @param x1 the data point each row is conditioned on, `[n, d]`
   * @param t a number or `[n]`, in [0, 1]
   * @example
   * condOTPath().conditionalVelocity(tf.tensor2d([[0, 0]]), tf.tensor2d([[1, 2]]), 0.5); // returns
   * [[2, 4]]
   */
  conditionalVelocity(x: tf.Tensor2D, x1: tf.Tensor2D, t: Time): tf.Tensor2D {
    checkPoints(x, "x");
    checkPoints(x1, "x1");
    assertSameShape(x, x1, "x", "x1");
    const { times, table } = timedTable(this.scheduler, t, x.shape[0]);
    const m = table.length;
    const a = new Float64Array(m);
    const b = new Float64Array(m);
    for (let i = 0; i < m; i++) {
      const { alpha, sigma, dAlpha, dSigma } = table[i];
      if (sigma === 0) {
        throw new Error(
          `conditionalVelocity: sigma_t = 0 at t = ${times[i]} on the ${this.name} path, so ` +
            `u_t(x | x1) = dAlpha x1 + dSigma (x - alpha x1) / sigma divides by zero (on the ` +
            `lecture's path: ` +
            `(x1 - x) / (1 - t) at t = 1). Evaluate at t < 1, or use a path with sigmaMin > 0.`,
        );
      }
      a[i] = dAlpha - (dSigma * alpha) / sigma;
      b[i] = dSigma / sigma;
      if (!Number.isFinite(a[i]) || !Number.isFinite(b[i])) {
        throw new Error(
          `conditionalVelocity: the coefficients are not finite at t = ${times[i]} on the ` +
            `${this.name} path`,
        );
      }
    }
    return combine(a, b, x1, x);
  }

  /**
   * The conditional velocity field u_t(. | x1) for one fixed data point x1 `[1, d]` (broadcast over
   * x), as a `VelocityField` for the solvers and figures.
   */
  conditionalField(x1: tf.Tensor2D): (x: tf.Tensor2D, t: Time) => tf.Tensor2D {
    checkPoints(x1, "x1");
    if (x1.shape[0] !== 1)
      throw new Error(
        `conditionalField: x1 must be one point [1, d]; got shape [${x1.shape.join(", ")}]`,
      );
    const point = Array.from(x1.dataSync());
    return (x: tf.Tensor2D, t: Time) => {
      assert2D(x, "x", point.length);
      const x1s = tf.tidy(() => tf.tile(tf.tensor2d([point]), [x.shape[0], 1]) as tf.Tensor2D);
      try {
        return this.conditionalVelocity(x, x1s, t);
      } finally {
        x1s.dispose();
      }
    };
  }
}

/**
 * The lecture's path x_t = t x1 + (1 - (1 - sigmaMin) t) x0 (conditional optimal transport).
 * @param sigmaMin the width left at t = 1, in [0, 1) @default 0
 * @example
 * const path = condOTPath();   // alpha = t, sigma = 1 - t
 */
export function condOTPath(sigmaMin = 0): AffineProbPath {
  return new AffineProbPath(condOTScheduler({ sigmaMin }));
}

/**
 * A variance-preserving path (DDPM / VP-SDE), see `vpScheduler`.
 * @example
 * const path = vpPath({ schedule: "cosine" });
 */
export function vpPath(options: VPSchedulerOptions = { schedule: "linear" }): AffineProbPath {
  return new AffineProbPath(vpScheduler(options));
}

/**
 * A variance-exploding path (SMLD / VE-SDE), see `veScheduler` (p_0 is not N(0, I) there).
 * @example
 * const path = vePath({ sigmaMax: 10 });
 */
export function vePath(options: VESchedulerOptions = {}): AffineProbPath {
  return new AffineProbPath(veScheduler(options));
}
