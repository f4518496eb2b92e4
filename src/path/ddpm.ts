/**
 * DDPM's discrete forward process (lecture 1) and its translation to this course's convention
 * (lecture concept 8: unification; notebook 08).
 *
 * **Two time conventions.** DDPM (Ho et al. 2020) indexes its noising steps k = 0, 1, ..., K with k
 * = 0 the clean data and k = K (almost) pure noise; the score SDE (Song et al. 2021) uses a
 * diffusion time s in [0, 1] with s = 0 the data. This course runs the other way: t = 0 noise, t =
 * 1 data. So
 *
 *     s = 1 - t,        k = K s = K (1 - t),        t_k = 1 - k / K.
 *
 * **The forward process.** With a variance schedule beta_1, ..., beta_K,
 *
 *     q(x_k | x_{k-1}) = N(sqrt(1 - beta_k) x_{k-1}, beta_k I),   alphaBar_k = prod_{j <= k} (1 -
 *       beta_j),
 *     q(x_k | x_data)  = N(sqrt(alphaBar_k) x_data, (1 - alphaBar_k) I),
 *
 * which is the course's affine path x_t = alpha_t x1 + sigma_t x0 at t = t_k with x1 = x_data, x0
 * the noise, alpha_{t_k} = sqrt(alphaBar_k) and sigma_{t_k} = sqrt(1 - alphaBar_k)
 * (`ddpmScheduler`).
 *
 * **Its continuous limit** is the variance-preserving SDE: with beta_k = beta(s_k) / K the product
 * becomes alphaBar(s) = exp(-integral_0^s beta), the `vpScheduler` of `scheduler.ts` (see
 * `DdpmSchedule.limit`); `path/sde.ts` gives its drift and diffusion. The discrete alphaBar tends
 * to the continuous one at rate 1/K (tested).
 *
 * Beware the letters: DDPM's x_0 is the data, which this course calls x1; the course's x0 is noise.
 * The functions below name their arguments `xData` and `noise` to avoid the clash.
 */
import * as tf from "@tensorflow/tfjs";
import { assert2D, assertFinite, assertInRange } from "../core/checks";
import { randn } from "../core/random";
import { AffineProbPath } from "./affine";
import { customScheduler, vpScheduler, type Scheduler, type SchedulerValues } from "./scheduler";

/** DDPM's two classic variance schedules. */
export type DdpmBetaSchedule = "linear" | "cosine";

/** Options of `ddpmSchedule`. */
export interface DdpmScheduleOptions {
  /** The number of noising steps K (>= 2). @default 1000 */
  steps?: number;
  /** `"linear"` (Ho et al.) or `"cosine"` (Nichol & Dhariwal). @default "linear" */
  schedule?: DdpmBetaSchedule;
  /**
   * Linear schedule: K beta_1, the continuous rate beta(s) at the data end. With K = 1000 the
   * default gives Ho et al.'s beta_1 = 1e-4. @default 0.1
   */
  betaMin?: number;
  /**
   * Linear schedule: K beta_K, the rate at the noise end (Ho et al.'s beta_K = 0.02 at K = 1000).
   * @default 20
   */
  betaMax?: number;
  /** Cosine schedule: the offset s of f(s) = cos^2(((s + s0) / (1 + s0)) pi / 2). @default 0.008 */
  s?: number;
  /**
   * Cosine schedule: the largest beta_k (Nichol & Dhariwal clip at 0.999 so the last step is not
   * pure noise). @default 0.999
   */
  maxBeta?: number;
}

/**
 * A discrete DDPM schedule, indexed as in the paper (k = 0 data, k = K noise). Arrays have K + 1
 * entries so that `betas[k]` is beta_k; entry 0 is a placeholder (`betas[0] = 0`, `alphaBars[0] =
 * 1`).
 */
export type DdpmSchedule = {
  /** The number of steps K. */
  K: number;
  /** `"linear"` or `"cosine"`. */
  schedule: DdpmBetaSchedule;
  /** The options with defaults filled in. */
  params: Readonly<Record<string, number | string>>;
  /** beta_k, k = 0..K (beta_0 = 0). */
  betas: number[];
  /** alphaBar_k = prod_{j <= k} (1 - beta_j), k = 0..K (alphaBar_0 = 1). */
  alphaBars: number[];
  /**
   * The continuous-time limit as a course-time scheduler: `vpScheduler` linear with the same
   * betaMin and betaMax, or `vpScheduler` cosine with the same s (alpha_t^2 = alphaBar(s = 1 - t)).
   */
  limit: Scheduler;
};

function checkSteps(fn: string, K: unknown): number {
  if (typeof K !== "number" || !Number.isInteger(K) || K < 2)
    throw new Error(`${fn}: steps (K) must be an integer >= 2; got ${String(K)}`);
  return K;
}

