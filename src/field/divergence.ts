/**
 * Divergence of a velocity field, div u = sum_i du_i/dx_i (lecture concept 2: positive where more
 * flows out of a small box than in). Two ways:
 *
 * - `divergence`: exact by automatic differentiation, one gradient pass per dimension (d passes,
 *   each a forward and a backward evaluation of the field). Exact up to float32 round-off.
 * - `hutchinsonDivergence`: the unbiased estimator div u = E[eps^T (du/dx) eps] with E[eps eps^T] =
 *   I (Rademacher or Gaussian probes), one gradient pass per probe whatever the dimension: what
 *   continuous normalizing flows (FFJORD) use in high dimension.
 *
 * Both assume the field acts row by row (row i of the output depends only on row i of x), as every
 * velocity field of the course does; the gradient of a row sum then isolates each row's Jacobian.
 * Introduced in notebook 2 (continuity equation).
 */
import * as tf from "@tensorflow/tfjs";
import { assert2D } from "../core/checks";
import type { Time, VelocityField } from "../core/notation";
import { nextSeed } from "../core/random";

function checkField(field: unknown, name: string): asserts field is VelocityField {
  if (typeof field !== "function")
    throw new Error(`${name}: field must be a function (x, t) => tensor; got ${typeof field}`);
}

function checkOutput(u: unknown, x: tf.Tensor2D, name: string): asserts u is tf.Tensor2D {
  if (
    !(u instanceof tf.Tensor) ||
    u.rank !== 2 ||
    u.shape[0] !== x.shape[0] ||
    u.shape[1] !== x.shape[1]
  ) {
    const got = u instanceof tf.Tensor ? `shape [${u.shape.join(", ")}]` : typeof u;
    throw new Error(
      `${name}: the field must return a tensor shaped like x, [${x.shape.join(", ")}]; got ${got}`,
    );
  }
}

/**
 * The velocity u(x, t) and its exact divergence together, in d gradient passes (the velocity comes
 * from the first pass, so no extra evaluation). Used by the likelihood, which needs both.
 *
 * @returns `{ u: [n, d], div: [n] }`, owned by the caller
 */
export function velocityAndDivergence(
  field: VelocityField,
  x: tf.Tensor2D,
  t: Time,
): { u: tf.Tensor2D; div: tf.Tensor1D } {
  checkField(field, "velocityAndDivergence");
  assert2D(x, "velocityAndDivergence: x");
  return tf.tidy(() => {
    const r = exactParts(field, x, t, "velocityAndDivergence", true);
    return { u: r.u as tf.Tensor2D, div: r.div };
  });
}

/**
 * grad_x of a scalar function, for one batch. An error thrown inside tf.grad's callback strands the
 * tensors created there (TensorFlow.js does not unwind that scope), so failures are caught inside,
 * a harmless scalar is returned instead, and the error is rethrown once tf.grad has closed its
 * scope.
 */
function gradOf(fn: (x: tf.Tensor2D) => tf.Scalar, x: tf.Tensor2D): tf.Tensor2D {
  const failure: { error?: unknown } = {};
  const g = tf.grad((xx: tf.Tensor) => {
    try {
      return fn(xx as tf.Tensor2D);
    } catch (err) {
      failure.error = err;
      return tf.mul(tf.sum(xx), 0) as tf.Scalar;
    }
  })(x) as tf.Tensor2D;
  if ("error" in failure) {
    g.dispose();
    throw failure.error;
  }
  return g;
}

/**
 * Runs `passes` gradient passes and returns the velocity seen by the first one. (It leaves the
 * gradient's scope through tf.keep, which no tidy would ever free, so it is swapped at once for a
 * plain clone.) `pass(u, i)` turns the field's value into the scalar whose gradient pass i needs.
 */
function gradientPasses(
  field: VelocityField,
  x: tf.Tensor2D,
  t: Time,
  name: string,
  passes: number,
  keepU: boolean,
  pass: (u: tf.Tensor2D, i: number) => tf.Scalar,
): { u?: tf.Tensor2D; grads: tf.Tensor2D[] } {
  const held: { u?: tf.Tensor2D } = {};
  const grads: tf.Tensor2D[] = [];
  try {
    for (let i = 0; i < passes; i++) {
      grads.push(
        gradOf((xx) => {
          const u = field(xx, t);
          checkOutput(u, x, name);
          if (i === 0 && keepU) held.u = tf.keep(tf.clone(u));
          return pass(u, i);
        }, x),
      );
    }
    return { u: held.u ? tf.clone(held.u) : undefined, grads };
  } finally {
    if (held.u) held.u.dispose();
  }
}

