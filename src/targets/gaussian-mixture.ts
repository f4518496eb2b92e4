/**
 * Target distributions with exact answers: isotropic Gaussian mixtures (`GaussianMixture`) and
 * their zero-width case, a finite data set (`FiniteSet`), both built on `IsotropicMixture`. Lecture
 * concept 4 (the marginal path and the marginal vector field, notebook 04); notebooks 5-8 use them
 * to compare learned fields with the truth.
 *
 * p_1 = sum_k w_k N(mu_k, s_k^2 I). Under an affine path x_t = alpha_t x1 + sigma_t x0 with x0 ~
 * N(0, I), given the component k the pair (x1, x_t) is jointly Gaussian, so everything is closed
 * form:
 *
 *   p_t(x)           = sum_k w_k N(x; alpha mu_k, v_k I),      v_k = alpha^2 s_k^2 + sigma^2
 *   p(k | x, t)      = w_k N(x; alpha mu_k, v_k I) / p_t(x)    (the posterior weights)
 *   E[x1 | x, k]     = mu_k + (alpha s_k^2 / v_k) (x - alpha mu_k)
 *   E[x0 | x, k]     = (sigma / v_k) (x - alpha mu_k)
 *   u_t(x)           = sum_k p(k | x, t) (dAlpha E[x1 | x, k] + dSigma E[x0 | x, k])
 *                    = E[dAlpha x1 + dSigma x0 | x_t = x]      (the marginal velocity: x1 - x0
 *                      averaged)
 *   grad log p_t(x)  = -sum_k p(k | x, t) (x - alpha mu_k) / v_k
 *
 * Everything is computed in float64 (mixture64.ts): the posterior from logit differences formed
 * analytically, renormalised so rows sum to 1, and posterior averages taken term by term, so the
 * answers stay right far from the data and near t = 1 (for a finite set v_k = sigma_t^2 -> 0: the
 * posterior becomes one-hot; at t = 1 - 2^-53 and |x| = 1e4 the logits are ~1e39, beyond float32).
 * Only the result is rounded to float32; a result float32 cannot hold is an error, never Infinity.
 */
import * as tf from "@tensorflow/tfjs";
import { assert2D, assertFinite, assertFits, type Time } from "../core/checks";
import type { ScalarField, VelocityField } from "../core/notation";
import { normal, uniform } from "../core/random";
import { AffineProbPath, condOTPath } from "../path/affine";
import { timedTable, type TimedTable } from "../path/internal";
import { AVERAGES, average, averageVjp, mixtureRows, toFloat32 } from "./mixture64";
import type { MixtureConstants } from "./mixture64";

/** Options of `GaussianMixture`. */
export interface GaussianMixtureOptions {
  /** The component means mu_k: a `[K, d]` tensor (not disposed) or K arrays of d numbers. */
  means: tf.Tensor2D | number[][];
  /** The components' standard deviations s_k (isotropic, > 0): one number for all or K numbers. */
  stds: number | number[];
  /** The mixture weights w_k (> 0, summing to 1). @default 1/K each */
  weights?: number[];
}

/** What the shared evaluation computes. */
type Output = "logDensity" | "posterior" | "velocity" | "score" | "posteriorMean";

/** The lecture's path, the default of every method. */
const LECTURE_PATH = condOTPath();

/** Reads means from a tensor or nested array, checking shape and finiteness. */
function readMeans(means: unknown, label: string, what: string): number[][] {
  let rows: number[][];
  if (means instanceof tf.Tensor) {
    if (means.rank !== 2)
      throw new Error(
        `${label}: ${what} must have shape [K, d]; got shape [${means.shape.join(", ")}]`,
      );
    rows = means.arraySync() as number[][];
  } else if (Array.isArray(means)) {
    rows = means as number[][];
    if (!rows.every((r) => Array.isArray(r)))
      throw new Error(`${label}: ${what} must be K arrays of d numbers (or a [K, d] tensor)`);
  } else {
    throw new Error(
      `${label}: ${what} must be a [K, d] tensor or K arrays of d numbers; got ` +
        `${means === null ? "null" : typeof means}`,
    );
  }
  if (rows.length === 0) throw new Error(`${label}: ${what} must have at least one row; got none`);
  const d = rows[0].length;
  if (d === 0)
    throw new Error(`${label}: ${what} must have at least one column; got rows of length 0`);
  rows.forEach((r, k) => {
    if (r.length !== d)
      throw new Error(
        `${label}: every row of ${what} must have ${d} entries; row ${k} has ${r.length}`,
      );
    r.forEach((v, j) => {
      if (typeof v !== "number" || !Number.isFinite(v))
        throw new Error(`${label}: ${what} must be finite; entry [${k}, ${j}] is ${v}`);
    });
  });
  return rows.map((r) => r.slice());
}

