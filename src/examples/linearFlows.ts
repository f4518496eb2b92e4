/**
 * Flows we can write down exactly: linear (affine-in-x) flows of Gaussian noise (lecture concept 1,
 * notebook 1: trajectory, flow, probability path, vector field; reused by notebook 2 for the
 * continuity equation).
 *
 *     psi_t(x0) = K_t x0 + m_t,   K_0 = I, m_0 = 0,   x0 ~ p_0 = N(0, I).
 *
 * Everything the lecture names is then closed form:
 *
 *   trajectory      x_t = psi_t(x0)
 *   probability     p_t = N(m_t, Sigma_t),  Sigma_t = K_t K_t^T   (a linear map of a Gaussian is
 *     Gaussian)
 *   velocity        u_t(x) = K'_t K_t^{-1} (x - m_t) + m'_t        (d/dt psi_t(x0), written in
 *     terms of x = psi_t(x0))
 *   score           grad log p_t(x) = -Sigma_t^{-1} (x - m_t)
 *   Lipschitz       |u_t(x) - u_t(y)| <= L_t |x - y|,  L_t = ||K'_t K_t^{-1}||_2 (the spectral
 *     norm)
 *
 * The presets: `straightGaussianFlow` (every particle moves on a straight line at constant speed
 * from N(0, I) to N(b, A A^T)) and `rotatingGaussianFlow` (the same end points, but the cloud spins
 * about the origin on the way: a different probability path between the same p_0 and p_1).
 *
 * Matrix algebra on the small d x d matrices is done in float64 JavaScript; only the batch of
 * points lives in tensors. Every tensor method is leak-free and returns a tensor the caller owns.
 */
import * as tf from "@tensorflow/tfjs";
import { assert2D } from "../core/checks";
import type { Time } from "../core/checks";
import type { ScalarField, VelocityField } from "../core/notation";
import { randn } from "../core/random";

/** A d x d matrix as d rows of d numbers. */
export type Matrix = number[][];

/**
 * What defines a linear flow psi_t(x0) = K_t x0 + m_t. Each function is called with a time t in [0,
 * 1].
 */
export interface LinearFlowSpec {
  /** The dimension d. */
  dim: number;
  /** K_t, a d x d matrix, invertible for every t in [0, 1], with K_0 = I. */
  K: (t: number) => Matrix;
  /** Its time derivative K'_t. */
  dK: (t: number) => Matrix;
  /** The mean m_t, d numbers, with m_0 = 0. */
  m: (t: number) => number[];
  /** Its time derivative m'_t. */
  dm: (t: number) => number[];
  /** A name for error messages and figure titles. @default "linear flow" */
  name?: string;
}

/**
 * A linear flow of N(0, I) with its exact trajectory, velocity, density, score and Lipschitz
 * constant. Every method taking `t` accepts one number or a `[n]` tensor (one time per row) in [0,
 * 1].
 */
export interface LinearGaussianFlow {
  /** The name (from the spec). */
  readonly name: string;
  /** The dimension d. */
  readonly dim: number;
  /** K_t (a fresh copy). */
  K(t: number): Matrix;
  /** The mean m_t of p_t. */
  mean(t: number): number[];
  /** The covariance Sigma_t = K_t K_t^T of p_t. */
  cov(t: number): Matrix;
  /**
   * The flow map psi_t(x0) = K_t x0 + m_t: where the particle that started at x0 is at time t. `[n,
   * d] -> [n, d]`.
   */
  psi(x0: tf.Tensor2D, t: Time): tf.Tensor2D;
  /** The velocity field u_t(x) = K'_t K_t^{-1} (x - m_t) + m'_t (a `VelocityField`). */
  u: VelocityField;
  /** log p_t(x) for p_t = N(m_t, Sigma_t). `[n, d] -> [n]`. */
  logDensity: ScalarField;
  /** p_t(x). `[n, d] -> [n]`. */
  density: ScalarField;
  /** The score grad_x log p_t(x) = -Sigma_t^{-1} (x - m_t). `[n, d] -> [n, d]`. */
  score: VelocityField;
  /** `n` seeded samples of p_t: x0 ~ N(0, I) (through `randn`) pushed by psi_t. */
  sample(n: number, t: number): tf.Tensor2D;
  /** The Lipschitz constant of x -> u_t(x): the spectral norm of K'_t K_t^{-1}. */
  lipschitz(t: number): number;
}

