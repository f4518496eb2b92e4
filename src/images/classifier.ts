/**
 * A small digit classifier (notebook 09): the judge of generated images. It says which digit an
 * image shows (how often guided samples show their label; the class balance of unguided samples),
 * and its penultimate layer is the feature space of the Frechet distance (src/metrics/frechet.ts),
 * the role the Inception network plays for the FID of photographs.
 *
 * A multilayer perceptron on grey values in [0, 1]: `hidden` ReLU layers, then a linear layer to
 * one logit per class; trained with the softmax cross-entropy and Adam on batches of training
 * images shifted by a few pixels at random (a cheap augmentation that makes it robust to the small
 * misplacements generated digits have). Parameters live in one flat array, layer after layer (W
 * row-major, then b), like the velocity model's, and the gradient is back-propagated by hand
 * (`classifierLossAndGradient`), checked against TensorFlow.js's automatic gradient in the tests.
 */
import * as tf from "@tensorflow/tfjs";
import { assert2D } from "../core/checks";
import { randint } from "../core/random";
import { inKernel } from "../notebook/display";
import { progress as startProgress } from "../notebook/progress";
import { Adam } from "../model/adam";
import { initialParameters, layerLayout, type LayerLayout } from "../model/mlp";
import { learningRateFactor, type LearningRateSchedule } from "../model/train";
import type { ImageSet } from "./mnist";

/** The architecture of a classifier. */
export interface ClassifierConfig {
  /** Pixels per image. */
  inputs: number;
  /** Units of each hidden ReLU layer; the last one is the feature layer. */
  hidden: number[];
  /** Number of classes. */
  classes: number;
}

/** An MLP classifier with flat parameters (module comment). */
export class Classifier {
  readonly config: ClassifierConfig;
  readonly layers: readonly LayerLayout[];
  readonly theta: Float32Array;

  constructor(config: ClassifierConfig, theta?: Float32Array) {
    const { inputs, hidden, classes } = config ?? ({} as ClassifierConfig);
    const ints = [inputs, classes, ...(Array.isArray(hidden) ? hidden : [])];
    if (
      !Array.isArray(hidden) ||
      hidden.length === 0 ||
      ints.some((v) => !Number.isInteger(v) || v < 1)
    ) {
      throw new Error(
        `Classifier: config needs positive integers inputs, classes and hidden[]; got ` +
          `${JSON.stringify(config)}`,
      );
    }
    if (classes < 2) throw new Error(`Classifier: needs at least 2 classes; got ${classes}`);
    this.config = { inputs, hidden: hidden.slice(), classes };
    const { layers, count } = layerLayout([inputs, ...hidden, classes]);
    this.layers = layers;
    if (theta !== undefined) {
      if (theta.length !== count)
        throw new Error(
          `Classifier: theta has ${theta.length} numbers; the architecture needs ${count}`,
        );
      this.theta = Float32Array.from(theta);
    } else this.theta = initialParameters(layers, count);
  }

  get numParameters(): number {
    return this.theta.length;
  }

  /** The parameters as tensors [W0, b0, W1, b1, ...] (new tensors: the caller disposes them). */
  parameterTensors(): tf.Tensor[] {
    return this.layers.flatMap((l) => [
      tf.tensor2d(this.theta.subarray(l.offset, l.offset + l.inputs * l.outputs), [
        l.inputs,
        l.outputs,
      ]),
      tf.tensor1d(
        this.theta.subarray(
          l.offset + l.inputs * l.outputs,
          l.offset + l.inputs * l.outputs + l.outputs,
        ),
      ),
    ]);
  }

  /**
   * The activations of the last hidden layer, `[n, hidden.at(-1)]`: the Frechet distance's
   * features.
   */
  features(x: tf.Tensor2D): tf.Tensor2D {
    assert2D(x, "x", this.config.inputs);
    return tf.tidy(() => run(this.parameterTensors(), x, true));
  }

  /** The logits (unnormalised log-probabilities), `[n, classes]`. */
  logits(x: tf.Tensor2D): tf.Tensor2D {
    assert2D(x, "x", this.config.inputs);
    return tf.tidy(() => run(this.parameterTensors(), x, false));
  }

  /** The most likely class of each image (grey values in [0, 1], `[n, inputs]`). */
  classify(x: tf.Tensor2D): Int32Array {
    const logits = this.logits(x);
    const top = tf.argMax(logits, 1);
    const out = Int32Array.from(top.dataSync());
    tf.dispose([logits, top]);
    return out;
  }

  /** A one-line description. */
  describe(): string {
    const c = this.config;
    return (
      `MLP classifier ${c.inputs} -> ${c.hidden.join(" -> ")} relu -> ${c.classes}, ` +
      `${this.numParameters} parameters`
    );
  }
}

