/**
 * The jobs a helper thread runs for parallel.ts (loaded by src/core/worker.cjs inside the helper).
 * Each job rebuilds the model from its configuration and parameters, does its share with the same
 * library code the main thread runs, and returns plain arrays (moved, not copied, back).
 */
import * as tf from "@tensorflow/tfjs";
import { initBackend, type BackendName } from "../core/backend";
import { solveOde, type SolveOdeOptions } from "../solvers/ode";
import { gradientSumsOfRows } from "./backprop";
import { VelocityModel, type VelocityModelConfig } from "./mlp";

/** How long a new helper warms up before it takes jobs (milliseconds). */
const WARM_UP_MS = 400;

/**
 * Starts the helper's own TensorFlow.js on the main thread's backend, then warms it up (see
 * `warmUp`).
 */
export async function initHelper(backend: BackendName): Promise<void> {
  await initBackend({ backend, quiet: true });
  warmUp();
}

/**
 * Runs both jobs on a small default model for a short while before the helper reports ready. A
 * fresh thread runs its first few hundred jobs slowly while V8 compiles its JavaScript; doing that
 * here, in the background, keeps the first real jobs from being slower than the main thread's
 * share.
 */
function warmUp(milliseconds = WARM_UP_MS): void {
  const config: VelocityModelConfig = {
    dim: 2,
    width: 64,
    depth: 3,
    activation: "elu",
    time: { kind: "raw" },
  };
  const shape = new VelocityModel(config); // for its parameter count and input width
  const theta = new Float32Array(shape.numParameters).fill(0.01);
  const rows = 128;
  const input = new Float32Array(rows * shape.layers[0].inputs).map((_, i) => Math.sin(i));
  const target = new Float32Array(rows * 2).map((_, i) => Math.cos(i));
  const x0 = new Float32Array(rows * 2).map((_, i) => Math.sin(3 * i));
  const end = performance.now() + milliseconds;
  for (let k = 0; performance.now() < end; k++) {
    jobs.gradient({ config, theta, input, target, rows });
    if (k % 16 === 0)
      jobs.solve({ config, theta, x0, rows, options: { method: "euler", steps: 4, t0: 0, t1: 1 } });
  }
}

let cached: { key: string; model: VelocityModel } | null = null;

/** The helper's model with these parameters (one kept between jobs, its parameters replaced). */
function modelFor(config: VelocityModelConfig, theta: Float32Array): VelocityModel {
  const key = JSON.stringify(config);
  if (cached === null || cached.key !== key) {
    cached?.model.dispose();
    cached = { key, model: new VelocityModel(config, theta) };
  } else cached.model.setTheta(theta);
  return cached.model;
}

/** What a gradient job gets: the model and its rows of network inputs and targets. */
export interface GradientJob {
  config: VelocityModelConfig;
  theta: Float32Array;
  input: Float32Array;
  target: Float32Array;
  rows: number;
}

/** What a solve job gets: the model, its rows of starting points and the solver's options. */
export interface SolveJob {
  config: VelocityModelConfig;
  theta: Float32Array;
  x0: Float32Array;
  rows: number;
  options: SolveOdeOptions;
}

/** What a solve job returns: its rows at t1 and, with `saveAt`, its rows of the trajectory. */
export interface SolveReply {
  x: Float32Array;
  trajectory?: Float32Array;
}

export const jobs = {
  /** The helper's live tensor count (the tests check helpers leak nothing either). */
  numTensors() {
    return { result: tf.memory().numTensors };
  },
  gradient(job: GradientJob) {
    const model = modelFor(job.config, job.theta);
    try {
      const result = gradientSumsOfRows(model, job.input, job.target, job.rows);
      return { result, transfer: [result.grad.buffer as ArrayBuffer] };
    } finally {
      // rebuilt from the next job's parameters anyway: hold no tensor between jobs
      model.invalidate();
    }
  },
  solve(job: SolveJob) {
    const model = modelFor(job.config, job.theta);
    const x0 = tf.tensor2d(job.x0, [job.rows, model.config.dim]);
    const solution = solveOde(model.field, x0, job.options);
    try {
      // Copies (slice): the arrays are moved to the main thread and must not share a tensor's
      // storage.
      const result: SolveReply = { x: (solution.x.dataSync() as Float32Array).slice() };
      if (solution.trajectory)
        result.trajectory = (solution.trajectory.dataSync() as Float32Array).slice();
      return {
        result,
        transfer: [
          result.x.buffer as ArrayBuffer,
          ...(result.trajectory ? [result.trajectory.buffer as ArrayBuffer] : []),
        ],
      };
    } finally {
      tf.dispose([x0, solution.x, ...(solution.trajectory ? [solution.trajectory] : [])]);
      model.invalidate();
    }
  },
};