/** Checks the weights (K positive numbers summing to 1), or returns uniform weights. */
function readWeights(weights: unknown, K: number, label: string): number[] {
  if (weights === undefined) return new Array<number>(K).fill(1 / K);
  if (!Array.isArray(weights))
    throw new Error(`${label}: weights must be an array of ${K} numbers; got ${typeof weights}`);
  if (weights.length !== K)
    throw new Error(
      `${label}: weights must have one entry per component (${K}); got ${weights.length}`,
    );
  weights.forEach((w, k) => {
    if (typeof w !== "number" || !Number.isFinite(w) || w <= 0)
      throw new Error(`${label}: weights must be finite and > 0; entry ${k} is ${w}`);
  });
  const total = (weights as number[]).reduce((a, b) => a + b, 0);
  if (Math.abs(total - 1) > 1e-6)
    throw new Error(`${label}: weights must sum to 1; they sum to ${total}`);
  return (weights as number[]).slice();
}

/**
 * An isotropic mixture sum_k w_k N(mu_k, s_k^2 I) with s_k >= 0, pushed along an affine path: the
 * machinery shared by `GaussianMixture` (all s_k > 0) and `FiniteSet` (all s_k = 0). Every method
 * takes points `x [n, d]`, a time (number or `[n]`) and optionally the path (default: the lecture's
 * path).
 */
export class IsotropicMixture {
  /** The dimension d. */
  readonly dim: number;
  /** The number of components K. */
  readonly numComponents: number;
  /** The means mu_k, K arrays of d numbers (a copy; do not mutate). */
  readonly means: number[][];
  /** The standard deviations s_k, K numbers. */
  readonly stds: number[];
  /** The weights w_k, K numbers summing to 1. */
  readonly weights: number[];
  /** The name used in error messages (`"GaussianMixture"` or `"FiniteSet"`). */
  readonly label: string;

  protected constructor(label: string, means: number[][], stds: number[], weights: number[]) {
    this.label = label;
    this.means = means;
    this.stds = stds;
    this.weights = weights;
    this.numComponents = means.length;
    this.dim = means[0].length;
  }

  /**
   * The marginal log-density log p_t(x) = log sum_k w_k N(x; alpha mu_k, (alpha^2 s_k^2 + sigma^2)
   * I).
   * @returns `[n]`
   * @example
   * const gm = new GaussianMixture({ means: [[-2, 0], [2, 0]], stds: 0.5 });
   * gm.logDensity(tf.zeros([1, 2]) as tf.Tensor2D, 0); // returns [-1.8379] = log N(0; 0, I) in 2-D
   */
  logDensity(x: tf.Tensor2D, t: Time, path: AffineProbPath = LECTURE_PATH): tf.Tensor1D {
    return this.evaluate("logDensity", x, t, path).logDensity as tf.Tensor1D;
  }

  /**
   * The posterior weights p(k | x_t = x): which component (for a finite set: which data point) x
   * came from. Rows sum to 1.
   * @returns `[n, K]`
   */
  posterior(x: tf.Tensor2D, t: Time, path: AffineProbPath = LECTURE_PATH): tf.Tensor2D {
    return this.evaluate("posterior", x, t, path).posterior as tf.Tensor2D;
  }

