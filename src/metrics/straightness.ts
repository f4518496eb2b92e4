/**
 * How straight trajectories are (lecture concept 3: the conditional path's trajectories are
 * straight lines walked at constant speed; concept 7: reflow makes a learned flow's trajectories
 * straighter).
 *
 * For one trajectory x_t on [t_0, t_T] with average velocity c = (x_T - x_0) / (t_T - t_0), Liu et
 * al.'s straightness measure is the time-average of |dx_t/dt - c|^2: zero exactly when the
 * trajectory is the segment from x_0 to x_T walked at constant speed. From states saved at times
 * t_0 < ... < t_T the velocity on each interval is taken as the chord (x_{k+1} - x_k) / (t_{k+1} -
 * t_k) (the trajectory read as a polygon), so
 *
 *     S = sum_k (t_{k+1} - t_k) |(x_{k+1} - x_k) / (t_{k+1} - t_k) - c|^2 / (t_T - t_0),
 *
 * averaged over particles. A second, more visual number: the largest distance between a saved state
 * and the point the constant-speed walk along the chord would have reached at that time,
 * |x_k - (x_0 + s_k (x_T - x_0))| with s_k = (t_k - t_0) / (t_T - t_0).
 * All arithmetic is float64 on the saved states; no tensor is created.
 */
import * as tf from "@tensorflow/tfjs";

/** What `trajectoryStraightness` returns. */
export type Straightness = {
  /** S averaged over the particles (units: squared speed). 0 for straight constant-speed paths. */
  straightness: number;
  /** S of each particle, n numbers. */
  perParticle: number[];
  /** The largest |x_k - (x_0 + s_k (x_T - x_0))| over particles and saved times (units: length). */
  maxChordGap: number;
};

/**
 * The straightness of a batch of trajectories saved at given times (e.g. `solveOde(..., { saveAt
 * })`).
 *
 * @param trajectory the states, time first: a `[T + 1, n, d]` tensor (not disposed) or T + 1 lists
 *   of n points
 * @param times the T + 1 times of the states, strictly increasing
 * @example
 * // x_t = t^2 e (one direction, speeding up) saved at t = 0, 0.5, 1: chord velocities 0.5 and 1.5,
 * c = 1 trajectoryStraightness([[[0]], [[0.25]], [[1]]], [0, 0.5, 1]).straightness; // returns 0.25
 * trajectoryStraightness([[[0]], [[0.5]], [[1]]], [0, 0.5, 1]).straightness; // returns 0 (constant
 * speed)
 */
export function trajectoryStraightness(
  trajectory: tf.Tensor3D | number[][][],
  times: number[],
): Straightness {
  const fn = "trajectoryStraightness";
  let states: number[][][];
  if (trajectory instanceof tf.Tensor) {
    if (trajectory.rank !== 3)
      throw new Error(
        `${fn}: trajectory must have shape [T + 1, n, d]; got shape ` +
          `[${trajectory.shape.join(", ")}]`,
      );
    states = trajectory.arraySync() as number[][][];
  } else if (Array.isArray(trajectory)) {
    states = trajectory;
  } else {
    throw new Error(
      `${fn}: trajectory must be a [T + 1, n, d] tensor or a list of [n, d] states; got ` +
        `${trajectory === null ? "null" : typeof trajectory}`,
    );
  }
  if (!Array.isArray(times) || times.length !== states.length) {
    throw new Error(
      `${fn}: times must have one entry per saved state (${states.length}); got ` +
        `${Array.isArray(times) ? times.length : typeof times}`,
    );
  }
  if (states.length < 2)
    throw new Error(`${fn}: needs at least 2 saved states; got ${states.length}`);
  times.forEach((t, k) => {
    if (typeof t !== "number" || !Number.isFinite(t))
      throw new Error(`${fn}: times[${k}] must be a finite number; got ${t}`);
    if (k > 0 && !(t > times[k - 1]))
      throw new Error(`${fn}: times must increase strictly; got ${times[k - 1]} then ${t}`);
  });
  const n = states[0].length;
  const d = n > 0 ? states[0][0].length : 0;
  if (n === 0 || d === 0)
    throw new Error(
      `${fn}: the states must hold at least one point of dimension >= 1; got [${n}, ${d}]`,
    );
  states.forEach((s, k) => {
    if (!Array.isArray(s) || s.length !== n)
      throw new Error(
        `${fn}: state ${k} must have ${n} points like state 0; got ` +
          `${Array.isArray(s) ? s.length : typeof s}`,
      );
    s.forEach((p, i) => {
      if (!Array.isArray(p) || p.length !== d)
        throw new Error(`${fn}: point ${i} of state ${k} must have ${d} coordinates`);
      p.forEach((v) => {
        if (typeof v !== "number" || !Number.isFinite(v))
          throw new Error(`${fn}: state ${k}, point ${i} is not finite: ${v}`);
      });
    });
  });
  const T = states.length - 1;
  const span = times[T] - times[0];
  const perParticle = new Array<number>(n).fill(0);
  let maxChordGap = 0;
  for (let i = 0; i < n; i++) {
    const start = states[0][i];
    const end = states[T][i];
    const c = start.map((v, j) => (end[j] - v) / span);
    for (let k = 0; k < T; k++) {
      const dt = times[k + 1] - times[k];
      let sq = 0;
      for (let j = 0; j < d; j++) sq += ((states[k + 1][i][j] - states[k][i][j]) / dt - c[j]) ** 2;
      perParticle[i] += (dt * sq) / span;
    }
    for (let k = 0; k <= T; k++) {
      const s = (times[k] - times[0]) / span;
      let sq = 0;
      for (let j = 0; j < d; j++)
        sq += (states[k][i][j] - (start[j] + s * (end[j] - start[j]))) ** 2;
      maxChordGap = Math.max(maxChordGap, Math.sqrt(sq));
    }
  }
  return { straightness: perParticle.reduce((a, b) => a + b, 0) / n, perParticle, maxChordGap };
}
