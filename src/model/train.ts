/**
 * Training a velocity model with the conditional flow matching loss (lecture concept 6, notebook
 * 06).
 *
 * One step, exactly the lecture's recipe:
 *   1. draw a batch of data points x1 (rows of the training set, with replacement), noise x0 ~ N(0,
 *      I) and times t ~ U[0, 1];
 *   2. form x_t = alpha_t x1 + sigma_t x0 and the target dx_t/dt = dAlpha_t x1 + dSigma_t x0
 *      (x1 - x0 on the lecture's straight path);
 *   3. L = mean |u_theta(x_t, t) - target|^2, its gradient by back-propagation, one Adam update.
 *
 * L and its gradient are sums over the batch, so step 3 cuts the batch into `shards` parts (2 by
 * default), computes each part's sums on a thread of its own where the machine has the cores (see
 * parallel.ts) and adds them in order: the numbers depend on `shards`, never on the thread count.
 *
 * With `pairs` instead of `data`, each batch takes rows (x0_i, x1_i) together, so a coupling
 * between noise and data survives (reflow, notebook 07). With `coupling`, the noise and data drawn
 * for a batch are re-paired between steps 1 and 2, by minibatch optimal transport (coupling.ts).
 */
import * as tf from "@tensorflow/tfjs";
import { assert2D, assertCount, assertFits, MAX_TRAINING_STEPS } from "../core/checks";
import { normal, randint, uniform } from "../core/random";
import { AffineProbPath, condOTPath } from "../path/affine";
import { batchCoupler, type BatchCoupler, type BatchDraws, type Coupling } from "./coupling";
import { shardedLossAndGradient } from "./parallel";
import { VelocityModel } from "./mlp";
import {
  finalLoss,
  optimise,
  optimiserSettings,
  positive,
  type LearningRateSchedule,
} from "./training-loop";

export { learningRateFactor, type LearningRateSchedule } from "./training-loop";

/** Points as a tensor `[n, d]` or as rows. */
export type PointsInput = tf.Tensor2D | number[][];

/** Points read into a flat row-major array (`flatPoints`). */
export type FlatPoints = { values: Float32Array; n: number; d: number };

/** Options of `trainFlowMatching`. Give `data` (samples of p_data) or `pairs` (a coupling). */
export interface TrainOptions {
  /** The training set, `[n, d]`: batches draw x1 from its rows and fresh noise x0. */
  data?: PointsInput;
  /** Coupled pairs: batches draw rows i of x0 and x1 together (reflow). */
  pairs?: { x0: PointsInput; x1: PointsInput };
  /** The probability path (schedule of x_t between x0 and x1). @default condOTPath() */
  path?: AffineProbPath;
  /** Number of Adam steps. @default 2000 */
  steps?: number;
  /** Points per batch. @default 256 */
  batchSize?: number;
  /** Adam's step size (before the schedule). @default 1e-3 */
  learningRate?: number;
  /**
   * `"constant"`, `"cosine"` (decay to 0 at the last step) or a function (step, total) => factor.
   * @default "constant"
   */
  schedule?: LearningRateSchedule;
  /** Linear warm-up over this many first steps (multiplies the schedule). @default 0 */
  warmup?: number;
  /** Clip the gradient to this global norm. @default none */
  clipNorm?: number;
  /** Times are drawn uniformly from [tMin, tMax]. @default [0, 1] */
  timeRange?: [number, number];
  /**
   * Live progress: `true`, or a title. Inside a notebook a bar and the loss curve in one output;
   * outside, a line per tenth. @default true inside a notebook, false elsewhere
   */
  progress?: boolean | string;
  /** Called after each step with the step (1-based) and its loss; a returned promise is awaited. */
  onStep?: (step: number, loss: number) => void | Promise<void>;
  /**
   * Instead of `data` or `pairs`: a function that draws each batch itself, as network inputs
   * `[rows, inputs]` and targets `[rows, d]` (row-major), e.g. images with their labels
   * (src/images/train.ts). Everything else (loss, shards, Adam, schedule, progress) is the same.
   */
  batches?: (batchSize: number) => { input: Float32Array; target: Float32Array; rows: number };
  /**
   * The batch's loss and gradient are sums over its rows; they are computed in this many parts, on
   * as many threads as there are (`fm.setThreads`), and added in order. The numbers depend on this
   * count, never on the number of threads. @default 2
   */
  shards?: number;
  /**
   * Which noise point trains with which data point inside each batch (coupling.ts): `"independent"`
   * (the draw's own pairing), `"exact"` (minibatch optimal transport, Hungarian) or `"sinkhorn"`
   * (entropic, `{ method: "sinkhorn", regularization: 0.05 }`). Only with `data`.
   * @default "independent"
   */
  coupling?: Coupling;
}

