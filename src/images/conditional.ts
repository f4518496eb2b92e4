/**
 * A class-conditional velocity field u_theta(x, t | c) for images, and classifier-free guidance
 * (notebook 09).
 *
 * The network is the library's MLP (`createVelocityModel({ dim: 784, classes: 10, ... })`): its
 * input is the image x (784 numbers in [-1, 1]), the time features embed(t) and the label c as K +
 * 1 one-hot numbers, the last of which means "no label". Trained with the label dropped (replaced
 * by "no label") with some probability (`trainConditionalFlow`), the one network gives both the
 * conditional field u(x, t | c) and the unconditional field u(x, t) = u(x, t | no label).
 *
 * Classifier-free guidance, in this course's convention (t = 0 noise, t = 1 data):
 *
 *     u_w(x, t | c) = (1 + w) u(x, t | c) - w u(x, t)
 *
 * w = 0 is the conditional field, w = -1 the unconditional one, w > 0 pushes further away from the
 * unconditional field. (Some papers write the same thing with a scale s = 1 + w.) Because velocity
 * and score are affine in each other at fixed (x, t) (notebook 08), this is the velocity whose
 * score is grad log p_t(x | c) + w grad log p_t(c | x): the score of p_t(x | c) p_t(c | x)^w, at
 * every t.
 */
import * as tf from "@tensorflow/tfjs";
import { assert2D, assertInRange, type Time } from "../core/checks";
import type { VelocityField } from "../core/notation";
import { readTimes } from "../path/scheduler";
import { forwardPass, labelFeatures, VelocityModel } from "../model/mlp";

/**
 * Labels for a batch: one class for every row, one per row (`null` entries: "no label"), or `null`.
 */
export type Labels = number | ArrayLike<number | null> | null;

/** Checks that `model` is class-conditional and returns its number of classes K. */
export function classesOf(model: VelocityModel, fn: string): number {
  if (!(model instanceof VelocityModel)) throw new Error(`${fn}: model must be a VelocityModel`);
  const K = model.config.classes;
  if (!K) {
    throw new Error(
      `${fn}: the model is unconditional; build a class-conditional one with ` +
        `fm.createVelocityModel({ ..., classes: 10 })`,
    );
  }
  return K;
}

/**
 * The label of each of `n` rows as an index into the one-hot inputs: a class in [0, K), or K for
 * "no label" (`null`). Says which entry is wrong.
 */
export function readLabels(labels: Labels, n: number, K: number, fn = "labels"): Int32Array {
  const out = new Int32Array(n);
  if (labels === null) return out.fill(K);
  const check = (c: unknown, where: string): number => {
    if (c === null && where !== "the label") return K;
    if (typeof c !== "number" || !Number.isInteger(c) || c < 0 || c >= K) {
      throw new Error(
        `${fn}: a label must be an integer class in [0, ${K}) or null; ${where} is ${String(c)}`,
      );
    }
    return c;
  };
  if (typeof labels === "number") return out.fill(check(labels, "the label"));
  if (labels === undefined || typeof labels !== "object" || typeof labels.length !== "number") {
    throw new Error(
      `${fn}: labels must be a class, an array of classes or null; got ${typeof labels}`,
    );
  }
  if (labels.length !== n)
    throw new Error(`${fn}: need one label per row (${n}); got ${labels.length}`);
  for (let i = 0; i < n; i++) out[i] = check(labels[i], `entry ${i}`);
  return out;
}

/**
 * The network's input rows [x, embed(t), one-hot(c)], `[n, d + time + K + 1]`.
 * @param labels one class for all rows, one per row, or `null` ("no label")
 */
export function conditionalFeatures(
  model: VelocityModel,
  x: tf.Tensor2D,
  t: Time,
  labels: Labels,
): tf.Tensor2D {
  const K = classesOf(model, "conditionalFeatures");
  assert2D(x, "x", model.config.dim);
  return featuresOfIndex(model, x, t, readLabels(labels, x.shape[0], K));
}

