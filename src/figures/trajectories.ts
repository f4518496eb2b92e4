/**
 * Trajectories x_t, t in [0, 1]: the paths particles take under the ODE dx_t = u_t(x_t) dt
 * (lecture, concept 1: trajectory and flow; concept 7: reflow straightens them).
 */
import * as tf from "@tensorflow/tfjs";
import {
  BaseOptions,
  COORD_TITLES,
  Figure,
  Points,
  Trace,
  baseLayout,
  color,
  finish,
  placeLegend,
  round,
  toXY,
} from "./figure";

/**
 * A trajectory: a `[T, n, 2]` tensor (T time steps of n particles) or a list of T `[n, 2]` point
 * sets.
 */
export type TrajectoryInput = tf.Tensor | Points[];

/** Options of `plotTrajectories`. */
export interface TrajectoryOptions extends BaseOptions {
  /** Draw at most this many particles' paths (evenly spaced subset, deterministic). @default 200 */
  maxPaths?: number;
  /** Path colour. @default the first palette colour */
  color?: string;
  /** Path opacity. @default 0.35 */
  opacity?: number;
  /** Mark the start (x_0) and end (x_1) of each path. @default true */
  ends?: boolean;
  /** Legend names of the start and end markers. @default ["start x_0", "end x_1"] */
  endNames?: [string, string];
  /** One unit on x as long as one on y. @default true */
  equal?: boolean;
}

/**
 * Reads a trajectory into `T` steps of `{ x, y }` columns, checking every step has the same `n`.
 */
export function readTrajectory(
  trajectory: TrajectoryInput,
  name = "trajectory",
): { x: number[]; y: number[] }[] {
  let steps: { x: number[]; y: number[] }[];
  if (trajectory instanceof tf.Tensor) {
    if (trajectory.rank !== 3 || trajectory.shape[2] !== 2) {
      throw new Error(
        `${name} must have shape [T, n, 2]; got shape [${trajectory.shape.join(", ")}]`,
      );
    }
    const data = trajectory.arraySync() as number[][][];
    steps = data.map((rows, i) => toXY(rows, `${name}[${i}]`));
  } else if (Array.isArray(trajectory)) {
    steps = trajectory.map((p, i) => toXY(p, `${name}[${i}]`));
  } else {
    throw new Error(
      `${name} must be a [T, n, 2] tensor or a list of [n, 2] point sets; got ${typeof trajectory}`,
    );
  }
  if (steps.length < 1) throw new Error(`${name} must have at least one time step; got 0`);
  const n = steps[0].x.length;
  steps.forEach((s, i) => {
    if (s.x.length !== n)
      throw new Error(`${name}[${i}] must have ${n} points like ${name}[0]; got ${s.x.length}`);
  });
  return steps;
}

/** The evenly spaced subset of `n` indices of size at most `max` (always including the first). */
export function subsetIndices(n: number, max: number): number[] {
  if (!Number.isInteger(max) || max < 1)
    throw new Error(`maxPaths must be a positive integer; got ${max}`);
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: max }, (_, k) => Math.floor((k * n) / max));
}

/**
 * The traces of a trajectory (shared with `plotPath`): one line trace for all paths, then the ends.
 */
export function trajectoryTraces(
  trajectory: TrajectoryInput,
  options: TrajectoryOptions = {},
): Trace[] {
  const steps = readTrajectory(trajectory);
  const keep = subsetIndices(steps[0].x.length, options.maxPaths ?? 200);
  const c = options.color ?? color(0);
  const x: (number | null)[] = [];
  const y: (number | null)[] = [];
  for (const i of keep) {
    for (const s of steps) {
      x.push(round(s.x[i]));
      y.push(round(s.y[i]));
    }
    x.push(null);
    y.push(null);
  }
  const traces: Trace[] = [
    {
      type: "scatter",
      mode: "lines",
      name: "paths",
      x,
      y,
      line: { color: c, width: 1 },
      opacity: options.opacity ?? 0.35,
      hoverinfo: "skip",
    },
  ];
  if (options.ends ?? true) {
    const [startName, endName] = options.endNames ?? ["start x_0", "end x_1"];
    const first = steps[0];
    const last = steps[steps.length - 1];
    traces.push(
      {
        type: "scatter",
        mode: "markers",
        name: startName,
        x: keep.map((i) => round(first.x[i])),
        y: keep.map((i) => round(first.y[i])),
        marker: { color: "#777", size: 4, opacity: 0.8 },
        hovertemplate: `${startName}<br>(%{x:.3f}, %{y:.3f})<extra></extra>`,
      },
      {
        type: "scatter",
        mode: "markers",
        name: endName,
        x: keep.map((i) => round(last.x[i])),
        y: keep.map((i) => round(last.y[i])),
        marker: { color: c, size: 5, opacity: 0.9 },
        hovertemplate: `${endName}<br>(%{x:.3f}, %{y:.3f})<extra></extra>`,
      },
    );
  }
  return traces;
}

/**
 * Particle paths from a trajectory `[T, n, 2]` (or a list of `[n, 2]`), with their starts and ends.
 * @example
 * const { trajectory } = solve(u, x0, { steps: 20 });   // [21, n, 2]
 * fm.show(fm.plotTrajectories(trajectory, { title: "Euler, 20 steps" }));
 */
export function plotTrajectories(
  trajectory: TrajectoryInput,
  options: TrajectoryOptions = {},
): Figure {
  const data = trajectoryTraces(trajectory, options);
  const layout = baseLayout(
    { ...options, equal: options.equal ?? true },
    { width: 520, height: 480, xTitle: COORD_TITLES[0], yTitle: COORD_TITLES[1] },
  );
  placeLegend(layout, data.length > 1, options.equal ?? true);
  return finish({ data, layout });
}
