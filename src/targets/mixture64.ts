/**
 * The float64 arithmetic behind `IsotropicMixture` (gaussian-mixture.ts): log-densities,
 * posteriors and posterior-weighted averages in plain JavaScript numbers, and the vector-Jacobian
 * products that let TensorFlow.js differentiate them (divergence, continuity residual, Jacobian
 * norms).
 *
 * Why float64 and not tensors: the posterior p(k | x) = softmax_k(l_k) with
 * l_k = log w_k - |x - alpha mu_k|^2 / (2 v_k) - (d/2) log(2 pi v_k) is decided by *differences* of
 * logits that are each huge far from the data or near t = 1 for a finite set (|x| = 1e4 and
 * v = 1e-6 give l ~ -5e13; at t = 1 - 2^-53, l ~ -4e39 overflows float32). In float32 those
 * differences are lost and the weights need not even sum to 1 (issue 14). Here:
 * - the logit differences are formed analytically against a reference component r:
 *   l_k - l_r = log(w_k/w_r) - (d/2) log1p(alpha^2 (s_k^2 - s_r^2) / v_r)
 *               - sum_j alpha (mu_rj - mu_kj)(diff_kj + diff_rj) / (2 v_k)
 *               - |diff_r|^2 alpha^2 (s_r^2 - s_k^2) / (2 v_k v_r),       diff_k = x - alpha mu_k,
 *   so no two large numbers are subtracted: each term is accurate relative to itself;
 * - the weights are exp(l_k - l_r - max) divided by their sum: rows sum to 1 to float64 round-off;
 * - averages such as the velocity are sum_k p_k a_k with each a_k formed from its own diff_k.
 * The inputs are small (n points x K components), these are reference objects rather than training
 * hot paths, and the cost is of the order of the float32 tensor version's (see the tests).
 *
 * Every output here is y = sum_k p_k a_k(x) with a_k = c_k + h_k diff_k (h_k a number), and
 * grad_x p_k = p_k (g_k - gbar) with g_k = -diff_k / v_k, gbar = sum_j p_j g_j (the score), so
 *   J^T dy = (sum_k p_k h_k) dy + sum_k p_k ((a_k - y) . dy) (g_k - gbar).
 */
import type { SchedulerValues } from "../path/scheduler";

/** The mixture's constants in float64: K components in d dimensions. */
export interface MixtureConstants {
  K: number;
  d: number;
  /** Means, row-major `[K * d]`. */
  mu: Float64Array;
  /** Squared standard deviations s_k^2, `[K]`. */
  s2: Float64Array;
  /** log w_k, `[K]`. */
  logW: Float64Array;
}

/** The posterior of a batch: `post [n * K]` (rows sum to 1), `logp [n]`, v_k per row `[n * K]`. */
export interface MixtureRows {
  n: number;
  x: Float64Array;
  /** Scheduler values of row i: `at(i)`. */
  at: (i: number) => SchedulerValues;
  post: Float64Array;
  logp: Float64Array;
  v: Float64Array;
}

/** The posterior weights and log-density of every row (see the module comment for the algebra). */
export function mixtureRows(
  c: MixtureConstants,
  x: Float64Array,
  n: number,
  at: (i: number) => SchedulerValues,
): MixtureRows {
  const { K, d, mu, s2, logW } = c;
  const post = new Float64Array(n * K);
  const logp = new Float64Array(n);
  const v = new Float64Array(n * K);
  const sq = new Float64Array(K);
  const naive = new Float64Array(K);
  const logTwoPi = Math.log(2 * Math.PI);
  // v_k and log w_k - (d/2) log v_k depend on the row's time only: computed once per time.
  const vRow = new Float64Array(K);
  const baseRow = new Float64Array(K);
  let rowTime: SchedulerValues | undefined;
  for (let i = 0; i < n; i++) {
    const time = at(i);
    const { alpha, sigma } = time;
    if (time !== rowTime) {
      rowTime = time;
      for (let k = 0; k < K; k++) {
        vRow[k] = alpha * alpha * s2[k] + sigma * sigma;
        baseRow[k] = logW[k] - (d / 2) * Math.log(vRow[k]);
      }
    }
    const xi = i * d;
    const vi = i * K;
    v.set(vRow, vi);
    let r = 0;
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let j = 0; j < d; j++) {
        const diff = x[xi + j] - alpha * mu[k * d + j];
        s += diff * diff;
      }
      sq[k] = s;
      naive[k] = baseRow[k] - s / (2 * vRow[k]);
      if (naive[k] > naive[r]) r = k;
    }
    const vr = v[vi + r];
    let top = -Infinity;
    for (let k = 0; k < K; k++) {
      const vk = v[vi + k];
      let cross = 0; // |diff_k|^2 - |diff_r|^2, as a sum of (difference) x (sum)
      for (let j = 0; j < d; j++) {
        const dk = x[xi + j] - alpha * mu[k * d + j];
        const dr = x[xi + j] - alpha * mu[r * d + j];
        cross += alpha * (mu[r * d + j] - mu[k * d + j]) * (dk + dr);
      }
      const ds2 = s2[k] - s2[r];
      const delta =
        k === r
          ? 0
          : logW[k] -
            logW[r] -
            (ds2 === 0 ? 0 : (d / 2) * Math.log1p((alpha * alpha * ds2) / vr)) -
            cross / (2 * vk) +
            (sq[r] * alpha * alpha * ds2) / (2 * vk * vr);
      post[vi + k] = delta;
      if (delta > top) top = delta;
    }
    let total = 0;
    for (let k = 0; k < K; k++) total += post[vi + k] = Math.exp(post[vi + k] - top);
    for (let k = 0; k < K; k++) post[vi + k] /= total;
    logp[i] =
      logW[r] - sq[r] / (2 * vr) - (d / 2) * (logTwoPi + Math.log(vr)) + top + Math.log(total);
  }
  return { n, x, at, post, logp, v };
}