/** The network on parameter tensors: the features (`upTo` true) or the logits. Call in a tidy. */
function run(p: tf.Tensor[], x: tf.Tensor2D, featuresOnly: boolean): tf.Tensor2D {
  let h: tf.Tensor2D = x;
  const layers = p.length / 2;
  for (let i = 0; i < layers; i++) {
    const last = i === layers - 1;
    if (last && featuresOnly) return h;
    const act = last ? "linear" : "relu";
    h = tf.fused.matMul({
      a: h,
      b: p[2 * i] as tf.Tensor2D,
      bias: p[2 * i + 1],
      activation: act,
    }) as tf.Tensor2D;
  }
  return h;
}

/** Checks a batch of images and labels against the classifier. */
function checkBatch(clf: Classifier, x: tf.Tensor2D, labels: ArrayLike<number>, fn: string): void {
  assert2D(x, "x", clf.config.inputs);
  const n = x.shape[0];
  if (labels.length !== n) throw new Error(`${fn}: need ${n} labels; got ${labels.length}`);
  const K = clf.config.classes;
  for (let i = 0; i < n; i++) {
    const c = labels[i];
    if (!Number.isInteger(c) || c < 0 || c >= K)
      throw new Error(`${fn}: label ${i} is ${c}, not a class in [0, ${K})`);
  }
}

/**
 * The mean softmax cross-entropy of a batch and its gradient with respect to theta, by explicit
 * back-propagation (as src/model/backprop.ts does for the velocity model, and for the same reason:
 * on wasm the automatic gradient of a matrix product asks for transposed operands and is many times
 * slower). With z the logits and p = softmax(z), dL/dz = (p - onehot(label)) / n; then, layer by
 * layer, dL/dW = h^T g, dL/db = 1^T g, g <- (g W^T) * [h > 0]. Leak-free.
 * @param x images `[n, inputs]`, grey values in [0, 1]
 * @param labels n classes
 */
export function classifierLossAndGradient(
  clf: Classifier,
  x: tf.Tensor2D,
  labels: ArrayLike<number>,
): { loss: number; grad: Float32Array } {
  checkBatch(clf, x, labels, "classifierLossAndGradient");
  const n = x.shape[0];
  const K = clf.config.classes;
  const grad = new Float32Array(clf.numParameters);
  let loss = 0;
  tf.tidy(() => {
    const p = clf.parameterTensors();
    const inputs: tf.Tensor2D[] = [];
    let h: tf.Tensor2D = x;
    const layers = clf.layers.length;
    for (let i = 0; i < layers; i++) {
      inputs.push(h);
      const act = i === layers - 1 ? "linear" : "relu";
      h = tf.fused.matMul({
        a: h,
        b: p[2 * i] as tf.Tensor2D,
        bias: p[2 * i + 1],
        activation: act,
      }) as tf.Tensor2D;
    }
    const onehot = tf.oneHot(tf.tensor1d(Array.from(labels), "int32"), K);
    const logp = tf.logSoftmax(h);
    loss = -tf.sum(tf.mul(logp, onehot)).dataSync()[0] / n;
    let g = tf.div(tf.sub(tf.exp(logp), onehot), n) as tf.Tensor2D;
    const ones = tf.ones([1, n]);
    for (let i = layers - 1; i >= 0; i--) {
      // [h^T; 1^T] g = [dL/dW; dL/db], already in theta's layout for this layer
      grad.set(
        tf.matMul(tf.concat([tf.transpose(inputs[i]), ones], 0), g).dataSync(),
        clf.layers[i].offset,
      );
      if (i === 0) break;
      g = tf.mul(
        tf.matMul(g, tf.transpose(p[2 * i] as tf.Tensor2D)),
        tf.step(inputs[i]),
      ) as tf.Tensor2D;
    }
  });
  return { loss, grad };
}

/**
 * The same loss and gradient through TensorFlow.js's automatic differentiation: slower, the
 * reference `classifierLossAndGradient` is tested against. Leak-free.
 */
export function classifierAutodiffGradient(
  clf: Classifier,
  x: tf.Tensor2D,
  labels: ArrayLike<number>,
): { loss: number; grad: Float32Array } {
  checkBatch(clf, x, labels, "classifierAutodiffGradient");
  const grad = new Float32Array(clf.numParameters);
  let loss = 0;
  tf.tidy(() => {
    const onehot = tf.oneHot(tf.tensor1d(Array.from(labels), "int32"), clf.config.classes);
    const f = (...p: tf.Tensor[]): tf.Scalar => {
      let h: tf.Tensor = x;
      for (let i = 0; i < p.length; i += 2) {
        h = tf.add(tf.matMul(h as tf.Tensor2D, p[i] as tf.Tensor2D), p[i + 1]);
        if (i + 2 < p.length) h = tf.relu(h);
      }
      // -log softmax(z)_label = logsumexp(z) - z_label, averaged over the batch
      return tf.mean(tf.sub(tf.logSumExp(h, 1), tf.sum(tf.mul(h, onehot), 1))) as tf.Scalar;
    };
    const { value, grads } = tf.valueAndGrads(f)(clf.parameterTensors());
    loss = value.dataSync()[0];
    // [dW0, db0, dW1, ...] are, one after the other, theta's layout
    grads.reduce((at, g) => (grad.set(g.dataSync(), at), at + g.size), 0);
  });
  return { loss, grad };
}

