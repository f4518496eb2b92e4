/**
 * Gradients of the regression loss L(theta) = mean over the batch of |u_theta(x_i, t_i) -
 * target_i|^2 with respect to every parameter of a `VelocityModel` (lecture concept 5, the CFM
 * loss; concept 6, training).
 *
 * Both flow matching losses of notebook 05 have this form: the conditional loss regresses on
 * x1 - x0 (or dAlpha x1 + dSigma x0 on other paths), the marginal loss on the exact field u_t(x_t).
 *
 * `lossAndGradient` back-propagates by hand, layer by layer (the chain rule written out):
 *
 *     g = dL/du = 2 (u - target) / n
 *     for each layer, last first:   dL/dW = h^T g,   dL/db = 1^T g,   g <- (g W^T) * act'(.)
 *
 * Why by hand, when TensorFlow.js can differentiate? Speed on the wasm backend, measured: its
 * matrix product is fast only for plain (untransposed) operands, and the automatic gradient of a
 * matrix product always asks for transposed ones (10-30x slower); summing over the batch is slow
 * too. Here every product is plain: h^T is transposed explicitly, W^T comes prebuilt from the
 * model, and the bias gradient rides along in the weight product by appending a row of ones to
 * h^T, so [dL/dW; dL/db] comes out in one product, already in theta's layout.
 *
 * `autodiffLossAndGradient` computes the same numbers with TensorFlow.js's automatic
 * differentiation; the tests check the two agree.
 */
import * as tf from "@tensorflow/tfjs";
import { assert2D, assertSameShape, type Time } from "../core/checks";
import { forwardPass, VelocityModel } from "./mlp";

/** A loss value and its gradient with respect to theta (same layout as `model.theta`). */
export interface LossAndGradient {
  /** mean over the batch of |u_theta(x, t) - target|^2 */
  loss: number;
  /** dL/dtheta, one entry per parameter. */
  grad: Float32Array;
}

function checkBatch(model: VelocityModel, x: tf.Tensor2D, target: tf.Tensor2D): void {
  assert2D(x, "x", model.config.dim);
  assert2D(target, "target", model.config.dim);
  assertSameShape(x, target, "x", "target");
}

/**
 * The regression loss and its exact gradient by explicit back-propagation (see the module comment).
 * Leak-free.
 * @param x points `[n, d]` (x_t of the batch)
 * @param t a number or one time per row (`[n]`)
 * @param target the regression target `[n, d]`
 * @example
 * const { loss, grad } = fm.lossAndGradient(model, xt, t, x1.sub(x0));
 */
export function lossAndGradient(
  model: VelocityModel,
  x: tf.Tensor2D,
  t: Time,
  target: tf.Tensor2D,
): LossAndGradient {
  checkBatch(model, x, target);
  const input = model.features(x, t);
  try {
    return backpropagate(model, input, target);
  } finally {
    input.dispose();
  }
}

/**
 * `lossAndGradient` on prepared network inputs (`model.features(x, t)`, `[n, d + time features]`):
 * the training loop builds them directly. Leak-free.
 */
export function backpropagate(
  model: VelocityModel,
  input: tf.Tensor2D,
  target: tf.Tensor2D,
): LossAndGradient {
  return lossFromSums(gradientSums(model, input, target), input.shape[0]);
}

/**
 * The loss sumSq / n and the gradient (2 / n) grad from the sums over n rows (scales `sums.grad` in
 * place).
 */
export function lossFromSums(sums: GradientSums, n: number): LossAndGradient {
  const scale = 2 / n;
  for (let i = 0; i < sums.grad.length; i++) sums.grad[i] *= scale;
  return { loss: sums.sumSq / n, grad: sums.grad };
}

/**
 * `gradientSums` of rows given as plain row-major arrays: network inputs `[rows, inputs]` and
 * targets `[rows, d]` (the training loop and the helper threads hold their batches this way).
 * Leak-free.
 */
export function gradientSumsOfRows(
  model: VelocityModel,
  input: Float32Array,
  target: Float32Array,
  rows: number,
): GradientSums {
  const x = tf.tensor2d(input, [rows, model.layers[0].inputs]);
  const y = tf.tensor2d(target, [rows, model.config.dim]);
  try {
    return gradientSums(model, x, y);
  } finally {
    tf.dispose([x, y]);
  }
}

/**
 * The unnormalised sums behind a loss and its gradient, over the rows of one batch (or one part of
 * it).
 */
export interface GradientSums {
  /** sum over the rows of |u_theta(x, t) - target|^2 */
  sumSq: number;
  /**
   * sum over the rows of (1/2) d|u_theta - target|^2 / dtheta: the gradient is 2 / n times this.
   */
  grad: Float32Array;
}

/**
 * The sums of `backpropagate` before dividing by the batch size: sums over disjoint parts of a
 * batch add up to the sums over the whole batch, so parts can be computed apart (on several
 * threads, see parallel.ts) and combined. Leak-free.
 */