/**
 * One posterior average y = sum_k p_k a_k with a_k = scale mu_k + h_k diff_k: `scale(row)` and the
 * slope `h(k, row, v_k)` depend on the row's scheduler values only.
 */
export interface Average {
  scale: (s: SchedulerValues) => number;
  h: (k: number, s: SchedulerValues, vk: number) => number;
}

/** The averages of the library: u (velocity), the score, E[x1 | x] (posterior mean). */
export const AVERAGES: Record<
  "velocity" | "score" | "posteriorMean",
  (c: MixtureConstants) => Average
> = {
  velocity: (c) => ({
    scale: (s) => s.dAlpha,
    h: (k, s, vk) => (s.dAlpha * s.alpha * c.s2[k] + s.dSigma * s.sigma) / vk,
  }),
  score: () => ({ scale: () => 0, h: (_k, _s, vk) => -1 / vk }),
  posteriorMean: (c) => ({
    scale: () => 1,
    h: (k, s, vk) => (s.alpha * c.s2[k]) / vk,
  }),
};

/** y = sum_k p_k (c_k + h_k diff_k), `[n * d]`. */
export function average(c: MixtureConstants, rows: MixtureRows, a: Average): Float64Array {
  const { K, d, mu } = c;
  const { n, x, post, v } = rows;
  const y = new Float64Array(n * d);
  const hRow = new Float64Array(K); // the slopes depend on the row's time only
  let rowTime: SchedulerValues | undefined;
  let scale = 0;
  for (let i = 0; i < n; i++) {
    const s = rows.at(i);
    if (s !== rowTime) {
      rowTime = s;
      scale = a.scale(s);
      for (let k = 0; k < K; k++) hRow[k] = a.h(k, s, v[i * K + k]);
    }
    const alpha = s.alpha;
    for (let k = 0; k < K; k++) {
      const p = post[i * K + k];
      if (p === 0) continue;
      const h = hRow[k];
      for (let j = 0; j < d; j++) {
        const m = mu[k * d + j];
        y[i * d + j] += p * (scale * m + h * (x[i * d + j] - alpha * m));
      }
    }
  }
  return y;
}

/**
 * J^T dy for `average(c, rows, a)` (= y), or for the posterior itself when `a` is undefined
 * (dy then has K columns), or for log p when `a` is "logp" (dy has one column). Returns `[n * d]`.
 */
export function averageVjp(
  c: MixtureConstants,
  rows: MixtureRows,
  a: Average | "posterior" | "logp",
  y: Float64Array | undefined,
  dy: ArrayLike<number>,
): Float64Array {
  const { K, d, mu } = c;
  const { n, x, post, v } = rows;
  const out = new Float64Array(n * d);
  const gbar = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const s = rows.at(i);
    gbar.fill(0);
    for (let k = 0; k < K; k++) {
      const p = post[i * K + k];
      for (let j = 0; j < d; j++)
        gbar[j] -= (p * (x[i * d + j] - s.alpha * mu[k * d + j])) / v[i * K + k];
    }
    if (a === "logp") {
      for (let j = 0; j < d; j++) out[i * d + j] = dy[i] * gbar[j];
      continue;
    }
    let slope = 0;
    for (let k = 0; k < K; k++) {
      const p = post[i * K + k];
      if (p === 0) continue;
      const vk = v[i * K + k];
      let weight: number; // the factor of (g_k - gbar)
      if (a === "posterior") weight = dy[i * K + k];
      else {
        const h = a.h(k, s, vk);
        slope += p * h;
        weight = 0;
        for (let j = 0; j < d; j++) {
          const m = mu[k * d + j];
          const ak = a.scale(s) * m + h * (x[i * d + j] - s.alpha * m);
          weight += (ak - (y as Float64Array)[i * d + j]) * dy[i * d + j];
        }
      }
      for (let j = 0; j < d; j++) {
        const g = -(x[i * d + j] - s.alpha * mu[k * d + j]) / vk;
        out[i * d + j] += p * weight * (g - gbar[j]);
      }
    }
    if (a !== "posterior") for (let j = 0; j < d; j++) out[i * d + j] += slope * dy[i * d + j];
  }
  return out;
}

/** The largest finite float32. */
export const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * Rounds float64 results to float32, refusing values float32 cannot hold (never an Infinity or NaN
 * in place of a number). `what(index)` names the entry for the message.
 */
export function toFloat32(values: Float64Array, what: (index: number) => string): Float32Array {
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (!(Math.abs(value) <= FLOAT32_MAX)) {
      throw new Error(
        `${what(i)} is ${Number(value.toPrecision(6))}, beyond float32's range ` +
          `(|value| <= 3.4e38): the point is too far ` +
          `from the data for this t (use t further from 1 or points nearer the data)`,
      );
    }
    out[i] = value;
  }
  return out;
}