/**
 * DDPM's variance schedule beta_1..beta_K and alphaBar_k, in DDPM's own index (k = 0 data, k = K
 * noise).
 *
 * - `"linear"`: beta_k = (betaMin + (k - 1) / (K - 1) (betaMax - betaMin)) / K, Ho et al.'s
 *   linspace (1e-4 to 0.02 at K = 1000) written so that K beta_k samples the continuous rate
 *   beta(s) of the VP-SDE.
 * - `"cosine"`: alphaBar_k = f(k / K) / f(0), f(s) = cos^2(((s + s0) / (1 + s0)) pi / 2), then
 *   beta_k = min(1 - alphaBar_k / alphaBar_{k-1}, maxBeta) and alphaBar recomputed from the clipped
 *   betas.
 *
 * @example
 * const ddpm = ddpmSchedule();          // K = 1000, linear
 * ddpm.betas[1];                        // returns ~1e-4 (0.1 / 1000)
 * ddpm.betas[1000];                     // returns ~0.02 (20 / 1000)
 * ddpm.alphaBars[1000];                 // ~4e-5: almost pure noise
 */
export function ddpmSchedule(options: DdpmScheduleOptions = {}): DdpmSchedule {
  const fn = "ddpmSchedule";
  const known = ["steps", "schedule", "betaMin", "betaMax", "s", "maxBeta"];
  if (options === null || typeof options !== "object")
    throw new Error(`${fn}: options must be an object { ${known.join(", ")} }`);
  for (const key of Object.keys(options))
    if (!known.includes(key))
      throw new Error(`${fn}: unknown option "${key}"; the options are ${known.join(", ")}`);
  const K = checkSteps(fn, options.steps ?? 1000);
  const schedule = options.schedule ?? "linear";
  const num = (name: string, v: number, ok: (v: number) => boolean, rule: string): number => {
    if (typeof v !== "number" || !Number.isFinite(v) || !ok(v))
      throw new Error(`${fn}: ${name} must be a finite number ${rule}; got ${String(v)}`);
    return v;
  };
  const betas = [0];
  let params: Record<string, number | string>;
  let limit: Scheduler;
  if (schedule === "linear") {
    if (options.s !== undefined || options.maxBeta !== undefined)
      throw new Error(`${fn}: s and maxBeta belong to the cosine schedule`);
    const betaMin = num("betaMin", options.betaMin ?? 0.1, (v) => v >= 0, ">= 0");
    const betaMax = num(
      "betaMax",
      options.betaMax ?? 20,
      (v) => v > 0 && v >= betaMin,
      `> 0 and >= betaMin (${betaMin})`,
    );
    if (betaMax / K >= 1)
      throw new Error(
        `${fn}: beta_K = betaMax / K must be < 1; got ${betaMax} / ${K} (use more steps)`,
      );
    for (let k = 1; k <= K; k++)
      betas.push((betaMin + ((k - 1) / (K - 1)) * (betaMax - betaMin)) / K);
    params = { steps: K, schedule, betaMin, betaMax };
    limit = vpScheduler({ schedule: "linear", betaMin, betaMax });
  } else if (schedule === "cosine") {
    if (options.betaMin !== undefined || options.betaMax !== undefined)
      throw new Error(`${fn}: betaMin and betaMax belong to the linear schedule`);
    const s0 = num("s", options.s ?? 0.008, (v) => v >= 0 && v <= 1, "in [0, 1]");
    const maxBeta = num("maxBeta", options.maxBeta ?? 0.999, (v) => v > 0 && v < 1, "in (0, 1)");
    const f = (s: number): number => Math.cos(((s + s0) / (1 + s0)) * (Math.PI / 2)) ** 2;
    for (let k = 1; k <= K; k++) betas.push(Math.min(1 - f(k / K) / f((k - 1) / K), maxBeta));
    params = { steps: K, schedule, s: s0, maxBeta };
    limit = vpScheduler({ schedule: "cosine", s: s0 });
  } else {
    throw new Error(
      `${fn}: schedule must be "linear" or "cosine"; got ${JSON.stringify(schedule)}`,
    );
  }
  const alphaBars = [1];
  for (let k = 1; k <= K; k++) alphaBars.push(alphaBars[k - 1] * (1 - betas[k]));
  return { K, schedule, params: Object.freeze(params), betas, alphaBars, limit };
}

// ---- Time conventions ---------------------------------------------------------------------------

/**
 * The course's time t (0 noise, 1 data) as the diffusion papers' time s = 1 - t (0 data, 1 noise).
 * @example
 * courseToDiffusionTime(0.25);   // returns 0.75
 */
