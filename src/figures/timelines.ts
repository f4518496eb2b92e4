/**
 * One-dimensional trajectories against time: t across, x_t up, one curve per particle (lecture
 * concept 4, notebook 4: in 1-D the conditional straight lines visibly cross while the marginal
 * trajectories keep their order; concepts 6-7: learned and rectified paths).
 *
 * `pathsAgainstTime` joins the curves of many particles into one `{ x, y }` series with gaps (NaN,
 * drawn as breaks), so a bundle of hundreds of paths is a single plotly trace for `plotLines`:
 * light to draw, light to export.
 */
import * as tf from "@tensorflow/tfjs";
import { readStates } from "../metrics/crossings";

/** Options of `pathsAgainstTime`. */
export interface PathsAgainstTimeOptions {
  /** Which coordinate of the states to draw. @default 0 */
  coordinate?: number;
  /** Draw only these particles (indices). @default all */
  particles?: number[];
}

/**
 * The curves t -> x_t of a batch of particles as one gapped series `{ x: times, y: positions }`,
 * particle after particle, a NaN between two particles.
 *
 * @param trajectory saved states, time first: a `[T, n, d]` tensor (not disposed) or T lists of n
 *   points
 * @param times the T saved times
 * @param options `coordinate` @default 0, `particles` @default all
 * @returns `{ x, y }`, ready for `plotLines([{ name, ...pathsAgainstTime(...) }])`
 * @example
 * pathsAgainstTime([[[0], [1]], [[1], [0]]], [0, 1]); // returns { x: [0, 1, NaN, 0, 1], y: [0, 1,
 * NaN, 1, 0] }
 */
export function pathsAgainstTime(
  trajectory: tf.Tensor3D | number[][][],
  times: number[],
  options: PathsAgainstTimeOptions = {},
): { x: number[]; y: number[] } {
  const fn = "pathsAgainstTime";
  const states = readStates(trajectory, fn, 1);
  if (!Array.isArray(times) || times.length !== states.length) {
    throw new Error(
      `${fn}: times must have one entry per saved state (${states.length}); got ` +
        `${Array.isArray(times) ? times.length : typeof times}`,
    );
  }
  const n = states[0].length;
  const d = states[0][0].length;
  const c = options.coordinate ?? 0;
  if (!Number.isInteger(c) || c < 0 || c >= d)
    throw new Error(`${fn}: coordinate must be an integer in [0, ${d - 1}]; got ${c}`);
  const which = options.particles ?? Array.from({ length: n }, (_, i) => i);
  which.forEach((i, k) => {
    if (!Number.isInteger(i) || i < 0 || i >= n)
      throw new Error(`${fn}: particles[${k}] must be an index in [0, ${n - 1}]; got ${i}`);
  });
  const x: number[] = [];
  const y: number[] = [];
  which.forEach((i, k) => {
    if (k > 0) {
      x.push(NaN);
      y.push(NaN);
    }
    states.forEach((s, step) => {
      x.push(times[step]);
      y.push(s[i][c]);
    });
  });
  return { x, y };
}
