/**
 * Generating samples from a velocity field (lecture concept 6, notebook 06): draw x0 ~ N(0, I) and
 * integrate dx/dt = u(x, t) from t = 0 to t = 1 with any solver of the library.
 */
import * as tf from "@tensorflow/tfjs";
import type { VelocityField } from "../core/notation";
import { assert2D, assertFits } from "../core/checks";
import { checkSteps } from "../solvers/internal";
import { randn } from "../core/random";
import { solveOde, type OdeSolution, type SolveOdeOptions } from "../solvers/ode";
import { VelocityModel } from "./mlp";
import { parallelSolve } from "./parallel";

/** Options of `sampleFlow`: how many samples (or the starting noise) and the solver's options. */
export interface SampleFlowOptions extends Omit<SolveOdeOptions, "t0" | "t1"> {
  /** Number of samples (noise drawn with the seeded generator). @default 1000 */
  n?: number;
  /** The starting points instead of fresh noise, `[n, d]` (not disposed). */
  x0?: tf.Tensor2D;
}

/**
 * What `sampleFlow` returns: the solver's result (`x` = the samples at t = 1, `trajectory` when
 * `saveAt` was given, `nfe`) plus the noise it started from. The caller disposes the tensors:
 * `tf.dispose(result)`.
 */
export type SampleFlowResult = OdeSolution & {
  /** The starting noise, `[n, d]` (a copy when `x0` was given). */
  x0: tf.Tensor2D;
};

/**
 * Samples by integrating a velocity field (a trained `VelocityModel` or any `VelocityField`) from
 * noise at t = 0 to t = 1. A `VelocityModel` with a fixed-step solver and enough points shares the
 * points among the helper threads (`fm.setThreads`, parallel.ts), with exactly the same result.
 * @example
 * const { x, nfe } = fm.sampleFlow(model, { n: 2000, method: "rk4", steps: 20 }); // nfe = 80 const
 * traj = fm.sampleFlow(model, { n: 200, steps: 100, saveAt: [0, 0.25, 0.5, 0.75, 1] }).trajectory;
 */
export function sampleFlow(
  model: VelocityModel | VelocityField,
  options: SampleFlowOptions = {},
): SampleFlowResult {
  checkSampleOptions(options);
  const field: VelocityField = model instanceof VelocityModel ? model.field : model;
  if (typeof field !== "function")
    throw new Error("sampleFlow: give a VelocityModel or a velocity field (x, t) => tensor");
  let x0: tf.Tensor2D;
  if (options.x0 !== undefined) {
    if (model instanceof VelocityModel) assert2D(options.x0, "x0", model.config.dim);
    else assert2D(options.x0, "x0");
    x0 = options.x0.clone();
  } else {
    const n = options.n ?? 1000;
    if (!Number.isInteger(n) || n < 1) throw new Error(`n must be a positive integer; got ${n}`);
    if (model instanceof VelocityModel) {
      assertFits(n * model.config.dim, "sampleFlow", `n = ${n} samples`);
    }
    if (!(model instanceof VelocityModel)) {
      throw new Error(
        "sampleFlow: with a plain velocity field, pass the starting noise as x0 (its dimension " +
          "is not known)",
      );
    }
    x0 = randn([n, model.config.dim]) as tf.Tensor2D;
  }
  const { n: _n, x0: _x0, ...solver } = options;
  const solverOptions = { ...solver, t0: 0, t1: 1 };
  // A trained model with a fixed-step solver runs on every thread (same numbers, see parallel.ts).
  try {
    const solution =
      (model instanceof VelocityModel ? parallelSolve(model, x0, solverOptions) : null) ??
      solveOde(field, x0, solverOptions);
    return { ...solution, x0 };
  } catch (err) {
    x0.dispose();
    throw err;
  }
}

/** The options `sampleFlow` knows; each value is plain data (numbers, a name, times). */
const SAMPLE_OPTIONS = [
  "n",
  "x0",
  "method",
  "steps",
  "saveAt",
  "rtol",
  "atol",
  "maxSteps",
  "firstStep",
];

/**
 * Checks the options before any work, the same way whether or not helper threads are ready (the
 * options may be sent to them, so a function or other non-data value is refused here, always).
 */
function checkSampleOptions(options: unknown): void {
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    const got = String(options);
    throw new Error(
      `sampleFlow: options must be an object such as { n: 1000, steps: 20 }; got ${got}`,
    );
  }
  for (const [key, value] of Object.entries(options)) {
    if (key === "t0" || key === "t1") {
      throw new Error(
        `sampleFlow: ${key} is not an option: sampling always runs from t = 0 (noise) to t = 1 ` +
          `(data)`,
      );
    }
    if (!SAMPLE_OPTIONS.includes(key)) {
      const known = SAMPLE_OPTIONS.join(", ");
      throw new Error(`sampleFlow: unknown option "${key}"; the options are ${known}`);
    }
    if (key === "x0" || value === undefined) continue;
    const plain =
      typeof value === "number" ||
      typeof value === "string" ||
      (Array.isArray(value) && value.every((v) => typeof v === "number"));
    if (!plain) {
      const got =
        typeof value === "function" ? "a function" : value === null ? "null" : typeof value;
      const want = key === "saveAt" ? "a number array" : "a number or a name";
      throw new Error(`sampleFlow: option ${key} must be ${want}; got ${got}`);
    }
  }
  const o = options as SampleFlowOptions;
  if (o.steps !== undefined) checkSteps("sampleFlow", o.steps);
  if (o.maxSteps !== undefined) checkSteps("sampleFlow", o.maxSteps, "maxSteps");
}
