/**
 * Do trajectories meet? (Lecture concept 4, notebook 4: the conditional straight lines x_t = t x1 +
 * (1 - t) x0 of randomly paired noise and data cross each other, while the trajectories of the
 * marginal field never meet, because a Lipschitz field has exactly one trajectory through each (x,
 * t). Concept 6, notebook 6: where training lines cross, regression averages their velocities.)
 *
 * Both functions read saved states, time first (`[T, n, d]`, as `solveOde(..., { saveAt })` returns
 * them), in float64, and look only at the saved times:
 * - `countOrderSwaps` (1-D, or one coordinate): two continuous curves on a line that change order
 *   must meet in between, so a flip of order between two saved times is a meeting, however coarse
 *   the times (a pair that meets twice between two saved times is missed: save finely enough).
 * - `closestApproach` (any dimension): the smallest distance between two different particles at the
 *   same saved time. In 2-D and up two curves can pass close between saved times without it
 *   showing: use it with finely saved times, and as a lower resolution picture of "never meet".
 */
import * as tf from "@tensorflow/tfjs";

/** What `countOrderSwaps` returns. */
export type OrderSwaps = {
  /**
   * Order flips summed over all pairs and all intervals between saved times (a pair that crosses
   * twice counts twice).
   */
  swaps: number;
  /** Pairs (i < j) whose order flipped at least once: the pairs whose curves crossed. */
  crossingPairs: number;
  /**
   * Pairs with exactly equal coordinates at some saved time (they met at that time, whether or not
   * they swapped).
   */
  ties: number;
  /** The number of pairs, n (n - 1) / 2. */
  pairs: number;
};

/** What `closestApproach` returns. */
export type ClosestApproach = {
  /** The smallest distance between two different particles at one saved time. */
  distance: number;
  /** The saved time (its index) where that happens. */
  timeIndex: number;
  /** The two particles, i < j. */
  pair: [number, number];
  /** The smallest distance between two different particles at each saved time (T numbers). */
  perTime: number[];
};

/**
 * Reads and checks saved states `[T, n, d]` (a tensor or nested arrays): at least one state, at
 * least `minParticles` particles, equal sizes throughout, finite coordinates. `fn` names the caller
 * in errors.
 */
export function readStates(
  trajectory: tf.Tensor3D | number[][][],
  fn: string,
  minParticles: number,
): number[][][] {
  let states: number[][][];
  if (trajectory instanceof tf.Tensor) {
    if (trajectory.rank !== 3)
      throw new Error(
        `${fn}: trajectory must have shape [T, n, d]; got shape [${trajectory.shape.join(", ")}]`,
      );
    states = trajectory.arraySync() as number[][][];
  } else if (Array.isArray(trajectory)) {
    states = trajectory;
  } else {
    throw new Error(
      `${fn}: trajectory must be a [T, n, d] tensor or a list of [n, d] states; got ` +
        `${trajectory === null ? "null" : typeof trajectory}`,
    );
  }
  if (states.length < 1) throw new Error(`${fn}: needs at least one saved state; got 0`);
  const n = Array.isArray(states[0]) ? states[0].length : 0;
  if (n < minParticles)
    throw new Error(`${fn}: needs at least ${minParticles} particles; got ${n}`);
  const d = Array.isArray(states[0][0]) ? states[0][0].length : 0;
  if (d < 1) throw new Error(`${fn}: every point needs at least one coordinate; got ${d}`);
  states.forEach((s, k) => {
    if (!Array.isArray(s) || s.length !== n)
      throw new Error(
        `${fn}: state ${k} must have ${n} points like state 0; got ` +
          `${Array.isArray(s) ? s.length : typeof s}`,
      );
    s.forEach((p, i) => {
      if (!Array.isArray(p) || p.length !== d)
        throw new Error(`${fn}: point ${i} of state ${k} must have ${d} coordinates`);
      for (const v of p) {
        if (typeof v !== "number" || !Number.isFinite(v))
          throw new Error(`${fn}: state ${k}, point ${i} is not finite: ${v}`);
      }
    });
  });
  return states;
}

