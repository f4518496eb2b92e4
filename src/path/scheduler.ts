/**
 * Schedulers: the two coefficients of an affine probability path and their time derivatives.
 *
 *     x_t = alpha_t x1 + sigma_t x0,     x0 ~ N(0, I) (noise),  x1 ~ p_data,
 *
 * with the course's convention everywhere: **t = 0 is noise, t = 1 is data** (so alpha grows from
 * about 0 to 1 and sigma shrinks towards 0). A scheduler returns the named record `{ alpha, sigma,
 * dAlpha, dSigma }` at a time t (dAlpha = d alpha_t / dt, dSigma = d sigma_t / dt).
 *
 * Presets:
 * - `condOTScheduler()`: the lecture's path alpha = t, sigma = 1 - t (concept 3), with an optional
 *   sigma_min (sigma = 1 - (1 - sigma_min) t, as in Lipman et al.'s optimal-transport path).
 * - `vpScheduler({ schedule: "linear" })`: the continuous-time limit of DDPM, the VP-SDE of Song et
 *   al. (lecture 1 and 2), and `vpScheduler({ schedule: "cosine" })`: Nichol & Dhariwal's cosine
 *   schedule. Both keep alpha^2 + sigma^2 = 1.
 * - `veScheduler()`: the variance-exploding SDE (NCSN): alpha = 1, sigma geometric.
 * The DDPM and SDE papers run time the other way (their s = 0 is data); here s = 1 - t throughout,
 * which is the translation the unification notebook (concept 8) makes explicit.
 *
 * Derivatives are closed forms (no finite differences). All arithmetic is in float64 JavaScript;
 * `columns` turns the numbers into float32 `[n, 1]` tensors for the tensor code.
 * Introduced in notebook 3 (conditional path) and used again in notebook 8 (unification).
 */
import * as tf from "@tensorflow/tfjs";
import { assertInRange, type Time } from "../core/checks";

/** The coefficients of an affine path at one time t (all plain numbers). */
export interface SchedulerValues {
  /** alpha_t, the weight of the data point x1. */
  alpha: number;
  /** sigma_t, the weight of the noise x0. */
  sigma: number;
  /** d alpha_t / dt. */
  dAlpha: number;
  /**
   * d sigma_t / dt (may be -Infinity where sigma_t behaves like sqrt(1 - t), see `vpScheduler`).
   */
  dSigma: number;
}

/**
 * The same coefficients as `[n, 1]` float32 columns, one row per point, ready to broadcast against
 * `[n, d]`. The caller disposes them (`tf.dispose(columns)`). (A type alias so `tf.dispose` accepts
 * it.)
 */
export type SchedulerColumns = {
  alpha: tf.Tensor2D;
  sigma: tf.Tensor2D;
  dAlpha: tf.Tensor2D;
  dSigma: tf.Tensor2D;
};

/** A schedule of an affine probability path. Build one with a preset or `customScheduler`. */
export interface Scheduler {
  /** `"condOT"`, `"vp-linear"`, `"vp-cosine"`, `"ve"` or a custom name. */
  readonly name: string;
  /** The options the scheduler was built with, defaults filled in (for labels and reports). */
  readonly params: Readonly<Record<string, number | string>>;
  /**
   * `{ alpha, sigma, dAlpha, dSigma }` at time t in [0, 1].
   * @example
   * condOTScheduler().at(0.25);   // returns { alpha: 0.25, sigma: 0.75, dAlpha: 1, dSigma: -1 }
   */
  at(t: number): SchedulerValues;
  /**
   * The coefficients as `[n, 1]` columns: t is a number (then `n` rows are filled) or a `[n]`
   * tensor (one time per row; `n`, when given, must match). Leak-free; the caller disposes the
   * result.
   */
  columns(t: Time, n?: number): SchedulerColumns;
  /**
   * The signal-to-noise ratio alpha_t / sigma_t (Infinity where sigma_t = 0). Non-decreasing in t.
   */
  snr(t: number): number;
  /**
   * The inverse of `snr`: the time at which alpha_t / sigma_t equals `snr` (used to compare two
   * schedules at equal noise level, as in the unification notebook). `snr` must lie in
   * [snr(0), snr(1)].
   */
  timeAtSnr(snr: number): number;
}

