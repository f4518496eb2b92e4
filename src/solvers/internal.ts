/**
 * Helpers shared by the solvers of `solvers/` (the ODE solvers of `ode.ts`, the stochastic and DDIM
 * samplers of `sde.ts` and `ddim.ts`): counting field evaluations, the time grid with save times
 * inserted, and checks of save times. Not re-exported from the library's index.
 */
import * as tf from "@tensorflow/tfjs";
import { assert2D, assertCount, assertFinite, assertFits, MAX_STEPS } from "../core/checks";
import { checkInterrupt, interruptible } from "../core/interrupt";
import type { VelocityField } from "../core/notation";
import { AffineProbPath } from "../path/affine";

/**
 * Checks a number of steps (a positive integer, at most `MAX_STEPS`) before any work starts.
 * `name` is the option's name (`steps`, `maxSteps`).
 */
export function checkSteps(label: string, steps: unknown, name = "steps"): number {
  return assertCount(
    steps,
    name,
    label,
    1,
    MAX_STEPS,
    "the most a solver takes here: each step evaluates the field at least once, so that many " +
      "would run for hours; take fewer steps (or dopri5 with a looser tolerance)",
  );
}

/** Checks that saving `times` states of x `[n, d]` fits in one array, before any work. */
export function checkTrajectorySize(label: string, times: number, x: tf.Tensor2D): void {
  const what = `the trajectory (${times} saved times of [${x.shape.join(", ")}])`;
  assertFits(times * x.shape[0] * x.shape[1], label, what);
}

/** Wraps the field: counts calls and checks that each returns a tensor shaped like its input. */
export function countedField(field: VelocityField): { f: VelocityField; nfe: () => number } {
  let nfe = 0;
  const f: VelocityField = (x, t) => {
    nfe++;
    const u = field(x, t);
    if (
      !(u instanceof tf.Tensor) ||
      u.rank !== 2 ||
      u.shape[0] !== x.shape[0] ||
      u.shape[1] !== x.shape[1]
    ) {
      const got = u instanceof tf.Tensor ? `shape [${u.shape.join(", ")}]` : typeof u;
      throw new Error(
        `The velocity field must return a tensor shaped like x, [${x.shape.join(", ")}]; got ` +
          `${got}`,
      );
    }
    // A handle of our own: a field may return its input or a tensor it keeps, which we must not
    // free. (Every call happens inside tf.tidy, which frees the field's own result.)
    return tf.clone(u);
  };
  return { f, nfe: () => nfe };
}

/**
 * Checks save times: finite, between t0 and t1, and ordered in the direction of integration.
 * `label` starts each message (e.g. `"solveOde"`).
 */
export function checkSaveAt(label: string, saveAt: number[], t0: number, t1: number): void {
  if (!Array.isArray(saveAt))
    throw new Error(`${label}: saveAt must be an array of times; got ${typeof saveAt}`);
  const lo = Math.min(t0, t1);
  const hi = Math.max(t0, t1);
  const dir = t1 >= t0 ? 1 : -1;
  for (let i = 0; i < saveAt.length; i++) {
    const s = saveAt[i];
    if (typeof s !== "number" || !Number.isFinite(s))
      throw new Error(`${label}: saveAt[${i}] must be a finite number; got ${s}`);
    if (s < lo || s > hi)
      throw new Error(
        `${label}: saveAt[${i}] must lie between t0 = ${t0} and t1 = ${t1}; got ${s}`,
      );
    if (i > 0 && dir * (s - saveAt[i - 1]) < 0) {
      throw new Error(
        `${label}: saveAt must follow the direction of integration ` +
          `(${dir > 0 ? "non-decreasing" : "non-increasing"}); ` +
          `got ${saveAt[i - 1]} then ${s}`,
      );
    }
  }
}

/**
 * The uniform grid t0..t1 in `steps` steps, with the saveAt times inserted (snapped to nearby
 * nodes).
 */
export function fixedMesh(
  t0: number,
  t1: number,
  steps: number,
  saveAt: number[] | undefined,
): number[] {
  const grid: number[] = [];
  for (let i = 0; i <= steps; i++) grid.push(i === steps ? t1 : t0 + ((t1 - t0) * i) / steps);
  if (!saveAt || t0 === t1) return grid;
  const dir = t1 > t0 ? 1 : -1;
  const tiny = 1e-9 * Math.abs(t1 - t0);
  const extra = saveAt.filter((s) => !grid.some((g) => Math.abs(g - s) <= tiny));
  const all = grid.concat(extra).sort((a, b) => dir * (a - b));
  return all.filter((s, i) => i === 0 || s !== all[i - 1]);
}

/** Index of the mesh node a save time lands on (the node within round-off of it). */
export function nodeIndex(mesh: number[], s: number, tiny: number): number {
  let best = 0;
  for (let i = 1; i < mesh.length; i++)
    if (Math.abs(mesh[i] - s) < Math.abs(mesh[best] - s)) best = i;
  if (Math.abs(mesh[best] - s) > tiny)
    throw new Error(`internal: save time ${s} is not a mesh node`);
  return best;
}

/**
 * Runs a fixed-grid scheme: from `x0` at mesh[0], `x = step(x, i)` takes mesh[i] to mesh[i + 1]
 * (called inside `tf.tidy`; it may read `x` but must not dispose it). Records the state at each
 * save time (each must be a mesh node). Holds only the current state and the saved ones; `x0` is
 * not consumed. An interrupt (src/core/interrupt.ts) stops it between two steps with an
 * `InterruptedError`, freeing what it holds.
 * @returns the final state (a copy of x0 for an empty mesh) and, with `saveAt`, the states `[k, n,
 *   d]`
 */
