/**
 * The neural velocity field u_theta(x, t) of lecture concept 6 (training), notebooks 05-08.
 *
 * A plain multilayer perceptron: the input is the point x (d numbers) next to an embedding of the
 * time t (t itself, or t with sines and cosines of several frequencies), then `depth` hidden layers
 * of `width` units with an activation, then a linear layer back to d numbers.
 *
 *     h_0 = [x, embed(t)],   h_{i+1} = act(h_i W_i + b_i),   u_theta(x, t) = h_depth W_depth +
 *       b_depth
 *
 * All parameters theta live in ONE flat Float32Array (`model.theta`), layer after layer, each
 * layer's W (rows = inputs, row-major) followed by its b. That layout is what the optimiser
 * (`Adam`, plain JavaScript over the array), the explicit back-propagation (`lossAndGradient` in
 * backprop.ts) and the file format (`saveModel`) share, so a training step issues only the few
 * TensorFlow.js operations that carry real arithmetic (see backprop.ts for why that matters on the
 * wasm backend).
 */
import * as tf from "@tensorflow/tfjs";
import { assert2D, assertInRange, type Time } from "../core/checks";
import { readTimes } from "../path/scheduler";
import { uniform } from "../core/random";

/**
 * The activations the model supports. `elu` (the default) and `relu` run fused with the matrix
 * product.
 */
export const ACTIVATIONS = ["elu", "relu", "tanh", "silu"] as const;
export type Activation = (typeof ACTIVATIONS)[number];

/** How the time t enters the network. */
export type TimeEmbedding =
  /** t itself, one input. */
  | { kind: "raw" }
  /**
   * t and, for k = 1..frequencies, sin(k pi t / scale) and cos(k pi t / scale): 1 + 2 * frequencies
   * inputs. Helps a small network follow fields that change quickly in t.
   */
  | { kind: "fourier"; frequencies: number; scale: number };

/** Options of `createVelocityModel` (all optional). */
export interface VelocityModelOptions {
  /** Dimension d of the points. @default 2 */
  dim?: number;
  /** Units per hidden layer. @default 64 */
  width?: number;
  /** Number of hidden layers. @default 3 */
  depth?: number;
  /** Activation of the hidden layers. @default "elu" */
  activation?: Activation;
  /**
   * Time embedding: `"raw"`, `"fourier"` (8 frequencies, scale 1) or a full `TimeEmbedding`.
   * @default "raw"
   */
  time?: "raw" | "fourier" | TimeEmbedding;
  /**
   * Class-conditional model with this many classes K: the network also reads the label as K + 1
   * one-hot inputs, the last one meaning "no label" (notebook 09, src/images/conditional.ts).
   * @default 0 (unconditional)
   */
  classes?: number;
}

/**
 * The complete description of a model's architecture (every default filled in); saved with the
 * weights.
 */
export interface VelocityModelConfig {
  dim: number;
  width: number;
  depth: number;
  activation: Activation;
  time: TimeEmbedding;
  /** Number of classes of a class-conditional model (absent for an unconditional one). */
  classes?: number;
}

/** Where one linear layer's parameters sit inside theta. */
export interface LayerLayout {
  /** Inputs of the layer (rows of W). */
  inputs: number;
  /** Outputs of the layer (columns of W, entries of b). */
  outputs: number;
  /** Index in theta of W's first entry; b starts at `offset + inputs * outputs`. */
  offset: number;
}

/** The tensors of one layer, built from theta (W, its transpose for back-propagation, b). */
export interface LayerTensors {
  W: tf.Tensor2D;
  WT: tf.Tensor2D;
  b: tf.Tensor1D;
  /** The rows of W that multiply x (input layer only: the first d rows). */
  WX?: tf.Tensor2D;
}

function checkInteger(value: number, name: string, min: number): void {
  if (!Number.isInteger(value) || value < min)
    throw new Error(`${name} must be an integer >= ${min}; got ${value}`);
}