/** Options of `condOTScheduler`. */
export interface CondOTSchedulerOptions {
  /** sigma at t = 1 (the width left around each data point). Must lie in [0, 1). @default 0 */
  sigmaMin?: number;
}

/** Options of `vpScheduler`. */
export interface VPSchedulerOptions {
  /**
   * `"linear"`: DDPM's linear beta, continuous (VP-SDE); `"cosine"`: Nichol & Dhariwal. @default
   * "linear"
   */
  schedule?: "linear" | "cosine";
  /** Linear schedule: beta at the data end (t = 1). Must be >= 0. @default 0.1 */
  betaMin?: number;
  /** Linear schedule: beta at the noise end (t = 0). Must be > 0 and >= betaMin. @default 20 */
  betaMax?: number;
  /**
   * Cosine schedule: the offset s that keeps beta small near the data end. Must lie in [0, 1].
   * @default 0.008
   */
  s?: number;
}

/** Options of `veScheduler`. */
export interface VESchedulerOptions {
  /** sigma at t = 1 (data end). Must be > 0. @default 0.01 */
  sigmaMin?: number;
  /** sigma at t = 0 (noise end). Must be > sigmaMin. @default 50 */
  sigmaMax?: number;
}

/** Options of `customScheduler`. */
export interface CustomSchedulerOptions {
  /** A name for labels and error messages. */
  name: string;
  /** The coefficients at time t (float64, closed forms preferably). */
  at: (t: number) => SchedulerValues;
  /**
   * The inverse of alpha/sigma, if known. @default bisection on `snr` (needs snr non-decreasing)
   */
  timeAtSnr?: (snr: number) => number;
  /** Recorded as `params`. @default {} */
  params?: Record<string, number | string>;
}

// ---- Checks on options ------------------------------------------------------------------------

function checkKeys(fn: string, options: object, known: string[]): void {
  if (options === null || typeof options !== "object") {
    throw new Error(
      `${fn}: options must be an object { ${known.join(", ")} }; got ` +
        `${options === null ? "null" : typeof options}`,
    );
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key))
      throw new Error(`${fn}: unknown option "${key}"; the options are ${known.join(", ")}`);
  }
}

function checkNumber(
  fn: string,
  name: string,
  v: unknown,
  ok: (v: number) => boolean,
  rule: string,
): number {
  if (typeof v !== "number" || !Number.isFinite(v) || !ok(v)) {
    throw new Error(`${fn}: ${name} must be a finite number ${rule}; got ${String(v)}`);
  }
  return v;
}

// ---- Shared construction ------------------------------------------------------------------------

/** Reads a time (number or `[n]` tensor), checks it and returns the values (one for a number). */
export function readTimes(t: Time, n: number | undefined, name = "t"): number[] {
  if (typeof t === "number") {
    assertInRange(t, name, 0, 1);
    return [t];
  }
  if (!(t instanceof tf.Tensor) || t.rank !== 1) {
    const got = t instanceof tf.Tensor ? `a tensor of shape [${t.shape.join(", ")}]` : typeof t;
    throw new Error(`${name} must be a number or a tf.Tensor of shape [n]; got ${got}`);
  }
  if (n !== undefined && t.shape[0] !== n) {
    throw new Error(`${name} must have one time per row: shape [${n}]; got [${t.shape[0]}]`);
  }
  const data = Array.from(t.dataSync());
  data.forEach((v, i) => {
    if (!Number.isFinite(v) || v < 0 || v > 1)
      throw new Error(`${name} must lie in [0, 1]; entry ${i} is ${v}`);
  });
  return data;
}

/**
 * The scheduler's values at the times of `t`: one record for a number, one per row for a `[n]`
 * tensor. Library modules use it to check for singular times before building tensors.
 */
