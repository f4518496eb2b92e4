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
  if (x.rank !== 2)
    throw new Error(`${name} must have shape [n, d]; got shape [${x.shape.join(", ")}]`);
  if (d !== undefined && x.shape[1] !== d) {
    throw new Error(
      `${name} must have ${d} columns (shape [n, ${d}]); got shape [${x.shape.join(", ")}]`,
    );
  }
}

/** Throws unless `a` and `b` have the same shape. */
export function assertSameShape(a: tf.Tensor, b: tf.Tensor, nameA: string, nameB: string): void {
  if (a.shape.length !== b.shape.length || a.shape.some((s, i) => s !== b.shape[i])) {
    throw new Error(
      `${nameA} and ${nameB} must have the same shape; got [${a.shape.join(", ")}] and ` +
        `[${b.shape.join(", ")}]`,
    );
  }
}

/** Throws unless `v` is a finite number inside [lo, hi]. */
export function assertInRange(v: number, name: string, lo: number, hi: number): void {
  if (typeof v !== "number" || !Number.isFinite(v))
    throw new Error(`${name} must be a finite number; got ${v}`);
  if (v < lo || v > hi) throw new Error(`${name} must lie in [${lo}, ${hi}]; got ${v}`);
}

/**
 * Throws unless every entry of `x` is finite (reads the tensor: use at entry points, not in loops).
 */
export function assertFinite(x: tf.Tensor, name: string): void {
  const data = x.dataSync();
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) {
      throw new Error(
        `${name} must be finite; entry ${i} (of shape [${x.shape.join(", ")}]) is ${data[i]}`,
      );
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
  if (t.shape[0] !== n)
    throw new Error(`${name} must have one time per row: shape [${n}]; got [${t.shape[0]}]`);
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

/**
 * The most numbers one array of the library may hold: 2^28 float32 entries (1 GiB). Larger requests
 * are refused before any work, instead of running for minutes and failing when memory runs out.
 */
export const MAX_ELEMENTS = 2 ** 28;

/**
 * The most steps a solver takes (fixed steps, or dopri5's maxSteps): each step is at least one
 * field evaluation, so 1e6 steps already take minutes to hours on a laptop.
 */
export const MAX_STEPS = 1_000_000;

/**
 * Throws unless `v` is an integer in [min, max], saying what it counts and why the upper limit is
 * there. `where` starts the message (e.g. `"solveOde"`); `why` explains the limit.
 */
export function assertCount(
  v: unknown,
  name: string,
  where: string,
  min: number,
  max: number,
  why: string,
): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min) {
    const what = min === 1 ? "a positive integer" : `an integer >= ${min}`;
    throw new Error(`${where}: ${name} must be ${what}; got ${String(v)}`);
  }
  if (v > max) {
    throw new Error(`${where}: ${name} = ${v} is more than ${max.toLocaleString("en-US")}, ${why}`);
  }
  return v;
}

/**
 * Throws when an array of `elements` float32 numbers (e.g. n points of d coordinates) would not
 * fit in `MAX_ELEMENTS`, naming what would be allocated.
 */
export function assertFits(elements: number, where: string, what: string): void {
  if (elements > MAX_ELEMENTS) {
    const gib = (elements * 4) / 2 ** 30;
    throw new Error(
      `${where}: ${what} would hold ${elements.toLocaleString("en-US")} numbers ` +
        `(${gib.toPrecision(3)} GiB of float32), more than the ` +
        `${MAX_ELEMENTS.toLocaleString("en-US")} (1 GiB) one array may take here; ask for fewer, ` +
        `or work in batches`,
    );
  }
}

/** The most steps one training call takes (its loss and learning-rate curves stay in memory). */
export const MAX_TRAINING_STEPS = 10_000_000;
