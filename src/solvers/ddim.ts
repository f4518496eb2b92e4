/**
 * DDPM's ancestral sampler and DDIM, driven by a velocity model (lecture concept 8: unification;
 * notebook 08).
 *
 * Both need only the model's clean-sample guess x1_hat = E[x1 | x_t] and noise guess eps_hat, which
 * are affine in the velocity on its path (`velocityToX1`, `velocityToEpsilon`), so one flow
 * matching model runs every sampler of the diffusion lectures. Times are course times (t = 0 noise,
 * t = 1 data); a grid t_0 < t_1 < ... is walked from noise to data, from t to s = the next time.
 *
 * - **Ancestral (DDPM)**: draw x_s from the Gaussian posterior q(x_s | x_t, x1 = x1_hat) of the
 *   path's Markov noising x_t = (alpha_t / alpha_s) x_s + sigma_{t|s} z (`ancestralCoefficients`).
 *   On DDPM's own grid (`ddpmTimeGrid`) and path (`ddpmPath`) these are Ho et al.'s mean and
 *   variance beta~_k exactly.
 * - **DDIM** (Song, Meng & Ermon): x_s = alpha_s x1_hat + sqrt(sigma_s^2 - s_eta^2) eps_hat + s_eta
 *   z with s_eta = eta times the ancestral standard deviation; eta = 0 is deterministic, eta = 1 is
 *   the ancestral sampler again.
 * - **DDIM is Euler in another time** (`ddimOde`): with r = alpha / sigma and w = x / sigma, the
 *   path x = alpha x1 + sigma eps reads w = r x1 + eps, so dw/dr = x1_hat; one Euler step in r is
 *   exactly the DDIM step. Equally with rho = sigma / alpha, y = x / alpha: dy/drho = eps_hat. On
 *   the lecture's path (alpha = t, sigma = 1 - t) DDIM is also exactly Euler in t; on curved
 *   schedules (VP) it is not.
 */
import * as tf from "@tensorflow/tfjs";
import type { Time } from "../core/checks";
import type { VelocityField } from "../core/notation";
import { randn } from "../core/random";
import { AffineProbPath } from "../path/affine";
import { velocityToEpsilon, velocityToX1 } from "../path/conversions";
import { checkSamplerInputs, countedField, runGrid, samplerMesh } from "./internal";
import type { SamplerSolution } from "./sde";

/**
 * The Gaussian posterior q(x_s | x_t, x1) = N(xCoef x_t + x1Coef x1, std^2 I) of one ancestral
 * step.
 */
export interface AncestralCoefficients {
  /** alpha_{t|s} sigma_s^2 / sigma_t^2, alpha_{t|s} = alpha_t / alpha_s. */
  xCoef: number;
  /** alpha_s sigma_{t|s}^2 / sigma_t^2, sigma_{t|s}^2 = sigma_t^2 - alpha_{t|s}^2 sigma_s^2. */
  x1Coef: number;
  /**
   * sqrt(sigma_{t|s}^2 sigma_s^2 / sigma_t^2), the posterior's standard deviation (sqrt(beta~_k) on
   * DDPM's grid).
   */
  std: number;
  /**
   * sigma_{t|s}, the forward step's standard deviation (sqrt(beta_k) on DDPM's grid): Ho et al.'s
   * other choice of variance.
   */
  stepStd: number;
}

/**
 * The ancestral step's posterior from the noisier time t to the cleaner time s > t (course times),
 * in float64. With DDPM's grid (t = t_k, s = t_{k-1}) these are Ho et al.'s xCoef = sqrt(alpha_k)
 * (1 - alphaBar_{k-1}) / (1 - alphaBar_k), x1Coef = sqrt(alphaBar_{k-1}) beta_k / (1 - alphaBar_k),
 * std^2 = beta~_k = (1 - alphaBar_{k-1}) beta_k / (1 - alphaBar_k).
 * @example
 * ancestralCoefficients(condOTPath(), 0, 0.5); // returns { xCoef: 0, x1Coef: 0.5, std: 0.5,
 * stepStd: 1 }: x_s = s x1 + (1 - s) z
 */
