/**
 * Which noise point trains with which data point: the coupling of a training batch (issue 18; the
 * straight-path argument of lecture concept 7, notebook 07).
 *
 * Conditional flow matching learns the marginal field of whatever coupling q(x0, x1) its pairs come
 * from: u_t(x) = E[x1 - x0 | x_t = x]. With the independent coupling (the lecture's recipe) the
 * straight lines of different pairs cross, the regression averages them, and the learned paths
 * curve. Reflow (reflow.ts) fixes that by retraining on the flow's own pairs. Minibatch optimal
 * transport (Pooladian et al. 2023, "Multisample flow matching"; Tong et al. 2023, OT-CFM, the
 * TorchCFM library) fixes it inside every batch instead: draw n noise points and n data points as
 * usual, then pair them by a cheap assignment, so that lines rarely cross within the batch.
 *
 *   - `"independent"`: keep the pairing of the draw (row i with row i). The default; the training
 *     numbers are the same as without this module, bit for bit.
 *   - `"exact"`: the optimal assignment under the squared distance |x0_i - x1_j|^2, by the
 *     Hungarian algorithm (`optimalAssignment`, shared with `exactW2Squared`). A permutation: every
 *     noise point and every data point of the batch is used exactly once, so both marginals stay
 *     those of the draw, and the batch's transport cost is the least of all n! pairings.
 *   - `"sinkhorn"`: the entropic optimal transport plan of the batch,
 *
 *         pi = argmin_{pi with marginals 1/n} sum_ij pi_ij C_ij - eps H(pi),
 *
 *     by Sinkhorn's iterations in the log domain (stable however small eps is), with eps-scaling
 *     (start with a large eps, halve it down to the asked one, carrying the potentials over). As
 *     eps falls the plan tends to the exact one; as it grows it tends to the independent coupling
 *     pi_ij = 1/n^2. eps is in the units of the cost (squared distance), as in POT and TorchCFM,
 *     whose default is 0.05; it is not normalised by the batch's largest cost.
 *
 * How a plan becomes pairs. The plan pi is a joint law on the batch's n x n pairs. Here each noise
 * point i keeps its place and draws its partner from its own row, j ~ pi_ij / sum_k pi_ik
 * (`pairing: "sample"`, the default). Since every row of pi has mass 1/n, "i uniform, then j from
 * row i" is exactly a draw from pi: the pairs have the plan's law, each noise point is used once,
 * and each data point is used sum_i pi_ij n = 1 time on average (the plan's column marginal), so
 * the data marginal stays right in expectation. TorchCFM's `OTPlanSampler.sample_plan` instead
 * draws n pairs (i, j) from the whole flattened plan with replacement, for exact OT too, which
 * repeats some pairs and drops others (about 1/e of them); for the exact plan, sampling row-wise
 * gives the permutation itself. The other common choice, `pairing: "argmax"` (each row takes its
 * most likely partner), is deterministic but biased: at large eps every row picks the same few data
 * points and the learned distribution loses the others (the tests show it). It is offered for that
 * comparison.
 *
 * Everything here is float64 JavaScript on the batch's numbers (no tensors): a batch of 256 points
 * holds a 256 x 256 cost matrix. Random draws (row-wise sampling) use the library's seeded
 * generator, so training with any coupling repeats exactly under `fm.seed`.
 */
import * as tf from "@tensorflow/tfjs";
import { uniform } from "../core/random";
import { readPointRows } from "../metrics/nearest";
import { optimalAssignment } from "../metrics/path-energy";

/** The couplings `trainFlowMatching` knows (see the module comment). */
export const COUPLING_METHODS = ["independent", "exact", "sinkhorn"] as const;
export type CouplingMethod = (typeof COUPLING_METHODS)[number];

/** How a plan becomes pairs: a partner drawn from each row, or the row's largest entry. */
export type CouplingPairing = "sample" | "argmax";

/** A coupling with its settings. */
export interface CouplingOptions {
  /** `"independent"`, `"exact"` (Hungarian) or `"sinkhorn"` (entropic). */
  method: CouplingMethod;
  /** Sinkhorn's entropic regulariser eps, in squared-distance units. @default 0.05 */
  regularization?: number;
  /** Sinkhorn: how the plan becomes pairs. @default "sample" */
  pairing?: CouplingPairing;
  /**
   * Sinkhorn stops when the plan's row sums are within this of 1/n (L1 error over the rows, on a
   * plan of total mass 1). @default 1e-4
   */
  tolerance?: number;
  /** Sinkhorn iterations allowed over the whole eps schedule; more is an error. @default 20000 */
  maxIterations?: number;
}

