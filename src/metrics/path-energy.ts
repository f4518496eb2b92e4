/**
 * How much a flow "wastes" on the way from noise to data (lecture concept 7, notebook 07: reflow
 * makes trajectories straighter; its straightness measure decays).
 *
 * A flow dx_t/dt = u(x_t, t) started at x0 ~ p_0 ends at x1 = psi_1(x0). Along its own trajectory:
 *
 *   - straightness (Liu et al.'s measure)  S  = E ∫_0^1 |(x1 - x0) - u(x_t, t)|^2 dt,
 *   - path energy (kinetic energy)         PE = E ∫_0^1 |u(x_t, t)|^2 dt,
 *   - transport cost of its coupling       C  = E |x1 - x0|^2.
 *
 * Because ∫_0^1 u(x_t, t) dt = x1 - x0, expanding the square gives the identity S = PE - C: the
 * energy spent beyond the straight constant-speed walk between the same end points. S = 0 exactly
 * when every trajectory is a segment walked at constant speed (then one Euler step is exact).
 *
 * Tong et al. (2023, "Improving and generalizing flow-based generative models with minibatch
 * optimal transport", TorchCFM) compare PE with the least energy any flow from p_0 to p_1 can
 * spend, the squared Wasserstein-2 distance (Benamou-Brenier), in their *normalised path energy*
 *
 *     NPE = |PE - W2^2(p_0, p_1)| / W2^2(p_0, p_1),   PE = E_{x0 ~ p_0} ∫_0^1 |u(x_t, t)|^2 dt.
 *
 * (Checked against the paper for issue 18: this is their definition,
 * "NPE(v) = |PE(v) - W2^2(q0, q1)| / W2^2(q0, q1)", used for the 2-D comparisons of their Table 2,
 * with PE the same kinetic energy along the flow's own trajectories as here.)
 *
 * Since PE >= C >= W2^2 (Jensen, then optimality of W2), PE - W2^2 = S + (C - W2^2): curvature plus
 * the excess cost of the flow's coupling over the optimal one. Reflow can drive S to zero but not C
 * - W2^2. Here W2^2 is estimated from samples by an exact assignment (Hungarian algorithm) between
 * equally many points of each side. Mind its sampling error, which for flows close to optimal
 * transport is larger than what NPE measures: between N(0, I) and two moons, measured over a few
 * draws each, the assignment cost is 1.19 (n = 125), 1.08 (250), 1.03 +- 0.05 (500), 0.95 (1000),
 * 1.02 (2000, one draw), while a flow trained with minibatch OT spends PE ~0.8-0.9. Hence also
 * `ownW2Squared`, the assignment between the noise and the flow's own end points, which carries no
 * such error for an optimal-transport flow.
 *
 * The integrals use the composite Simpson rule on the states the solver saves at a uniform grid of
 * times (fourth order, like the default RK4 solver), in float64 on the values read back.
 * Trajectory-based (polygon) straightness of saved states lives in `straightness.ts`
 * (`trajectoryStraightness`); this module evaluates the velocity itself.
 */
import * as tf from "@tensorflow/tfjs";
import { assert2D, assertFinite } from "../core/checks";
import type { VelocityField } from "../core/notation";
import { solveOde, type OdeMethod } from "../solvers/ode";

/** Options of `flowStraightness`. */
export interface FlowStraightnessOptions {
  /** The solver that follows the trajectories. @default "rk4" */
  method?: OdeMethod;
  /** Solver steps (fixed-step methods). @default the number of quadrature intervals */
  steps?: number;
  /** Quadrature intervals of Simpson's rule on [0, 1]; an even number >= 2. @default 32 */
  intervals?: number;
}

/**
 * What `flowStraightness` returns (all in squared length units; averages over the starting points).
 */
export type FlowStraightness = {
  /** S = E ∫ |(x1 - x0) - u(x_t, t)|^2 dt. 0 for straight constant-speed trajectories. */
  straightness: number;
  /** PE = E ∫ |u(x_t, t)|^2 dt, the kinetic energy of the flow. */
  pathEnergy: number;
  /**
   * C = E |x1 - x0|^2, the cost of the coupling (x0, x1) the flow makes. S = PE - C up to
   * quadrature error.
   */
  transportCost: number;
  /** S of each starting point. */
  perParticle: number[];
  /** The end points x1 = psi_1(x0), as rows. */
  x1: number[][];
  /** Velocity-field evaluations spent (solver plus one evaluation per quadrature node). */
  nfe: number;
};

