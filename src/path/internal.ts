/**
 * Small helpers shared by `path/` and `targets/` (not re-exported from the library's index).
 */
import * as tf from "@tensorflow/tfjs";
import type { Time } from "../core/checks";
import {
  readTimes,
  tableColumn,
  type Scheduler,
  type SchedulerColumns,
  type SchedulerValues,
} from "./scheduler";

/** The checked times (one for a number t, else one per row) and the scheduler's values at each. */
export interface TimedTable {
  times: number[];
  table: SchedulerValues[];
}

/**
 * Reads and checks t against a batch of n rows, and evaluates the scheduler at each distinct time.
 */
export function timedTable(scheduler: Scheduler, t: Time, n: number): TimedTable {
  const times = readTimes(t, n);
  const cache = new Map<number, SchedulerValues>();
  const table = times.map((s) => {
    let v = cache.get(s);
    if (!v) {
      v = scheduler.at(s);
      cache.set(s, v);
    }
    return v;
  });
  return { times, table };
}

/**
 * The table as `[m, 1]` float32 columns, m = table length (1 broadcasts). The caller disposes them.
 */
export function columnsOf(table: SchedulerValues[]): SchedulerColumns {
  const m = table.length;
  return {
    alpha: tableColumn(table, m, (v) => v.alpha),
    sigma: tableColumn(table, m, (v) => v.sigma),
    dAlpha: tableColumn(table, m, (v) => v.dAlpha),
    dSigma: tableColumn(table, m, (v) => v.dSigma),
  };
}

/**
 * `a * u + b * v` with per-row float64 coefficients `a`, `b` (length 1, broadcast, or n), computed
 * in float32 tensors. The caller disposes the result.
 */
export function combine(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  u: tf.Tensor2D,
  v: tf.Tensor2D,
): tf.Tensor2D {
  return tf.tidy(() => {
    const m = a.length;
    const ac = tf.tensor2d(Float32Array.from(a), [m, 1]);
    const bc = tf.tensor2d(Float32Array.from(b), [m, 1]);
    return tf.add(tf.mul(ac, u), tf.mul(bc, v)) as tf.Tensor2D;
  });
}
