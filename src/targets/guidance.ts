/**
 * Classifier-free guidance where everything is exact (notebook 09, part 1): a Gaussian mixture
 * whose components are the classes c, so that the class-conditional path p_t(x | c) (one Gaussian
 * pushed along the path) and the unconditional path p_t(x) (the mixture) have closed-form
 * velocities.
 *
 * The guided field u_w = (1 + w) u_t(x | c) - w u_t(x) has, at every t, the score of the tilted
 * density p_t(x | c) p_t(c | x)^w (velocity and score are affine in each other at fixed (x, t)).
 * The usual story says that sampling with it therefore draws from
 *
 *     q_w(x) = p_1(x | c) p_1(c | x)^w / Z_w,
 *
 * but the tilted densities of different times are not one probability path (noising does not
 * commute with tilting), so the ODE's endpoint need not be q_w. `compareGuidance` measures what the
 * guided ODE really produces, by the change-of-variables formula of notebook 02 with the exact
 * divergence (in closed form: `mixtureDivergence`), against q_w normalised on the same grid.
 */
import * as tf from "@tensorflow/tfjs";
import { solveOde } from "../solvers/ode";
import { gridPoints, type GridSpec } from "../figures/density";
import { classifierFreeGuidance } from "../images/conditional";
import { GaussianMixture } from "./gaussian-mixture";

/** Checks that `c` is a component of `gm`. */
function checkClass(gm: GaussianMixture, c: number, fn: string): void {
  if (!(gm instanceof GaussianMixture))
    throw new Error(`${fn}: the target must be a GaussianMixture (its components are the classes)`);
  if (!Number.isInteger(c) || c < 0 || c >= gm.numComponents) {
    throw new Error(`${fn}: class must be an integer in [0, ${gm.numComponents}); got ${c}`);
  }
}

/**
 * The class-conditional target p_1(x | c): component c of the mixture alone, with its exact path,
 * velocity, score and samples.
 * @example
 * const p0 = fm.classConditional(gm, 0);   // N(mu_0, s_0^2 I)
 */
export function classConditional(gm: GaussianMixture, c: number): GaussianMixture {
  checkClass(gm, c, "classConditional");
  return new GaussianMixture({ means: [gm.means[c]], stds: gm.stds[c] });
}

/**
 * The exact guided field of class c with weight w: (1 + w) u_t(x | c) - w u_t(x) on the lecture's
 * path (w = 0: conditional, w = -1: unconditional).
 */
export function exactGuidedField(gm: GaussianMixture, c: number, w: number) {
  return classifierFreeGuidance(classConditional(gm, c).field(), gm.field(), w);
}

/**
 * log p_1(x | c) + w log p_1(c | x), the unnormalised log-density of the tilted target q_w, `[n]`.
 */
export function tiltedLogDensity(
  gm: GaussianMixture,
  c: number,
  w: number,
  x: tf.Tensor2D,
): tf.Tensor1D {
  checkClass(gm, c, "tiltedLogDensity");
  if (!Number.isFinite(w) || w < -1)
    throw new Error(`tiltedLogDensity: w must be a number >= -1; got ${w}`);
  const component = classConditional(gm, c);
  return tf.tidy(() => {
    const logCond = component.logDensity(x, 1);
    const post = gm.posterior(x, 1);
    // log p(c | x), from the posterior column (floored: far out it underflows to 0 in float32)
    const logPost = tf.log(tf.maximum(tf.squeeze(tf.slice(post, [0, c], [-1, 1]), [1]), 1e-30));
    return tf.add(logCond, tf.mul(logPost, w)) as tf.Tensor1D;
  });
}

/**
 * The divergence of a mixture's exact velocity on the lecture's path, in closed form, `[n]`. With
 * posterior weights p_k, r_k = x - t mu_k, v_k = t^2 s_k^2 + (1 - t)^2, the gain
 * g_k = (t s_k^2 - (1 - t)) / v_k, the component velocities e_k = mu_k + g_k r_k and scores
 * s_k = -r_k / v_k (their average s = the score):
 *
 *     u = sum_k p_k e_k,    grad p_k = p_k (s_k - s),    div u = sum_k p_k ((s_k - s) . e_k + d
 * g_k).
 *
 * Exact and cheap (no automatic differentiation), so the change of variables below runs on a whole
 * grid in a second; the tests check it against `fm.divergence`.
 */