/** Simpson weights for `intervals` (even) equal intervals on [0, 1]. */
function simpsonWeights(intervals: number): number[] {
  const h = 1 / intervals;
  return Array.from(
    { length: intervals + 1 },
    (_, k) => ((k === 0 || k === intervals ? 1 : k % 2 === 1 ? 4 : 2) * h) / 3,
  );
}

/**
 * Straightness, path energy and transport cost of the flow of `field` from the points `x0` (at t =
 * 0) to t = 1, along the flow's own trajectories (see the module comment). Leak-free; `x0` is not
 * disposed.
 * @param field the velocity field (a model's `field`, an exact field, ...)
 * @param x0 starting points `[n, d]`, usually noise `fm.randn([n, d])`
 * @example
 * // Constant field u = (1, 2): straight lines at constant speed.
 * flowStraightness(() => tf.tensor2d([[1, 2]]).tile([n, 1]), x0).straightness;   // returns 0
 * // 1-rectified vs 2-rectified flow of notebook 07
 * flowStraightness(model1.field, x0).straightness;   // ~0.3
 * flowStraightness(model2.field, x0).straightness;   // ~0.02
 */
export function flowStraightness(
  field: VelocityField,
  x0: tf.Tensor2D,
  options: FlowStraightnessOptions = {},
): FlowStraightness {
  const fn = "flowStraightness";
  if (typeof field !== "function")
    throw new Error(`${fn}: field must be a function (x, t) => tensor; got ${typeof field}`);
  assert2D(x0, `${fn}: x0`);
  assertFinite(x0, `${fn}: x0`);
  const intervals = options.intervals ?? 32;
  if (!Number.isInteger(intervals) || intervals < 2 || intervals % 2 !== 0) {
    throw new Error(
      `${fn}: intervals must be an even integer >= 2 (Simpson's rule); got ${intervals}`,
    );
  }
  const method = options.method ?? "rk4";
  const steps = options.steps ?? intervals;
  const times = Array.from({ length: intervals + 1 }, (_, k) => k / intervals);
  const solution = solveOde(field, x0, { method, steps, saveAt: times });
  const trajectory = solution.trajectory!;
  const [n, d] = x0.shape;
  // u at every saved state, [intervals + 1, n, d], read back once.
  const velocities = tf.tidy(() =>
    tf.stack(
      times.map((t, k) =>
        field(tf.squeeze(tf.slice(trajectory, [k, 0, 0], [1, n, d]), [0]) as tf.Tensor2D, t),
      ),
    ),
  );
  const u = velocities.dataSync();
  const x = trajectory.dataSync();
  tf.dispose([solution, velocities]);
  for (let i = 0; i < u.length; i++) {
    if (!Number.isFinite(u[i]))
      throw new Error(`${fn}: the field returned a non-finite value (${u[i]}) along a trajectory`);
  }
  const w = simpsonWeights(intervals);
  const last = intervals * n * d;
  const perParticle = new Array<number>(n).fill(0);
  let energy = 0;
  let cost = 0;
  const x1: number[][] = [];
  for (let i = 0; i < n; i++) {
    const c = new Array<number>(d);
    for (let j = 0; j < d; j++) c[j] = x[last + i * d + j] - x[i * d + j];
    x1.push(Array.from({ length: d }, (_, j) => x[last + i * d + j]));
    let s = 0;
    let e = 0;
    for (let k = 0; k <= intervals; k++) {
      let gap = 0;
      let speed = 0;
      for (let j = 0; j < d; j++) {
        const v = u[(k * n + i) * d + j];
        gap += (c[j] - v) ** 2;
        speed += v * v;
      }
      s += w[k] * gap;
      e += w[k] * speed;
    }
    perParticle[i] = s;
    energy += e;
    cost += c.reduce((a, v) => a + v * v, 0);
  }
  return {
    straightness: perParticle.reduce((a, b) => a + b, 0) / n,
    pathEnergy: energy / n,
    transportCost: cost / n,
    perParticle,
    x1,
    nfe: solution.nfe + intervals + 1,
  };
}

/** What `exactW2Squared` returns. */
export type OptimalAssignment = {
  /**
   * The least mean squared distance (1/n) sum_i |a_i - b_{sigma(i)}|^2 over permutations sigma:
   * W2^2 of the two samples.
   */
  cost: number;
  /** The optimal sigma: row i of `a` goes to row `assignment[i]` of `b`. */
  assignment: number[];
};

