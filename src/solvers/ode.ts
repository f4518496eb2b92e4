/**
 * ODE solvers for dx_t/dt = u_t(x_t): how a flow model turns noise x0 ~ p_0 into a sample x1 ~ p_1
 * (lecture concept 1: the ODE; concept 6: sampling "with Euler, or better solvers").
 *
 * Fixed-step methods (`euler`, `midpoint`, `heun`, `rk4`) take `steps` equal steps; the adaptive
 * Dormand-Prince 5(4) method (`dopri5`) chooses its own steps to meet `rtol`/`atol`. Every method
 * integrates forward (t0 = 0 -> t1 = 1, the default) or backward (t0 = 1 -> t1 = 0).
 *
 * NFE (number of function evaluations) counts every call of the velocity field, including the
 * calls of rejected dopri5 steps and the one call of its initial step-size guess: the honest cost.
 *
 * Memory: each step runs inside `tf.tidy`, so a solve of any length holds only the current state
 * (plus the saved trajectory). The returned tensors belong to the caller (`tf.dispose(result)`).
 * Introduced in notebook 1 (trajectories) and notebook 6 (sampling).
 */
import * as tf from "@tensorflow/tfjs";
import { assert2D, assertFinite } from "../core/checks";
import { checkInterrupt, interruptible } from "../core/interrupt";
import type { VelocityField } from "../core/notation";
import { checkSaveAt, checkSteps, checkTrajectorySize, countedField } from "./internal";
import { fixedMesh, runGrid } from "./internal";

/** The solver names `solveOde` accepts. */
export const ODE_METHODS = ["euler", "midpoint", "heun", "rk4", "dopri5"] as const;

/** One of `ODE_METHODS`. */
export type OdeMethod = (typeof ODE_METHODS)[number];

/** Field evaluations per step of each fixed-step method (its number of stages). */
export const ODE_STAGES: Record<Exclude<OdeMethod, "dopri5">, number> = {
  euler: 1,
  midpoint: 2,
  heun: 2,
  rk4: 4,
};

/** Options of `solveOde`. */
export interface SolveOdeOptions {
  /** The integration method. @default "euler" */
  method?: OdeMethod;
  /** Number of equal steps from t0 to t1 (fixed-step methods only). @default 100 */
  steps?: number;
  /** Start time. @default 0 */
  t0?: number;
  /** End time; t1 < t0 integrates backward. @default 1 */
  t1?: number;
  /**
   * Times at which to record the state, in the direction of integration (non-decreasing for
   * t0 < t1, non-increasing for t0 > t1), each between t0 and t1. Fixed-step methods land a step on
   * each of these times (the uniform grid gets these extra nodes, so the order is kept; NFE counts
   * the extra steps); `dopri5` evaluates its 4th-order dense output there (no extra NFE).
   * @default none (no trajectory)
   */
  saveAt?: number[];
  /**
   * Relative tolerance (dopri5). Float32 arithmetic makes values below ~1e-6 meaningless. @default
   * 1e-5
   */
  rtol?: number;
  /** Absolute tolerance (dopri5). @default 1e-5 */
  atol?: number;
  /**
   * Most steps (accepted + rejected) dopri5 may attempt before giving up with an error. @default
   * 10000
   */
  maxSteps?: number;
  /**
   * First step size for dopri5 (its magnitude; the sign follows t1 - t0). @default chosen by the
   * Hairer-Norsett-Wanner heuristic (1 extra NFE)
   */
  firstStep?: number;
}

/**
 * What `solveOde` returns. The tensors belong to the caller: `tf.dispose(result)` frees them all.
 * (A type alias, not an interface, so that `tf.dispose` accepts it.)
 */
export type OdeSolution = {
  /** The state at t1, `[n, d]`. */
  x: tf.Tensor2D;
  /**
   * The time of each trajectory entry (a copy of `saveAt`); without `saveAt`, `[t1]`, the time of
   * `x`.
   */
  times: number[];
  /**
   * The state at each of `times`, `[times.length, n, d]` (time first); only when `saveAt` is given.
   */
  trajectory?: tf.Tensor3D;
  /** Number of velocity-field evaluations. */
  nfe: number;
  /**
   * Number of accepted steps (for fixed-step methods: the steps taken, `steps` plus any extra
   * saveAt nodes).
   */
  steps: number;
  /** The times the solver stepped through, t0 first and t1 last (`steps + 1` entries). */
  mesh: number[];
  /** dopri5 only: accepted steps (equal to `steps`). */
  accepted?: number;
  /** dopri5 only: rejected steps (their evaluations are included in `nfe`). */
  rejected?: number;
};