/** d gradient passes, pass i giving column i of the Jacobian's row i: du_i/dx_i, summed over i. */
function exactParts(
  field: VelocityField,
  x: tf.Tensor2D,
  t: Time,
  name: string,
  keepU: boolean,
): { u?: tf.Tensor2D; div: tf.Tensor1D } {
  const [n, d] = x.shape;
  const { u, grads } = gradientPasses(field, x, t, name, d, keepU, (ui, i) =>
    tf.sum(tf.slice(ui, [0, i], [n, 1])),
  );
  const columns = grads.map((g, i) => tf.reshape(tf.slice(g, [0, i], [n, 1]), [n]));
  return { u, div: (d === 1 ? columns[0] : tf.addN(columns)) as tf.Tensor1D };
}

/**
 * Exact divergence of a velocity field at a batch of points, by autodiff (one pass per dimension).
 *
 * @param field the velocity u, called `field(x, t)`
 * @param x points `[n, d]`
 * @param t a time (number or `[n]` tensor), passed to the field unchanged
 * @returns `[n]`, div u_t at each row of x
 * @example
 * // div of u(x) = A x is trace(A), everywhere. const A = tf.tensor2d([[1, 2], [3, -4]]);
 * divergence((x) => tf.matMul(x, A, false, true), tf.randomNormal([5, 2]) as tf.Tensor2D, 0); //
 * returns [-3, -3, -3, -3, -3]
 */
export function divergence(field: VelocityField, x: tf.Tensor2D, t: Time): tf.Tensor1D {
  checkField(field, "divergence");
  assert2D(x, "divergence: x");
  return tf.tidy(() => exactParts(field, x, t, "divergence", false).div);
}

/** The probe distributions of the Hutchinson estimator (both have E[eps eps^T] = I). */
export type HutchinsonNoise = "rademacher" | "gaussian";

/** Options of `hutchinsonDivergence`. */
export interface HutchinsonOptions {
  /** Number of independent probes averaged. @default 1 */
  samples?: number;
  /**
   * Probe distribution: random signs +-1 (lower variance) or standard normal. @default "rademacher"
   */
  noise?: HutchinsonNoise;
  /**
   * Fixed probes, each `[n, d]`, used instead of fresh random ones (then `samples` and `noise` are
   * ignored). A CNF likelihood keeps the same probes along the whole ODE solve.
   * @default fresh seeded probes
   */
  probes?: tf.Tensor2D[];
}

/**
 * Seeded Hutchinson probes: `samples` tensors `[n, d]` with E[eps eps^T] = I. The caller disposes
 * them.
 * @example
 * const probes = hutchinsonProbes(2, 100, 3, "rademacher");   // two [100, 3] tensors of +-1
 */
export function hutchinsonProbes(
  samples: number,
  n: number,
  d: number,
  noise: HutchinsonNoise = "rademacher",
): tf.Tensor2D[] {
  if (!Number.isInteger(samples) || samples < 1)
    throw new Error(`hutchinson: samples must be a positive integer; got ${samples}`);
  if (noise !== "rademacher" && noise !== "gaussian") {
    throw new Error(`hutchinson: noise must be "rademacher" or "gaussian"; got "${String(noise)}"`);
  }
  const probes: tf.Tensor2D[] = [];
  for (let s = 0; s < samples; s++) {
    probes.push(
      tf.tidy(() =>
        noise === "gaussian"
          ? (tf.randomNormal([n, d], 0, 1, "float32", nextSeed()) as tf.Tensor2D)
          : (tf.where(
              tf.less(tf.randomUniform([n, d], 0, 1, "float32", nextSeed()), 0.5),
              -1,
              1,
            ) as tf.Tensor2D),
      ),
    );
  }
  return probes;
}

/**
 * The estimate with given probes: mean over probes of eps^T J eps, each from one vector-Jacobian
 * product.
 */
