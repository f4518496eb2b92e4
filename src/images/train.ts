/**
 * Training a class-conditional velocity network with the conditional flow matching loss and label
 * dropout (notebook 09: on the codes of digits, src/images/codec.ts). The loop is
 * `trainFlowMatching`'s (lecture concept 6) with two additions: each point comes with its label,
 * and the label is replaced by "no label" with probability `labelDropout`, so that the one network
 * learns u(x, t | c) and u(x, t) together (classifier-free guidance needs both).
 *
 * One step, on the lecture's straight path:
 *   1. for each row of the batch, in this order: a data index, a time t ~ U[0, 1], the dropout
 *      draw, then the noise x0 ~ N(0, I) coordinate by coordinate (all from the library's seeded
 *      stream; with a coupling, `data.x0`, the row's own x0 instead: reflow);
 *   2. x_t = t x1 + (1 - t) x0, target x1 - x0;
 *   3. the loss mean |u_theta(x_t, t | c) - target|^2 and its gradient, in `shards` parts added in
 *      order (on the helper threads where there are cores: parallel.ts), one Adam step.
 * The numbers depend on the seed and on `shards`, never on the number of threads.
 */
import * as tf from "@tensorflow/tfjs";
import { normal, randint, uniform } from "../core/random";
import { inKernel } from "../notebook/display";
import { liveImages } from "../notebook/live-images";
import { labelFeatures, VelocityModel } from "../model/mlp";
import { trainFlowMatching, type TrainOptions, type TrainResult } from "../model/train";
import { solveOde } from "../solvers/ode";
import { classesOf, guidedField } from "./conditional";
import type { ImageCodec } from "./codec";
import type { ImageSet } from "./mnist";

/**
 * Options of `trainConditionalFlow`: those of `trainFlowMatching` that apply (steps, learning rate,
 * schedule, warm-up, clipping, shards, progress, onStep; same defaults), and the ones below.
 */
export interface ConditionalTrainOptions extends Pick<
  TrainOptions,
  "steps" | "learningRate" | "schedule" | "warmup" | "clipNorm" | "shards" | "progress" | "onStep"
> {
  /**
   * The training points (e.g. `fm.labelledCodes(codec, train)`), with a coupling `x0` for reflow.
   */
  data: LabelledPoints;
  /** Points per batch. @default 128 */
  batchSize?: number;
  /** Probability of replacing a label by "no label". @default 0.2 */
  labelDropout?: number;
  /**
   * Live samples in a notebook, refreshed at most every `seconds` (default 15) and at the end: one
   * image per entry of `labels` (default each digit twice), decoded by `codec`, `steps` midpoint
   * steps (default 10) with guidance `w` (default 1), from fixed noise that does not touch the
   * seeded stream. Without it, nothing is shown.
   */
  preview?: { codec: ImageCodec; labels?: number[]; steps?: number; w?: number; seconds?: number };
}

/**
 * Labelled points in the network's space, row-major: the codes of images with their classes, and,
 * for a coupling (reflow), the noise `x0` each one is paired with.
 */
export interface LabelledPoints {
  /** The data points x1, n * d numbers. */
  x1: Float32Array;
  /** Their classes, n integers in [0, K). */
  labels: Uint8Array;
  n: number;
  /**
   * A coupling: the noise paired with each point (n * d numbers). @default fresh noise every batch
   */
  x0?: Float32Array;
}

/**
 * The codes of a set of images with their labels, ready for `trainConditionalFlow`.
 * @example
 * const data = fm.labelledCodes(codec, fm.loadMnist().train);
 */
export function labelledCodes(codec: ImageCodec, set: ImageSet): LabelledPoints {
  const z = codec.encodeSet(set);
  const x1 = Float32Array.from(z.dataSync());
  z.dispose();
  return { x1, labels: set.labels.slice(), n: set.n };
}

/** Checks training points against the model: sizes, finite values, classes. */
function checkData(model: VelocityModel, data: LabelledPoints, K: number): void {
  const d = model.config.dim;
  const fn = "trainConditionalFlow";
  if (
    !data ||
    !(data.x1 instanceof Float32Array) ||
    !(data.labels instanceof Uint8Array) ||
    !Number.isInteger(data.n)
  ) {
    throw new Error(
      `${fn}: data must be { x1: Float32Array, labels: Uint8Array, n } (fm.labelledCodes(codec, ` +
        `images))`,
    );
  }
  if (data.n < 1) throw new Error(`${fn}: the data holds no points`);
  if (data.x1.length !== data.n * d || data.labels.length !== data.n) {
    throw new Error(
      `${fn}: the model takes points of ${d} numbers; the data holds ${data.x1.length} numbers ` +
        `and ` +
        `${data.labels.length} labels for n = ${data.n}`,
    );
  }
  if (
    data.x0 !== undefined &&
    (!(data.x0 instanceof Float32Array) || data.x0.length !== data.x1.length)
  ) {
    throw new Error(
      `${fn}: the coupling x0 must hold one noise point per data point (${data.x1.length} numbers)`,
    );
  }
  for (const [name, v] of [
    ["x1", data.x1],
    ["x0", data.x0],
  ] as const) {
    if (!v) continue;
    for (let i = 0; i < v.length; i++) {
      if (!Number.isFinite(v[i]))
        throw new Error(
          `${fn}: data.${name} must be finite; point ${Math.floor(i / d)} has ${v[i]}`,
        );
    }
  }
  for (let i = 0; i < data.n; i++) {
    if (data.labels[i] >= K)
      throw new Error(`${fn}: label ${i} is ${data.labels[i]}; the model has ${K} classes`);
  }
}