// ---------------------------------------------------------------------------------------------
// Small dense linear algebra in float64 (d is 2 in the notebooks; nothing here is
// performance-critical).

/** The d x d identity. */
export function identityMatrix(d: number): Matrix {
  return Array.from({ length: d }, (_, i) =>
    Array.from({ length: d }, (_, j) => (i === j ? 1 : 0)),
  );
}

/** The product A B of two matrices (rows of numbers). */
export function matMulArrays(a: Matrix, b: Matrix): Matrix {
  const n = a.length;
  const k = b.length;
  const m = b[0].length;
  if (a[0].length !== k)
    throw new Error(
      `matMulArrays: inner dimensions differ; got ${n}x${a[0].length} times ${k}x${m}`,
    );
  const out: Matrix = [];
  for (let i = 0; i < n; i++) {
    const row = new Array<number>(m).fill(0);
    for (let l = 0; l < k; l++) for (let j = 0; j < m; j++) row[j] += a[i][l] * b[l][j];
    out.push(row);
  }
  return out;
}

/** The transpose of a matrix. */
export function transposeArrays(a: Matrix): Matrix {
  return a[0].map((_, j) => a.map((row) => row[j]));
}

function matVec(a: Matrix, v: number[]): number[] {
  return a.map((row) => row.reduce((s, aij, j) => s + aij * v[j], 0));
}

/**
 * The inverse and determinant of a square matrix (Gauss-Jordan with partial pivoting).
 * Throws, naming `what`, when the matrix is singular to working precision.
 */
export function invertMatrix(a: Matrix, what = "matrix"): { inverse: Matrix; det: number } {
  const d = a.length;
  const m = a.map((row, i) => [...row, ...identityMatrix(d)[i]]);
  let det = 1;
  const scale = Math.max(1e-300, ...a.map((row) => Math.max(...row.map(Math.abs))));
  for (let c = 0; c < d; c++) {
    let p = c;
    for (let r = c + 1; r < d; r++) if (Math.abs(m[r][c]) > Math.abs(m[p][c])) p = r;
    if (Math.abs(m[p][c]) <= 1e-12 * scale)
      throw new Error(`${what} is singular (pivot ${m[p][c]} in column ${c})`);
    if (p !== c) {
      [m[p], m[c]] = [m[c], m[p]];
      det = -det;
    }
    const pivot = m[c][c];
    det *= pivot;
    for (let j = 0; j < 2 * d; j++) m[c][j] /= pivot;
    for (let r = 0; r < d; r++) {
      if (r === c || m[r][c] === 0) continue;
      const f = m[r][c];
      for (let j = 0; j < 2 * d; j++) m[r][j] -= f * m[c][j];
    }
  }
  return { inverse: m.map((row) => row.slice(d)), det };
}

/**
 * Eigenvalues of a symmetric matrix (cyclic Jacobi rotations), in decreasing order.
 * @example
 * symmetricEigenvalues([[2, 1], [1, 2]]);   // returns [3, 1]
 */
export function symmetricEigenvalues(s: Matrix): number[] {
  const d = s.length;
  const a = s.map((row) => row.slice());
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let i = 0; i < d; i++) for (let j = i + 1; j < d; j++) off += a[i][j] * a[i][j];
    if (off < 1e-30) break;
    for (let p = 0; p < d; p++) {
      for (let q = p + 1; q < d; q++) {
        if (Math.abs(a[p][q]) < 1e-300) continue;
        const theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const sn = t * c;
        for (let k = 0; k < d; k++) {
          // rotate columns p, q
          const akp = a[k][p];
          const akq = a[k][q];
          a[k][p] = c * akp - sn * akq;
          a[k][q] = sn * akp + c * akq;
        }
        for (let k = 0; k < d; k++) {
          // rotate rows p, q
          const apk = a[p][k];
          const aqk = a[q][k];
          a[p][k] = c * apk - sn * aqk;
          a[q][k] = sn * apk + c * aqk;
        }
      }
    }
  }
  return a.map((row, i) => row[i]).sort((x, y) => y - x);
}