// ---------------------------------------------------------------------------------------------
// Single steps (exported for teaching). Each takes the state x at time t and a signed step h.

/** Stage time t + c h, with the stage at c = 1 landing exactly on `tEnd` (no round-off past t1). */
function stageTime(t: number, h: number, c: number, tEnd: number): number {
  return c === 1 ? tEnd : t + c * h;
}

function eulerCore(f: VelocityField, x: tf.Tensor2D, t: number, h: number): tf.Tensor2D {
  return tf.add(x, tf.mul(f(x, t), h));
}

function midpointCore(f: VelocityField, x: tf.Tensor2D, t: number, h: number): tf.Tensor2D {
  const k1 = f(x, t);
  const k2 = f(tf.add(x, tf.mul(k1, h / 2)), t + h / 2);
  return tf.add(x, tf.mul(k2, h));
}

function heunCore(
  f: VelocityField,
  x: tf.Tensor2D,
  t: number,
  h: number,
  tEnd: number,
): tf.Tensor2D {
  const k1 = f(x, t);
  const k2 = f(tf.add(x, tf.mul(k1, h)), stageTime(t, h, 1, tEnd));
  return tf.add(x, tf.mul(tf.add(k1, k2), h / 2));
}

function rk4Core(
  f: VelocityField,
  x: tf.Tensor2D,
  t: number,
  h: number,
  tEnd: number,
): tf.Tensor2D {
  const k1 = f(x, t);
  const k2 = f(tf.add(x, tf.mul(k1, h / 2)), t + h / 2);
  const k3 = f(tf.add(x, tf.mul(k2, h / 2)), t + h / 2);
  const k4 = f(tf.add(x, tf.mul(k3, h)), stageTime(t, h, 1, tEnd));
  const sum = tf.addN([k1, tf.mul(k2, 2), tf.mul(k3, 2), k4]);
  return tf.add(x, tf.mul(sum, h / 6));
}

function fixedCore(
  method: Exclude<OdeMethod, "dopri5">,
  f: VelocityField,
  x: tf.Tensor2D,
  t: number,
  h: number,
  tEnd: number,
): tf.Tensor2D {
  switch (method) {
    case "euler":
      return eulerCore(f, x, t, h);
    case "midpoint":
      return midpointCore(f, x, t, h);
    case "heun":
      return heunCore(f, x, t, h, tEnd);
    case "rk4":
      return rk4Core(f, x, t, h, tEnd);
  }
}

function checkStepArgs(name: string, x: tf.Tensor2D, t: number, h: number): void {
  assert2D(x, `${name}: x`);
  if (typeof t !== "number" || !Number.isFinite(t))
    throw new Error(`${name}: t must be a finite number; got ${t}`);
  if (typeof h !== "number" || !Number.isFinite(h))
    throw new Error(`${name}: h must be a finite number; got ${h}`);
}

/**
 * One explicit Euler step: x + h u(x, t). First order; one field evaluation.
 * @example
 * const x1 = eulerStep(u, x0, 0, 1); // "Euler in one step": follows the initial velocity in a
 * straight line
 */
export function eulerStep(field: VelocityField, x: tf.Tensor2D, t: number, h: number): tf.Tensor2D {
  checkStepArgs("eulerStep", x, t, h);
  return tf.tidy(() => eulerCore(field, x, t, h));
}

/**
 * One explicit midpoint step: half an Euler step, then the full step with the velocity found there.
 * Second order; two field evaluations.
 */
export function midpointStep(
  field: VelocityField,
  x: tf.Tensor2D,
  t: number,
  h: number,
): tf.Tensor2D {
  checkStepArgs("midpointStep", x, t, h);
  return tf.tidy(() => midpointCore(field, x, t, h));
}