/** Reads points (tensor or rows) to float64 rows, checking shape and finiteness. */
function readRows(points: tf.Tensor2D | number[][], name: string): number[][] {
  if (points instanceof tf.Tensor) {
    assert2D(points, name);
    assertFinite(points, name);
    return points.arraySync() as number[][];
  }
  if (!Array.isArray(points) || points.length === 0 || !Array.isArray(points[0])) {
    throw new Error(
      `${name} must be a [n, d] tensor or a non-empty list of rows; got ` +
        `${points === null ? "null" : typeof points}`,
    );
  }
  const d = points[0].length;
  points.forEach((row, i) => {
    if (!Array.isArray(row) || row.length !== d)
      throw new Error(
        `${name}: row ${i} has ${Array.isArray(row) ? row.length : "no"} entries; expected ${d}`,
      );
    row.forEach((v, j) => {
      if (typeof v !== "number" || !Number.isFinite(v))
        throw new Error(`${name}: entry [${i}][${j}] is ${v}; must be finite`);
    });
  });
  return points;
}

/**
 * The cheapest one-to-one assignment for an n x n cost matrix (row-major, float64): row i goes to
 * column `assignment[i]`, and the sum of the chosen costs is the least over all n! permutations.
 *
 * The Hungarian method as shortest augmenting paths (Crouse 2016, the algorithm behind SciPy's
 * `linear_sum_assignment`): rows are assigned one by one; each new row finds, by Dijkstra's search
 * on the reduced costs C_ij - u_i - v_j >= 0, the cheapest way to take a free column (possibly
 * moving assigned rows along the way), and the dual potentials u, v are updated only for the rows
 * and columns the search visited. O(n^3) time at worst, O(n^2) for the cost matrix. Shared by
 * `exactW2Squared` and minibatch optimal transport (`coupling.ts`).
 * @example
 * optimalAssignment(Float64Array.from([4, 1, 2, 3]), 2);   // returns Int32Array [1, 0]
 */
export function optimalAssignment(cost: Float64Array, n: number): Int32Array {
  if (!Number.isInteger(n) || n < 1 || cost.length !== n * n) {
    throw new Error(
      `optimalAssignment: needs an n x n cost matrix with n >= 1; got n = ${n} and ` +
        `${cost.length} entries`,
    );
  }
  const u = new Float64Array(n);
  const v = new Float64Array(n);
  const shortest = new Float64Array(n); // length of the cheapest path found to each column
  const path = new Int32Array(n); // the row from which that path reaches the column
  const colOfRow = new Int32Array(n).fill(-1);
  const rowOfCol = new Int32Array(n).fill(-1);
  const visitedCol = new Uint8Array(n);
  const visitedRows = new Int32Array(n);
  const remaining = new Int32Array(n); // columns not yet reached, in remaining[0 .. left)
  for (let current = 0; current < n; current++) {
    for (let k = 0; k < n; k++) remaining[k] = n - 1 - k;
    let left = n;
    visitedCol.fill(0);
    shortest.fill(Infinity);
    let visited = 0;
    let reach = 0; // length of the path to the column reached last
    let sink = -1;
    let i = current;
    while (sink === -1) {
      visitedRows[visited++] = i;
      let best = -1;
      let lowest = Infinity;
      const base = i * n;
      const ui = u[i];
      for (let k = 0; k < left; k++) {
        const j = remaining[k];
        const r = reach + cost[base + j] - ui - v[j];
        if (r < shortest[j]) {
          path[j] = i;
          shortest[j] = r;
        }
        // Ties go to a free column: the path ends sooner.
        if (shortest[j] < lowest || (shortest[j] === lowest && rowOfCol[j] === -1)) {
          lowest = shortest[j];
          best = k;
        }
      }
      if (!(lowest < Infinity)) throw new Error("optimalAssignment: the costs must be finite");
      reach = lowest;
      const j = remaining[best];
      visitedCol[j] = 1;
      remaining[best] = remaining[--left];
      if (rowOfCol[j] === -1) sink = j;
      else i = rowOfCol[j];
    }
    // Update the potentials of what the search visited, then flip the assignments along the path.
    u[current] += reach;
    for (let k = 1; k < visited; k++) {
      const r = visitedRows[k];
      u[r] += reach - shortest[colOfRow[r]];
    }
    for (let j = 0; j < n; j++) if (visitedCol[j]) v[j] -= reach - shortest[j];
    let j = sink;
    for (;;) {
      const r = path[j];
      rowOfCol[j] = r;
      const previous = colOfRow[r];
      colOfRow[r] = j;
      if (r === current) break;
      j = previous;
    }
  }
  return colOfRow;
}

/**
 * The squared Wasserstein-2 distance between two equally large samples (uniform weights), exactly:
 * the cheapest one-to-one assignment under the squared distance, by the Hungarian algorithm with
 * potentials (O(n^3) time, O(n^2) memory: fine up to ~1000 points). Leak-free.
 * @example
 * exactW2Squared([[0], [1]], [[1], [0]]).cost;   // returns 0 (assignment [1, 0])
 * exactW2Squared(x, x.add(c)).cost;              // returns |c|^2: a translation is optimal
 */