/**
 * The spectral norm ||B||_2 (largest singular value): the best Lipschitz constant of x -> B x.
 * @example
 * spectralNorm([[0, -2], [2, 0]]);   // returns 2 (a rotation scaled by 2)
 */
export function spectralNorm(b: Matrix): number {
  const eig = symmetricEigenvalues(matMulArrays(transposeArrays(b), b));
  return Math.sqrt(Math.max(0, eig[0]));
}

// ---------------------------------------------------------------------------------------------

function checkMatrix(a: unknown, d: number, what: string): Matrix {
  if (!Array.isArray(a) || a.length !== d || a.some((r) => !Array.isArray(r) || r.length !== d)) {
    throw new Error(
      `${what} must be a ${d} x ${d} matrix (${d} rows of ${d} numbers); got ${JSON.stringify(a)}`,
    );
  }
  (a as Matrix).forEach((row, i) =>
    row.forEach((v, j) => {
      if (typeof v !== "number" || !Number.isFinite(v))
        throw new Error(`${what} must be finite; entry [${i}][${j}] is ${v}`);
    }),
  );
  return a as Matrix;
}

function checkVector(v: unknown, d: number, what: string): number[] {
  if (
    !Array.isArray(v) ||
    v.length !== d ||
    v.some((x) => typeof x !== "number" || !Number.isFinite(x))
  ) {
    throw new Error(`${what} must be ${d} finite numbers; got ${JSON.stringify(v)}`);
  }
  return v as number[];
}

function checkTimeNumber(t: unknown, where: string): number {
  if (typeof t !== "number" || !Number.isFinite(t))
    throw new Error(`${where}: t must be a finite number; got ${t}`);
  if (t < 0 || t > 1) throw new Error(`${where}: t must lie in [0, 1]; got ${t}`);
  return t;
}

/**
 * The times of a batch: one number (length-1 list) or one per row of a `[n]` tensor, each checked.
 */
function readTimeList(t: Time, n: number, where: string): number[] {
  if (typeof t === "number") return [checkTimeNumber(t, where)];
  if (!(t instanceof tf.Tensor) || t.rank !== 1) {
    throw new Error(
      `${where}: t must be a number or a [n] tensor; got ` +
        `${t instanceof tf.Tensor ? `shape [${t.shape.join(", ")}]` : typeof t}`,
    );
  }
  if (t.shape[0] !== n)
    throw new Error(`${where}: t must have one time per row: shape [${n}]; got [${t.shape[0]}]`);
  return Array.from(t.dataSync()).map((v, i) => checkTimeNumber(v, `${where} (entry ${i})`));
}

/**
 * Applies x_i -> B(t_i) x_i + c(t_i) to every row: one matrix for a number t, one per row for a
 * `[n]` tensor. B and c are computed in float64 and applied in float32.
 */
function rowAffine(
  x: tf.Tensor2D,
  times: number[],
  f: (t: number) => { B: Matrix; c: number[] },
): tf.Tensor2D {
  const [n, d] = x.shape;
  return tf.tidy(() => {
    if (times.length === 1) {
      const { B, c } = f(times[0]);
      const bt = tf.tensor2d(transposeArrays(B), [d, d]);
      return tf.add(tf.matMul(x, bt), tf.tensor2d([c], [1, d])) as tf.Tensor2D;
    }
    const bs = new Float32Array(n * d * d);
    const cs = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      const { B, c } = f(times[i]);
      for (let r = 0; r < d; r++) {
        cs[i * d + r] = c[r];
        for (let s = 0; s < d; s++) bs[i * d * d + r * d + s] = B[r][s];
      }
    }
    const y = tf.matMul(tf.tensor3d(bs, [n, d, d]), tf.reshape(x, [n, d, 1])); // [n, d, 1]
    return tf.add(tf.reshape(y, [n, d]), tf.tensor2d(cs, [n, d])) as tf.Tensor2D;
  });
}