/**
 * One Heun step (explicit trapezoid): an Euler predictor, then the average of the velocities at
 * both ends. Second order; two field evaluations.
 */
export function heunStep(field: VelocityField, x: tf.Tensor2D, t: number, h: number): tf.Tensor2D {
  checkStepArgs("heunStep", x, t, h);
  return tf.tidy(() => heunCore(field, x, t, h, t + h));
}

/**
 * One classical Runge-Kutta step (weights 1/6, 2/6, 2/6, 1/6). Fourth order; four field
 * evaluations.
 */
export function rk4Step(field: VelocityField, x: tf.Tensor2D, t: number, h: number): tf.Tensor2D {
  checkStepArgs("rk4Step", x, t, h);
  return tf.tidy(() => rk4Core(field, x, t, h, t + h));
}

// Dormand-Prince 5(4) coefficients (Dormand & Prince 1980; Hairer, Norsett & Wanner, Solving ODEs
// I, II.5).
const DP_C = [0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1, 1];
const DP_A: number[][] = [
  [],
  [1 / 5],
  [3 / 40, 9 / 40],
  [44 / 45, -56 / 15, 32 / 9],
  [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
  [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
  [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
];
/** Fifth-order weights (the last row of A: the "first same as last" property). */
const DP_B5 = [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0];
/** Fifth- minus fourth-order weights: the embedded error estimate. */
const DP_E = [71 / 57600, 0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40];
/** Dense-output coefficients (Hairer's DOPRI5 code, a 4th-order continuous extension). */
const DP_D = [
  -12715105075 / 11282082432,
  0,
  87487479700 / 32700410799,
  -10690763975 / 1880347072,
  701980252875 / 199316789632,
  -1453857185 / 822651844,
  69997945 / 29380423,
];

/** Weighted sum of the stages, sum_j w_j k_j, skipping zero weights. */
function combine(ks: tf.Tensor2D[], w: number[]): tf.Tensor2D {
  const terms: tf.Tensor2D[] = [];
  for (let j = 0; j < ks.length; j++) if (w[j] !== 0) terms.push(tf.mul(ks[j], w[j]));
  return terms.length === 1 ? terms[0] : tf.addN(terms);
}

/** One Dormand-Prince step given k1 = u(x, t); returns all seven stages (k7 = u(x_new, t + h)). */
function dopri5Core(
  f: VelocityField,
  x: tf.Tensor2D,
  t: number,
  h: number,
  tEnd: number,
  k1: tf.Tensor2D,
): { x: tf.Tensor2D; error: tf.Tensor2D; ks: tf.Tensor2D[] } {
  const ks: tf.Tensor2D[] = [k1];
  for (let i = 1; i < 6; i++) {
    const xi = tf.add<tf.Tensor2D>(x, tf.mul(combine(ks, DP_A[i]), h));
    ks.push(f(xi, stageTime(t, h, DP_C[i], tEnd)));
  }
  const xNew = tf.add<tf.Tensor2D>(x, tf.mul(combine(ks, DP_B5), h));
  ks.push(f(xNew, tEnd));
  const error = tf.mul<tf.Tensor2D>(combine(ks, DP_E), h);
  return { x: xNew, error, ks };
}

/**
 * One Dormand-Prince 5(4) step of size h (7 field evaluations here; 6 inside `solveOde`, which
 * reuses the last stage as the next step's first: "first same as last").
 *
 * @returns `x`, the fifth-order solution at t + h, and `error`, the difference between the fifth-
 *   and the embedded fourth-order solutions: the local error estimate that step-size control uses.
 */
export function dopri5Step(
  field: VelocityField,
  x: tf.Tensor2D,
  t: number,
  h: number,
): { x: tf.Tensor2D; error: tf.Tensor2D } {
  checkStepArgs("dopri5Step", x, t, h);
  return tf.tidy(() => {
    const r = dopri5Core(field, x, t, h, t + h, field(x, t));
    return { x: r.x, error: r.error };
  });
}

/** Dense output at theta in [0, 1] of a Dormand-Prince step from x0 to x1 (4th order in h). */
function dopri5Dense(
  x0: tf.Tensor2D,
  x1: tf.Tensor2D,
  ks: tf.Tensor2D[],
  h: number,
  theta: number,
): tf.Tensor2D {
  const th1 = 1 - theta;
  const r2 = tf.sub(x1, x0);
  const r3 = tf.sub(tf.mul(ks[0], h), r2);
  const r4 = tf.sub(tf.sub(r2, tf.mul(ks[6], h)), r3);
  const r5 = tf.mul(combine(ks, DP_D), h);
  // x0 + theta (r2 + th1 (r3 + theta (r4 + th1 r5)))
  const inner = tf.add(r3, tf.mul(tf.add(r4, tf.mul(r5, th1)), theta));
  return tf.add(x0, tf.mul(tf.add(r2, tf.mul(inner, th1)), theta));
}

// ---------------------------------------------------------------------------------------------
// The solver.

function checkNumber(v: unknown, name: string, test: (v: number) => boolean, what: string): number {
  if (typeof v !== "number" || !Number.isFinite(v) || !test(v))
    throw new Error(`solveOde: ${name} must be ${what}; got ${v}`);
  return v;
}

/**
 * Solves dx/dt = u(x, t) from x(t0) = x0 to t1 for a batch of initial points.
 *
 * @param field the velocity u, called as `field(x [n, d], t: number)`; must act row by row
 * @param x0 initial points `[n, d]` (not consumed: the caller still owns it)
 * @param options method, steps, t0/t1, saveAt, tolerances (see `SolveOdeOptions`)
 * @returns `{ x, times, trajectory?, nfe, steps, mesh, accepted?, rejected? }` (see `OdeSolution`)
 *
 * @example
 * // Integrate u = 3 t^2 from x = 0: x(1) = 1. const sol = solveOde((x, t) => tf.fill(x.shape, 3 *
 * (t as number) ** 2) as tf.Tensor2D, tf.zeros([1, 1]), { method: "rk4", steps: 10 });
 * sol.x.dataSync()[0]; // returns ~1 sol.nfe; // returns 40 (4 per step)
 * @example
 * // Sampling: noise at t = 0 to data at t = 1, keeping five snapshots, adaptively. const { x,
 * trajectory } = solveOde(u, randn([500, 2]) as tf.Tensor2D, { method: "dopri5", saveAt: [0, 0.25,
 * 0.5, 0.75, 1] });
 */
export function solveOde(
  field: VelocityField,
  x0: tf.Tensor2D,
  options: SolveOdeOptions = {},
): OdeSolution {
  // One interruptible operation from start to end (src/core/interrupt.ts); the step loops check for
  // interrupts between steps.
  return interruptible(() => solve(field, x0, options));
}

function solve(field: VelocityField, x0: tf.Tensor2D, options: SolveOdeOptions): OdeSolution {
  if (typeof field !== "function")
    throw new Error(`solveOde: field must be a function (x, t) => tensor; got ${typeof field}`);
  assert2D(x0, "solveOde: x0");
  assertFinite(x0, "solveOde: x0");
  const method = options.method ?? "euler";
  if (!(ODE_METHODS as readonly string[]).includes(method)) {
    throw new Error(
      `Unknown ODE method "${String(method)}"; choose one of ${ODE_METHODS.join(", ")}`,
    );
  }
  const t0 = checkNumber(options.t0 ?? 0, "t0", () => true, "a finite number");
  const t1 = checkNumber(options.t1 ?? 1, "t1", () => true, "a finite number");
  if (Array.isArray(options.saveAt)) checkTrajectorySize("solveOde", options.saveAt.length, x0);
  if (options.saveAt !== undefined) checkSaveAt("solveOde", options.saveAt, t0, t1);
  const saveAt = options.saveAt ? options.saveAt.slice() : undefined;
  const counted = countedField(field);

  if (method === "dopri5") {
    const rtol = checkNumber(options.rtol ?? 1e-5, "rtol", (v) => v >= 0, "a finite number >= 0");
    const atol = checkNumber(options.atol ?? 1e-5, "atol", (v) => v >= 0, "a finite number >= 0");
    if (rtol === 0 && atol === 0) throw new Error("solveOde: rtol and atol cannot both be 0");
    const maxSteps = checkSteps("solveOde", options.maxSteps ?? 10000, "maxSteps");
    const firstStep =
      options.firstStep === undefined
        ? undefined
        : checkNumber(options.firstStep, "firstStep", (v) => v > 0, "a finite number > 0");
    return solveDopri5(counted, x0, t0, t1, saveAt, rtol, atol, maxSteps, firstStep);
  }
  const steps = checkSteps("solveOde", options.steps ?? 100);
  return solveFixed(method, counted, x0, t0, t1, steps, saveAt);
}

function solveFixed(
  method: Exclude<OdeMethod, "dopri5">,
  counted: { f: VelocityField; nfe: () => number },
  x0: tf.Tensor2D,
  t0: number,
  t1: number,
  steps: number,
  saveAt: number[] | undefined,
): OdeSolution {
  const mesh = t0 === t1 ? [t0] : fixedMesh(t0, t1, steps, saveAt);
  const step = (x: tf.Tensor2D, i: number) =>
    fixedCore(method, counted.f, x, mesh[i], mesh[i + 1] - mesh[i], mesh[i + 1]);
  const { x, trajectory } = runGrid(x0, mesh, saveAt, step);
  const bad = nonFinite(x);
  if (bad !== undefined) {
    x.dispose();
    trajectory?.dispose();
    throw new Error(`solveOde (${method}): ${firstNonFiniteStep(x0, mesh, step, bad)}`);
  }
  const out: OdeSolution = {
    x,
    times: saveAt ? saveAt : [t1],
    nfe: counted.nfe(),
    steps: mesh.length - 1,
    mesh,
  };
  if (trajectory) out.trajectory = trajectory;
  return out;
}

/**
 * Says where a fixed-grid solve first produced a non-finite state, by replaying it step by step
 * from x0 (only after the solve has ended non-finite, so a finite solve pays one check in all).
 */
function firstNonFiniteStep(
  x0: tf.Tensor2D,
  mesh: number[],
  step: (x: tf.Tensor2D, i: number) => tf.Tensor2D,
  what: string,
): string {
  let x = x0;
  try {
    for (let i = 0; i + 1 < mesh.length; i++) {
      const prev = x;
      x = tf.tidy(() => step(prev, i));
      if (prev !== x0) prev.dispose();
      const bad = nonFinite(x);
      if (bad !== undefined) {
        return (
          `the state became ${bad} in step ${i + 1} of ${mesh.length - 1}, from t = ` +
          `${+mesh[i].toPrecision(6)} ` +
          `to t = ${+mesh[i + 1].toPrecision(6)}: the field returned a non-finite value there or ` +
          `grew too fast ` +
          `for this step size (try more steps, or dopri5, which names the time it fails at)`
        );
      }
    }
    return `the state became ${what}, but not on replay: the field is not deterministic`;
  } finally {
    if (x !== x0) x.dispose();
  }
}

/** The Dormand-Prince stage times, as fractions of the step: stage i evaluates at t + C[i] h. */
const DOPRI5_C = [0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1, 1];
/** Rejections in a row for a non-finite field value before dopri5 says so (h shrinks 5x each). */
const NON_FINITE_REJECTIONS = 12;

/** "NaN" or "Infinity" when the tensor holds one (NaN first), else undefined. */
function nonFinite(v: tf.Tensor): string | undefined {
  return tf.tidy(() => {
    if (tf.any(tf.isNaN(v)).dataSync()[0]) return "NaN";
    if (tf.any(tf.isInf(v)).dataSync()[0]) return "Infinity";
    return undefined;
  });
}

/** RMS norm scaled by the tolerances, as in Hairer-Norsett-Wanner (II.4). Reads one number. */
function scaledNorm(v: tf.Tensor, scale: tf.Tensor): number {
  return tf.tidy(() => Math.sqrt(tf.mean(tf.square(tf.div(v, scale))).dataSync()[0]));
}

function solveDopri5(
  counted: { f: VelocityField; nfe: () => number },
  x0: tf.Tensor2D,
  t0: number,
  t1: number,
  saveAt: number[] | undefined,
  rtol: number,
  atol: number,
  maxSteps: number,
  firstStep: number | undefined,
): OdeSolution {
  const f = counted.f;
  const dir = t1 >= t0 ? 1 : -1;
  const saves = saveAt ?? [];
  const saved: tf.Tensor2D[] = [];
  const mesh = [t0];
  let next = 0; // index of the next save time to fill
  while (next < saves.length && saves[next] === t0) {
    saved.push(tf.clone(x0));
    next++;
  }
  if (t0 === t1) {
    return {
      x: tf.clone(x0),
      times: saveAt ?? [t1],
      trajectory: stackSaved(saved, saveAt, x0),
      nfe: 0,
      steps: 0,
      mesh,
      accepted: 0,
      rejected: 0,
    };
  }

  // Step-control constants (Hairer-Norsett-Wanner): safety factor, and bounds on the change of h.
  const SAFETY = 0.9;
  const FAC_MIN = 0.2;
  const FAC_MAX = 10;
  const ORDER = 5; // the error estimate scales like h^5

  let x: tf.Tensor2D = x0;
  let k1: tf.Tensor2D | null = null;
  let accepted = 0;
  let rejected = 0;
  let t = t0;
  let badRejections = 0; // rejections in a row caused by a non-finite field value
  // The latest rejection, if a non-finite field value caused it: named if the step then collapses.
  let lastBad: { kind: string; at: number; from: number } | undefined;
  const nanMessage = (bad: { kind: string; at: number; from: number }, how: string): string =>
    `solveOde (dopri5): the velocity field returned ${bad.kind} at t = ${bad.at} (a stage of the ` +
    `step from t = ${bad.from}), ${how}: a smaller step or a looser tolerance cannot fix that; ` +
    `check the field near that time`;
  try {
    k1 = tf.tidy(() => f(x0, t0));
    const atStart = nonFinite(k1);
    if (atStart) {
      throw new Error(
        `solveOde (dopri5): the velocity field returned ${atStart} at t = ${t0}, at the starting ` +
          `points (before any step); no step size can fix that: check the field there`,
      );
    }
    let h: number;
    if (firstStep !== undefined) {
      h = Math.min(firstStep, Math.abs(t1 - t0));
    } else {
      // Initial step guess (Hairer-Norsett-Wanner II.4): one extra evaluation, counted in nfe.
      const kk = k1;
      h = tf.tidy(() => {
        const scale = tf.add(tf.mul(tf.abs(x0), rtol), atol);
        const d0 = scaledNorm(x0, scale);
        const d1 = scaledNorm(kk, scale);
        let h0 = d0 < 1e-5 || d1 < 1e-5 ? 1e-6 : (0.01 * d0) / d1;
        h0 = Math.min(h0, Math.abs(t1 - t0));
        const x1 = tf.add<tf.Tensor2D>(x0, tf.mul(kk, dir * h0));
        const f1 = f(x1, t0 + dir * h0);
        const d2 = scaledNorm(tf.sub(f1, kk), scale) / h0;
        const h1 =
          Math.max(d1, d2) <= 1e-15
            ? Math.max(1e-6, h0 * 1e-3)
            : Math.pow(0.01 / Math.max(d1, d2), 1 / ORDER);
        return Math.min(100 * h0, h1);
      });
    }
    let facMax = FAC_MAX;
    while (dir * (t1 - t) > 0) {
      checkInterrupt(() => `the solver (dopri5) stopped at t = ${t} after ${accepted} steps`);
      if (accepted + rejected >= maxSteps) {
        if (lastBad) throw new Error(nanMessage(lastBad, `and it reached maxSteps = ${maxSteps}`));
        throw new Error(
          `solveOde (dopri5): reached maxSteps = ${maxSteps} at t = ${t} before t1 = ${t1}; ` +
            `loosen rtol/atol (float32 cannot resolve rtol below ~1e-6) or raise maxSteps`,
        );
      }
      // Land exactly on t1 when the step would pass it (or leave a sliver shorter than round-off).
      let tNew = t + dir * h;
      if (dir * (tNew - t1) >= 0 || Math.abs(t1 - tNew) <= 1e-12 * Math.max(1, Math.abs(t1)))
        tNew = t1;
      const hs = tNew - t; // signed step actually taken
      if (Math.abs(hs) <= 1e-14 * Math.max(1, Math.abs(t))) {
        if (lastBad) {
          const how = `and the step shrank to h = ${hs.toExponential(2)} at t = ${t}`;
          throw new Error(nanMessage(lastBad, how));
        }
        throw new Error(
          `solveOde (dopri5): step size underflow at t = ${t} (h = ${hs}); the field may be ` +
            `singular there`,
        );
      }
      const xCur = x;
      const kCur = k1;
      const step = tf.tidy(() => {
        const r = dopri5Core(f, xCur, t, hs, tNew, kCur);
        const scale = tf.add(tf.mul(tf.maximum(tf.abs(xCur), tf.abs(r.x)), rtol), atol);
        const err = scaledNorm(r.error, scale);
        return { r, err };
      });
      const err = step.err;
      if (err <= 1 && Number.isFinite(err)) {
        // Accept: fill the save times inside (t, tNew] from the dense output, then move on.
        const dense: tf.Tensor2D[] = [];
        while (next < saves.length && dir * (saves[next] - tNew) <= 0) {
          const s = saves[next];
          dense.push(
            s === tNew
              ? tf.clone(step.r.x)
              : tf.tidy(() => dopri5Dense(xCur, step.r.x, step.r.ks, hs, (s - t) / hs)),
          );
          next++;
        }
        saved.push(...dense);
        const k7 = step.r.ks[6];
        tf.dispose(step.r.ks.slice(1, 6)); // k2..k6 (k1 is kCur, disposed below)
        step.r.error.dispose();
        if (xCur !== x0) xCur.dispose();
        kCur.dispose();
        x = step.r.x;
        k1 = k7; // first same as last
        t = tNew;
        mesh.push(t);
        accepted++;
        const fac =
          err === 0
            ? facMax
            : Math.min(facMax, Math.max(FAC_MIN, SAFETY * Math.pow(err, -1 / ORDER)));
        h = Math.abs(hs) * fac;
        facMax = FAC_MAX;
        badRejections = 0;
        lastBad = undefined;
      } else {
        // A NaN field value away from x may come from a step too long; one that persists as the
        // step shrinks is the field's own: say so, with the time, instead of a tolerance hint.
        const ks = step.r.ks;
        const stage = Number.isFinite(err) ? -1 : ks.findIndex((k) => nonFinite(k) !== undefined);
        const at = t + DOPRI5_C[stage] * hs;
        lastBad = stage < 0 ? undefined : { kind: nonFinite(ks[stage])!, at, from: t };
        if (lastBad && ++badRejections >= NON_FINITE_REJECTIONS) {
          tf.dispose([step.r.x, step.r.error, ...step.r.ks.slice(1)]);
          const how = `and again in ${NON_FINITE_REJECTIONS} ever shorter steps`;
          throw new Error(nanMessage(lastBad, how));
        }
        // Reject: keep x and k1, shrink the step, and do not let it grow right after a rejection.
        tf.dispose([step.r.x, step.r.error, ...step.r.ks.slice(1)]);
        rejected++;
        const fac = Number.isFinite(err)
          ? Math.max(FAC_MIN, SAFETY * Math.pow(err, -1 / ORDER))
          : FAC_MIN;
        h = Math.abs(hs) * fac;
        facMax = 1;
      }
    }
  } catch (err) {
    if (x !== x0) x.dispose();
    if (k1) k1.dispose();
    tf.dispose(saved);
    throw err;
  }
  if (k1) k1.dispose();
  return {
    x: x === x0 ? tf.clone(x0) : x,
    times: saveAt ?? [t1],
    trajectory: stackSaved(saved, saveAt, x0),
    nfe: counted.nfe(),
    steps: accepted,
    mesh,
    accepted,
    rejected,
  };
}

/** Stacks the saved states into `[k, n, d]` and frees the pieces; undefined without saveAt. */
function stackSaved(
  saved: tf.Tensor2D[],
  saveAt: number[] | undefined,
  x0: tf.Tensor2D,
): tf.Tensor3D | undefined {
  if (!saveAt) return undefined;
  const out = saved.length
    ? (tf.stack(saved) as tf.Tensor3D)
    : (tf.zeros([0, x0.shape[0], x0.shape[1]]) as tf.Tensor3D);
  tf.dispose(saved);
  return out;
}