/** What `trainFlowMatching` returns. */
export interface TrainResult {
  /** The loss of every step (before that step's update). */
  losses: number[];
  /** The learning rate used at every step. */
  learningRates: number[];
  /** Steps taken. */
  steps: number;
  /** Wall time in seconds. */
  seconds: number;
  /** Steps per second. */
  stepsPerSecond: number;
  /** Mean loss of the last 10% of steps (a less noisy final value). */
  finalLoss: number;
  /** Seconds of `seconds` spent pairing batches (option `coupling`; 0 for independent pairs). */
  couplingSeconds: number;
}

/** Reads points to a flat Float32Array with its shape, checking them. */
export function flatPoints(
  points: PointsInput,
  name: string,
  dim?: number,
): { values: Float32Array; n: number; d: number } {
  if (points instanceof tf.Tensor) {
    assert2D(points, name, dim);
    const values = Float32Array.from(points.dataSync());
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i]))
        throw new Error(`${name} must be finite; entry ${i} is ${values[i]}`);
    }
    return { values, n: points.shape[0], d: points.shape[1] };
  }
  if (!Array.isArray(points) || points.length === 0 || !Array.isArray(points[0])) {
    throw new Error(
      `${name} must be a [n, d] tensor or a non-empty array of rows; got ` +
        `${points === null ? "null" : typeof points}`,
    );
  }
  const d = points[0].length;
  if (dim !== undefined && d !== dim) throw new Error(`${name} must have ${dim} columns; got ${d}`);
  const values = new Float32Array(points.length * d);
  points.forEach((row, i) => {
    if (!Array.isArray(row) || row.length !== d)
      throw new Error(
        `${name}: row ${i} has ${Array.isArray(row) ? row.length : "no"} entries; expected ${d}`,
      );
    row.forEach((v, j) => {
      if (!Number.isFinite(v))
        throw new Error(`${name}: entry [${i}][${j}] is ${v}; must be finite`);
      values[i * d + j] = v;
    });
  });
  return { values, n: points.length, d };
}

/**
 * A CFM batch in plain arrays: x_t, t and the regression target, plus the x0 and x1 it came from.
 */
export interface CfmBatch {
  xt: Float32Array;
  t: Float32Array;
  target: Float32Array;
  n: number;
  d: number;
}

/**
 * Step 1 of the module comment in plain arrays, with the library's seeded generator: for each batch
 * row a data row (with replacement), a time in `timeRange`, and fresh noise unless the pairs bring
 * their own (`withPairs`). Drawn in this order, row by row, so that the batches never change.
 */
export function drawBatchRows(
  x1Rows: { n: number; d: number },
  batchSize: number,
  withPairs: boolean,
  timeRange: [number, number] = [0, 1],
): BatchDraws {
  const { d } = x1Rows;
  const n = batchSize;
  const rows = new Int32Array(n);
  const t = new Float64Array(n);
  const noise = withPairs ? null : new Float64Array(n * d);
  const [lo, hi] = timeRange;
  for (let i = 0; i < n; i++) {
    rows[i] = randint(x1Rows.n);
    t[i] = lo + (hi - lo) * uniform();
    if (noise) for (let j = 0; j < d; j++) noise[i * d + j] = normal();
  }
  return { n, d, rows, t, noise };
}