export function exactW2Squared(
  a: tf.Tensor2D | number[][],
  b: tf.Tensor2D | number[][],
): OptimalAssignment {
  const fn = "exactW2Squared";
  const A = readRows(a, `${fn}: a`);
  const B = readRows(b, `${fn}: b`);
  const n = A.length;
  if (B.length !== n)
    throw new Error(`${fn}: needs equally many points on both sides; got ${n} and ${B.length}`);
  const d = A[0].length;
  if (B[0].length !== d)
    throw new Error(`${fn}: the points must have the same dimension; got ${d} and ${B[0].length}`);
  if (n > 4000)
    throw new Error(`${fn}: ${n} points would take too long (O(n^3)); use at most 4000`);
  const cost = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += (A[i][k] - B[j][k]) ** 2;
      cost[i * n + j] = s;
    }
  }
  const assignment = Array.from(optimalAssignment(cost, n));
  let total = 0;
  for (let i = 0; i < n; i++) total += cost[i * n + assignment[i]];
  return { cost: total / n, assignment };
}

/** Options of `normalizedPathEnergy`. */
export interface NormalizedPathEnergyOptions extends FlowStraightnessOptions {
  /**
   * W2^2(p_0, p_1) to normalise by, e.g. estimated once from larger samples (see the module comment
   * on its sampling error). @default the exact assignment between `x0` and `data`
   */
  w2Squared?: number;
}

/** What `normalizedPathEnergy` returns. */
export type NormalizedPathEnergy = {
  /**
   * NPE = |PE - W2^2| / W2^2 (Tong et al. 2023). 0 for a flow that spends no more energy than
   * optimal transport.
   */
  npe: number;
  /** PE, the flow's path energy from `x0`. */
  pathEnergy: number;
  /** W2^2 between the noise `x0` and the data sample (exact assignment), or the one given. */
  w2Squared: number;
  /**
   * W2^2 between the noise `x0` and the flow's own end points psi_1(x0) (exact assignment): the
   * cheapest coupling of the flow's two marginals on this sample. PE - ownW2Squared = S +
   * (C - ownW2Squared), both terms >= 0: curvature, and the excess cost of the flow's coupling over
   * the optimal one for its own marginals. For an optimal-transport flow the pairs (x0, psi_1(x0))
   * are already optimally assigned, so this reference has none of the sampling error of a W2^2
   * between two independent samples.
   */
  ownW2Squared: number;
  /** The rest of `flowStraightness`'s result: S, C, the end points... */
  flow: FlowStraightness;
};

/**
 * TorchCFM's normalised path energy of a flow (Tong et al. 2023, their 2-D comparisons, Table 2):
 *
 *     NPE(u) = |PE(u) - W2^2(p_0, p_1)| / W2^2(p_0, p_1),   PE(u) = E_{x0 ~ p_0} ∫_0^1 |u(x_t,
 *       t)|^2 dt,
 *
 * with PE from `flowStraightness` on the noise `x0` and W2^2 between `x0` and an equally large
 * sample of the data (`exactW2Squared`), or `options.w2Squared`; also the flow's own
 * `ownW2Squared`. Leak-free.
 * @param field the velocity field
 * @param x0 noise `[n, d]` (the flow's starting points, and p_0's sample for W2)
 * @param data `n` points of the data distribution p_1 (e.g. held-out data)
 * @example
 * // notebook 07: 1.29 for the 1-rectified flow, 0.02 after one reflow
 * fm.normalizedPathEnergy(model.field, fm.randn([500, 2]), heldOut500).npe;
 */
export function normalizedPathEnergy(
  field: VelocityField,
  x0: tf.Tensor2D,
  data: tf.Tensor2D | number[][],
  options: NormalizedPathEnergyOptions = {},
): NormalizedPathEnergy {
  const fn = "normalizedPathEnergy";
  const { w2Squared: given, ...solver } = options;
  if (given !== undefined && !(given > 0 && Number.isFinite(given))) {
    throw new Error(`${fn}: w2Squared must be a positive number; got ${given}`);
  }
  const flow = flowStraightness(field, x0, solver);
  const cost = given ?? exactW2Squared(x0, data).cost;
  if (!(cost > 0)) {
    throw new Error(`${fn}: W2^2 between the noise and the data is 0; NPE is undefined`);
  }
  const own = exactW2Squared(x0, flow.x1).cost;
  const npe = Math.abs(flow.pathEnergy - cost) / cost;
  return { npe, pathEnergy: flow.pathEnergy, w2Squared: cost, ownW2Squared: own, flow };
}