export function courseToDiffusionTime(t: number): number {
  assertInRange(t, "courseToDiffusionTime: t", 0, 1);
  return 1 - t;
}

/**
 * The diffusion papers' time s (0 data, 1 noise) as the course's time t = 1 - s. The inverse of
 * `courseToDiffusionTime` (exactly for dyadic times such as 0.25; within 1.2e-16, one rounding of
 * 1, otherwise).
 */
export function diffusionToCourseTime(s: number): number {
  assertInRange(s, "diffusionToCourseTime: s", 0, 1);
  return 1 - s;
}

/**
 * The course time of DDPM's step k out of K: t_k = 1 - k / K (k = 0 data -> t = 1; k = K noise -> t
 * = 0).
 * @example
 * ddpmIndexToTime(250, 1000);   // returns 0.75
 */
export function ddpmIndexToTime(k: number, K: number): number {
  checkSteps("ddpmIndexToTime", K);
  if (!Number.isInteger(k) || k < 0 || k > K)
    throw new Error(`ddpmIndexToTime: k must be an integer in [0, ${K}]; got ${k}`);
  return (K - k) / K;
}

/**
 * DDPM's step index k = K (1 - t) of a course time t. `"exact"` (the default) requires t to be a
 * grid time 1 - k / K (within 1e-9 in k) and says so otherwise; `"nearest"` rounds to the nearest
 * step.
 * @example
 * timeToDdpmIndex(0.75, 1000);              // returns 250
 * timeToDdpmIndex(0.7503, 1000, "nearest"); // returns 250
 */
export function timeToDdpmIndex(t: number, K: number, mode: "exact" | "nearest" = "exact"): number {
  assertInRange(t, "timeToDdpmIndex: t", 0, 1);
  checkSteps("timeToDdpmIndex", K);
  if (mode !== "exact" && mode !== "nearest")
    throw new Error(
      `timeToDdpmIndex: mode must be "exact" or "nearest"; got ${JSON.stringify(mode)}`,
    );
  const u = K * (1 - t);
  const k = Math.round(u);
  if (mode === "exact" && Math.abs(u - k) > 1e-9) {
    throw new Error(
      `timeToDdpmIndex: t = ${t} is not a step time 1 - k / ${K} (K (1 - t) = ${u}); pass ` +
        `"nearest" to round`,
    );
  }
  return k;
}

/**
 * The course times of a DDPM sampling grid, increasing from noise to data: t = 1 - k / K for k = K,
 * K - stride, ..., 0 (K must be a multiple of stride). Stride 1 is DDPM's full chain; a larger
 * stride is the shorter chain of DDIM and respaced DDPM.
 * @example
 * ddpmTimeGrid(1000, 250);   // returns [0, 0.25, 0.5, 0.75, 1]
 */
export function ddpmTimeGrid(K: number, stride = 1): number[] {
  checkSteps("ddpmTimeGrid", K);
  if (!Number.isInteger(stride) || stride < 1 || K % stride !== 0) {
    throw new Error(
      `ddpmTimeGrid: stride must be a positive integer dividing K = ${K}; got ${stride}`,
    );
  }
  const times: number[] = [];
  for (let k = K; k >= 0; k -= stride) times.push(ddpmIndexToTime(k, K));
  return times;
}

// ---- The discrete schedule as a course-time scheduler -------------------------------------------

/**
 * The discrete DDPM schedule as a course-time `Scheduler` (so `new
 * AffineProbPath(ddpmScheduler(d))`, the mixtures' exact fields and the samplers work with it): at
 * the step times t_k = 1 - k / K it gives exactly alpha = sqrt(alphaBar_k), sigma = sqrt(1 -
 * alphaBar_k); in between, log alphaBar is interpolated linearly (a constant noising rate -log(1 -
 * beta_k) within step k). The derivatives are those of the interpolant (one-sided at the step
 * times: the segment on the noise side). Like the VP path, dSigma = -Infinity at t = 1.
 * @example
 * const sched = ddpmScheduler(ddpmSchedule({ steps: 1000 }));
 * sched.at(0.75).alpha ** 2;   // returns alphaBar_250
 */