export function ancestralCoefficients(
  path: AffineProbPath,
  t: number,
  s: number,
): AncestralCoefficients {
  const label = "ancestralCoefficients";
  if (!(path instanceof AffineProbPath))
    throw new Error(`${label}: path must be an AffineProbPath; got ${String(path)}`);
  for (const [name, v] of [
    ["t", t],
    ["s", s],
  ] as const) {
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || v > 1)
      throw new Error(`${label}: ${name} must lie in [0, 1]; got ${v}`);
  }
  if (!(t < s))
    throw new Error(
      `${label}: needs t < s (t the noisier time, s the cleaner one; course time runs noise -> ` +
        `data); got t = ${t}, s = ${s}`,
    );
  const a = path.scheduler.at(t);
  const b = path.scheduler.at(s);
  if (b.alpha === 0)
    throw new Error(
      `${label}: alpha_s = 0 at s = ${s} on the ${path.name} path (no signal at the cleaner time)`,
    );
  if (a.sigma === 0)
    throw new Error(
      `${label}: sigma_t = 0 at t = ${t} on the ${path.name} path (nothing left to denoise)`,
    );
  const ats = a.alpha / b.alpha;
  const st2 = a.sigma * a.sigma;
  let var_ts = st2 - ats * ats * b.sigma * b.sigma;
  if (var_ts < -1e-12 * st2) {
    throw new Error(
      `${label}: sigma/alpha must not grow from t = ${t} to s = ${s} on the ${path.name} path ` +
        `(the noising is not Markov that way)`,
    );
  }
  var_ts = Math.max(0, var_ts);
  return {
    xCoef: (ats * b.sigma * b.sigma) / st2,
    x1Coef: (b.alpha * var_ts) / st2,
    std: Math.sqrt((var_ts * b.sigma * b.sigma) / st2),
    stepStd: Math.sqrt(var_ts),
  };
}

/** Options of `sampleDdim` and `sampleAncestral`. */
export interface DdimOptions {
  /** Equal steps from t0 to t1. @default 100 */
  steps?: number;
  /** An explicit increasing time grid instead (e.g. `ddpmTimeGrid(1000, 20)`). @default none */
  times?: number[];
  /** Start time (where x0 lives). @default 0 */
  t0?: number;
  /** End time. @default 1 */
  t1?: number;
  /**
   * DDIM only: 0 deterministic, 1 the ancestral sampler, in between a mix. Must lie in [0, 1].
   * @default 0
   */
  eta?: number;
  /** Times (grid nodes) at which to record the state. @default none */
  saveAt?: number[];
}

function checkKeys(label: string, options: object, known: string[]): void {
  for (const key of Object.keys(options))
    if (!known.includes(key))
      throw new Error(`${label}: unknown option "${key}"; the options are ${known.join(", ")}`);
}

function finish(
  x: tf.Tensor2D,
  trajectory: tf.Tensor3D | undefined,
  mesh: number[],
  saveAt: number[] | undefined,
  nfe: number,
): SamplerSolution {
  const out: SamplerSolution = {
    x,
    times: saveAt ? saveAt.slice() : [mesh[mesh.length - 1]],
    nfe,
    steps: mesh.length - 1,
    mesh,
  };
  if (trajectory) out.trajectory = trajectory;
  return out;
}

/**
 * DDIM sampling from a velocity model: x_s = alpha_s x1_hat + sqrt(sigma_s^2 - s_eta^2) eps_hat +
 * s_eta z. One field evaluation per step; never evaluates at the last time (so t1 = 1 is fine where
 * sigma_1 = 0). Seeded through `core/random` when eta > 0; leak-free.
 * @example
 * const { x } = sampleDdim(gm.field(vpPath()), vpPath(), randn([1000, 2]) as tf.Tensor2D, { steps:
 * 20 });
 */