export function mixtureDivergence(gm: GaussianMixture, x: tf.Tensor2D, t: number): tf.Tensor1D {
  if (!(gm instanceof GaussianMixture))
    throw new Error("mixtureDivergence: the target must be a GaussianMixture");
  const post = gm.posterior(x, t); // checks x and t
  const [n, d] = x.shape;
  const K = gm.numComponents;
  return tf.tidy(() => {
    const mu = tf.tensor2d(gm.means, [K, d]);
    const s2 = gm.stds.map((s) => s * s);
    const v = s2.map((q) => t * t * q + (1 - t) ** 2);
    const gain = tf.tensor1d(s2.map((q, k) => (t * q - (1 - t)) / v[k]));
    const r = tf.sub(tf.reshape(x, [n, 1, d]), tf.mul(t, tf.reshape(mu, [1, K, d]))); // [n, K, d]
    const e = tf.add(tf.reshape(mu, [1, K, d]), tf.mul(tf.reshape(gain, [1, K, 1]), r));
    const sk = tf.neg(tf.div(r, tf.reshape(tf.tensor1d(v), [1, K, 1])));
    const p = tf.reshape(post, [n, K, 1]);
    const score = tf.sum(tf.mul(p, sk), 1, true); // [n, 1, d]
    const inner = tf.sum(tf.mul(tf.sub(sk, score), e), 2); // [n, K]
    return tf.sum(tf.mul(post, tf.add(inner, tf.mul(gain, d))), 1) as tf.Tensor1D;
  });
}

/**
 * log p_1(x) of the samples of the guided ODE: the change of variables (notebook 02) with the exact
 * divergence, integrated backward from t = 1 to 0 with RK4 on the state [x, l],
 * d/dt [x, l] = [u_w(x), div u_w(x)], so that log p_1(x) = log N(x_0; 0, I) + l_0 (l_1 = 0).
 */
export function guidedLogDensity(
  gm: GaussianMixture,
  c: number,
  w: number,
  x: tf.Tensor2D,
  steps = 40,
): tf.Tensor1D {
  checkClass(gm, c, "guidedLogDensity");
  const component = classConditional(gm, c);
  const field = exactGuidedField(gm, c, w);
  const [n, d] = x.shape;
  const augmented = (z: tf.Tensor2D, t: number | tf.Tensor1D): tf.Tensor2D =>
    tf.tidy(() => {
      const time = t as number;
      const xs = tf.slice(z, [0, 0], [n, d]) as tf.Tensor2D;
      const div = tf.sub(
        tf.mul(mixtureDivergence(component, xs, time), 1 + w),
        tf.mul(mixtureDivergence(gm, xs, time), w),
      );
      return tf.concat([field(xs, time), tf.reshape(div, [n, 1])], 1) as tf.Tensor2D;
    });
  const z1 = tf.tidy(() => tf.concat([x, tf.zeros([n, 1])], 1) as tf.Tensor2D);
  const sol = solveOde(augmented, z1, { method: "rk4", steps, t0: 1, t1: 0 });
  z1.dispose();
  return tf.tidy(() => {
    const x0 = tf.slice(sol.x, [0, 0], [n, d]);
    const l0 = tf.reshape(tf.slice(sol.x, [0, d], [n, 1]), [n]);
    sol.x.dispose();
    const logp0 = tf.sub(tf.mul(tf.sum(tf.square(x0), 1), -0.5), (d / 2) * Math.log(2 * Math.PI));
    return tf.add(logp0, l0) as tf.Tensor1D;
  });
}