  /**
   * The exact marginal velocity u_t(x) = E[dAlpha x1 + dSigma x0 | x_t = x] (on the lecture's path,
   * E[x1 - x0 | x_t = x]): the posterior-weighted average of the conditional velocities. It
   * generates the path p_t (continuity equation) and carries p_0 to the mixture.
   * @returns `[n, d]`
   * @example
   * const u = gm.velocity(x, 0.5);   // the field a flow matching model learns
   */
  velocity(x: tf.Tensor2D, t: Time, path: AffineProbPath = LECTURE_PATH): tf.Tensor2D {
    return this.evaluate("velocity", x, t, path).velocity as tf.Tensor2D;
  }

  /**
   * The exact score grad_x log p_t(x) = -sum_k p(k | x) (x - alpha mu_k) / v_k.
   * @returns `[n, d]`
   */
  score(x: tf.Tensor2D, t: Time, path: AffineProbPath = LECTURE_PATH): tf.Tensor2D {
    return this.evaluate("score", x, t, path).score as tf.Tensor2D;
  }

  /**
   * The exact x1-prediction (denoiser) E[x1 | x_t = x] = sum_k p(k | x) (mu_k + alpha s_k^2 / v_k
   * (x - alpha mu_k)).
   * @returns `[n, d]`
   */
  posteriorMean(x: tf.Tensor2D, t: Time, path: AffineProbPath = LECTURE_PATH): tf.Tensor2D {
    return this.evaluate("posteriorMean", x, t, path).posteriorMean as tf.Tensor2D;
  }