export function sampleDdim(
  field: VelocityField,
  path: AffineProbPath,
  x0: tf.Tensor2D,
  options: DdimOptions = {},
): SamplerSolution {
  const label = "sampleDdim";
  checkSamplerInputs(label, field, path, x0);
  checkKeys(label, options, ["steps", "times", "t0", "t1", "eta", "saveAt"]);
  const eta = options.eta ?? 0;
  if (typeof eta !== "number" || !Number.isFinite(eta) || eta < 0 || eta > 1)
    throw new Error(`${label}: eta must lie in [0, 1]; got ${String(eta)}`);
  const mesh = samplerMesh(label, options, { steps: 100, t0: 0, t1: 1 });
  const plan = mesh.slice(0, -1).map((t, i) => {
    const next = path.scheduler.at(mesh[i + 1]);
    const noise = eta === 0 ? 0 : eta * ancestralCoefficients(path, t, mesh[i + 1]).std;
    return {
      alpha: next.alpha,
      epsCoef: Math.sqrt(Math.max(0, next.sigma * next.sigma - noise * noise)),
      noise,
    };
  });
  const counted = countedField(field);
  const { x, trajectory } = runGrid(x0, mesh, options.saveAt, (x, i) => {
    const t = mesh[i];
    const u = counted.f(x, t);
    const p = plan[i];
    const mean = tf.add(
      tf.mul(velocityToX1(u, x, t, path), p.alpha),
      tf.mul(velocityToEpsilon(u, x, t, path), p.epsCoef),
    );
    return (p.noise === 0 ? mean : tf.add(mean, tf.mul(randn(x.shape), p.noise))) as tf.Tensor2D;
  });
  return finish(x, trajectory, mesh, options.saveAt, counted.nfe());
}

/** Options of `sampleAncestral`: the grid options of `DdimOptions` and the choice of variance. */
export interface AncestralOptions extends Omit<DdimOptions, "eta"> {
  /**
   * `"posterior"`: the posterior's variance beta~_k (exact for a Gaussian posterior); `"step"`: the
   * forward step's variance beta_k (Ho et al. found both work; it adds slightly more noise).
   * @default "posterior"
   */
  variance?: "posterior" | "step";
}

/**
 * DDPM's ancestral sampler from a velocity model: x_s ~ q(x_s | x_t, x1 = x1_hat), the posterior of
 * the path's Markov noising (`ancestralCoefficients`), x1_hat from the velocity. On `ddpmPath` with
 * `ddpmTimeGrid(K)` this is Ho et al.'s sampler with the posterior variance beta~_k; any other grid
 * or path works too. The last step to a time with sigma = 0 adds no noise (x = x1_hat there).
 * Seeded through `core/random`; leak-free; one field evaluation per step.
 * @example
 * const ddpm = ddpmSchedule({ steps: 1000 }); const { x } =
 * sampleAncestral(gm.field(ddpmPath(ddpm)), ddpmPath(ddpm), randn([1000, 2]) as tf.Tensor2D, {
 * times: ddpmTimeGrid(1000) });
 */
export function sampleAncestral(
  field: VelocityField,
  path: AffineProbPath,
  x0: tf.Tensor2D,
  options: AncestralOptions = {},
): SamplerSolution {
  const label = "sampleAncestral";
  checkSamplerInputs(label, field, path, x0);
  checkKeys(label, options, ["steps", "times", "t0", "t1", "saveAt", "variance"]);
  const variance = options.variance ?? "posterior";
  if (variance !== "posterior" && variance !== "step")
    throw new Error(
      `${label}: variance must be "posterior" or "step"; got ${JSON.stringify(variance)}`,
    );
  const mesh = samplerMesh(label, options, { steps: 100, t0: 0, t1: 1 });
  const plan = mesh.slice(0, -1).map((t, i) => {
    const c = ancestralCoefficients(path, t, mesh[i + 1]);
    // The last step onto a time with sigma = 0 stays noise-free with either choice (x = x1_hat
    // there).
    const std = variance === "step" && path.scheduler.at(mesh[i + 1]).sigma > 0 ? c.stepStd : c.std;
    return { ...c, std };
  });
  const counted = countedField(field);
  const { x, trajectory } = runGrid(x0, mesh, options.saveAt, (x, i) => {
    const t = mesh[i];
    const u = counted.f(x, t);
    const c = plan[i];
    const mean = tf.add(tf.mul(x, c.xCoef), tf.mul(velocityToX1(u, x, t, path), c.x1Coef));
    return (c.std === 0 ? mean : tf.add(mean, tf.mul(randn(x.shape), c.std))) as tf.Tensor2D;
  });
  return finish(x, trajectory, mesh, options.saveAt, counted.nfe());
}

/**
 * The reparametrised time of `ddimOde`: `"snr"` r = alpha / sigma (state x / sigma), `"nsr"` rho =
 * sigma / alpha (state x / alpha).
 */
export type DdimVariable = "snr" | "nsr";