export function runGrid(
  x0: tf.Tensor2D,
  mesh: number[],
  saveAt: number[] | undefined,
  step: (x: tf.Tensor2D, i: number) => tf.Tensor2D,
): { x: tf.Tensor2D; trajectory?: tf.Tensor3D } {
  return interruptible(() => runGridSteps(x0, mesh, saveAt, step));
}

function runGridSteps(
  x0: tf.Tensor2D,
  mesh: number[],
  saveAt: number[] | undefined,
  step: (x: tf.Tensor2D, i: number) => tf.Tensor2D,
): { x: tf.Tensor2D; trajectory?: tf.Tensor3D } {
  const tiny = 1e-9 * Math.abs(mesh[mesh.length - 1] - mesh[0]);
  // For each mesh node, how many save times land on it.
  const savesAt = new Array<number>(mesh.length).fill(0);
  if (saveAt) for (const s of saveAt) savesAt[nodeIndex(mesh, s, tiny)]++;
  const saved: tf.Tensor2D[] = [];
  let x: tf.Tensor2D = x0;
  try {
    for (let k = 0; k < savesAt[0]; k++) saved.push(tf.clone(x0));
    const steps = mesh.length - 1;
    for (let i = 0; i < steps; i++) {
      checkInterrupt(() => `the solver stopped at t = ${mesh[i]} (step ${i + 1} of ${steps})`);
      const prev = x;
      x = tf.tidy(() => step(prev, i));
      if (prev !== x0) prev.dispose();
      for (let k = 0; k < savesAt[i + 1]; k++) saved.push(tf.clone(x));
    }
  } catch (err) {
    if (x !== x0) x.dispose();
    tf.dispose(saved);
    throw err;
  }
  const out: { x: tf.Tensor2D; trajectory?: tf.Tensor3D } = { x: x === x0 ? tf.clone(x0) : x };
  if (saveAt) {
    out.trajectory = saved.length
      ? (tf.stack(saved) as tf.Tensor3D)
      : (tf.zeros([0, x0.shape[0], x0.shape[1]]) as tf.Tensor3D);
    tf.dispose(saved);
  }
  return out;
}

/** Grid options shared by the samplers of `sde.ts` and `ddim.ts`. */
export interface GridOptions {
  steps?: number;
  times?: number[];
  t0?: number;
  t1?: number;
  saveAt?: number[];
}

/**
 * The time grid of a sampler in course time (noise -> data): the explicit increasing `times` (save
 * times must be among them), or `steps` equal steps from t0 to t1 with the save times inserted.
 * Checks everything and names `label` in its errors.
 */
export function samplerMesh(
  label: string,
  options: GridOptions,
  defaults: { steps: number; t0: number; t1: number },
): number[] {
  const { times, saveAt } = options;
  if (times !== undefined) {
    if (options.steps !== undefined || options.t0 !== undefined || options.t1 !== undefined) {
      throw new Error(`${label}: give either times or steps/t0/t1, not both`);
    }
    if (!Array.isArray(times) || times.length < 2)
      throw new Error(
        `${label}: times must be an array of at least 2 increasing times in [0, 1]; got ` +
          `${String(times)}`,
      );
    times.forEach((s, i) => {
      if (typeof s !== "number" || !Number.isFinite(s) || s < 0 || s > 1)
        throw new Error(`${label}: times[${i}] must lie in [0, 1]; got ${s}`);
      if (i > 0 && s <= times[i - 1])
        throw new Error(
          `${label}: times must increase (noise at t = 0 to data at t = 1); got ${times[i - 1]} ` +
            `then ${s}`,
        );
    });
    if (saveAt !== undefined) {
      checkSaveAt(label, saveAt, times[0], times[times.length - 1]);
      const tiny = 1e-9 * (times[times.length - 1] - times[0]);
      for (const s of saveAt) {
        if (!times.some((g) => Math.abs(g - s) <= tiny))
          throw new Error(`${label}: saveAt time ${s} is not one of the given times`);
      }
    }
    return times.slice();
  }
  const steps = checkSteps(label, options.steps ?? defaults.steps);
  const t0 = options.t0 ?? defaults.t0;
  const t1 = options.t1 ?? defaults.t1;
  for (const [name, v] of [
    ["t0", t0],
    ["t1", t1],
  ] as const) {
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || v > 1)
      throw new Error(`${label}: ${name} must lie in [0, 1]; got ${String(v)}`);
  }
  if (!(t0 < t1))
    throw new Error(
      `${label}: t0 must be < t1 (samplers run from noise, t = 0, to data, t = 1); got t0 = ` +
        `${t0}, t1 = ${t1}`,
    );
  if (saveAt !== undefined) checkSaveAt(label, saveAt, t0, t1);
  return fixedMesh(t0, t1, steps, saveAt);
}

/** Checks a field and its path (shared by the samplers). */
export function checkSamplerInputs(
  label: string,
  field: VelocityField,
  path: AffineProbPath,
  x0: tf.Tensor2D,
): void {
  if (typeof field !== "function")
    throw new Error(
      `${label}: field must be a velocity field (x, t) => tensor; got ${typeof field}`,
    );
  if (!(path instanceof AffineProbPath))
    throw new Error(
      `${label}: path must be the AffineProbPath the field belongs to (e.g. condOTPath()); got ` +
        `${String(path)}`,
    );
  assert2D(x0, `${label}: x0`);
  assertFinite(x0, `${label}: x0`);
}
