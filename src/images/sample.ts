/**
 * Generating images with a class-conditional model (notebook 09): noise x0 ~ N(0, I), then the ODE
 * dx/dt = u_w(x, t | c) of the guided field (conditional.ts) from t = 0 to t = 1, with any
 * fixed-step solver. Like `sampleFlow` for 2-D models, the rows are shared among the helper threads
 * (each image is integrated on its own, so the result is bit for bit that of one thread).
 *
 * Cost: NFE counts evaluations of the guided field per image; with guidance (w not 0 or -1) each
 * evaluation runs the network twice (conditional and unconditional, batched together): `passes`.
 */
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { assert2D } from "../core/checks";
import { randn } from "../core/random";
import { awaitHelpers, threadCount } from "../core/threads";
import { VelocityModel, type VelocityModelConfig } from "../model/mlp";
import { shareRows } from "../model/parallel";
import { solveOde, ODE_STAGES, type OdeSolution } from "../solvers/ode";
import { classesOf, guidedField, readLabels } from "./conditional";

/** The module whose jobs the helper threads run for image sampling. */
export const IMAGE_JOBS = join(__dirname, "jobs.ts");

/**
 * Starts the helper threads for image sampling and waits until they are ready (otherwise they start
 * in the background on first use, and the main thread does all the work meanwhile: same numbers).
 * The helpers of `fm.startThreads` (2-D sampling and training) are replaced: one set runs at a
 * time. Resolves to the number of threads image sampling will use.
 */
export async function startImageThreads(): Promise<number> {
  return 1 + (await awaitHelpers(threadCount() - 1, IMAGE_JOBS));
}

/** Fewest images worth sending to a helper thread. */
export const MIN_IMAGES_PER_THREAD = 64;

/** A fixed-step solver for images. */
export type ImageSolver = keyof typeof ODE_STAGES;

/** Options of `sampleDigits`. */
export interface SampleDigitsOptions {
  /** The class of each image (its length is the number of images). */
  labels: ArrayLike<number>;
  /** Guidance weight w >= -1 (0: conditional, -1: unconditional). @default 0 */
  w?: number;
  /** Fixed-step solver. @default "midpoint" */
  method?: ImageSolver;
  /** Steps from t = 0 to t = 1. @default 10 */
  steps?: number;
  /** The starting noise `[n, pixels]` instead of fresh draws (not disposed). */
  x0?: tf.Tensor2D;
  /** Times at which to keep the images (a trajectory `[times, n, pixels]`). */
  saveAt?: number[];
}

/** What `sampleDigits` returns; `tf.dispose(result)` frees its tensors. */
export type DigitSamples = {
  /** The images at t = 1 in the network's scale [-1, 1] (`fm.toPixels` for grey values). */
  x: tf.Tensor2D;
  /** The starting noise (a copy when `x0` was given). */
  x0: tf.Tensor2D;
  /** `[times, n, pixels]` at `saveAt`, when asked for. */
  trajectory?: tf.Tensor3D;
  /** Evaluations of the guided field per image. */
  nfe: number;
  /** Network passes per image (2 per evaluation with guidance). */
  passes: number;
};

/** What a helper thread gets for its share of a guided sampling run. */
export interface GuidedSolveJob {
  config: VelocityModelConfig;
  theta: Float32Array;
  x0: Float32Array;
  labels: Int32Array;
  rows: number;
  w: number;
  method: ImageSolver;
  steps: number;
  saveAt?: number[];
}

/** Runs one share of a guided sampling run (on a helper thread, or on the main thread). */
export function guidedSolve(
  model: VelocityModel,
  x0: tf.Tensor2D,
  job: Omit<GuidedSolveJob, "config" | "theta" | "x0" | "rows">,
): OdeSolution {
  const field = guidedField(model, job.labels, job.w);
  return solveOde(field, x0, {
    method: job.method,
    steps: job.steps,
    saveAt: job.saveAt,
    t0: 0,
    t1: 1,
  });
}

/**
 * Images of the given classes from a class-conditional model (module comment). Seeded through
 * `fm.seed` (the noise); the same result on any number of threads.
 * @example
 * const s = fm.sampleDigits(model, { labels: [0, 1, 2], w: 2, method: "midpoint", steps: 8 });
 * fm.show(fm.plotImageGrid(fm.toPixels(s.x)));   // s.nfe = 16, s.passes = 32
 */
