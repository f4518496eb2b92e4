/**
 * Classifier-free guidance where everything is exact (notebook 09, part 1): a Gaussian mixture whose
 * components are the classes c, so that the class-conditional path p_t(x | c) (one Gaussian pushed
 * along the path) and the unconditional path p_t(x) (the mixture) have closed-form velocities.
 *
 * The guided field u_w = (1 + w) u_t(x | c) - w u_t(x) has, at every t, the score of the tilted
 * density p_t(x | c) p_t(c | x)^w (velocity and score are affine in each other at fixed (x, t)).
 * The usual story says that sampling with it therefore draws from
 *
 *     q_w(x) = p_1(x | c) p_1(c | x)^w / Z_w,
 *
 * but the tilted densities of different times are not one probability path (noising does not commute
 * with tilting), so the ODE's endpoint need not be q_w. `compareGuidance` measures what the guided
 * ODE really produces, by the change-of-variables formula of notebook 02 with the exact divergence
 * (`fm.logLikelihood`), against q_w normalised on the same grid.
 */
import * as tf from "@tensorflow/tfjs";
import { logLikelihood } from "../field/likelihood";
import { gridPoints, type GridSpec } from "../figures/density";
import { classifierFreeGuidance } from "../images/conditional";
import { GaussianMixture } from "./gaussian-mixture";

/** Checks that `c` is a component of `gm`. */
function checkClass(gm: GaussianMixture, c: number, fn: string): void {
  if (!(gm instanceof GaussianMixture)) throw new Error(`${fn}: the target must be a GaussianMixture (its components are the classes)`);
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
export function tiltedLogDensity(gm: GaussianMixture, c: number, w: number, x: tf.Tensor2D): tf.Tensor1D {
  checkClass(gm, c, "tiltedLogDensity");
  if (!Number.isFinite(w) || w < -1) throw new Error(`tiltedLogDensity: w must be a number >= -1; got ${w}`);
  const component = classConditional(gm, c);
  return tf.tidy(() => {
    const logCond = component.logDensity(x, 1);
    const post = gm.posterior(x, 1);
    // log p(c | x), from the posterior column (floored: far out it underflows to 0 in float32)
    const logPost = tf.log(tf.maximum(tf.squeeze(tf.slice(post, [0, c], [-1, 1]), [1]), 1e-30));
    return tf.add(logCond, tf.mul(logPost, w)) as tf.Tensor1D;
  });
}

/** Options of `compareGuidance`. */
export interface CompareGuidanceOptions {
  /** The grid on which both densities are evaluated and normalised. @default [-6, 6]^2, 61 x 61 */
  grid?: GridSpec;
  /** Fixed steps of the backward RK4 solve of the likelihood. @default 40 */
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
 * const r = fm.compareGuidance(gm, 0, 2);   // r.totalVariation: how far the story is from the truth
 */
export function compareGuidance(gm: GaussianMixture, c: number, w: number, options: CompareGuidanceOptions = {}): GuidanceComparison {
  checkClass(gm, c, "compareGuidance");
  if (gm.dim !== 2) throw new Error(`compareGuidance: works on 2-D mixtures (a grid of the plane); got dimension ${gm.dim}`);
  const spec = { xRange: [-6, 6] as [number, number], n: 61, ...(options.grid ?? {}) };
  const { x, y, points } = gridPoints(spec);
  const steps = options.steps ?? 40;
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`compareGuidance: steps must be a positive integer; got ${steps}`);
  const dA = (x[1] - x[0]) * (y[1] - y[0]);
  const grid = tf.tensor2d(points);
  let logGuided: Float32Array;
  let logTilted: Float32Array;
  try {
    const ll = logLikelihood(exactGuidedField(gm, c, w), grid, { method: "rk4", steps });
    logGuided = ll.logp.dataSync() as Float32Array;
    tf.dispose(ll);
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