/** Fills in the defaults of `VelocityModelOptions` and checks every value. */
export function velocityModelConfig(options: VelocityModelOptions = {}): VelocityModelConfig {
  const dim = options.dim ?? 2;
  const width = options.width ?? 64;
  const depth = options.depth ?? 3;
  const activation = options.activation ?? "elu";
  checkInteger(dim, "dim", 1);
  checkInteger(width, "width", 1);
  checkInteger(depth, "depth", 1);
  if (!(ACTIVATIONS as readonly string[]).includes(activation)) {
    throw new Error(
      `activation must be one of ${ACTIVATIONS.join(", ")}; got ${JSON.stringify(activation)}`,
    );
  }
  const t = options.time ?? "raw";
  let time: TimeEmbedding;
  if (t === "raw") time = { kind: "raw" };
  else if (t === "fourier") time = { kind: "fourier", frequencies: 8, scale: 1 };
  else if (typeof t === "object" && t !== null && t.kind === "raw") time = { kind: "raw" };
  else if (typeof t === "object" && t !== null && t.kind === "fourier") {
    checkInteger(t.frequencies, "time.frequencies", 1);
    if (!(t.scale > 0) || !Number.isFinite(t.scale))
      throw new Error(`time.scale must be a positive number; got ${t.scale}`);
    time = { kind: "fourier", frequencies: t.frequencies, scale: t.scale };
  } else {
    throw new Error(
      `time must be "raw", "fourier" or { kind, frequencies, scale }; got ${JSON.stringify(t)}`,
    );
  }
  const classes = options.classes ?? 0;
  checkInteger(classes, "classes", 0);
  return { dim, width, depth, activation, time, ...(classes > 0 ? { classes } : {}) };
}

/** Number of label inputs: K + 1 one-hot columns for K classes (the last: no label), else 0. */
export function labelFeatures(config: VelocityModelConfig): number {
  return config.classes ? config.classes + 1 : 0;
}

/** Number of inputs the time embedding produces. */
export function timeFeatures(time: TimeEmbedding): number {
  return time.kind === "raw" ? 1 : 1 + 2 * time.frequencies;
}

/** The layer widths of a velocity model: inputs, `depth` hidden layers of `width`, the output d. */
export function modelSizes(config: VelocityModelConfig): number[] {
  const inputs = config.dim + timeFeatures(config.time) + labelFeatures(config);
  return [inputs, ...Array<number>(config.depth).fill(config.width), config.dim];
}

/**
 * Where each layer of a stack of linear layers with these widths sits in one flat parameter array
 * (W row-major, then b, layer after layer), and the number of parameters.
 */
export function layerLayout(sizes: number[]): { layers: LayerLayout[]; count: number } {
  const layers: LayerLayout[] = [];
  let count = 0;
  for (let i = 0; i + 1 < sizes.length; i++) {
    layers.push({ inputs: sizes[i], outputs: sizes[i + 1], offset: count });
    count += sizes[i] * sizes[i + 1] + sizes[i + 1];
  }
  return { layers, count };
}

/** PyTorch's default for linear layers: W and b uniform in +-1/sqrt(inputs); seeded by fm.seed. */
export function initialParameters(layers: readonly LayerLayout[], count: number): Float32Array {
  const theta = new Float32Array(count);
  for (const { inputs, outputs, offset } of layers) {
    const bound = 1 / Math.sqrt(inputs);
    for (let k = 0; k < inputs * outputs + outputs; k++) {
      theta[offset + k] = (2 * uniform() - 1) * bound;
    }
  }
  return theta;
}

/**
 * The neural velocity field u_theta(x, t). Build one with `createVelocityModel`; call it like any
 * field of the library (`model.field(x, t)` or `model.predict(x, t)`), train it with
 * `trainFlowMatching`, save it with `saveModel`.
 */
export class VelocityModel {
  /** The architecture, defaults filled in. */
  readonly config: VelocityModelConfig;
  /** Where each layer's W and b sit in theta, input layer first. */
  readonly layers: readonly LayerLayout[];
  /** All parameters, layer by layer (W row-major, then b). Change them only through `setTheta`. */
  readonly theta: Float32Array;
  private cache: LayerTensors[] | null = null;

  constructor(config: VelocityModelConfig, theta?: Float32Array) {
    this.config = config;
    const { layers, count } = layerLayout(modelSizes(config));
    this.layers = layers;
    if (theta !== undefined) {
      if (theta.length !== count) {
        throw new Error(
          `theta has ${theta.length} numbers but this architecture has ${count} parameters`,
        );
      }
      this.theta = Float32Array.from(theta);
    } else this.theta = initialParameters(layers, count);
  }

  /** Number of parameters (the length of theta). */
  get numParameters(): number {
    return this.theta.length;
  }

  /** Replaces the parameters (copied in); the layer tensors are rebuilt on the next call. */
  setTheta(theta: ArrayLike<number>): void {
    if (theta.length !== this.theta.length) {
      throw new Error(`setTheta: expected ${this.theta.length} numbers, got ${theta.length}`);
    }
    this.theta.set(theta);
    this.invalidate();
  }