export function schedulerTable(
  scheduler: Scheduler,
  t: Time,
  n?: number,
  name = "t",
): SchedulerValues[] {
  const times = readTimes(t, n, name);
  // Equal times share one evaluation (a [n] tensor of a few distinct times is common).
  const cache = new Map<number, SchedulerValues>();
  return times.map((s) => {
    let v = cache.get(s);
    if (!v) {
      v = scheduler.at(s);
      cache.set(s, v);
    }
    return v;
  });
}

/**
 * A `[n, 1]` float32 column holding `f(values)` for each row of a table from `schedulerTable`
 * (a table of one record fills all n rows). Computing f in float64 before the cast keeps
 * coefficients like 1 / sigma_t accurate.
 */
export function tableColumn(
  table: SchedulerValues[],
  n: number,
  f: (v: SchedulerValues) => number,
): tf.Tensor2D {
  if (table.length === 1) return tf.fill([n, 1], f(table[0])) as tf.Tensor2D;
  if (table.length !== n)
    throw new Error(`tableColumn: the table has ${table.length} rows, expected 1 or ${n}`);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = f(table[i]);
  return tf.tensor2d(data, [n, 1]);
}

/**
 * The scheduler's coefficients at the times of `t` as float64 arrays: length 1 for a number t (it
 * broadcasts over the batch), length n for a `[n]` tensor (one entry per row). `t` holds the times.
 */
export type SchedulerArrays = {
  t: Float64Array;
  alpha: Float64Array;
  sigma: Float64Array;
  dAlpha: Float64Array;
  dSigma: Float64Array;
};

/**
 * `SchedulerArrays` of a scheduler at a number t (length 1) or a `[n]` tensor t (length n, checked
 * against n).
 */
export function schedulerArrays(
  scheduler: Scheduler,
  t: Time,
  n?: number,
  name = "t",
): SchedulerArrays {
  const times = readTimes(t, n, name);
  const table = times.map((s) => scheduler.at(s));
  const pick = (f: (v: SchedulerValues) => number): Float64Array => Float64Array.from(table, f);
  return {
    t: Float64Array.from(times),
    alpha: pick((v) => v.alpha),
    sigma: pick((v) => v.sigma),
    dAlpha: pick((v) => v.dAlpha),
    dSigma: pick((v) => v.dSigma),
  };
}

/** `[m, 1]` float32 columns from `SchedulerArrays` of length m. The caller disposes them. */
export function arraysToColumns(c: SchedulerArrays): SchedulerColumns {
  const m = c.t.length;
  const col = (a: Float64Array): tf.Tensor2D => tf.tensor2d(Float32Array.from(a), [m, 1]);
  return { alpha: col(c.alpha), sigma: col(c.sigma), dAlpha: col(c.dAlpha), dSigma: col(c.dSigma) };
}

/**
 * The coefficients as columns: `[1, 1]` for a number t (broadcasts), `[n, 1]` for a `[n]` tensor.
 */
export function schedulerColumns(scheduler: Scheduler, t: Time, n?: number): SchedulerColumns {
  return arraysToColumns(schedulerArrays(scheduler, t, n));
}

