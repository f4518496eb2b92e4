/**
 * One seed for every random draw of the library.
 *
 * TensorFlow.js has no global seed: each random op takes its own. This module keeps one seeded
 * generator (sfc32) and derives from it the seed of every tensor draw and every plain-number draw,
 * so `seed(0)` at the top of a notebook or test makes the whole run repeat exactly.
 */
import * as tf from "@tensorflow/tfjs";

let state = new Uint32Array(4);

/** sfc32: a small, fast generator with a 128-bit state; returns a uint32. */
function next32(): number {
  // (Indexed reads: destructuring a typed array goes through its iterator, several times slower here.)
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
 * Seeds every random draw of the library.
 * @example
 * seed(0); const a = uniform(); seed(0); const b = uniform();  // a === b
 */
export function seed(s: number): void {
  if (!Number.isInteger(s)) throw new Error(`seed must be an integer; got ${s}`);
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
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = randint(i + 1);
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/** Standard normal samples, seeded: the x0 ~ N(0, I) of the course. */
export function randn(shape: number[]): tf.Tensor {
  return tf.randomNormal(shape, 0, 1, "float32", nextSeed());
}

/** Uniform samples in [lo, hi), seeded: e.g. the times t ~ U[0, 1] of training. */
export function rand(shape: number[], lo = 0, hi = 1): tf.Tensor {
  return tf.randomUniform(shape, lo, hi, "float32", nextSeed());
}