  /**
   * Tells the model theta was changed in place (by an optimiser); the layer tensors are rebuilt on
   * next use.
   */
  invalidate(): void {
    if (this.cache)
      for (const l of this.cache) tf.dispose([l.W, l.WT, l.b, ...(l.WX ? [l.WX] : [])]);
    this.cache = null;
  }

  /**
   * The layers as tensors (W, W transposed, b), built from theta once and kept until theta changes.
   * Owned by the model: do not dispose them; `model.dispose()` does.
   */
  layerTensors(): LayerTensors[] {
    if (this.cache) return this.cache;
    const d = this.config.dim;
    this.cache = this.layers.map(({ inputs, outputs, offset }, i) => {
      const w = this.theta.subarray(offset, offset + inputs * outputs);
      const wt = new Float32Array(inputs * outputs);
      for (let r = 0; r < inputs; r++)
        for (let c = 0; c < outputs; c++) wt[c * inputs + r] = w[r * outputs + c];
      // tf.keep: these may be built inside a caller's tf.tidy and must outlive it.
      return {
        W: tf.keep(tf.tensor2d(w, [inputs, outputs])),
        WT: tf.keep(tf.tensor2d(wt, [outputs, inputs])),
        b: tf.keep(
          tf.tensor1d(
            this.theta.subarray(offset + inputs * outputs, offset + inputs * outputs + outputs),
          ),
        ),
        ...(i === 0 ? { WX: tf.keep(tf.tensor2d(w.subarray(0, d * outputs), [d, outputs])) } : {}),
      };
    });
    return this.cache;
  }

  /**
   * The time features embed(t) of one time t, as numbers (t, then the sines and cosines if any).
   */
  timeFeatures(t: number): number[] {
    const time = this.config.time;
    if (time.kind === "raw") return [t];
    const out = [t];
    for (let k = 1; k <= time.frequencies; k++) out.push(Math.sin((k * Math.PI * t) / time.scale));
    for (let k = 1; k <= time.frequencies; k++) out.push(Math.cos((k * Math.PI * t) / time.scale));
    return out;
  }

  /**
   * The network's input [x, embed(t)], `[n, d + timeFeatures]`.
   * @param x points `[n, d]`
   * @param t a number or one time per row (`[n]`), in [0, 1]
   */
  features(x: tf.Tensor2D, t: Time): tf.Tensor2D {
    this.assertUnconditional();
    assert2D(x, "x", this.config.dim);
    const n = x.shape[0];
    const times = readTimes(t, n);
    // embed(t) row by row with the same `timeFeatures` the training loop and `predict`'s bias use.
    const width = timeFeatures(this.config.time);
    const embedded = new Float32Array(n * width);
    for (let i = 0; i < n; i++)
      embedded.set(this.timeFeatures(times.length === 1 ? times[0] : times[i]), i * width);
    return tf.tidy(() => tf.concat([x, tf.tensor2d(embedded, [n, width])], 1) as tf.Tensor2D);
  }

  /**
   * The velocity u_theta(x, t), `[n, d]`. Leak-free; the caller disposes the result.
   * @example
   * const u = model.predict(fm.randn([5, 2]), 0.5);   // [5, 2]
   */
  predict(x: tf.Tensor2D, t: Time): tf.Tensor2D {
    this.assertUnconditional();
    if (typeof t === "number") {
      assert2D(x, "x", this.config.dim);
      assertInRange(t, "t", 0, 1);
      // One time for every row: embed(t) W_t is the same for all rows, so it joins the input
      // layer's bias, b + embed(t) W_t, and only x goes through a matrix product (same numbers,
      // less work).
      const { inputs, outputs, offset } = this.layers[0];
      const e = this.timeFeatures(t);
      const d = this.config.dim;
      const bias = new Float32Array(outputs);
      for (let c = 0; c < outputs; c++) {
        let s = this.theta[offset + inputs * outputs + c];
        for (let k = 0; k < e.length; k++) s += e[k] * this.theta[offset + (d + k) * outputs + c];
        bias[c] = s;
      }
      return tf.tidy(() => forwardPass(this, x, false, tf.tensor1d(bias)).out);
    }
    return tf.tidy(() => forwardPass(this, this.features(x, t), false).out);
  }