/** Options of `compareGuidance`. */
export interface CompareGuidanceOptions {
  /** The grid on which both densities are evaluated and normalised. @default [-6, 6]^2, 61 x 61 */
  grid?: GridSpec;
  /** Fixed steps of the backward RK4 solve of the change of variables. @default 40 */
  steps?: number;
}

/** What `compareGuidance` returns: both densities on the grid and how far apart they are. */
export interface GuidanceComparison {
  c: number;
  w: number;
  /** Grid axes; densities are `[y][x]`, plotly's way round. */
  x: number[];
  y: number[];
  /** The density of guided ODE samples, by the change of variables (exact divergence). */
  guided: number[][];
  /** q_w = p(x | c) p(c | x)^w, normalised on the grid. */
  tilted: number[][];
  /** Total variation 1/2 int |guided - tilted| dx (0: the same, 1: disjoint). */
  totalVariation: number;
  /** int guided dx over the grid: ~1 when the grid holds the guided distribution (a check). */
  guidedMass: number;
  /** Means of the two densities on the grid. */
  guidedMean: [number, number];
  tiltedMean: [number, number];
}

/**
 * What guided sampling with the exact fields really produces, against the tilted target q_w (module
 * comment). Both on one grid of the plane; the guided density is normalised by the ODE itself (its
 * grid mass is a check that the grid is large enough), q_w by the grid sum.
 * @example
 * const r = fm.compareGuidance(gm, 0, 2);
 * r.totalVariation;   // how far the usual story is from the truth
 */
export function compareGuidance(
  gm: GaussianMixture,
  c: number,
  w: number,
  options: CompareGuidanceOptions = {},
): GuidanceComparison {
  checkClass(gm, c, "compareGuidance");
  if (gm.dim !== 2)
    throw new Error(
      `compareGuidance: works on 2-D mixtures (a grid of the plane); got dimension ${gm.dim}`,
    );
  const spec = { xRange: [-6, 6] as [number, number], n: 61, ...(options.grid ?? {}) };
  const { x, y, points } = gridPoints(spec);
  const steps = options.steps ?? 40;
  if (!Number.isInteger(steps) || steps < 1)
    throw new Error(`compareGuidance: steps must be a positive integer; got ${steps}`);
  const dA = (x[1] - x[0]) * (y[1] - y[0]);
  const grid = tf.tensor2d(points);
  let logGuided: Float32Array;
  let logTilted: Float32Array;
  try {
    const lg = guidedLogDensity(gm, c, w, grid, steps);
    logGuided = lg.dataSync() as Float32Array;
    lg.dispose();
    const lt = tiltedLogDensity(gm, c, w, grid);
    logTilted = lt.dataSync() as Float32Array;
    lt.dispose();
  } finally {
    grid.dispose();
  }
  let maxTilted = -Infinity;
  for (const v of logTilted) maxTilted = Math.max(maxTilted, v);
  let z = 0;
  for (const v of logTilted) z += Math.exp(v - maxTilted) * dA;
  const nx = x.length;
  const guided: number[][] = y.map(() => new Array<number>(nx));
  const tilted: number[][] = y.map(() => new Array<number>(nx));
  let tv = 0;
  let mass = 0;
  const gm1 = [0, 0];
  const tm1 = [0, 0];
  points.forEach(([px, py], k) => {
    const j = Math.floor(k / nx);
    const i = k % nx;
    const g = Math.exp(logGuided[k]);
    const q = Math.exp(logTilted[k] - maxTilted) / z;
    guided[j][i] = g;
    tilted[j][i] = q;
    tv += 0.5 * Math.abs(g - q) * dA;
    mass += g * dA;
    gm1[0] += px * g * dA;
    gm1[1] += py * g * dA;
    tm1[0] += px * q * dA;
    tm1[1] += py * q * dA;
  });
  return {
    c,
    w,
    x,
    y,
    guided,
    tilted,
    totalVariation: tv,
    guidedMass: mass,
    guidedMean: [gm1[0] / mass, gm1[1] / mass],
    tiltedMean: [tm1[0], tm1[1]],
  };
}