function hutchinsonWith(
  field: VelocityField,
  x: tf.Tensor2D,
  t: Time,
  probes: tf.Tensor2D[],
  name: string,
  keepU: boolean,
): { u?: tf.Tensor2D; div: tf.Tensor1D } {
  // grad_x sum_rows <u(x), eps> = eps^T J, row by row; its inner product with eps is eps^T J eps.
  const { u, grads } = gradientPasses(field, x, t, name, probes.length, keepU, (v, s) =>
    tf.sum(tf.mul(v, probes[s])),
  );
  const estimates = grads.map((vjp, s) => tf.sum(tf.mul(vjp, probes[s]), 1));
  const div = tf.div(
    estimates.length === 1 ? estimates[0] : tf.addN(estimates),
    estimates.length,
  ) as tf.Tensor1D;
  return { u, div };
}

function checkProbes(
  probes: unknown,
  x: tf.Tensor2D,
  name: string,
): asserts probes is tf.Tensor2D[] {
  if (!Array.isArray(probes) || probes.length === 0) {
    throw new Error(`${name}: probes must be a non-empty array of [n, d] tensors`);
  }
  probes.forEach((p, i) => {
    assert2D(p, `${name}: probes[${i}]`, x.shape[1]);
    if (p.shape[0] !== x.shape[0]) {
      throw new Error(
        `${name}: probes[${i}] must have ${x.shape[0]} rows like x; got shape ` +
          `[${p.shape.join(", ")}]`,
      );
    }
  });
}

/**
 * The velocity and a Hutchinson estimate of its divergence together, from the same gradient passes
 * (the velocity comes from the first pass, so no extra evaluation). With fixed `probes` this is
 * what a CNF likelihood integrates; otherwise fresh seeded probes are drawn.
 *
 * @returns `{ u: [n, d], div: [n] }`, owned by the caller
 */
export function velocityAndHutchinson(
  field: VelocityField,
  x: tf.Tensor2D,
  t: Time,
  options: HutchinsonOptions = {},
): { u: tf.Tensor2D; div: tf.Tensor1D } {
  checkField(field, "velocityAndHutchinson");
  assert2D(x, "velocityAndHutchinson: x");
  return hutchinsonRun(field, x, t, options, "velocityAndHutchinson", true) as {
    u: tf.Tensor2D;
    div: tf.Tensor1D;
  };
}

function hutchinsonRun(
  field: VelocityField,
  x: tf.Tensor2D,
  t: Time,
  options: HutchinsonOptions,
  name: string,
  keepU: boolean,
): { u?: tf.Tensor2D; div: tf.Tensor1D } {
  if (options.probes !== undefined) {
    const probes = options.probes;
    checkProbes(probes, x, name);
    return tf.tidy(() => hutchinsonWith(field, x, t, probes, name, keepU));
  }
  const probes = hutchinsonProbes(
    options.samples ?? 1,
    x.shape[0],
    x.shape[1],
    options.noise ?? "rademacher",
  );
  try {
    return tf.tidy(() => hutchinsonWith(field, x, t, probes, name, keepU));
  } finally {
    tf.dispose(probes);
  }
}

/**
 * Unbiased stochastic estimate of the divergence (Hutchinson's trace estimator): one gradient pass
 * per probe, whatever the dimension. With S = (J + J^T) / 2 the symmetric part of the Jacobian J,
 * its variance is 2 sum_{i != j} S_ij^2 / samples for Rademacher probes (zero when S is diagonal)
 * and 2 ||S||_F^2 / samples for Gaussian probes (the diagonal counts too).
 *
 * @param field the velocity u, called `field(x, t)`
 * @param x points `[n, d]`
 * @param t a time (number or `[n]` tensor)
 * @param options `samples` @default 1, `noise` @default "rademacher", `probes` (fixed probes)
 * @returns `[n]`, one estimate per row
 * @example
 * seed(0);
 * const est = hutchinsonDivergence(u, x, 0.5, { samples: 16 });   // close to divergence(u, x, 0.5)
 */
export function hutchinsonDivergence(
  field: VelocityField,
  x: tf.Tensor2D,
  t: Time,
  options: HutchinsonOptions = {},
): tf.Tensor1D {
  checkField(field, "hutchinsonDivergence");
  assert2D(x, "hutchinsonDivergence: x");
  return hutchinsonRun(field, x, t, options, "hutchinsonDivergence", false).div;
}
