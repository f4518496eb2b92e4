/**
 * The continuity equation, checked numerically (lecture concept 2: conservation of mass).
 *
 *     d/dt p_t(x) + div( p_t(x) u_t(x) ) = 0
 *
 * "u_t generates p_t" means exactly this, and it is what turns the micro view (one particle
 * following the ODE) into the macro view (the density moving as a whole). The flux is p_t u_t, not
 * u_t alone: denser regions carry more mass. Given log p_t and u_t, `continuityResidual` evaluates
 * both terms on a batch of points (usually a `grid2d`) so a notebook can show them and a test can
 * check that a field generates a path, or does not.
 * Introduced in notebook 2 (continuity equation); used again in notebooks 3 and 4.
 */
import * as tf from "@tensorflow/tfjs";
import { assert2D, assertFinite } from "../core/checks";
import type { ScalarField, VelocityField } from "../core/notation";
import { divergence } from "./divergence";

/** Inputs of `continuityResidual`. */
export interface ContinuityResidualOptions {
  /** log p_t(x): `(x [n, d], t: number) -> [n]`; must be differentiable in x by TensorFlow.js. */
  logDensity: ScalarField;
  /** The velocity u_t(x): `(x [n, d], t: number) -> [n, d]`. */
  velocity: VelocityField;
  /** The points `[n, d]` (e.g. `grid2d(...).points`). */
  x: tf.Tensor2D;
  /** The time, a number in [0, 1]. */
  t: number;
  /**
   * Time step of the finite difference for d/dt p. Float32 round-off in log p (~6e-8 |log p|) is
   * divided by dt while the truncation error grows like dt^order: with the default fourth order,
   * 1e-2 keeps both near 1e-5 (relative) for densities that change on a time scale of order 1; near
   * a singular time (t -> 1 on a path to a point mass, time scale 1 - t) take dt well below 1 - t.
   * Must lie in (0, 0.2].
   * @default 1e-2
   */
  dt?: number;
  /** Order of the finite difference in t: 2 (three points) or 4 (five points). @default 4 */
  order?: 2 | 4;
}

/**
 * What `continuityResidual` returns, each `[n]`; `tf.dispose(result)` frees them. (A type alias,
 * not an interface, so that `tf.dispose` accepts it.)
 */
export type ContinuityResidual = {
  /** d/dt p_t(x), by finite differences in t. */
  dpdt: tf.Tensor1D;
  /** div(p_t u_t)(x), by autodiff in x. */
  divFlux: tf.Tensor1D;
  /** dpdt + divFlux: zero where u_t generates p_t. */
  residual: tf.Tensor1D;
  /** p_t(x). */
  p: tf.Tensor1D;
};

/**
 * Both sides of the continuity equation at points x and time t.
 *
 * - d/dt p_t = p_t d/dt log p_t, with d/dt log p_t by a central finite difference in t: order 2:
 *   (f(t+dt) - f(t-dt)) / (2 dt), truncation error (dt^2 / 6) f^(3); order 4 (default): (f(t-2dt) -
 *   8 f(t-dt) + 8 f(t+dt) - f(t+2dt)) / (12 dt), truncation (dt^4 / 30) f^(5); both plus a
 *   round-off error ~ eps |log p| / dt (float32: eps ~ 6e-8), here f = log p_t(x). Where the
 *   stencil would leave [0, 1] (t near 0 or 1) it switches to the one-sided formula of the same
 *   order, so t may be 0 or 1 as long as log p is defined on the side it reaches into. Differencing
 *   log p rather than p keeps the relative accuracy in the tails, where p underflows.
 * - div(p_t u_t) by automatic differentiation of x -> p_t(x) u_t(x): exact up to round-off.
 *
 * @returns `{ dpdt, divFlux, residual, p }`, each `[n]`
 * @example
 * // The lecture's conditional path to a point x1 and its conditional field generate each other.
 * const x1 = tf.tensor2d([[1, 2]]);
 * const { points } = grid2d({ xmin: -3, xmax: 3, ymin: -3, ymax: 3, nx: 30, ny: 30 });
 * const r = continuityResidual({
 *   logDensity: (x, t) => ...log N(x; t x1, (1 - t)^2 I)...,
 *   velocity: (x, t) => tf.div(tf.sub(x1, x), 1 - (t as number)) as tf.Tensor2D,
 *   x: points, t: 0.5,
 * });
 * // max |r.residual| is ~1e-5 of max |r.dpdt|; flip the field's sign and it is 2 max |r.dpdt|.
 */