export function ddpmScheduler(schedule: DdpmSchedule): Scheduler {
  if (
    !schedule ||
    !Array.isArray(schedule.alphaBars) ||
    schedule.alphaBars.length !== schedule.K + 1
  ) {
    throw new Error(
      `ddpmScheduler needs a DdpmSchedule from ddpmSchedule(); got ${String(schedule)}`,
    );
  }
  const { K } = schedule;
  const logAB = schedule.alphaBars.map((a) => Math.log(a));
  const at = (t: number): SchedulerValues => {
    let u = K * (1 - t);
    if (Math.abs(u - Math.round(u)) < 1e-9) u = Math.round(u);
    const j = Math.min(Math.floor(u), K - 1);
    const slope = logAB[j + 1] - logAB[j]; // d log alphaBar / dk on step j + 1 (negative)
    const L = logAB[j] + (u - j) * slope;
    const alpha = Math.exp(0.5 * L);
    const sigma = Math.sqrt(Math.max(0, -Math.expm1(L))); // max: +0, not -0, at t = 1
    const dAlpha = -0.5 * K * slope * alpha; // d/dt = -K d/dk
    const dSigma = sigma > 0 ? (-alpha * dAlpha) / sigma : -Infinity;
    return { alpha, sigma, dAlpha, dSigma };
  };
  return customScheduler({
    name: `ddpm-${schedule.schedule}-K${K}`,
    at,
    params: { ...schedule.params },
  });
}

/**
 * The affine path of a discrete DDPM schedule (see `ddpmScheduler`).
 * @example
 * const path = ddpmPath(ddpmSchedule({ steps: 1000, schedule: "cosine" }));
 */
export function ddpmPath(schedule: DdpmSchedule): AffineProbPath {
  return new AffineProbPath(ddpmScheduler(schedule));
}

// ---- Sampling the forward process ---------------------------------------------------------------

/**
 * A noised point of DDPM's forward process and the noise that made it (tensors owned by the
 * caller).
 */
export type DdpmNoised = {
  /** x_k, `[n, d]`. */
  xk: tf.Tensor2D;
  /** The standard normal noise used, `[n, d]` (DDPM's regression target epsilon). */
  noise: tf.Tensor2D;
};

function checkIndex(fn: string, k: number, schedule: DdpmSchedule, lo: number): void {
  if (!schedule || !Array.isArray(schedule.alphaBars))
    throw new Error(`${fn}: schedule must come from ddpmSchedule(); got ${String(schedule)}`);
  if (!Number.isInteger(k) || k < lo || k > schedule.K)
    throw new Error(`${fn}: k must be an integer in [${lo}, ${schedule.K}]; got ${k}`);
}

/**
 * One draw of q(x_k | x_data) = N(sqrt(alphaBar_k) x_data, (1 - alphaBar_k) I): DDPM's closed-form
 * noising in its own index (k = 0 returns x_data). Seeded through `core/random` unless `noise` is
 * given (not consumed).
 * @param xData clean points `[n, d]` (DDPM's x_0; this course's x1)
 * @param k the step, 0..K
 * @example
 * const { xk, noise } = ddpmNoise(x1, 500, ddpmSchedule());   // the pair DDPM's loss regresses on
 */
export function ddpmNoise(
  xData: tf.Tensor2D,
  k: number,
  schedule: DdpmSchedule,
  noise?: tf.Tensor2D,
): DdpmNoised {
  assert2D(xData, "ddpmNoise: xData");
  assertFinite(xData, "ddpmNoise: xData");
  checkIndex("ddpmNoise", k, schedule, 0);
  if (noise !== undefined) {
    assert2D(noise, "ddpmNoise: noise", xData.shape[1]);
    if (noise.shape[0] !== xData.shape[0])
      throw new Error(
        `ddpmNoise: noise must have shape [${xData.shape.join(", ")}]; got ` +
          `[${noise.shape.join(", ")}]`,
      );
  }
  const ab = schedule.alphaBars[k];
  return tf.tidy(() => {
    const z = noise ? tf.clone(noise) : (randn(xData.shape) as tf.Tensor2D);
    const xk = tf.add(tf.mul(xData, Math.sqrt(ab)), tf.mul(z, Math.sqrt(1 - ab))) as tf.Tensor2D;
    return { xk, noise: z };
  });
}

/**
 * One step of DDPM's forward chain, a draw of q(x_k | x_{k-1}) = N(sqrt(1 - beta_k) x_{k-1}, beta_k
 * I) (k = 1..K). Iterating it from x_data gives the same distribution as `ddpmNoise` at k (tested).
 * In the continuous limit this is one Euler-Maruyama step of the VP-SDE with ds = 1 / K.
 */
export function ddpmForwardStep(x: tf.Tensor2D, k: number, schedule: DdpmSchedule): tf.Tensor2D {
  assert2D(x, "ddpmForwardStep: x");
  checkIndex("ddpmForwardStep", k, schedule, 1);
  const beta = schedule.betas[k];
  return tf.tidy(
    () =>
      tf.add(
        tf.mul(x, Math.sqrt(1 - beta)),
        tf.mul(randn(x.shape), Math.sqrt(beta)),
      ) as tf.Tensor2D,
  );
}