/** The DDIM ODE in a reparametrised time v (see `ddimOde`). */
export interface DdimOde {
  /** Which time: `"snr"` or `"nsr"`. */
  readonly variable: DdimVariable;
  /**
   * The field in the new variables: `(state [n, d], v: number) -> d state / dv` (x1_hat for
   * `"snr"`, eps_hat for `"nsr"`), ready for `solveOde` with t0 = valueAt(start), t1 =
   * valueAt(end).
   */
  readonly field: VelocityField;
  /** v at a course time t (alpha_t / sigma_t or sigma_t / alpha_t). */
  valueAt(t: number): number;
  /** The course time at which the variable equals v (through the scheduler's `timeAtSnr`). */
  timeAt(v: number): number;
  /**
   * The state at course time t: x / sigma_t (`"snr"`) or x / alpha_t (`"nsr"`). The caller disposes
   * it.
   */
  toState(x: tf.Tensor2D, t: number): tf.Tensor2D;
  /** Back from the state to x at course time t. The caller disposes it. */
  fromState(state: tf.Tensor2D, t: number): tf.Tensor2D;
}

/**
 * DDIM's deterministic sampler as an ODE in a reparametrised time, so that plain Euler steps
 * (`solveOde`) in v reproduce `sampleDdim` (eta = 0) on the grid t_i = timeAt(v_i) exactly (tested
 * to float32 precision). `"snr"` (the default) stays well-conditioned from pure noise (r = 0)
 * towards the data; `"nsr"` is the DDIM paper's form (and for the VE path, where alpha = 1, it is
 * Euler in sigma, Karras et al.'s choice) but is infinite where alpha = 0.
 * @example
 * const ode = ddimOde(u, vpPath());
 * const y = ode.toState(x0, 0);
 * const sol = solveOde(ode.field, y, { t0: ode.valueAt(0), t1: ode.valueAt(0.99), steps: 20 });
 * const x = ode.fromState(sol.x, 0.99);   // equals sampleDdim on the times ode.timeAt(v_i)
 */
export function ddimOde(
  field: VelocityField,
  path: AffineProbPath,
  variable: DdimVariable = "snr",
): DdimOde {
  const label = "ddimOde";
  if (typeof field !== "function")
    throw new Error(
      `${label}: field must be a velocity field (x, t) => tensor; got ${typeof field}`,
    );
  if (!(path instanceof AffineProbPath))
    throw new Error(`${label}: path must be an AffineProbPath; got ${String(path)}`);
  if (variable !== "snr" && variable !== "nsr")
    throw new Error(`${label}: variable must be "snr" or "nsr"; got ${JSON.stringify(variable)}`);
  const sched = path.scheduler;
  const snr = variable === "snr";
  const valueAt = (t: number): number => {
    const r = sched.snr(t);
    const v = snr ? r : 1 / r;
    if (!Number.isFinite(v))
      throw new Error(
        `${label}: the ${variable} variable is infinite at t = ${t} on the ${path.name} path; ` +
          `stay inside (e.g. ${snr ? "t < 1" : "t > 0"})`,
      );
    return v;
  };
  const timeAt = (v: number): number => {
    if (typeof v !== "number" || Number.isNaN(v) || v < 0)
      throw new Error(`${label}: timeAt needs a number >= 0; got ${String(v)}`);
    return sched.timeAtSnr(snr ? v : 1 / v);
  };
  const scaleAt = (t: number): number => {
    const { alpha, sigma } = sched.at(t);
    const c = snr ? sigma : alpha;
    if (c === 0)
      throw new Error(
        `${label}: ${snr ? "sigma" : "alpha"} = 0 at t = ${t} on the ${path.name} path: the ` +
          `state x / ${snr ? "sigma" : "alpha"} is infinite`,
      );
    return c;
  };
  return {
    variable,
    valueAt,
    timeAt,
    toState: (x, t) => tf.tidy(() => tf.div(x, scaleAt(t)) as tf.Tensor2D),
    fromState: (y, t) => tf.tidy(() => tf.mul(y, scaleAt(t)) as tf.Tensor2D),
    field: (y: tf.Tensor2D, v: Time) => {
      if (typeof v !== "number")
        throw new Error(`${label}: the reparametrised field takes one number v for the batch`);
      const t = timeAt(v);
      const c = scaleAt(t);
      return tf.tidy(() => {
        const x = tf.mul(y, c) as tf.Tensor2D;
        const u = field(x, t);
        return snr ? velocityToX1(u, x, t, path) : velocityToEpsilon(u, x, t, path);
      });
    },
  };
}