/** A coupling by name (defaults for the rest) or with its settings. */
export type Coupling = CouplingMethod | CouplingOptions;

/** Fills in the defaults of a coupling and checks every value; says what was wrong. */
export function couplingOptions(coupling: Coupling | undefined): Required<CouplingOptions> {
  const given: CouplingOptions =
    typeof coupling === "string" ? { method: coupling } : (coupling ?? { method: "independent" });
  if (
    given === null ||
    typeof given !== "object" ||
    !(COUPLING_METHODS as readonly string[]).includes(given.method)
  ) {
    const got =
      typeof coupling === "object" && coupling !== null
        ? JSON.stringify(coupling)
        : String(coupling);
    throw new Error(
      `coupling must be one of ${COUPLING_METHODS.join(", ")} (or { method, ... }); got ${got}`,
    );
  }
  const out = {
    method: given.method,
    regularization: given.regularization ?? 0.05,
    pairing: given.pairing ?? "sample",
    tolerance: given.tolerance ?? 1e-4,
    maxIterations: given.maxIterations ?? 20000,
  };
  if (!(out.regularization > 0) || !Number.isFinite(out.regularization)) {
    throw new Error(`coupling.regularization must be a positive number; got ${out.regularization}`);
  }
  if (out.pairing !== "sample" && out.pairing !== "argmax") {
    throw new Error(
      `coupling.pairing must be "sample" or "argmax"; got ${JSON.stringify(out.pairing)}`,
    );
  }
  if (!(out.tolerance > 0) || !Number.isFinite(out.tolerance)) {
    throw new Error(`coupling.tolerance must be a positive number; got ${out.tolerance}`);
  }
  if (!Number.isInteger(out.maxIterations) || out.maxIterations < 1) {
    throw new Error(`coupling.maxIterations must be a positive integer; got ${out.maxIterations}`);
  }
  return out;
}

/** The cost matrix C_ij = |a_i - b_j|^2 of two sets of n points of dimension d (row-major). */
export function squaredDistanceMatrix(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  n: number,
  d: number,
): Float64Array {
  const cost = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) {
        const diff = a[i * d + k] - b[j * d + k];
        s += diff * diff;
      }
      cost[i * n + j] = s;
    }
  }
  return cost;
}

/** What `sinkhorn` returns. */
export interface SinkhornPlan {
  /** The plan pi, n x n row-major, total mass 1 (rows and columns near 1/n each). */
  plan: Float64Array;
  /** The dual potentials: pi_ij = exp((f_i + g_j - C_ij) / eps). */
  f: Float64Array;
  g: Float64Array;
  /** Iterations (one row and one column update each), over the whole eps schedule. */
  iterations: number;
  /** sum_i |sum_j pi_ij - 1/n| and the same over columns, measured on the returned plan. */
  rowError: number;
  columnError: number;
  /** The plan's transport cost sum_ij pi_ij C_ij (without the entropy term). */
  cost: number;
}

/** Options of `sinkhorn` (see `CouplingOptions`). */
export type SinkhornOptions = Pick<
  Required<CouplingOptions>,
  "regularization" | "tolerance" | "maxIterations"
>;

/**
 * One half-iteration in the log domain, for when the kernel underflows: for each row i of `cost`
 * (n x n, row-major; with `columns`, for each column, reading the cost transposed), the potential
 * f_i = eps log(1/n) - eps log sum_j exp((g_j - C_ij) / eps), written into `f`. Returns the L1
 * error of the sums sum_j exp((f_i + g_j - C_ij) / eps) before the update (with the old f).
 */
function logDomainUpdate(
  cost: Float64Array,
  n: number,
  f: Float64Array,
  g: Float64Array,
  eps: number,
  columns: boolean,
): number {
  const logA = -Math.log(n);
  const at = columns
    ? (i: number, j: number) => cost[j * n + i]
    : (i: number, j: number) => cost[i * n + j];
  let error = 0;
  for (let i = 0; i < n; i++) {
    let m = -Infinity;
    for (let j = 0; j < n; j++) m = Math.max(m, g[j] - at(i, j));
    let t = 0;
    for (let j = 0; j < n; j++) t += Math.exp((g[j] - at(i, j) - m) / eps);
    error += Math.abs(Math.exp((f[i] + m) / eps + Math.log(t)) - 1 / n);
    f[i] = eps * logA - m - eps * Math.log(t);
  }
  return error;
}

