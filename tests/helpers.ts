// Small helpers shared by several test files (not a test file itself).
import * as tf from "@tensorflow/tfjs";
import { Worker } from "worker_threads";
import type { AffineProbPath } from "../src/path/affine";
import { convertPrediction, type PredictionKind } from "../src/path/conversions";

/**
 * A limiter that runs at most `limit` jobs at once (kernels started by tests on a two-core
 * machine): `const slot = concurrencyLimit(2); await slot(() => job());`.
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
 * |A| and |B| of a prediction conversion out = A prediction + B x at time t (every conversion is
 *   affine),
 * read back by converting (1, 0) and (0, 1). Used for float32 error budgets.
 */
export function conversionCoefficients(
  path: AffineProbPath,
  t: number,
  from: PredictionKind,
  to: PredictionKind,
): { a: number; b: number } {
  const one = tf.ones([1, 1]) as tf.Tensor2D;
  const zero = tf.zeros([1, 1]) as tf.Tensor2D;
  const A = convertPrediction(one, zero, t, path, from, to);
  const B = convertPrediction(zero, one, t, path, from, to);
  const a = Math.abs(A.dataSync()[0]);
  const b = Math.abs(B.dataSync()[0]);
  tf.dispose([one, zero, A, B]);
  return { a, b };
}

/**
 * A thread that interrupts the library's running operations as the kernel's signal thread does (it
 * adds to the shared counters from outside the main thread, so even a synchronous call sees it):
 * every `everyMs` milliseconds, or once after `everyMs` with `once`. Also the hang guard of tests
 * whose failure would be a call that never returns (a vitest time-out cannot stop a blocked
 * thread).
 */
export function interrupter(
  counters: Int32Array,
  everyMs: number,
  once = false,
): { stop: () => Promise<void> } {
  const stopFlag = new Int32Array(new SharedArrayBuffer(4));
  const source = `
    const { workerData } = require("worker_threads");
    const { counters, stopFlag, everyMs, once } = workerData;
    while (Atomics.wait(stopFlag, 0, 0, everyMs) === "timed-out") {
      Atomics.add(counters, 0, 1);
      if (once) break;
    }
  `;
  const workerData = { counters, stopFlag, everyMs, once };
  const worker = new Worker(source, { eval: true, workerData });
  const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
  return {
    stop: async () => {
      Atomics.store(stopFlag, 0, 1);
      Atomics.notify(stopFlag, 0);
      await exited;
    },
  };
}