function build(
  name: string,
  params: Record<string, number | string>,
  at: (t: number) => SchedulerValues,
  timeAtSnr?: (snr: number) => number,
): Scheduler {
  const checkedAt = (t: number): SchedulerValues => {
    assertInRange(t, `${name} scheduler: t`, 0, 1);
    return at(t);
  };
  const snr = (t: number): number => {
    const v = checkedAt(t);
    return v.sigma === 0 ? Infinity : v.alpha / v.sigma;
  };
  const inverse = (r: number): number => {
    if (typeof r !== "number" || Number.isNaN(r) || r < 0) {
      throw new Error(`${name} scheduler: timeAtSnr needs a number >= 0; got ${String(r)}`);
    }
    const lo = snr(0);
    const hi = snr(1);
    // A relative slack of 1e-12 lets values computed from snr(0) or snr(1) round-trip.
    if (r < lo * (1 - 1e-12) || r > hi * (1 + 1e-12)) {
      throw new Error(
        `${name} scheduler: snr must lie in [snr(0), snr(1)] = [${lo}, ${hi}]; got ${r}`,
      );
    }
    if (r <= lo) return 0;
    if (r >= hi) return 1;
    if (timeAtSnr) return Math.min(1, Math.max(0, timeAtSnr(r)));
    let a = 0;
    let b = 1;
    for (let i = 0; i < 60; i++) {
      const m = 0.5 * (a + b);
      if (snr(m) < r) a = m;
      else b = m;
    }
    return 0.5 * (a + b);
  };
  return {
    name,
    params: Object.freeze({ ...params }),
    at: checkedAt,
    columns(t: Time, n?: number): SchedulerColumns {
      let rows: number;
      if (typeof t === "number") {
        if (n === undefined || !Number.isInteger(n) || n < 1) {
          throw new Error(
            `${name} scheduler: columns(t, n) needs the number of rows n (a positive integer) ` +
              `when t is a number; got ${n}`,
          );
        }
        rows = n;
      } else {
        rows = t instanceof tf.Tensor ? t.shape[0] : 0;
      }
      const table = schedulerTable(this, t, rows);
      return {
        alpha: tableColumn(table, rows, (v) => v.alpha),
        sigma: tableColumn(table, rows, (v) => v.sigma),
        dAlpha: tableColumn(table, rows, (v) => v.dAlpha),
        dSigma: tableColumn(table, rows, (v) => v.dSigma),
      };
    },
    snr,
    timeAtSnr: inverse,
  };
}

// ---- Presets ------------------------------------------------------------------------------------

/**
 * The lecture's path (concept 3): alpha_t = t, sigma_t = 1 - (1 - sigmaMin) t, so
 * p_t(x | x1) = N(t x1, sigma_t^2 I) and, with sigmaMin = 0, u_t(x | x1) = (x1 - x) / (1 - t).
 * Known as the conditional optimal-transport (or rectified-flow) path.
 * @example
 * condOTScheduler().at(0.25); // returns { alpha: 0.25, sigma: 0.75, dAlpha: 1, dSigma: -1 }
 * condOTScheduler({ sigmaMin: 0.1 }).at(1).sigma; // returns 0.1
 */
export function condOTScheduler(options: CondOTSchedulerOptions = {}): Scheduler {
  const fn = "condOTScheduler";
  checkKeys(fn, options, ["sigmaMin"]);
  const sigmaMin = checkNumber(
    fn,
    "sigmaMin",
    options.sigmaMin ?? 0,
    (v) => v >= 0 && v < 1,
    "in [0, 1)",
  );
  const c = 1 - sigmaMin;
  return build(
    "condOT",
    { sigmaMin },
    (t) => ({ alpha: t, sigma: 1 - c * t, dAlpha: 1, dSigma: -c }),
    // alpha / sigma = t / (1 - c t)  <=>  t = r / (1 + c r)
    (r) => (r === Infinity ? 1 / c : r / (1 + c * r)),
  );
}

/**
 * A variance-preserving path (alpha_t^2 + sigma_t^2 = 1), the continuous-time view of DDPM
 * (lecture 1) and of the VP-SDE (lecture 2), translated to the course's time (s = 1 - t is the
 * papers' diffusion time, s = 0 clean data).
 *
 * - `"linear"` (VP-SDE): beta(s) = betaMin + s (betaMax - betaMin), B(s) = integral_0^s beta
 *   = betaMin s + (betaMax - betaMin) s^2 / 2, alpha_t = exp(-B(1 - t) / 2), sigma_t = sqrt(1 -
 *     alpha_t^2).
 *   At t = 0, alpha_0 = exp(-(betaMin + betaMax) / 4) (about 0.0066 with the defaults), so p_0 is
 *   N(0, I) only approximately.
 * - `"cosine"` (Nichol & Dhariwal): alpha-bar(s) = f(s) / f(0), f(s) = cos^2(((s + s0) / (1 + s0))
 *   pi/2), alpha_t = sqrt(alpha-bar(1 - t)) = sin(pi t / (2 (1 + s0))) / cos(pi s0 / (2 (1 + s0))).
 *   Here alpha_0 = 0 exactly.
 *
 * Derivatives: dAlpha from the closed form; dSigma = -alpha dAlpha / sigma. Near the data end
 * sigma_t behaves like sqrt(1 - t), so **dSigma is -Infinity at t = 1** (the exact limit): anything
 * that needs dSigma there (a velocity, a conversion) raises an error; use t < 1.
 * @example
 * const vp = vpScheduler();                 // linear, betaMin 0.1, betaMax 20
 * const { alpha, sigma } = vp.at(0.5);      // alpha ~ 0.278, sigma ~ 0.961; alpha^2 + sigma^2 = 1
 * vpScheduler({ schedule: "cosine" }).at(0).alpha;   // returns 0
 */