/**
 * Step 2 of the module comment: places each drawn row on the path, x_t = alpha_t x1 + sigma_t x0,
 * with the target dAlpha_t x1 + dSigma_t x0 (x0 from the noise, or row `rows[i]` of `x0Rows` with
 * pairs).
 */
export function placeOnPath(
  path: AffineProbPath,
  x1Rows: FlatPoints,
  draws: BatchDraws,
  x0Rows?: FlatPoints,
): CfmBatch {
  const { n, d, rows, noise } = draws;
  const xt = new Float32Array(n * d);
  const target = new Float32Array(n * d);
  const t = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const ti = draws.t[i];
    t[i] = ti;
    const { alpha, sigma, dAlpha, dSigma } = path.scheduler.at(ti);
    if (!Number.isFinite(dAlpha) || !Number.isFinite(dSigma)) {
      throw new Error(
        `the ${path.name} path has an infinite slope at t = ${ti}; train on a time range that ` +
          `stops short of it (timeRange: [0, 0.999])`,
      );
    }
    const row = rows[i];
    for (let j = 0; j < d; j++) {
      const x1 = x1Rows.values[row * d + j];
      const x0 = noise ? noise[i * d + j] : x0Rows!.values[row * d + j];
      xt[i * d + j] = alpha * x1 + sigma * x0;
      target[i * d + j] = dAlpha * x1 + dSigma * x0;
    }
  }
  return { xt, t, target, n, d };
}

/**
 * Draws one conditional flow matching batch (steps 1 and 2 of the module comment) with the
 * library's seeded generator. `x1Rows` are the data; with `x0Rows` given, row i of both is taken
 * together. With a `coupler` (minibatch optimal transport, coupling.ts), the drawn noise and data
 * are re-paired in between.
 */
export function drawCfmBatch(
  path: AffineProbPath,
  x1Rows: FlatPoints,
  batchSize: number,
  x0Rows?: FlatPoints,
  timeRange: [number, number] = [0, 1],
  coupler?: BatchCoupler | null,
): CfmBatch {
  const draws = drawBatchRows(x1Rows, batchSize, x0Rows !== undefined, timeRange);
  // The coupling of the batch: which noise row trains with which data row (coupling.ts).
  if (coupler) coupler.pair(draws, x1Rows);
  return placeOnPath(path, x1Rows, draws, x0Rows);
}

/**
 * The network's input rows [x_t, embed(t)] of a batch, built in plain arrays (the same numbers as
 * `model.features`, without the tensor operations).
 */
export function networkInput(model: VelocityModel, batch: CfmBatch): Float32Array {
  const { n, d } = batch;
  const width = model.layers[0].inputs;
  const out = new Float32Array(n * width);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) out[i * width + j] = batch.xt[i * d + j];
    const e = model.timeFeatures(batch.t[i]);
    for (let k = 0; k < e.length; k++) out[i * width + d + k] = e[k];
  }
  return out;
}

/**
 * Trains `model` in place with the conditional flow matching loss and Adam (see the module
 * comment). Seeded through `fm.seed`. A loss that is not finite stops training with an error that
 * names the step; the model then holds the last parameters whose loss was finite.
 * @example
 * fm.seed(0);
 * const model = fm.createVelocityModel();
 * const result = await fm.trainFlowMatching(model, { data: fm.twoMoons(2000), steps: 2000 });
 * fm.show(fm.plotLoss(result.losses));
 */
