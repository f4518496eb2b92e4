/**
 * Checks at public entry points. Each error says what was expected and what was received.
 */
import * as tf from "@tensorflow/tfjs";

/** A time: one number for the whole batch, or one time per row (a `[n]` tensor). */
export type Time = number | tf.Tensor1D;

/** Throws unless `x` is a rank-2 tensor `[n, d]` (with `d` fixed when given). */
export function assert2D(x: unknown, name: string, d?: number): asserts x is tf.Tensor2D {
  if (!(x instanceof tf.Tensor)) {
    throw new Error(`${name} must be a tf.Tensor of shape [n, d]; got ${describe(x)}`);
  }
  if (x.rank !== 2) throw new Error(`${name} must have shape [n, d]; got shape [${x.shape.join(", ")}]`);
  if (d !== undefined && x.shape[1] !== d) {
    throw new Error(`${name} must have ${d} columns (shape [n, ${d}]); got shape [${x.shape.join(", ")}]`);
  }
}

/** Throws unless `a` and `b` have the same shape. */
export function assertSameShape(a: tf.Tensor, b: tf.Tensor, nameA: string, nameB: string): void {
  if (a.shape.length !== b.shape.length || a.shape.some((s, i) => s !== b.shape[i])) {
    throw new Error(
      `${nameA} and ${nameB} must have the same shape; got [${a.shape.join(", ")}] and [${b.shape.join(", ")}]`,
    );
  }
}

/** Throws unless `v` is a finite number inside [lo, hi]. */
export function assertInRange(v: number, name: string, lo: number, hi: number): void {
  if (typeof v !== "number" || !Number.isFinite(v)) throw new Error(`${name} must be a finite number; got ${v}`);
  if (v < lo || v > hi) throw new Error(`${name} must lie in [${lo}, ${hi}]; got ${v}`);
}

/** Throws unless every entry of `x` is finite (reads the tensor: use at entry points, not in loops). */
export function assertFinite(x: tf.Tensor, name: string): void {
  const data = x.dataSync();
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) {
      throw new Error(`${name} must be finite; entry ${i} (of shape [${x.shape.join(", ")}]) is ${data[i]}`);
    }
  }
}

/**
 * Checks a time against a batch of `n` rows and the interval [lo, hi] (default [0, 1]).
 * Returns it as a `[n, 1]` column ready to broadcast against `[n, d]` (the caller disposes it).
 */
export function timeColumn(t: Time, n: number, name = "t", lo = 0, hi = 1): tf.Tensor2D {
  if (typeof t === "number") {
    assertInRange(t, name, lo, hi);
    return tf.fill([n, 1], t) as tf.Tensor2D;
  }
  if (!(t instanceof tf.Tensor) || t.rank !== 1) {
    throw new Error(`${name} must be a number or a tf.Tensor of shape [n]; got ${describe(t)}`);
  }
  if (t.shape[0] !== n) throw new Error(`${name} must have one time per row: shape [${n}]; got [${t.shape[0]}]`);
  const data = t.dataSync();
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!Number.isFinite(v) || v < lo || v > hi) {
      throw new Error(`${name} must lie in [${lo}, ${hi}]; entry ${i} is ${v}`);
    }
  }
  return tf.reshape(t, [n, 1]);
}

function describe(x: unknown): string {
  if (x instanceof tf.Tensor) return `a tensor of shape [${x.shape.join(", ")}]`;
  if (Array.isArray(x)) return "an array (wrap it with tf.tensor2d)";
  return x === null ? "null" : typeof x;
}
