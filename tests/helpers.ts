// Small helpers shared by several test files (not a test file itself).
import * as tf from "@tensorflow/tfjs";
import type { AffineProbPath } from "../src/path/affine";
import { convertPrediction, type PredictionKind } from "../src/path/conversions";

/**
 * A limiter that runs at most `limit` jobs at once (kernels started by tests on a two-core machine):
 * `const slot = concurrencyLimit(2); await slot(() => job());`.
 */
export function concurrencyLimit(limit: number): <T>(job: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async <T>(job: () => Promise<T>): Promise<T> => {
    if (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
    try {
      return await job();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}

/**
 * |A| and |B| of a prediction conversion out = A prediction + B x at time t (every conversion is affine),
 * read back by converting (1, 0) and (0, 1). Used for float32 error budgets.
 */
export function conversionCoefficients(path: AffineProbPath, t: number, from: PredictionKind, to: PredictionKind): { a: number; b: number } {
  const one = tf.ones([1, 1]) as tf.Tensor2D;
  const zero = tf.zeros([1, 1]) as tf.Tensor2D;
  const A = convertPrediction(one, zero, t, path, from, to);
  const B = convertPrediction(zero, one, t, path, from, to);
  const a = Math.abs(A.dataSync()[0]);
  const b = Math.abs(B.dataSync()[0]);
  tf.dispose([one, zero, A, B]);
  return { a, b };
}