  /**
   * `n` seeded samples of p_1 (through `core/random`): a component by its weight, then mu_k + s_k
   * z.
   * @returns `[n, d]`
   * @example
   * seed(0); const x1 = gm.sample(500);   // x1.shape is [500, 2]
   */
  sample(n: number): tf.Tensor2D {
    if (typeof n !== "number" || !Number.isInteger(n) || n < 1) {
      throw new Error(`${this.label}.sample: n must be a positive integer; got ${n}`);
    }
    assertFits(n * this.dim, `${this.label}.sample`, `n = ${n} samples of dimension ${this.dim}`);
    const K = this.numComponents;
    const d = this.dim;
    const cumulative: number[] = [];
    let acc = 0;
    for (const w of this.weights) cumulative.push((acc += w));
    const data = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      const u = uniform() * acc;
      let k = 0;
      while (k < K - 1 && u >= cumulative[k]) k++;
      const s = this.stds[k];
      for (let j = 0; j < d; j++) data[i * d + j] = this.means[k][j] + (s > 0 ? s * normal() : 0);
    }
    return tf.tensor2d(data, [n, d]);
  }

  /**
   * The exact marginal velocity as a `VelocityField` `(x, t) => u_t(x)`, for the solvers and
   * figures.
   * @example
   * const { x } = solveOde(gm.field(), randn([500, 2]) as tf.Tensor2D, { method: "rk4", steps: 50
   * });
   */
  field(path: AffineProbPath = LECTURE_PATH): VelocityField {
    return (x, t) => this.velocity(x, t, path);
  }

  /** The exact score as a field `(x, t) => grad log p_t(x)`. */
  scoreField(path: AffineProbPath = LECTURE_PATH): VelocityField {
    return (x, t) => this.score(x, t, path);
  }

  /**
   * The marginal log-density as a `ScalarField` `(x, t) => log p_t(x)` (e.g. for
   * `continuityResidual`).
   */
  logDensityField(path: AffineProbPath = LECTURE_PATH): ScalarField {
    return (x, t) => this.logDensity(x, t, path);
  }

  /**
   * Checks the inputs and that v_k > 0 (and, for velocities, that dAlpha and dSigma are finite).
   */
  private check(
    method: string,
    x: unknown,
    t: Time,
    path: AffineProbPath,
    needsDerivatives: boolean,
  ): TimedTable {
    const where = `${this.label}.${method}`;
    if (!(path instanceof AffineProbPath)) {
      throw new Error(
        `${where}: path must be an AffineProbPath (e.g. condOTPath()); got ` +
          `${path === null ? "null" : typeof path}`,
      );
    }
    if (!(x instanceof tf.Tensor) || x.rank !== 2 || x.shape[1] !== this.dim) {
      const got = x instanceof tf.Tensor ? `shape [${x.shape.join(", ")}]` : typeof x;
      throw new Error(
        `${where}: x must have shape [n, ${this.dim}] (the target has dimension ${this.dim}); ` +
          `got ${got}`,
      );
    }
    assert2D(x, `${where}: x`, this.dim);
    if (x.shape[0] === 0) {
      throw new Error(
        `${where}: x is an empty batch (shape [0, ${this.dim}]); pass at least one point`,
      );
    }
    assertFinite(x, `${where}: x`);
    const c = timedTable(path.scheduler, t, x.shape[0]);
    const minStd = this.stds.reduce((a, b) => Math.min(a, b), Infinity);
    for (let i = 0; i < c.table.length; i++) {
      const v = c.table[i];
      if (v.sigma === 0 && (v.alpha === 0 || minStd === 0)) {
        throw new Error(
          `${where}: at t = ${c.times[i]} the ${path.scheduler.name} path has sigma_t = 0, so ` +
            `the ` +
            (minStd === 0
              ? `zero-width components (data points) stay point masses: p_t is a sum of Dirac ` +
                `deltas and ` +
                `log p_t, the posterior, the velocity and the score are undefined there. ` +
                `Evaluate at t < 1 ` +
                `(e.g. 1 - 1e-4), use a path with sigmaMin > 0, or a GaussianMixture with stds > 0.`
              : `path collapses every point to 0 (alpha_t = 0 too).`),
        );
      }
      if (needsDerivatives && (!Number.isFinite(v.dAlpha) || !Number.isFinite(v.dSigma))) {
        throw new Error(
          `${where}: dSigma_t = ${v.dSigma} at t = ${c.times[i]} on the ${path.scheduler.name} ` +
            `path ` +
            `(its sigma_t ~ sqrt(1 - t) has an infinite slope at t = 1); evaluate the velocity ` +
            `at t < 1.`,
        );
      }
    }
    return c;
  }

  /** The mixture's constants in float64, built once. */
  private get constants(): MixtureConstants {
    if (!this.cached) {
      const K = this.numComponents;
      const d = this.dim;
      const mu = new Float64Array(K * d);
      this.means.forEach((row, k) => row.forEach((v, j) => (mu[k * d + j] = v)));
      this.cached = {
        K,
        d,
        mu,
        s2: Float64Array.from(this.stds, (s) => s * s),
        logW: Float64Array.from(this.weights, (w) => Math.log(w)),
      };
    }
    return this.cached;
  }
  private cached?: MixtureConstants;

  /**
   * The shared closed-form evaluation, in float64 (see mixture64.ts): one output, differentiable
   * in x by TensorFlow.js through its exact vector-Jacobian product (not in t: a `[n]` tensor t is
   * read as numbers, and a gradient with respect to it is an error).
   */
  private evaluate(
    method: Output,
    x: tf.Tensor2D,
    t: Time,
    path: AffineProbPath,
  ): Record<string, tf.Tensor> {
    const c = this.check(method, x, t, path, method === "velocity");
    const consts = this.constants;
    const [n, d] = x.shape;
    const K = this.numComponents;
    const at = c.table.length === 1 ? () => c.table[0] : (i: number) => c.table[i];
    const where = `${this.label}.${method}`;
    const shape = method === "logDensity" ? [n] : method === "posterior" ? [n, K] : [n, d];
    const columns = shape.length === 1 ? 1 : shape[1];
    const name = (i: number): string =>
      `${where}: the value at row ${Math.floor(i / columns)}` +
      (columns > 1 ? `, column ${i % columns}` : "");
    const run = tf.customGrad((xx, save) => {
      void save;
      const rows = mixtureRows(consts, Float64Array.from((xx as tf.Tensor).dataSync()), n, at);
      const a =
        method === "logDensity" || method === "posterior" ? undefined : AVERAGES[method](consts);
      const y =
        method === "logDensity"
          ? rows.logp
          : method === "posterior"
            ? rows.post
            : average(consts, rows, a!);
      const value = tf.tensor(toFloat32(y, name), shape);
      const gradFunc = (dy: tf.Tensor): tf.Tensor => {
        const kind = a ?? (method === "logDensity" ? "logp" : "posterior");
        const g = averageVjp(consts, rows, kind, y, dy.dataSync());
        const what = (i: number) => `${where}'s gradient at row ${Math.floor(i / d)}`;
        return tf.tensor2d(toFloat32(g, what), [n, d]);
      };
      return { value, gradFunc };
    });
    return { [method]: run(x) };
  }
}