export function gradientSums(
  model: VelocityModel,
  input: tf.Tensor2D,
  target: tf.Tensor2D,
): GradientSums {
  const n = input.shape[0];
  if (
    input.shape[1] !== model.layers[0].inputs ||
    target.shape[0] !== n ||
    target.shape[1] !== model.config.dim
  ) {
    throw new Error(
      `backpropagate: input must be [n, ${model.layers[0].inputs}] and target [n, ` +
        `${model.config.dim}]; ` +
        `got [${input.shape.join(", ")}] and [${target.shape.join(", ")}]`,
    );
  }
  const grad = new Float32Array(model.numParameters);
  const tensors = model.layerTensors();
  const act = model.config.activation;
  let sumSq = 0;
  tf.tidy(() => {
    const ones = tf.ones([1, n]);
    const { out, inputs, pre } = forwardPass(model, input, true);
    // g = u - target; the factor 2 / n of dL/du is applied by the caller.
    let g = tf.sub(out, target);
    const d = g.dataSync();
    for (let i = 0; i < d.length; i++) sumSq += d[i] * d[i];
    for (let i = tensors.length - 1; i >= 0; i--) {
      const h = inputs[i];
      // [h^T; 1^T] g = [dL/dW; dL/db], in theta's layout for this layer.
      const hT1 = tf.concat([tf.transpose(h), ones], 0);
      grad.set(tf.matMul(hT1, g).dataSync(), model.layers[i].offset);
      if (i === 0) break;
      // Back through W (prebuilt W^T keeps the product plain), then through the activation of layer
      // i - 1, whose output is h (= inputs[i]).
      g = tf.matMul(g, tensors[i].WT);
      if (act === "elu") g = tf.engine().runKernel("EluGrad", { dy: g, y: h }) as tf.Tensor2D;
      else if (act === "relu") g = tf.mul(g, tf.step(h));
      else if (act === "tanh") g = tf.mul(g, tf.sub(1, tf.square(h)));
      else {
        const z = pre[i - 1];
        const s = tf.sigmoid(z);
        g = tf.mul(g, tf.mul(s, tf.add(1, tf.mul(z, tf.sub(1, s)))));
      }
    }
  });
  return { sumSq, grad };
}

/**
 * The same loss and gradient through TensorFlow.js's automatic differentiation (`tf.grads`), from a
 * forward pass written with ordinary ops. Slower; the reference `lossAndGradient` is tested
 * against. Leak-free.
 */
export function autodiffLossAndGradient(
  model: VelocityModel,
  x: tf.Tensor2D,
  t: Time,
  target: tf.Tensor2D,
): LossAndGradient {
  checkBatch(model, x, target);
  const n = x.shape[0];
  const grad = new Float32Array(model.numParameters);
  let loss = 0;
  tf.tidy(() => {
    const input = model.features(x, t);
    const params: tf.Tensor[] = [];
    for (const { inputs, outputs, offset } of model.layers) {
      params.push(
        tf.tensor2d(model.theta.subarray(offset, offset + inputs * outputs), [inputs, outputs]),
      );
      params.push(
        tf.tensor1d(
          model.theta.subarray(offset + inputs * outputs, offset + inputs * outputs + outputs),
        ),
      );
    }
    const act = model.config.activation;
    const f = (...p: tf.Tensor[]): tf.Scalar => {
      let h: tf.Tensor = input;
      for (let i = 0; i < p.length; i += 2) {
        h = tf.add(tf.matMul(h as tf.Tensor2D, p[i] as tf.Tensor2D), p[i + 1]);
        if (i + 2 < p.length) {
          if (act === "elu") h = tf.elu(h);
          else if (act === "relu") h = tf.relu(h);
          else if (act === "tanh") h = tf.tanh(h);
          else h = tf.mul(h, tf.sigmoid(h));
        }
      }
      return tf.div(tf.sum(tf.square(tf.sub(h, target))), n) as tf.Scalar;
    };
    const { value, grads } = tf.valueAndGrads(f)(params);
    loss = value.dataSync()[0];
    model.layers.forEach(({ inputs, outputs, offset }, i) => {
      grad.set(grads[2 * i].dataSync(), offset);
      grad.set(grads[2 * i + 1].dataSync(), offset + inputs * outputs);
    });
  });
  return { loss, grad };
}

/** The Euclidean norm of a gradient (or any array). */
export function vectorNorm(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return Math.sqrt(s);
}

/**
 * Scales `grad` in place so that its norm is at most `maxNorm` (gradient clipping by global norm).
 * Returns the norm before clipping.
 */
export function clipGradientNorm(grad: Float32Array, maxNorm: number): number {
  if (!(maxNorm > 0)) throw new Error(`maxNorm must be a positive number; got ${maxNorm}`);
  const norm = vectorNorm(grad);
  if (norm > maxNorm) {
    const s = maxNorm / norm;
    for (let i = 0; i < grad.length; i++) grad[i] *= s;
  }
  return norm;
}