export function sampleDigits(model: VelocityModel, options: SampleDigitsOptions): DigitSamples {
  const K = classesOf(model, "sampleDigits");
  if (!options || options.labels === undefined)
    throw new Error("sampleDigits: give the labels of the images to draw");
  const n = options.labels.length;
  if (!(n >= 1)) throw new Error("sampleDigits: labels must hold at least one class");
  const labels = readLabels(options.labels as ArrayLike<number>, n, K, "sampleDigits");
  const w = options.w ?? 0;
  const method = options.method ?? "midpoint";
  if (!(method in ODE_STAGES))
    throw new Error(
      `sampleDigits: method must be one of ${Object.keys(ODE_STAGES).join(", ")}; got ${method}`,
    );
  const steps = options.steps ?? 10;
  if (!Number.isInteger(steps) || steps < 1)
    throw new Error(`sampleDigits: steps must be a positive integer; got ${steps}`);
  const d = model.config.dim;
  let x0: tf.Tensor2D;
  if (options.x0 !== undefined) {
    assert2D(options.x0, "x0", d);
    if (options.x0.shape[0] !== n)
      throw new Error(`sampleDigits: x0 has ${options.x0.shape[0]} rows for ${n} labels`);
    x0 = options.x0.clone();
  } else x0 = randn([n, d]) as tf.Tensor2D;
  const job = { labels, w, method, steps, saveAt: options.saveAt };
  const guided = w !== 0 && w !== -1;
  try {
    const solution = parallelGuidedSolve(model, x0, job) ?? guidedSolve(model, x0, job);
    return {
      x: solution.x,
      x0,
      nfe: solution.nfe,
      passes: guided ? 2 * solution.nfe : solution.nfe,
      ...(solution.trajectory ? { trajectory: solution.trajectory } : {}),
    };
  } catch (err) {
    x0.dispose();
    throw err;
  }
}

/**
 * `guidedSolve` with the rows shared among the threads, or null when one thread is all there is (or
 * a trajectory is wanted: paths are drawn for a few images, where one thread is as fast).
 */
function parallelGuidedSolve(
  model: VelocityModel,
  x0: tf.Tensor2D,
  job: Omit<GuidedSolveJob, "config" | "theta" | "x0" | "rows">,
): OdeSolution | null {
  if (job.saveAt !== undefined) return null;
  const shared = shareRows<GuidedSolveJob, { x: Float32Array }>(model, x0, {
    minRows: MIN_IMAGES_PER_THREAD,
    jobs: IMAGE_JOBS,
    job: "guidedSolve",
    share: (a, b) => ({ ...job, labels: job.labels.slice(a, b) }),
    solve: (head, a, b) => guidedSolve(model, head, { ...job, labels: job.labels.slice(a, b) }),
  });
  if (!shared) return null;
  return { ...shared.own, x: tf.tensor2d(shared.x, [x0.shape[0], model.config.dim]) };
}

/**
 * Spherical interpolation between two noise points a and b (`[1, d]` each): for each alpha in [0,
 * 1], (sin((1 - alpha) theta) a + sin(alpha theta) b) / sin(theta), theta the angle between them.
 * Two independent Gaussian draws are nearly orthogonal and of equal length, and so are these
 * points: every one looks like a draw of N(0, I). (The straight line (1 - alpha) a + alpha b is
 * about sqrt(2) times shorter halfway: noise the model was never trained to start from.)
 */
export function slerpNoise(a: tf.Tensor2D, b: tf.Tensor2D, alphas: number[]): tf.Tensor2D {
  assert2D(a, "slerpNoise: a");
  assert2D(b, "slerpNoise: b", a.shape[1]);
  if (a.shape[0] !== 1 || b.shape[0] !== 1)
    throw new Error(
      `slerpNoise: a and b must be single points [1, d]; got ${a.shape[0]} and ${b.shape[0]} rows`,
    );
  if (!Array.isArray(alphas) || alphas.length === 0 || alphas.some((v) => !(v >= 0 && v <= 1))) {
    throw new Error(`slerpNoise: alphas must be numbers in [0, 1]; got ${JSON.stringify(alphas)}`);
  }
  const va = a.dataSync();
  const vb = b.dataSync();
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < va.length; i++) {
    ab += va[i] * vb[i];
    aa += va[i] * va[i];
    bb += vb[i] * vb[i];
  }
  const theta = Math.acos(Math.max(-1, Math.min(1, ab / Math.sqrt(aa * bb))));
  if (!(Math.sin(theta) > 1e-6))
    throw new Error("slerpNoise: a and b point the same way (or opposite): the arc is not defined");
  const d = va.length;
  const out = new Float32Array(alphas.length * d);
  alphas.forEach((alpha, r) => {
    const wa = Math.sin((1 - alpha) * theta) / Math.sin(theta);
    const wb = Math.sin(alpha * theta) / Math.sin(theta);
    for (let i = 0; i < d; i++) out[r * d + i] = wa * va[i] + wb * vb[i];
  });
  return tf.tensor2d(out, [alphas.length, d]);
}