/**
 * A Gaussian mixture p_1 = sum_k w_k N(mu_k, s_k^2 I) (all s_k > 0) with exact answers along any
 * affine path: `logDensity`, `posterior`, `velocity`, `score`, `posteriorMean`, `sample`, `field`.
 * Unlike a finite set it is fine at t = 1 (p_1 is the mixture itself).
 *
 * @example
 * const gm = new GaussianMixture({ means: [[-2, 0], [2, 0]], stds: 0.3, weights: [0.25, 0.75] });
 * gm.dim; // returns 2 const u = gm.velocity(x, 0.5); // [n, 2], the exact marginal velocity on the
 * lecture's path const lp = gm.logDensity(x, 0.5, vpPath()); // under the VP path instead
 */
export class GaussianMixture extends IsotropicMixture {
  constructor(options: GaussianMixtureOptions) {
    const label = "GaussianMixture";
    if (!options || typeof options !== "object")
      throw new Error(
        `${label}: expected options { means, stds, weights? }; got ${String(options)}`,
      );
    const means = readMeans(options.means, label, "means");
    const K = means.length;
    const raw = options.stds;
    let stds: number[];
    if (typeof raw === "number") stds = new Array<number>(K).fill(raw);
    else if (Array.isArray(raw)) {
      if (raw.length !== K)
        throw new Error(
          `${label}: stds must be one number or one per component (${K}); got ${raw.length}`,
        );
      stds = raw.slice();
    } else
      throw new Error(
        `${label}: stds must be a number or an array of ${K} numbers; got ` +
          `${raw === null ? "null" : typeof raw}`,
      );
    stds.forEach((s, k) => {
      if (typeof s !== "number" || !Number.isFinite(s) || s <= 0) {
        throw new Error(
          `${label}: stds must be finite and > 0 (use FiniteSet for zero width); entry ${k} is ` +
            `${s}`,
        );
      }
    });
    super(label, means, stds, readWeights(options.weights, K, label));
  }
}

/**
 * A finite data set, the empirical distribution p_1 = sum_k w_k delta(x - x1_k): the zero-width
 * case of `GaussianMixture` (s_k = 0), with the same exact answers. Along a path ending at sigma_1
 * = 0 (the lecture's path with sigmaMin = 0) p_t tends to the point masses as t -> 1: every method
 * works for any t < 1 (tested up to t = 1 - 2^-53 at |x| = 1e4) and is an error at t = 1, never a
 * NaN. This is the lecture's picture of flow matching on a training set (and its memorisation: the
 * exact marginal velocity of a finite set carries noise onto the training points).
 *
 * @param points the data points `[K, d]` (tensor, not disposed, or K arrays of d numbers)
 * @param weights the weight of each point (> 0, summing to 1) @default 1/K each
 * @example
 * const data = new FiniteSet([[-1, 0], [1, 0]]);   // the lecture's two-point picture
 * data.posterior(tf.tensor2d([[0.5, 0]]), 0.5);    // rows sum to 1, more weight on (1, 0)
 * data.velocity(x, 1);                             // throws: p_1 is a sum of point masses
 */
export class FiniteSet extends IsotropicMixture {
  constructor(points: tf.Tensor2D | number[][], weights?: number[]) {
    const rows = readMeans(points, "FiniteSet", "points");
    super(
      "FiniteSet",
      rows,
      new Array<number>(rows.length).fill(0),
      readWeights(weights, rows.length, "FiniteSet"),
    );
  }

  /** The data points, K arrays of d numbers (the same as `means`). */
  get points(): number[][] {
    return this.means;
  }
}