export function continuityResidual(options: ContinuityResidualOptions): ContinuityResidual {
  if (options === null || typeof options !== "object") {
    throw new Error("continuityResidual: pass one record { logDensity, velocity, x, t, dt? }");
  }
  const { logDensity, velocity, x, t } = options;
  if (typeof logDensity !== "function")
    throw new Error(
      `continuityResidual: logDensity must be a function (x, t) => [n]; got ${typeof logDensity}`,
    );
  if (typeof velocity !== "function")
    throw new Error(
      `continuityResidual: velocity must be a function (x, t) => [n, d]; got ${typeof velocity}`,
    );
  assert2D(x, "continuityResidual: x");
  assertFinite(x, "continuityResidual: x");
  if (typeof t !== "number" || !Number.isFinite(t) || t < 0 || t > 1) {
    throw new Error(`continuityResidual: t must lie in [0, 1]; got ${t}`);
  }
  const dt = options.dt ?? 1e-2;
  if (typeof dt !== "number" || !Number.isFinite(dt) || dt <= 0 || dt > 0.2) {
    throw new Error(`continuityResidual: dt must be a number in (0, 0.2]; got ${dt}`);
  }
  const order = options.order ?? 4;
  if (order !== 2 && order !== 4)
    throw new Error(`continuityResidual: order must be 2 or 4; got ${order}`);
  const n = x.shape[0];

  return tf.tidy(() => {
    const logp = (s: number): tf.Tensor1D => {
      const v = logDensity(x, s);
      if (!(v instanceof tf.Tensor) || v.rank !== 1 || v.shape[0] !== n) {
        const got = v instanceof tf.Tensor ? `shape [${v.shape.join(", ")}]` : typeof v;
        throw new Error(`continuityResidual: logDensity must return a [${n}] tensor; got ${got}`);
      }
      return v;
    };
    const l0 = logp(t);
    const p = tf.exp(l0) as tf.Tensor1D;

    // d/dt log p_t = sum_k w_k f(t + k dt) / dt: central where the stencil fits in [0, 1], else
    // one-sided.
    const half = order / 2;
    let offsets: number[];
    let weights: number[];
    if (t - half * dt >= 0 && t + half * dt <= 1) {
      offsets = order === 2 ? [-1, 1] : [-2, -1, 1, 2];
      weights = order === 2 ? [-1 / 2, 1 / 2] : [1 / 12, -8 / 12, 8 / 12, -1 / 12];
    } else {
      const s = t - half * dt < 0 ? 1 : -1; // step into the interval
      offsets = order === 2 ? [0, s, 2 * s] : [0, s, 2 * s, 3 * s, 4 * s];
      weights = (order === 2 ? [-3 / 2, 2, -1 / 2] : [-25 / 12, 4, -3, 4 / 3, -1 / 4]).map(
        (w) => s * w,
      );
    }
    const dlogp = tf.addN(
      offsets.map((k, j) => tf.mul(k === 0 ? l0 : logp(t + k * dt), weights[j] / dt)),
    );
    const dpdt = tf.mul(p, dlogp) as tf.Tensor1D;

    // div(p u) by autodiff of the flux x -> p_t(x) u_t(x).
    const flux: VelocityField = (xx, tt) => {
      const u = velocity(xx, tt);
      if (
        !(u instanceof tf.Tensor) ||
        u.rank !== 2 ||
        u.shape[0] !== n ||
        u.shape[1] !== x.shape[1]
      ) {
        const got = u instanceof tf.Tensor ? `shape [${u.shape.join(", ")}]` : typeof u;
        throw new Error(
          `continuityResidual: velocity must return a tensor shaped like x, ` +
            `[${x.shape.join(", ")}]; got ${got}`,
        );
      }
      return tf.mul(u, tf.reshape(tf.exp(logDensity(xx, tt)), [n, 1])) as tf.Tensor2D;
    };
    const divFlux = divergence(flux, x, t);
    return { dpdt, divFlux, residual: tf.add(dpdt, divFlux) as tf.Tensor1D, p };
  });
}

/** What `continuityCheck` returns: the terms as plain numbers, one per point, and how big r is. */
export interface ContinuityCheck {
  /** d/dt p_t(x). */
  dpdt: number[];
  /** div(p_t u_t)(x). */
  divFlux: number[];
  /** dpdt + divFlux. */
  residual: number[];
  /** max |residual| / max |dpdt|: ~1e-5 where u_t generates p_t, of order 1 where it does not. */
  relative: number;
}