/**
 * Trains a class-conditional `VelocityModel` in place (see the module comment): `trainFlowMatching`
 * with batches of images and labels. Seeded through `fm.seed`. A loss that is not finite stops
 * training with an error naming the step; the model then holds the parameters of the last step
 * whose loss was finite.
 * @example
 * fm.seed(0);
 * const model = fm.createVelocityModel({ dim: 784, classes: 10, width: 256, time: "fourier" });
 * const run = await fm.trainConditionalFlow(model, { data: fm.loadMnist().train, steps: 500 });
 */
export async function trainConditionalFlow(
  model: VelocityModel,
  options: ConditionalTrainOptions,
): Promise<TrainResult> {
  const K = classesOf(model, "trainConditionalFlow");
  checkData(model, options.data, K);
  const { x1: x1All, x0: x0All, labels, n: nData } = options.data;
  const d = model.config.dim;
  const batchSize = options.batchSize ?? 128;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new Error(`batchSize must be a positive integer; got ${batchSize}`);
  const dropout = options.labelDropout ?? 0.2;
  if (!(dropout >= 0 && dropout <= 1))
    throw new Error(`labelDropout must lie in [0, 1]; got ${dropout}`);
  const width = model.layers[0].inputs;
  const L = labelFeatures(model.config);
  const input = new Float32Array(batchSize * width);
  const target = new Float32Array(batchSize * d);
  /** Steps 1 and 2 of the module comment, in plain arrays. */
  const batches = () => {
    input.fill(0);
    for (let i = 0; i < batchSize; i++) {
      const row = randint(nData);
      const t = uniform();
      const label = uniform() < dropout ? K : labels[row];
      const o = i * width;
      for (let j = 0; j < d; j++) {
        const x0 = x0All ? x0All[row * d + j] : normal();
        const x1 = x1All[row * d + j];
        input[o + j] = t * x1 + (1 - t) * x0;
        target[i * d + j] = x1 - x0;
      }
      input.set(model.timeFeatures(t), o + d);
      input[o + width - L + label] = 1;
    }
    return { input, target, rows: batchSize };
  };
  const {
    data: _data,
    batchSize: _b,
    labelDropout: _p,
    preview: previewOptions,
    ...rest
  } = options;
  const steps = options.steps ?? 2000;
  const preview = previewOptions && inKernel() ? previewer(model, previewOptions) : null;
  const result = await trainFlowMatching(model, {
    ...rest,
    batches,
    batchSize,
    onStep: async (step, loss) => {
      options.onStep?.(step, loss);
      if (preview) await preview(step, steps, false);
    },
  });
  if (preview) await preview(steps, steps, true);
  return result;
}

/** The live sample grid of a training run: a function called after each step (throttled inside). */
function previewer(
  model: VelocityModel,
  options: NonNullable<ConditionalTrainOptions["preview"]>,
): (step: number, total: number, final: boolean) => Promise<void> {
  const K = classesOf(model, "preview");
  const labels = options.labels ?? Array.from({ length: 2 * K }, (_, i) => i % K);
  const steps = options.steps ?? 10;
  const w = options.w ?? 1;
  const seconds = options.seconds ?? 15;
  const d = model.config.dim;
  // tf's own seeded op: fixed noise that leaves the library's stream (and so training) untouched.
  const noise = tf
    .randomNormal([labels.length, d], 0, 1, "float32", 20_251_209)
    .dataSync() as Float32Array;
  const side = Math.round(Math.sqrt(options.codec.pixels));
  const grid = liveImages({ height: side, width: options.codec.pixels / side, columns: K });
  let last = Date.now();
  return async (step, total, final) => {
    if (!final && Date.now() - last < 1000 * seconds) return;
    last = Date.now();
    const pixels = tf.tidy(() => {
      const x0 = tf.tensor2d(noise, [labels.length, d]);
      const sol = solveOde(guidedField(model, labels, w), x0, { method: "midpoint", steps });
      return options.codec.toPixels(sol.x).dataSync() as Float32Array;
    });
    await grid.show(
      pixels,
      labels.length,
      `samples at step ${step} of ${total} (w = ${w}, ${2 * steps} NFE)`,
    );
  };
}
