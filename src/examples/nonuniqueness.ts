/**
 * The lecture's counter-example to uniqueness (lecture concept 1, notebook 1):
 *
 *     dx_t/dt = sqrt(x_t),  x >= 0,  x_0 = 0.
 *
 * Both x_t = 0 and x_t = t^2 / 4 solve it (d/dt t^2/4 = t/2 = sqrt(t^2/4)), and so does every
 * "wait, then go" curve x_t = max(0, t - c)^2 / 4, c >= 0: infinitely many trajectories from one
 * starting point. The field is not Lipschitz at 0 (its slope 1 / (2 sqrt(x)) is unbounded there),
 * which is the hypothesis the uniqueness theorem needs. From any x_0 > 0 the solution is unique:
 * x_t = (sqrt(x_0) + t / 2)^2.
 *
 * What a numerical solver does: from x_0 = 0 every stage of every explicit method sees u = 0, so it
 * stays at 0 exactly: it silently picks one of the solutions. From a tiny positive x_0 (1e-8, say)
 * it follows (sqrt(x_0) + t/2)^2, which is within sqrt(x_0) t of t^2/4: the other branch. A
 * perturbation of 1e-8 in the start changes the answer at t = 1 by 0.25. (Near 0 the field is so
 * steep that fixed-step methods lose their order there: RK4 converges at order ~1.5 from x_0 =
 * 1e-8; the adaptive dopri5 takes tiny first steps and keeps its accuracy.)
 */
import * as tf from "@tensorflow/tfjs";
import type { VelocityField } from "../core/notation";

/**
 * The velocity field u(x) = sqrt(x), elementwise and time-independent. Its domain is x >= 0;
 * negative entries (which a backward solve could reach) are treated as 0.
 * @example
 * solveOde(sqrtVelocity, tf.zeros([1, 1]), { method: "rk4", steps: 100 }).x;   // stays at 0
 */
export const sqrtVelocity: VelocityField = (x) => tf.tidy(() => tf.sqrt(tf.relu(x)) as tf.Tensor2D);

/** The solution that never moves: x_t = 0. */
export function sqrtSolutionZero(t: number): number {
  checkT(t);
  return 0;
}

/** The solution that leaves at once: x_t = t^2 / 4. */
export function sqrtSolutionParabola(t: number): number {
  checkT(t);
  return (t * t) / 4;
}

/**
 * The exact solution of dx/dt = sqrt(x) for t >= 0 from x(0) = x0 >= 0.
 *
 * For x0 > 0 it is unique: x_t = (sqrt(x0) + t/2)^2 (`delay` must be 0). For x0 = 0 the solutions
 * are x_t = max(0, t - delay)^2 / 4 for any `delay` >= 0 (rest until t = delay, then leave); pass
 * `delay: Infinity` for x_t = 0.
 *
 * @param x0 the start, >= 0
 * @param delay how long the x0 = 0 solution rests before leaving. @default 0
 * @returns the solution as a function of t
 * @example
 * sqrtSolution(0)(1);                  // returns 0.25
 * sqrtSolution(0, { delay: 0.5 })(1);  // returns 0.0625: another solution from the same start
 * sqrtSolution(1e-8)(1);               // returns 0.25010001 = (1e-4 + 1/2)^2
 */
export function sqrtSolution(x0: number, options: { delay?: number } = {}): (t: number) => number {
  if (typeof x0 !== "number" || !Number.isFinite(x0) || x0 < 0)
    throw new Error(`sqrtSolution: x0 must be a finite number >= 0; got ${x0}`);
  const delay = options.delay ?? 0;
  if (typeof delay !== "number" || Number.isNaN(delay) || delay < 0)
    throw new Error(`sqrtSolution: delay must be >= 0; got ${delay}`);
  if (x0 > 0 && delay !== 0) {
    throw new Error(
      `sqrtSolution: from x0 = ${x0} > 0 the solution is unique; a delay is only possible from ` +
        `x0 = 0`,
    );
  }
  if (x0 > 0) {
    const r = Math.sqrt(x0);
    return (t) => {
      checkT(t);
      return (r + t / 2) ** 2;
    };
  }
  return (t) => {
    checkT(t);
    const s = Math.max(0, t - delay);
    return (s * s) / 4;
  };
}

/** Options of `sqrtResidual`. */
export interface SqrtResidualOptions {
  /**
   * The candidate's exact derivative, if known; else a central difference is used. @default none
   */
  derivative?: (t: number) => number;
  /** Step of the finite difference (float64; its error is O(h^2)). @default 1e-5 */
  h?: number;
}

/**
 * How far a candidate curve is from solving dx/dt = sqrt(x): the residual dx/dt - sqrt(x(t)) at
 * each time (plain float64 numbers, no tensors). A solution has residual 0 everywhere (up to the
 * O(h^2) difference error, ~1e-10 here); a non-solution does not.
 *
 * @param candidate the curve t -> x(t), with x(t) >= 0
 * @param times where to check (below h the difference turns one-sided, to stay inside t >= 0)
 * @example
 * sqrtResidual(sqrtSolutionParabola, [0.25, 0.5, 1]);   // returns ~[0, 0, 0]
 * sqrtResidual((t) => t * t / 2, [0.5, 1]);              // returns ~[0.146, 0.293]: not a solution
 */
export function sqrtResidual(
  candidate: (t: number) => number,
  times: number[],
  options: SqrtResidualOptions = {},
): number[] {
  if (typeof candidate !== "function")
    throw new Error(
      `sqrtResidual: candidate must be a function t -> x(t); got ${typeof candidate}`,
    );
  if (!Array.isArray(times))
    throw new Error(`sqrtResidual: times must be an array of numbers; got ${typeof times}`);
  const h = options.h ?? 1e-5;
  if (!(h > 0) || !Number.isFinite(h))
    throw new Error(`sqrtResidual: h must be a finite number > 0; got ${h}`);
  return times.map((t, i) => {
    if (typeof t !== "number" || !Number.isFinite(t))
      throw new Error(`sqrtResidual: times[${i}] must be a finite number; got ${t}`);
    const x = candidate(t);
    if (!(x >= 0))
      throw new Error(
        `sqrtResidual: the candidate must stay >= 0 (the domain of sqrt); x(${t}) = ${x}`,
      );
    let dxdt: number;
    if (options.derivative) dxdt = options.derivative(t);
    else if (t - h >= 0) dxdt = (candidate(t + h) - candidate(t - h)) / (2 * h);
    // one-sided, also O(h^2)
    else dxdt = (-3 * x + 4 * candidate(t + h) - candidate(t + 2 * h)) / (2 * h);
    return dxdt - Math.sqrt(x);
  });
}

function checkT(t: number): void {
  if (typeof t !== "number" || !Number.isFinite(t) || t < 0)
    throw new Error(`t must be a finite number >= 0; got ${t}`);
}