/**
 * A linear flow psi_t(x0) = K_t x0 + m_t of p_0 = N(0, I), from K_t, K'_t, m_t, m'_t.
 * Checks K_0 = I and m_0 = 0 (so psi_0 is the identity, as a flow must be) and that K_t stays
 * invertible on [0, 1] (its determinant keeps one sign on a grid of 1001 times).
 *
 * @example
 * // The straight flow written by hand (what straightGaussianFlow builds):
 * const A = [[0.5, 0], [0, 1.5]], b = [2, 1];
 * const flow = linearGaussianFlow({
 *   dim: 2,
 *   K: (t) => [[1 - t + t * A[0][0], 0], [0, 1 - t + t * A[1][1]]],
 *   dK: () => [[A[0][0] - 1, 0], [0, A[1][1] - 1]],
 *   m: (t) => [t * b[0], t * b[1]],
 *   dm: () => b,
 * });
 * flow.mean(1);   // returns [2, 1]
 */
export function linearGaussianFlow(spec: LinearFlowSpec): LinearGaussianFlow {
  if (!spec || typeof spec !== "object")
    throw new Error(`linearGaussianFlow: expected { dim, K, dK, m, dm }; got ${String(spec)}`);
  const d = spec.dim;
  if (!Number.isInteger(d) || d < 1)
    throw new Error(`linearGaussianFlow: dim must be a positive integer; got ${d}`);
  const name = spec.name ?? "linear flow";
  for (const key of ["K", "dK", "m", "dm"] as const) {
    if (typeof spec[key] !== "function")
      throw new Error(`${name}: ${key} must be a function of t; got ${typeof spec[key]}`);
  }
  const K = (t: number) => checkMatrix(spec.K(t), d, `${name}: K(${t})`);
  const dK = (t: number) => checkMatrix(spec.dK(t), d, `${name}: dK(${t})`);
  const m = (t: number) => checkVector(spec.m(t), d, `${name}: m(${t})`);
  const dm = (t: number) => checkVector(spec.dm(t), d, `${name}: dm(${t})`);

  // psi_0 must be the identity.
  const K0 = K(0);
  const m0 = m(0);
  K0.forEach((row, i) =>
    row.forEach((v, j) => {
      if (Math.abs(v - (i === j ? 1 : 0)) > 1e-12)
        throw new Error(
          `${name}: K(0) must be the identity (psi_0(x0) = x0); entry [${i}][${j}] is ${v}`,
        );
    }),
  );
  m0.forEach((v, i) => {
    if (Math.abs(v) > 1e-12)
      throw new Error(`${name}: m(0) must be 0 (psi_0(x0) = x0); entry ${i} is ${v}`);
  });
  // K_t must stay invertible: the determinant starts at 1 and may not reach 0.
  for (let i = 0; i <= 1000; i++) {
    const t = i / 1000;
    let det: number;
    try {
      det = invertMatrix(K(t), `K(${t})`).det;
    } catch {
      det = 0;
    }
    if (!(det > 1e-9)) {
      throw new Error(
        `${name}: K_t must stay invertible on [0, 1] (det K_t > 0); det K(${t}) = ${det}, so the ` +
          `flow would fold space there`,
      );
    }
  }

  const inv = (t: number) => invertMatrix(K(t), `${name}: K(${t})`);
  const velocityMap = (t: number) => {
    const B = matMulArrays(dK(t), inv(t).inverse); // K' K^{-1}
    const mt = m(t);
    const bm = matVec(B, mt);
    return { B, c: dm(t).map((v, i) => v - bm[i]) };
  };
  const cov = (t: number) => {
    const k = K(t);
    return matMulArrays(k, transposeArrays(k));
  };
  const checkX = (x: unknown, where: string): tf.Tensor2D => {
    assert2D(x, `${name}.${where}: x`, d);
    return x;
  };

  const logDensity: ScalarField = (x, t) => {
    checkX(x, "logDensity");
    const times = readTimeList(t, x.shape[0], `${name}.logDensity`);
    return tf.tidy(() => {
      // y = K_t^{-1} (x - m_t) is standard normal; log p_t(x) = log N(y; 0, I) - log det K_t.
      const y = rowAffine(x, times, (s) => {
        const { inverse } = inv(s);
        const c = matVec(inverse, m(s)).map((v) => -v);
        return { B: inverse, c };
      });
      const logDet = times.map((s) => Math.log(inv(s).det));
      const base = tf.mul(tf.sum(tf.square(y), 1), -0.5);
      const constant =
        times.length === 1
          ? tf.scalar(-logDet[0] - (d / 2) * Math.log(2 * Math.PI))
          : tf.tensor1d(logDet.map((l) => -l - (d / 2) * Math.log(2 * Math.PI)));
      return tf.add(base, constant) as tf.Tensor1D;
    });
  };

  const psi = (x0: tf.Tensor2D, t: Time): tf.Tensor2D => {
    checkX(x0, "psi");
    const times = readTimeList(t, x0.shape[0], `${name}.psi`);
    return rowAffine(x0, times, (s) => ({ B: K(s), c: m(s) }));
  };

  return {
    name,
    dim: d,
    K: (t) => K(checkTimeNumber(t, `${name}.K`)).map((r) => r.slice()),
    mean: (t) => m(checkTimeNumber(t, `${name}.mean`)).slice(),
    cov: (t) => cov(checkTimeNumber(t, `${name}.cov`)),
    psi,
    u: (x, t) => {
      checkX(x, "u");
      const times = readTimeList(t, x.shape[0], `${name}.u`);
      return rowAffine(x, times, velocityMap);
    },
    logDensity,
    density: (x, t) => tf.tidy(() => tf.exp(logDensity(x, t)) as tf.Tensor1D),
    score: (x, t) => {
      checkX(x, "score");
      const times = readTimeList(t, x.shape[0], `${name}.score`);
      return rowAffine(x, times, (s) => {
        const { inverse } = invertMatrix(cov(s), `${name}: Sigma(${s})`);
        const B = inverse.map((row) => row.map((v) => -v));
        return { B, c: matVec(inverse, m(s)) };
      });
    },
    sample: (n, t) => {
      if (!Number.isInteger(n) || n < 1)
        throw new Error(`${name}.sample: n must be a positive integer; got ${n}`);
      checkTimeNumber(t, `${name}.sample`);
      return tf.tidy(() => psi(randn([n, d]) as tf.Tensor2D, t));
    },
    lipschitz: (t) => spectralNorm(velocityMap(checkTimeNumber(t, `${name}.lipschitz`)).B),
  };
}