/** `conditionalFeatures` with the labels already read (`readLabels`: K is "no label"). */
function featuresOfIndex(
  model: VelocityModel,
  x: tf.Tensor2D,
  t: Time,
  index: Int32Array,
): tf.Tensor2D {
  const d = model.config.dim;
  const n = x.shape[0];
  const times = readTimes(t, n);
  const L = labelFeatures(model.config);
  const width = model.layers[0].inputs - d;
  const rows = new Float32Array(n * width);
  let embedded = model.timeFeatures(times[0]);
  for (let i = 0; i < n; i++) {
    if (times.length > 1) embedded = model.timeFeatures(times[i]);
    rows.set(embedded, i * width);
    rows[i * width + width - L + index[i]] = 1;
  }
  return tf.tidy(() => tf.concat([x, tf.tensor2d(rows, [n, width])], 1) as tf.Tensor2D);
}

/**
 * The conditional velocity u_theta(x, t | c) (`labels = null`: the unconditional u_theta(x, t)),
 * `[n, d]`. Leak-free; the caller disposes the result.
 * @example
 * const u = fm.predictWithLabels(model, x, 0.5, 7);   // every row conditioned on the digit 7
 */
export function predictWithLabels(
  model: VelocityModel,
  x: tf.Tensor2D,
  t: Time,
  labels: Labels,
): tf.Tensor2D {
  return tf.tidy(() => forwardPass(model, conditionalFeatures(model, x, t, labels), false).out);
}

/**
 * Classifier-free guidance of any two fields: u_w = (1 + w) u_cond - w u_uncond (module comment).
 * @example
 * const guided = fm.classifierFreeGuidance(mixture0.field(), mixture.field(), 2);
 */
export function classifierFreeGuidance(
  conditional: VelocityField,
  unconditional: VelocityField,
  w: number,
): VelocityField {
  if (typeof conditional !== "function" || typeof unconditional !== "function") {
    throw new Error("classifierFreeGuidance: give two velocity fields (x, t) => tensor");
  }
  assertInRange(w, "w", -1, 1e3);
  return (x, t) =>
    tf.tidy(() => {
      const c = conditional(x, t);
      const u = unconditional(x, t);
      return tf.sub(tf.mul(c, 1 + w), tf.mul(u, w)) as tf.Tensor2D;
    });
}

/**
 * The guided field of a class-conditional model, u_w(x, t | c) = (1 + w) u(x, t | c) - w u(x, t),
 * with both network passes in one batch of 2n rows (w = 0 and w = -1 need one pass of n rows).
 * @param labels the class of each row (or one for all)
 * @param w the guidance weight, >= -1 (0: conditional, -1: unconditional)
 * @example
 * const { x } = fm.solveOde(fm.guidedField(model, 3, 2), x0, { method: "midpoint", steps: 8 });
 */
export function guidedField(model: VelocityModel, labels: Labels, w: number): VelocityField {
  const K = classesOf(model, "guidedField");
  assertInRange(w, "w", -1, 1e3);
  if (labels === null)
    throw new Error(
      "guidedField: give the class of each row (null is the unconditional field: w = -1)",
    );
  let fixed: Int32Array | null = null;
  return (x, t) => {
    const n = x.shape[0];
    fixed ??= readLabels(labels, n, K, "guidedField");
    if (fixed.length !== n)
      throw new Error(`guidedField: the field was made for ${fixed.length} rows; got ${n}`);
    assert2D(x, "x", model.config.dim);
    const run = (rows: tf.Tensor2D, time: Time, index: Int32Array) =>
      forwardPass(model, featuresOfIndex(model, rows, time, index), false).out;
    if (w === 0) return tf.tidy(() => run(x, t, fixed!));
    if (w === -1) return tf.tidy(() => run(x, t, new Int32Array(n).fill(K)));
    return tf.tidy(() => {
      const both = tf.concat([x, x], 0) as tf.Tensor2D;
      const twice = new Int32Array(2 * n);
      twice.set(fixed!, 0);
      twice.fill(K, n);
      const times = typeof t === "number" ? t : (tf.concat([t, t], 0) as tf.Tensor1D);
      const u = run(both, times, twice);
      const cond = tf.slice(u, [0, 0], [n, -1]);
      const uncond = tf.slice(u, [n, 0], [n, -1]);
      return tf.sub(tf.mul(cond, 1 + w), tf.mul(uncond, w)) as tf.Tensor2D;
    });
  };
}