/** The Gibbs kernel K_ij = exp((f_i + g_j - C_ij) / eps) at the given potentials (row-major). */
function gibbsKernel(
  cost: Float64Array,
  n: number,
  f: Float64Array,
  g: Float64Array,
  eps: number,
): Float64Array {
  const K = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const base = i * n;
    for (let j = 0; j < n; j++) K[base + j] = Math.exp((f[i] + g[j] - cost[base + j]) / eps);
  }
  return K;
}

/** Scalings beyond these bounds are absorbed into the potentials and the kernel is rebuilt. */
const SCALING_BOUND = 1e30;

/**
 * The entropic optimal transport plan between two sets of n points with uniform weights 1/n, for
 * the cost matrix `cost` (n x n, row-major, e.g. `squaredDistanceMatrix`).
 *
 * Sinkhorn's alternating updates of the dual potentials f, g, made stable for small eps as follows:
 * the plan is written pi_ij = u_i K_ij v_j with K_ij = exp((f_i + g_j - C_ij) / eps), the cheap
 * scaling updates v = (1/n) / K^T u and u = (1/n) / K v run on K, and whenever u or v leave [1e-30,
 * 1e30] (or a kernel row or column underflows to 0) they are absorbed into the potentials, f += eps
 * log u, g += eps log v, and K is rebuilt ("log-domain stabilisation with absorption"; the
 * potentials carry the large numbers, K stays near 1 where the plan has mass). With eps-scaling:
 * eps starts at the largest cost and halves down to the asked one, each stage starting from the
 * previous potentials.
 *
 * Stops when the row sums are within `tolerance` of 1/n (L1) at the asked eps, right after a column
 * update; a last row update makes the rows exact, so the columns are then within about `tolerance`
 * (a mass error: the plan's cost is accurate to about `tolerance` times the largest cost).
 * More than `maxIterations` iterations is an error that says what to change.
 * @example
 * const C = squaredDistanceMatrix(x0, x1, n, 2);
 * sinkhorn(C, n, { regularization: 0.01, tolerance: 1e-6, maxIterations: 20000 }).cost;   // ~
 * exact W2^2
 */
export function sinkhorn(cost: Float64Array, n: number, options: SinkhornOptions): SinkhornPlan {
  const { regularization: target, tolerance, maxIterations } = options;
  if (!Number.isInteger(n) || n < 1 || cost.length !== n * n) {
    throw new Error(
      `sinkhorn: needs an n x n cost matrix with n >= 1; got n = ${n} and ${cost.length} entries`,
    );
  }
  let largest = 0;
  for (let k = 0; k < cost.length; k++) {
    if (!Number.isFinite(cost[k]) || cost[k] < 0)
      throw new Error(`sinkhorn: costs must be finite and >= 0; entry ${k} is ${cost[k]}`);
    largest = Math.max(largest, cost[k]);
  }
  const mass = 1 / n;
  const f = new Float64Array(n);
  const g = new Float64Array(n);
  const u = new Float64Array(n).fill(1);
  const v = new Float64Array(n).fill(1);
  const Ku = new Float64Array(n);
  const Kv = new Float64Array(n);
  const absorb = (eps: number): void => {
    for (let i = 0; i < n; i++) {
      f[i] += eps * Math.log(u[i]);
      g[i] += eps * Math.log(v[i]);
    }
    u.fill(1);
    v.fill(1);
  };
  let eps = Math.max(target, largest);
  let K = gibbsKernel(cost, n, f, g, eps);
  let iterations = 0;
  for (;;) {
    const last = eps === target;
    // Intermediate eps: a rough fit is enough, the next stage starts from it.
    const goal = last ? tolerance : Math.max(tolerance, 1e-2);
    let error = Infinity;
    for (let k = 0; (last || k < 50) && error > goal; k++) {
      if (iterations >= maxIterations) {
        throw new Error(
          `sinkhorn: no convergence in ${maxIterations} iterations at regularization ${eps} ` +
            `(row marginals off by ${error.toExponential(2)} > tolerance ${tolerance}); ` +
            `use a larger regularization, a larger tolerance or more maxIterations`,
        );
      }
      iterations++;
      // Column update v_j = (1/n) / (K^T u)_j, reading K row by row.
      Ku.fill(0);
      for (let i = 0; i < n; i++) {
        const ui = u[i];
        const base = i * n;
        for (let j = 0; j < n; j++) Ku[j] += K[base + j] * ui;
      }
      // Row update u_i = (1/n) / (K v)_i; the row sums before it give the error.
      error = 0;
      let finite = true;
      for (let j = 0; j < n; j++) {
        v[j] = mass / Ku[j];
        if (!(v[j] < Infinity)) finite = false;
      }
      if (finite) {
        for (let i = 0; i < n; i++) {
          const base = i * n;
          let s = 0;
          for (let j = 0; j < n; j++) s += K[base + j] * v[j];
          Kv[i] = s;
          error += Math.abs(u[i] * s - mass);
          u[i] = mass / s;
          if (!(u[i] < Infinity)) finite = false;
        }
      }
      let wild = !finite;
      for (let i = 0; i < n && !wild; i++)
        wild =
          u[i] > SCALING_BOUND ||
          u[i] < 1 / SCALING_BOUND ||
          v[i] > SCALING_BOUND ||
          v[i] < 1 / SCALING_BOUND;
      if (wild) {
        if (!finite) {
          // A kernel row or column underflowed: redo this iteration in the log domain.
          u.fill(1);
          v.fill(1);
          logDomainUpdate(cost, n, g, f, eps, true);
          error = logDomainUpdate(cost, n, f, g, eps, false);
        } else {
          absorb(eps);
        }
        K = gibbsKernel(cost, n, f, g, eps);
      }
    }
    absorb(eps);
    if (last) break;
    eps = Math.max(target, eps / 2);
    K = gibbsKernel(cost, n, f, g, eps);
  }
  const plan = gibbsKernel(cost, n, f, g, eps);
  const rows = new Float64Array(n);
  const cols = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const p = plan[i * n + j];
      rows[i] += p;
      cols[j] += p;
      total += p * cost[i * n + j];
    }
  }
  let rowError = 0;
  let columnError = 0;
  for (let i = 0; i < n; i++) {
    rowError += Math.abs(rows[i] - mass);
    columnError += Math.abs(cols[i] - mass);
  }
  return { plan, f, g, iterations, rowError, columnError, cost: total };
}