/** Options of `straightGaussianFlow`. */
export interface StraightFlowOptions {
  /**
   * The matrix A: p_1 = N(b, A A^T). (1 - t) I + t A must be invertible for t in [0, 1] (true when
   * A is symmetric positive definite). @default [[0.5, 0], [0, 1.5]] rotated by 30 degrees (an SPD
   * matrix)
   */
  A?: Matrix;
  /** The shift b: the mean of p_1. @default [2, 1] */
  b?: number[];
}

/**
 * The default A of the presets: the SPD matrix with eigenvalues 0.5 and 1.5 along axes turned 30
 * degrees.
 */
export const DEFAULT_FLOW_MATRIX: Matrix = (() => {
  const c = Math.cos(Math.PI / 6);
  const s = Math.sin(Math.PI / 6);
  const Q = [
    [c, -s],
    [s, c],
  ];
  return matMulArrays(
    matMulArrays(Q, [
      [0.5, 0],
      [0, 1.5],
    ]),
    transposeArrays(Q),
  );
})();

/** The default b of the presets. */
export const DEFAULT_FLOW_SHIFT = [2, 1];

/**
 * Straight-line transport of N(0, I) to N(b, A A^T): each particle moves from x0 to A x0 + b in a
 * straight line at constant speed,
 *
 *     psi_t(x0) = (1 - t) x0 + t (A x0 + b),   u_t(x) = (A - I) M_t^{-1} (x - t b) + b,   M_t = (1
 *       - t) I + t A,
 *
 * and p_t = N(t b, M_t M_t^T). Any dimension d (A is d x d, b has d entries).
 * @example
 * const flow = straightGaussianFlow(); // p_1 = N([2, 1], A A^T) flow.u(tf.tensor2d([[0, 0]]), 0);
 * // returns [[2, 1]]: at t = 0 the origin moves towards b
 */