/**
 * `continuityResidual` read into plain numbers (for figures and checks), with the relative residual
 * max |r| / max |d/dt p|. Leak-free. Throws when d/dt p is zero at every point (nothing to compare
 * with); for a path that barely changes, d/dt p is float32 round-off and the ratio means nothing.
 * @example
 * const flow = fm.straightGaussianFlow();
 * const check = { logDensity: flow.logDensity, velocity: flow.u, x: points, t: 0.5 };
 * fm.continuityCheck(check).relative;
 * // returns ~1e-5; with fm.rotatingGaussianFlow().u as the velocity, ~4
 */
export function continuityCheck(options: ContinuityResidualOptions): ContinuityCheck {
  const r = continuityResidual(options);
  const read = (v: tf.Tensor1D) => Array.from(v.dataSync());
  const out = { dpdt: read(r.dpdt), divFlux: read(r.divFlux), residual: read(r.residual) };
  tf.dispose(r);
  const maxAbs = (v: number[]) => v.reduce((m, a) => Math.max(m, Math.abs(a)), 0);
  const scale = maxAbs(out.dpdt);
  if (!(scale > 0)) {
    const at = `at t = ${options.t}`;
    throw new Error(`continuityCheck: d/dt p_t is 0 at every point ${at}; nothing to compare with`);
  }
  return { ...out, relative: maxAbs(out.residual) / scale };
}

/** Corners and resolution of a 2-D grid. */
export interface Grid2dOptions {
  /** Left edge. */
  xmin: number;
  /** Right edge. */
  xmax: number;
  /** Bottom edge. */
  ymin: number;
  /** Top edge. */
  ymax: number;
  /** Number of columns (points along x), at least 2. */
  nx: number;
  /** Number of rows (points along y), at least 2. */
  ny: number;
}

/** A 2-D grid: its points as one batch, and the coordinates along each axis. */
export type Grid2d = {
  /** `[nx * ny, 2]`, row-major with x varying fastest: point j * nx + i is (xs[i], ys[j]). */
  points: tf.Tensor2D;
  /** The nx x-coordinates, xmin to xmax inclusive. */
  xs: number[];
  /** The ny y-coordinates, ymin to ymax inclusive. */
  ys: number[];
};

/**
 * A regular grid over a rectangle, for density and residual pictures. Because x varies fastest, a
 * per-point value `v` ([nx * ny]) reshapes to a heatmap's `z` as `ny` rows of `nx` values
 * (plotly: `{ x: xs, y: ys, z }`).
 *
 * @example
 * const g = grid2d({ xmin: -3, xmax: 3, ymin: -3, ymax: 3, nx: 61, ny: 61 });
 * g.points.shape;   // returns [3721, 2]
 * g.points.dispose();
 */
export function grid2d(options: Grid2dOptions): Grid2d {
  if (options === null || typeof options !== "object")
    throw new Error("grid2d: pass { xmin, xmax, ymin, ymax, nx, ny }");
  const { xmin, xmax, ymin, ymax, nx, ny } = options;
  for (const [name, v] of [
    ["xmin", xmin],
    ["xmax", xmax],
    ["ymin", ymin],
    ["ymax", ymax],
  ] as [string, number][]) {
    if (typeof v !== "number" || !Number.isFinite(v))
      throw new Error(`grid2d: ${name} must be a finite number; got ${v}`);
  }
  if (!(xmax > xmin))
    throw new Error(`grid2d: xmax must exceed xmin; got xmin = ${xmin}, xmax = ${xmax}`);
  if (!(ymax > ymin))
    throw new Error(`grid2d: ymax must exceed ymin; got ymin = ${ymin}, ymax = ${ymax}`);
  for (const [name, v] of [
    ["nx", nx],
    ["ny", ny],
  ] as [string, number][]) {
    if (!Number.isInteger(v) || v < 2)
      throw new Error(`grid2d: ${name} must be an integer >= 2; got ${v}`);
  }
  const xs = Array.from({ length: nx }, (_, i) =>
    i === nx - 1 ? xmax : xmin + ((xmax - xmin) * i) / (nx - 1),
  );
  const ys = Array.from({ length: ny }, (_, j) =>
    j === ny - 1 ? ymax : ymin + ((ymax - ymin) * j) / (ny - 1),
  );
  const data = new Float32Array(2 * nx * ny);
  for (let j = 0; j < ny; j++) {
    for (let i = 0; i < nx; i++) {
      data[2 * (j * nx + i)] = xs[i];
      data[2 * (j * nx + i) + 1] = ys[j];
    }
  }
  return { points: tf.tensor2d(data, [nx * ny, 2]), xs, ys };
}