export function vpScheduler(options: VPSchedulerOptions = {}): Scheduler {
  const fn = "vpScheduler";
  const schedule = options.schedule ?? "linear";
  if (schedule === "linear") {
    checkKeys(fn, options, ["schedule", "betaMin", "betaMax"]);
    const betaMin = checkNumber(fn, "betaMin", options.betaMin ?? 0.1, (v) => v >= 0, ">= 0");
    const betaMax = checkNumber(
      fn,
      "betaMax",
      options.betaMax ?? 20,
      (v) => v > 0 && v >= betaMin,
      `> 0 and >= betaMin (${betaMin})`,
    );
    const a = 0.5 * (betaMax - betaMin);
    return build(
      "vp-linear",
      { schedule, betaMin, betaMax },
      (t) => {
        const s = 1 - t;
        const B = betaMin * s + a * s * s;
        const beta = betaMin + 2 * a * s;
        const alpha = Math.exp(-0.5 * B);
        // = sqrt(1 - alpha^2) without cancellation near t = 1
        const sigma = Math.sqrt(-Math.expm1(-B));
        const dAlpha = 0.5 * beta * alpha; // -(d/ds) alpha(s), since ds/dt = -1
        let dSigma: number;
        if (sigma > 0) dSigma = (-alpha * dAlpha) / sigma;
        // betaMin = 0: sigma ~ sqrt(a) (1 - t)
        else dSigma = betaMin > 0 ? -Infinity : -Math.sqrt(a);
        return { alpha, sigma, dAlpha, dSigma };
      },
      (r) => {
        // alpha^2 / sigma^2 = r^2 <=> B = ln(1 + 1 / r^2); then solve a s^2 + betaMin s = B (stable
        // root).
        const B = Math.log1p(1 / (r * r));
        const s = (2 * B) / (betaMin + Math.sqrt(betaMin * betaMin + 4 * a * B));
        return 1 - s;
      },
    );
  }
  if (schedule === "cosine") {
    checkKeys(fn, options, ["schedule", "s"]);
    const s0 = checkNumber(fn, "s", options.s ?? 0.008, (v) => v >= 0 && v <= 1, "in [0, 1]");
    const k = Math.PI / (2 * (1 + s0));
    const c0 = Math.cos(k * s0);
    return build(
      "vp-cosine",
      { schedule, s: s0 },
      (t) => {
        const alpha = Math.sin(k * t) / c0;
        // 1 - alpha^2 = (cos^2(k s0) - sin^2(k t)) / c0^2 = cos(k (s0 + t)) cos(k (s0 - t)) / c0^2,
        // and cos(k (s0 + t)) = sin(k (1 - t)): exact zero at t = 1, no cancellation near it.
        const sigma = Math.sqrt(Math.max(0, Math.sin(k * (1 - t)) * Math.cos(k * (s0 - t)))) / c0;
        const dAlpha = (k * Math.cos(k * t)) / c0;
        const dSigma = sigma > 0 ? (-alpha * dAlpha) / sigma : -Infinity;
        return { alpha, sigma, dAlpha, dSigma };
      },
      (r) => {
        const alpha = 1 / Math.sqrt(1 + 1 / (r * r));
        return Math.asin(Math.min(1, alpha * c0)) / k;
      },
    );
  }
  throw new Error(`${fn}: schedule must be "linear" or "cosine"; got ${JSON.stringify(schedule)}`);
}