  /** A class-conditional model needs its labels: `predict` and `features` refuse to guess them. */
  private assertUnconditional(): void {
    if (this.config.classes) {
      throw new Error(
        `this model is class-conditional (${this.config.classes} classes): call ` +
          `fm.predictWithLabels(model, x, t, labels) or use fm.guidedField(model, labels, w)`,
      );
    }
  }

  /** The model as a `VelocityField` (x, t) => u, for the solvers and metrics of the library. */
  readonly field = (x: tf.Tensor2D, t: Time): tf.Tensor2D => this.predict(x, t);

  /** An independent copy (same architecture and parameters). */
  clone(): VelocityModel {
    return new VelocityModel({ ...this.config, time: { ...this.config.time } }, this.theta);
  }

  /** Frees the layer tensors (the model stays usable: they are rebuilt on the next call). */
  dispose(): void {
    this.invalidate();
  }

  /** A one-line description: architecture and parameter count. */
  describe(): string {
    const c = this.config;
    const time = c.time.kind === "raw" ? "raw t" : `Fourier t (${c.time.frequencies} frequencies)`;
    const labels = c.classes ? `+${labelFeatures(c)}` : "";
    const classes = c.classes ? `, ${c.classes} classes` : "";
    const layers = `${c.depth} x ${c.width} ${c.activation}`;
    const sizes = `${c.dim}+${timeFeatures(c.time)}${labels} -> ${layers} -> ${c.dim}`;
    return `MLP ${sizes}, ${time}${classes}, ${this.numParameters} parameters`;
  }
}

/**
 * A new velocity model with freshly drawn parameters (seeded: call `fm.seed` first for a repeatable
 * start).
 * @example
 * fm.seed(0);
 * const model = fm.createVelocityModel({ width: 64, depth: 3 });   // 2-D points, ELU, raw t
 */
export function createVelocityModel(options: VelocityModelOptions = {}): VelocityModel {
  return new VelocityModel(velocityModelConfig(options));
}

/** What `forwardPass` keeps for back-propagation. */
export interface ForwardRecord {
  /** The output u_theta, `[n, d]`. */
  out: tf.Tensor2D;
  /** The input of every layer (h_0 = features, then each hidden activation), when kept. */
  inputs: tf.Tensor2D[];
  /**
   * The pre-activations z_i of the hidden layers (kept only for silu, whose derivative needs z).
   */
  pre: tf.Tensor2D[];
}

/**
 * Runs the network on prepared features, optionally keeping what back-propagation needs. Used by
 * `predict` and by `lossAndGradient`; call inside `tf.tidy`. With `inputBias`, `input` is x alone
 * (`[n, d]`) and `inputBias` replaces the input layer's bias (see `predict`).
 */
export function forwardPass(
  model: VelocityModel,
  input: tf.Tensor2D,
  keep: boolean,
  inputBias?: tf.Tensor1D,
): ForwardRecord {
  const tensors = model.layerTensors();
  const act = model.config.activation;
  const inputs: tf.Tensor2D[] = [];
  const pre: tf.Tensor2D[] = [];
  let h = input;
  for (let i = 0; i < tensors.length; i++) {
    if (keep) inputs.push(h);
    // With inputBias, the input is x alone and the time's contribution is already in the bias.
    const W = i === 0 && inputBias ? tensors[0].WX! : tensors[i].W;
    const b = i === 0 && inputBias ? inputBias : tensors[i].b;
    const last = i === tensors.length - 1;
    if (last) h = tf.fused.matMul({ a: h, b: W, bias: b }) as tf.Tensor2D;
    // ELU fused into the product is fastest, but TensorFlow.js cannot differentiate a fused ELU:
    // when a gradient is being recorded (divergence of the field, likelihood), ELU runs as its own
    // op.
    else if (act === "relu" || (act === "elu" && !tf.engine().isTapeOn())) {
      h = tf.fused.matMul({ a: h, b: W, bias: b, activation: act }) as tf.Tensor2D;
    } else if (act === "elu") h = tf.elu(tf.fused.matMul({ a: h, b: W, bias: b }) as tf.Tensor2D);
    else {
      const z = tf.fused.matMul({ a: h, b: W, bias: b }) as tf.Tensor2D;
      if (keep && act === "silu") pre.push(z);
      h = act === "tanh" ? tf.tanh(z) : (tf.mul(z, tf.sigmoid(z)) as tf.Tensor2D);
    }
  }
  return { out: h, inputs, pre };
}