/**
 * Copies image `k` of `set`, shifted by (dx, dy) pixels (zeros shifted in), into `out` at `at`.
 */
export function shiftedImage(
  set: ImageSet,
  k: number,
  dx: number,
  dy: number,
  out: Float32Array,
  at: number,
): void {
  const { width: w, height: h } = set;
  const src = k * w * h;
  for (let y = 0; y < h; y++) {
    const sy = y - dy;
    for (let x = 0; x < w; x++) {
      const sx = x - dx;
      out[at + y * w + x] =
        sy >= 0 && sy < h && sx >= 0 && sx < w ? set.pixels[src + sy * w + sx] : 0;
    }
  }
}

/** Options of `trainClassifier`. */
export interface ClassifierTrainOptions {
  /** Training images and labels. */
  data: ImageSet;
  /** Adam steps. @default 3000 */
  steps?: number;
  /** Images per batch. @default 128 */
  batchSize?: number;
  /** Adam's step size. @default 1e-3 */
  learningRate?: number;
  /** Learning-rate schedule. @default "cosine" */
  schedule?: LearningRateSchedule;
  /** Largest random shift of a training image, in pixels (each direction). @default 2 */
  shift?: number;
  /** Live progress in a notebook. @default true inside a notebook */
  progress?: boolean | string;
}

/**
 * Trains the classifier in place (module comment). Seeded through `fm.seed`: per batch row, an
 * image index, then the shift dx, then dy. Returns the loss of every step.
 */
export async function trainClassifier(
  clf: Classifier,
  options: ClassifierTrainOptions,
): Promise<{ losses: number[]; seconds: number }> {
  const data = options.data;
  const size = clf.config.inputs;
  if (
    !data ||
    !(data.pixels instanceof Float32Array) ||
    data.height * data.width !== size ||
    data.classes !== clf.config.classes
  ) {
    throw new Error(
      `trainClassifier: data must be an ImageSet of ${size}-pixel images in ` +
        `${clf.config.classes} classes`,
    );
  }
  const steps = options.steps ?? 3000;
  const batchSize = options.batchSize ?? 128;
  const shift = options.shift ?? 2;
  for (const [name, v, min] of [
    ["steps", steps, 1],
    ["batchSize", batchSize, 1],
    ["shift", shift, 0],
  ] as const) {
    if (!Number.isInteger(v) || v < min)
      throw new Error(`trainClassifier: ${name} must be an integer >= ${min}; got ${v}`);
  }
  const schedule = options.schedule ?? "cosine";
  const rate = options.learningRate ?? 1e-3;
  if (!(rate > 0)) throw new Error(`trainClassifier: learningRate must be positive; got ${rate}`);
  const show = options.progress ?? inKernel();
  const bar = show
    ? startProgress({
        total: steps,
        title: typeof show === "string" ? show : "training the classifier",
      })
    : null;
  const adam = new Adam(clf.numParameters, { learningRate: rate });
  const batch = new Float32Array(batchSize * size);
  const labels = new Int32Array(batchSize);
  const losses: number[] = [];
  const start = Date.now();
  try {
    for (let step = 1; step <= steps; step++) {
      for (let i = 0; i < batchSize; i++) {
        const k = randint(data.n);
        const dx = randint(2 * shift + 1) - shift;
        const dy = randint(2 * shift + 1) - shift;
        shiftedImage(data, k, dx, dy, batch, i * size);
        labels[i] = data.labels[k];
      }
      const x = tf.tensor2d(batch, [batchSize, size]);
      const { loss, grad } = classifierLossAndGradient(clf, x, labels);
      x.dispose();
      if (!Number.isFinite(loss))
        throw new Error(`trainClassifier: the loss is ${loss} at step ${step}`);
      adam.update(clf.theta, grad, rate * learningRateFactor(schedule, step, steps));
      losses.push(loss);
      if (bar) await bar.update(step, { loss });
    }
  } finally {
    if (bar) await bar.done();
  }
  return { losses, seconds: (Date.now() - start) / 1000 };
}

/** Pixels of an image set as a `[n, pixels]` tensor (grey values in [0, 1]). */
export function pixelsOf(set: ImageSet): tf.Tensor2D {
  return tf.tensor2d(set.pixels, [set.n, set.height * set.width]);
}

/** The fraction of `set`'s images the classifier labels correctly. */
export function classifierAccuracy(clf: Classifier, set: ImageSet): number {
  const x = pixelsOf(set);
  const predicted = clf.classify(x);
  x.dispose();
  let right = 0;
  for (let i = 0; i < set.n; i++) if (predicted[i] === set.labels[i]) right++;
  return right / set.n;
}
