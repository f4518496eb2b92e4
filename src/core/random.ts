/**
 * One seed for every random draw of the library.
 *
 * TensorFlow.js has no global seed: each random op takes its own. This module keeps one seeded
 * generator (sfc32) and derives from it the seed of every tensor draw and every plain-number draw,
 * so `seed(0)` at the top of a notebook or test makes the whole run repeat exactly.
 */
import * as tf from "@tensorflow/tfjs";
import { assertCount, assertFits, MAX_ELEMENTS } from "./checks";

let state = new Uint32Array(4);

/** sfc32: a small, fast generator with a 128-bit state; returns a uint32. */
function next32(): number {
  // (Indexed reads: destructuring a typed array goes through its iterator, several times slower
  // here.)
  let a = state[0];
  let b = state[1];
  let c = state[2];
  let d = state[3];
  const t = (((a + b) >>> 0) + d) >>> 0;
  d = (d + 1) >>> 0;
  a = b ^ (b >>> 9);
  b = (c + (c << 3)) >>> 0;
  c = (c << 21) | (c >>> 11);
  c = (c + t) >>> 0;
  state[0] = a;
  state[1] = b;
  state[2] = c;
  state[3] = d;
  return t;
}

/**
 * Seeds every random draw of the library. The seed is an integer in [0, 2^32 - 1]; anything else
 * is an error (not wrapped: 2^32 and 0 would otherwise give the same stream).
 * @example
 * seed(0); const a = uniform(); seed(0); const b = uniform();  // a === b
 */
export function seed(s: number): void {
  if (typeof s !== "number" || !Number.isInteger(s)) {
    throw new Error(`seed must be an integer; got ${String(s)}`);
  }
  // Rejected rather than wrapped: seed(2^32) would silently equal seed(0).
  if (s < 0 || s >= 2 ** 32) {
    throw new Error(`seed must lie in [0, 2^32 - 1] (a 32-bit seed); got ${s}`);
  }
  // splitmix32 spreads the seed over the state; then a few rounds mix it.
  let z = s >>> 0;
  for (let i = 0; i < 4; i++) {
    z = (z + 0x9e3779b9) >>> 0;
    let r = z;
    r = Math.imul(r ^ (r >>> 16), 0x85ebca6b) >>> 0;
    r = Math.imul(r ^ (r >>> 13), 0xc2b2ae35) >>> 0;
    state[i] = (r ^ (r >>> 16)) >>> 0;
  }
  for (let i = 0; i < 12; i++) next32();
}
seed(0);

/** A fresh integer seed for one TensorFlow.js random op. */
export function nextSeed(): number {
  return next32();
}

/** A uniform number in [0, 1). */
export function uniform(): number {
  return next32() / 4294967296;
}

/** A standard normal number (Box-Muller). */
export function normal(): number {
  let u = 0;
  while (u === 0) u = uniform();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
}

/** A uniform integer in [0, n). */
export function randint(n: number): number {
  if (!Number.isInteger(n) || n <= 0) throw new Error(`randint needs a positive integer; got ${n}`);
  return Math.floor(uniform() * n);
}

/** A seeded permutation of 0..n-1 (Fisher-Yates). */
export function permutation(n: number): number[] {
  assertCount(n, "n", "permutation", 0, MAX_ELEMENTS, "too many to hold in one array here");
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = randint(i + 1);
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/** Standard normal samples, seeded: the x0 ~ N(0, I) of the course. */
export function randn(shape: number[]): tf.Tensor {
  checkShape(shape, "randn");
  return tf.randomNormal(shape, 0, 1, "float32", nextSeed());
}

/** Uniform samples in [lo, hi), seeded: e.g. the times t ~ U[0, 1] of training. */
export function rand(shape: number[], lo = 0, hi = 1): tf.Tensor {
  checkShape(shape, "rand");
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || !(lo < hi)) {
    throw new Error(`rand: needs finite lo < hi; got lo = ${lo}, hi = ${hi}`);
  }
  return tf.randomUniform(shape, lo, hi, "float32", nextSeed());
}

/** Checks a shape: non-negative integers whose product fits in one array. */
function checkShape(shape: unknown, where: string): void {
  const bad = (s: unknown) => typeof s !== "number" || !Number.isInteger(s) || s < 0;
  if (!Array.isArray(shape) || shape.some(bad)) {
    const got = JSON.stringify(shape);
    throw new Error(`${where}: shape must be an array of non-negative integers; got ${got}`);
  }
  const size = shape.reduce((a: number, b: number) => a * b, 1);
  assertFits(size, where, `shape [${shape.join(", ")}]`);
}