/**
 * A variance-exploding path (NCSN / VE-SDE, lecture 2): alpha_t = 1 and sigma_t geometric from
 * sigmaMax at t = 0 to sigmaMin at t = 1: sigma_t = sigmaMax (sigmaMin / sigmaMax)^t.
 *
 * Note: p_0 is then **not** N(0, I): x_0 = x1 + sigmaMax x0 ~ p_data * N(0, sigmaMax^2 I), which is
 * approximately N(0, sigmaMax^2 I) when sigmaMax is much larger than the data. A sampler starts
 * from N(0, sigmaMax^2 I).
 * @example
 * const ve = veScheduler();     // sigmaMin 0.01, sigmaMax 50
 * ve.at(0.5).sigma;             // returns sqrt(0.01 * 50) ~ 0.707
 */
export function veScheduler(options: VESchedulerOptions = {}): Scheduler {
  const fn = "veScheduler";
  checkKeys(fn, options, ["sigmaMin", "sigmaMax"]);
  const sigmaMin = checkNumber(fn, "sigmaMin", options.sigmaMin ?? 0.01, (v) => v > 0, "> 0");
  const sigmaMax = checkNumber(
    fn,
    "sigmaMax",
    options.sigmaMax ?? 50,
    (v) => v > sigmaMin,
    `> sigmaMin (${sigmaMin})`,
  );
  const logRatio = Math.log(sigmaMin / sigmaMax);
  return build(
    "ve",
    { sigmaMin, sigmaMax },
    (t) => {
      const sigma = sigmaMax * Math.exp(t * logRatio);
      return { alpha: 1, sigma, dAlpha: 0, dSigma: sigma * logRatio };
    },
    // 1 / sigma_t = r  <=>  t = ln(1 / (r sigmaMax)) / ln(sigmaMin / sigmaMax)
    (r) => -Math.log(r * sigmaMax) / logRatio,
  );
}

/**
 * A scheduler from your own closed forms (for exercises: try another path and see what changes).
 * The result checks t and offers `columns`, `snr` and `timeAtSnr` like the presets.
 * @example
 * const sine = customScheduler({
 *   name: "sine",
 *   at: (t) => ({ alpha: Math.sin(Math.PI * t / 2), sigma: Math.cos(Math.PI * t / 2),
 *                 dAlpha: Math.PI / 2 * Math.cos(Math.PI * t / 2), dSigma: -Math.PI / 2 *
 *                   Math.sin(Math.PI * t / 2) }),
 * });
 */
export function customScheduler(options: CustomSchedulerOptions): Scheduler {
  const fn = "customScheduler";
  checkKeys(fn, options, ["name", "at", "timeAtSnr", "params"]);
  if (typeof options.name !== "string" || options.name === "")
    throw new Error(`${fn}: name must be a non-empty string; got ${String(options.name)}`);
  if (typeof options.at !== "function")
    throw new Error(
      `${fn}: at must be a function t => { alpha, sigma, dAlpha, dSigma }; got ` +
        `${typeof options.at}`,
    );
  const user = options.at;
  const at = (t: number): SchedulerValues => {
    const v = user(t);
    for (const key of ["alpha", "sigma", "dAlpha", "dSigma"] as const) {
      if (typeof v?.[key] !== "number" || Number.isNaN(v[key])) {
        throw new Error(
          `${options.name} scheduler: at(${t}) must return numbers { alpha, sigma, dAlpha, ` +
            `dSigma }; ${key} is ${String(v?.[key])}`,
        );
      }
    }
    return { alpha: v.alpha, sigma: v.sigma, dAlpha: v.dAlpha, dSigma: v.dSigma };
  };
  return build(options.name, options.params ?? {}, at, options.timeAtSnr);
}