/**
 * Pairs the rows of one batch: `partner[i]` is the data row that trains with noise row i. `x0` and
 * `x1` are the batch's n points of dimension d, row-major. See the module comment for each method.
 */
export function pairRows(
  x0: ArrayLike<number>,
  x1: ArrayLike<number>,
  n: number,
  d: number,
  options: Required<CouplingOptions>,
): { partner: Int32Array; cost: Float64Array; plan?: SinkhornPlan } {
  const cost = squaredDistanceMatrix(x0, x1, n, d);
  if (options.method === "independent")
    return { partner: Int32Array.from({ length: n }, (_, i) => i), cost };
  if (options.method === "exact") return { partner: optimalAssignment(cost, n), cost };
  const plan = sinkhorn(cost, n, options);
  const partner = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const base = i * n;
    if (options.pairing === "argmax") {
      let best = 0;
      for (let j = 1; j < n; j++) if (plan.plan[base + j] > plan.plan[base + best]) best = j;
      partner[i] = best;
      continue;
    }
    let mass = 0;
    for (let j = 0; j < n; j++) mass += plan.plan[base + j];
    // Inverse-CDF draw from row i; the last column takes any rounding remainder.
    const u = uniform() * mass;
    let acc = 0;
    let j = 0;
    for (; j < n - 1; j++) {
      acc += plan.plan[base + j];
      if (u < acc) break;
    }
    partner[i] = j;
  }
  return { partner, cost, plan };
}

/** The raw draws of one training batch: data rows, times and noise, before they meet the path. */
export interface BatchDraws {
  /** Batch rows. */
  n: number;
  /** Dimension of the points. */
  d: number;
  /** Row of the data set (or of the pairs) for each batch row. */
  rows: Int32Array;
  /** The time of each batch row. */
  t: Float64Array;
  /** The noise x0 of each batch row (`[n, d]`), or null when x0 comes with the pairs. */
  noise: Float64Array | null;
}

/**
 * The coupling step of `trainFlowMatching`: re-pairs each batch's noise and data rows in place
 * (times stay with their noise row) and keeps count of what that cost.
 */
export class BatchCoupler {
  readonly options: Required<CouplingOptions>;
  /** Seconds spent pairing batches so far. */
  seconds = 0;
  /** Sinkhorn iterations so far (0 for the other methods). */
  iterations = 0;

  constructor(options: Required<CouplingOptions>) {
    this.options = options;
  }