export function straightGaussianFlow(options: StraightFlowOptions = {}): LinearGaussianFlow {
  const A = options.A ?? DEFAULT_FLOW_MATRIX;
  const b = options.b ?? DEFAULT_FLOW_SHIFT;
  const d = Array.isArray(A) ? A.length : 0;
  checkMatrix(A, d, "straightGaussianFlow: A");
  checkVector(b, d, "straightGaussianFlow: b");
  const I = identityMatrix(d);
  return linearGaussianFlow({
    dim: d,
    name: "straight flow",
    K: (t) => A.map((row, i) => row.map((a, j) => (1 - t) * I[i][j] + t * a)),
    dK: () => A.map((row, i) => row.map((a, j) => a - I[i][j])),
    m: (t) => b.map((v) => t * v),
    dm: () => b.slice(),
  });
}

/** Options of `rotatingGaussianFlow`. */
export interface RotatingFlowOptions extends StraightFlowOptions {
  /**
   * Full turns about the origin between t = 0 and t = 1 (an integer ends where the straight flow
   * ends). @default 1
   */
  turns?: number;
}

/** The 2-D rotation by angle a. */
function rotation(a: number): Matrix {
  return [
    [Math.cos(a), -Math.sin(a)],
    [Math.sin(a), Math.cos(a)],
  ];
}

/**
 * The straight flow, spun about the origin by the angle 2 pi turns t on the way (2-D only):
 *
 *     psi_t(x0) = R(2 pi turns t) [ (1 - t) x0 + t (A x0 + b) ],   p_t = N(R t b, R M_t M_t^T R^T).
 *
 * With an integer number of turns R(2 pi turns) = I, so p_1 = N(b, A A^T) as for the straight flow:
 * two different fields, two different probability paths, the same p_0 and p_1 (the lecture: the
 * path is not unique). With a half-integer number of turns the cloud ends at N(-b, A A^T) instead.
 * @example
 * const spin = rotatingGaussianFlow(); // one full turn spin.mean(0.5); // returns [-1, -0.5]: half
 * way, the cloud is on the other side spin.mean(1); // returns [2, 1] (up to round-off), like the
 * straight flow
 */
export function rotatingGaussianFlow(options: RotatingFlowOptions = {}): LinearGaussianFlow {
  const A = options.A ?? DEFAULT_FLOW_MATRIX;
  const b = options.b ?? DEFAULT_FLOW_SHIFT;
  const turns = options.turns ?? 1;
  checkMatrix(A, 2, "rotatingGaussianFlow: A (2-D only)");
  checkVector(b, 2, "rotatingGaussianFlow: b");
  if (typeof turns !== "number" || !Number.isFinite(turns))
    throw new Error(`rotatingGaussianFlow: turns must be a finite number; got ${turns}`);
  const w = 2 * Math.PI * turns; // angular speed
  const J = [
    [0, -1],
    [1, 0],
  ]; // d/da R(a) = J R(a)
  const M = (t: number) =>
    A.map((row, i) => row.map((a, j) => (1 - t) * (i === j ? 1 : 0) + t * a));
  const dM = A.map((row, i) => row.map((a, j) => a - (i === j ? 1 : 0)));
  return linearGaussianFlow({
    dim: 2,
    name: `rotating flow (${turns} turn${turns === 1 ? "" : "s"})`,
    K: (t) => matMulArrays(rotation(w * t), M(t)),
    // (R M)' = w J R M + R M'
    dK: (t) => {
      const R = rotation(w * t);
      const a = matMulArrays(matMulArrays(J, R), M(t)).map((row) => row.map((v) => w * v));
      const c = matMulArrays(R, dM);
      return a.map((row, i) => row.map((v, j) => v + c[i][j]));
    },
    m: (t) => matVec(rotation(w * t), b).map((v) => t * v),
    // (t R b)' = R b + t w J R b
    dm: (t) => {
      const Rb = matVec(rotation(w * t), b);
      const JRb = matVec(J, Rb);
      return Rb.map((v, i) => v + t * w * JRb[i]);
    },
  });
}