export async function trainFlowMatching(
  model: VelocityModel,
  options: TrainOptions,
): Promise<TrainResult> {
  if (!(model instanceof VelocityModel))
    throw new Error("trainFlowMatching: model must be a VelocityModel (fm.createVelocityModel)");
  const dim = model.config.dim;
  const given = (["data", "pairs", "batches"] as const).filter((k) => options[k] !== undefined);
  if (given.length !== 1) {
    throw new Error(
      "trainFlowMatching: give either data (samples of the data distribution) or pairs " +
        "({ x0, x1 }), or batches (a function): exactly one; " +
        (given.length ? `got ${given.join(" and ")}` : "got none"),
    );
  }
  let x1Rows: { values: Float32Array; n: number; d: number } | undefined;
  let x0Rows: { values: Float32Array; n: number; d: number } | undefined;
  if (options.data !== undefined) x1Rows = flatPoints(options.data, "data", dim);
  else if (options.pairs !== undefined) {
    x1Rows = flatPoints(options.pairs!.x1, "pairs.x1", dim);
    x0Rows = flatPoints(options.pairs!.x0, "pairs.x0", dim);
    if (x0Rows.n !== x1Rows.n)
      throw new Error(
        `pairs.x0 has ${x0Rows.n} rows but pairs.x1 has ${x1Rows.n}; a coupling pairs row i with ` +
          `row i`,
      );
  }
  if (x1Rows && x1Rows.n === 0) {
    const what = options.data !== undefined ? "data" : "pairs";
    throw new Error(`trainFlowMatching: ${what} is empty (no rows); give at least one point`);
  }
  const path = options.path ?? condOTPath();
  if (!(path instanceof AffineProbPath))
    throw new Error("path must be an AffineProbPath (fm.condOTPath(), fm.vpPath(), ...)");
  const settings = optimiserSettings(options, 2000, "");
  const { steps, batchSize } = settings;
  const why = "the most one call trains (its loss curve is kept); call it again to go on";
  assertCount(steps, "steps", "trainFlowMatching", 1, MAX_TRAINING_STEPS, why);
  const inputs = batchSize * model.layers[0].inputs;
  assertFits(inputs, "trainFlowMatching", `a batch of ${batchSize} network inputs`);
  const timeRange = options.timeRange ?? [0, 1];
  if (!(timeRange[0] >= 0 && timeRange[1] <= 1 && timeRange[0] < timeRange[1])) {
    throw new Error(`timeRange must satisfy 0 <= tMin < tMax <= 1; got [${timeRange.join(", ")}]`);
  }
  const shards = positive(options.shards ?? 2, "shards", true);
  // The coupling of each batch (coupling.ts); null keeps the draw's own pairing.
  const coupler = batchCoupler(options.coupling, options.pairs !== undefined);
  if (coupler && options.batches) {
    throw new Error(
      "trainFlowMatching: a coupling re-pairs drawn noise and data; with batches nothing is " +
        "drawn here (give data instead, or pair inside your batches)",
    );
  }

  return optimise({
    model,
    settings,
    who: "training",
    progress: options.progress,
    title: "training",
    lossAndGradient: () => {
      let rows: { input: Float32Array; target: Float32Array; rows: number };
      if (options.batches) rows = options.batches(batchSize);
      else {
        const batch = drawCfmBatch(path, x1Rows!, batchSize, x0Rows, timeRange, coupler);
        rows = { input: networkInput(model, batch), target: batch.target, rows: batch.n };
      }
      // L = (1/n) sum_i |u_theta(x_t,i, t_i) - target_i|^2 and its gradient 2/n sum_i (...), by
      // back-propagation.
      const { input, target, rows: n } = rows;
      return shardedLossAndGradient(model, input, target, n, shards);
    },
    checkGradient: false,
    hint:
      `Usual causes: a learning rate too large (${settings.learningRate}), data with huge ` +
      `values, or a path with an infinite slope.`,
    onStep: (step, loss) => options.onStep?.(step, loss),
    summary: (losses, learningRates, seconds) => ({
      losses,
      learningRates,
      steps: losses.length,
      seconds,
      stepsPerSecond: losses.length / Math.max(seconds, 1e-9),
      finalLoss: finalLoss(losses),
      couplingSeconds: coupler ? coupler.seconds : 0,
    }),
  });
}