  /** Re-pairs the batch: row i keeps its noise and time and takes data row rows[partner[i]]. */
  pair(draws: BatchDraws, data: { values: Float32Array; d: number }): void {
    const start = performance.now();
    const { n, d, rows, noise } = draws;
    if (noise === null)
      throw new Error(
        "a coupling pairs fresh noise with data; with given pairs, leave coupling out",
      );
    const x1 = new Float64Array(n * d);
    for (let i = 0; i < n; i++)
      for (let k = 0; k < d; k++) x1[i * d + k] = data.values[rows[i] * d + k];
    const { partner, plan } = pairRows(noise, x1, n, d, this.options);
    const drawn = Int32Array.from(rows);
    for (let i = 0; i < n; i++) rows[i] = drawn[partner[i]];
    if (plan) this.iterations += plan.iterations;
    this.seconds += (performance.now() - start) / 1000;
  }
}

/**
 * The coupler `trainFlowMatching` uses for its `coupling` option, or null for the independent
 * coupling (the draw's own pairing, untouched). `withPairs`: the training was given coupled pairs.
 */
export function batchCoupler(
  coupling: Coupling | undefined,
  withPairs: boolean,
): BatchCoupler | null {
  const options = couplingOptions(coupling);
  if (options.method === "independent") return null;
  if (withPairs) {
    throw new Error(
      `trainFlowMatching: pairs are already coupled; the ${options.method} coupling needs data ` +
        `(noise is drawn fresh)`,
    );
  }
  return new BatchCoupler(options);
}

/** What `minibatchCoupling` returns. */
export interface MinibatchCoupling {
  /** The coupling's method. */
  method: CouplingMethod;
  /** partner[i]: the row of `x1` paired with row i of `x0`. */
  partner: number[];
  /** Mean squared length of the pairs, (1/n) sum_i |x0_i - x1_partner[i]|^2. */
  pairCost: number;
  /** Sinkhorn: the plan as n rows (total mass 1); otherwise absent. */
  plan?: number[][];
  /** Sinkhorn: the plan's cost sum_ij pi_ij |x0_i - x1_j|^2 (for exact OT it is `pairCost`). */
  planCost: number;
  /** Sinkhorn iterations (0 for the others). */
  iterations: number;
  /** Sinkhorn: L1 errors of the plan's row and column sums against 1/n (0 for the others). */
  rowError: number;
  columnError: number;
}

/**
 * The coupling of one batch of noise `x0` and data `x1` (equally many points), as
 * `trainFlowMatching` would pair them: for looking at and testing the pairing itself. Tensors are
 * read, not disposed; leak-free. Sinkhorn's row-wise draws use the seeded generator.
 * @example
 * fm.seed(0);
 * const x0 = fm.randn([256, 2]), x1 = fm.twoMoons(256);
 * fm.minibatchCoupling(x0, x1, "independent").pairCost;   // ~3.3: the lines of independent pairs
 * fm.minibatchCoupling(x0, x1, "exact").pairCost;         // ~1.0: the batch's W2^2 (Hungarian)
 * fm.minibatchCoupling(x0, x1, { method: "sinkhorn", regularization: 0.05 }).planCost;  // just
 * above it
 */
export function minibatchCoupling(
  x0: tf.Tensor2D | number[][],
  x1: tf.Tensor2D | number[][],
  coupling: Coupling,
): MinibatchCoupling {
  const fn = "minibatchCoupling";
  const options = couplingOptions(coupling);
  const a = readPointRows(x0, fn, "x0");
  const b = readPointRows(x1, fn, "x1");
  const n = a.length;
  const d = a[0].length;
  if (b.length !== n)
    throw new Error(`${fn}: x0 and x1 must have equally many points; got ${n} and ${b.length}`);
  if (b[0].length !== d)
    throw new Error(`${fn}: x0 and x1 must have the same dimension; got ${d} and ${b[0].length}`);
  const { partner, cost, plan } = pairRows(a.flat(), b.flat(), n, d, options);
  let pairCost = 0;
  for (let i = 0; i < n; i++) pairCost += cost[i * n + partner[i]];
  pairCost /= n;
  return {
    method: options.method,
    partner: Array.from(partner),
    pairCost,
    ...(plan
      ? {
          plan: Array.from({ length: n }, (_, i) =>
            Array.from(plan.plan.subarray(i * n, (i + 1) * n)),
          ),
        }
      : {}),
    planCost: plan ? plan.cost : pairCost,
    iterations: plan ? plan.iterations : 0,
    rowError: plan ? plan.rowError : 0,
    columnError: plan ? plan.columnError : 0,
  };
}