/**
 * Counts how often 1-D trajectories change order: for every pair of particles, the flips of
 * sign(x_i - x_j) from one saved time to the next (a tie at a saved time is skipped over, so "+, 0,
 * -" is one flip). Curves on a line that change order must cross, so `crossingPairs > 0` proves
 * that some trajectories met; `crossingPairs = 0` and `ties = 0` say that none met at or between
 * the saved times (up to pairs meeting twice between two of them).
 *
 * @param trajectory saved states, time first: a `[T, n, d]` tensor (not disposed) or T lists of n
 *   points
 * @param options `coordinate`: which coordinate to compare @default 0
 * @example
 * // Two straight lines, 0 -> 1 and 1 -> 0, cross once; two parallel lines never do.
 * countOrderSwaps([[[0], [1]], [[1], [0]]]); // returns { swaps: 1, crossingPairs: 1, ties: 0,
 * pairs: 1 } countOrderSwaps([[[0], [1]], [[0.5], [1.5]]]).swaps; // returns 0
 */
export function countOrderSwaps(
  trajectory: tf.Tensor3D | number[][][],
  options: { coordinate?: number } = {},
): OrderSwaps {
  const fn = "countOrderSwaps";
  const states = readStates(trajectory, fn, 1);
  const n = states[0].length;
  const d = states[0][0].length;
  const c = options.coordinate ?? 0;
  if (!Number.isInteger(c) || c < 0 || c >= d)
    throw new Error(`${fn}: coordinate must be an integer in [0, ${d - 1}]; got ${c}`);
  let swaps = 0;
  let crossingPairs = 0;
  let ties = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      let last = 0; // the last non-zero sign of x_i - x_j
      let flips = 0;
      let tied = false;
      for (const s of states) {
        const sign = Math.sign(s[i][c] - s[j][c]);
        if (sign === 0) {
          tied = true;
          continue;
        }
        if (last !== 0 && sign !== last) flips++;
        last = sign;
      }
      swaps += flips;
      if (flips > 0) crossingPairs++;
      if (tied) ties++;
    }
  }
  return { swaps, crossingPairs, ties, pairs: (n * (n - 1)) / 2 };
}

/**
 * The smallest distance between two different particles at the same saved time: zero when two
 * trajectories meet at a saved time. (Two trajectories of a Lipschitz field never meet, so for them
 * it stays positive; it can still shrink, e.g. as a flow gathers mass onto a few points.)
 *
 * @param trajectory saved states, time first: a `[T, n, d]` tensor (not disposed) or T lists of n
 *   points (n >= 2)
 * @returns `{ distance, timeIndex, pair, perTime }`
 * @example
 * // x0 = (-0.5, 0.2) heading for (2, 0) and x0' = (0.5, 0.2) heading for (-2, 0) meet at t = 0.2.
 * const line = (a: number[], b: number[], t: number) => a.map((v, j) => (1 - t) * v + t * b[j]);
 * const traj = [0, 0.1, 0.2, 0.3].map((t) => [line([-0.5, 0.2], [2, 0], t), line([0.5, 0.2], [-2,
 * 0], t)]); closestApproach(traj).timeIndex; // returns 2, with distance ~0 (float64 round-off)
 */
export function closestApproach(trajectory: tf.Tensor3D | number[][][]): ClosestApproach {
  const fn = "closestApproach";
  const states = readStates(trajectory, fn, 2);
  const n = states[0].length;
  const d = states[0][0].length;
  let best = Infinity;
  let timeIndex = 0;
  let pair: [number, number] = [0, 1];
  const perTime = states.map((s, k) => {
    let m = Infinity;
    for (let i = 0; i < n; i++) {
      const p = s[i];
      for (let j = i + 1; j < n; j++) {
        const q = s[j];
        let sq = 0;
        for (let c = 0; c < d; c++) sq += (p[c] - q[c]) ** 2;
        if (sq < m) m = sq;
        if (sq < best) {
          best = sq;
          timeIndex = k;
          pair = [i, j];
        }
      }
    }
    return Math.sqrt(m);
  });
  return { distance: Math.sqrt(best), timeIndex, pair, perTime };
}
