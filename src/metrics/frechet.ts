/**
 * The Frechet distance between two sets of feature vectors (notebook 09): fit a Gaussian to each
 * set (mean and covariance) and take the squared 2-Wasserstein distance between the two Gaussians,
 * which has a closed form (Dowson & Landau 1982):
 *
 *     FD = |m1 - m2|^2 + tr(S1) + tr(S2) - 2 tr( (S1^(1/2) S2 S1^(1/2))^(1/2) ).
 *
 * With the features of an image classifier's penultimate layer this is the FID of Heusel et al.
 * (2017), here with the course's digit classifier in place of Inception. Two finite samples of one
 * distribution do not give 0 (their fitted Gaussians differ): compare with that floor.
 *
 * Everything runs in float64 on plain arrays: covariances of a few hundred dimensions, and the
 * matrix square roots come from symmetric eigendecompositions (cyclic Jacobi rotations), which are
 * accurate to rounding for symmetric positive semi-definite matrices.
 */
import * as tf from "@tensorflow/tfjs";

/**
 * A Gaussian fitted to a set of vectors: mean and covariance (d x d, row-major, divided by n - 1).
 */
export interface GaussianFit {
  d: number;
  n: number;
  mean: Float64Array;
  cov: Float64Array;
}

/**
 * The mean and the (unbiased) covariance of the rows of `features` `[n, d]` (a tensor, read not
 * disposed, or rows of numbers), n >= 2, all finite.
 */
export function gaussianFit(features: tf.Tensor2D | number[][]): GaussianFit {
  let values: ArrayLike<number>;
  let n: number;
  let d: number;
  if (features instanceof tf.Tensor) {
    if (features.rank !== 2)
      throw new Error(
        `gaussianFit: features must have shape [n, d]; got [${features.shape.join(", ")}]`,
      );
    [n, d] = features.shape;
    values = features.dataSync();
  } else if (Array.isArray(features) && features.length > 0 && Array.isArray(features[0])) {
    n = features.length;
    d = features[0].length;
    const flat = new Float64Array(n * d);
    features.forEach((row, i) => {
      if (!Array.isArray(row) || row.length !== d)
        throw new Error(`gaussianFit: every row must have ${d} numbers; row ${i} does not`);
      flat.set(row, i * d);
    });
    values = flat;
  } else {
    throw new Error("gaussianFit: features must be a [n, d] tensor or a non-empty array of rows");
  }
  if (n < 2 || d < 1)
    throw new Error(`gaussianFit: needs at least 2 vectors of at least 1 number; got ${n} of ${d}`);
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]))
      throw new Error(
        `gaussianFit: features must be finite; row ${Math.floor(i / d)}, column ${i % d} is ` +
          `${values[i]}`,
      );
  }
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += values[i * d + j];
  for (let j = 0; j < d; j++) mean[j] /= n;
  const cov = new Float64Array(d * d);
  const centred = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) centred[j] = values[i * d + j] - mean[j];
    for (let a = 0; a < d; a++) {
      const ca = centred[a];
      if (ca === 0) continue;
      for (let b = a; b < d; b++) cov[a * d + b] += ca * centred[b];
    }
  }
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) {
      cov[a * d + b] /= n - 1;
      cov[b * d + a] = cov[a * d + b];
    }
  }
  return { d, n, mean, cov };
}

/**
 * Eigenvalues and eigenvectors of a symmetric matrix (d x d, row-major) by cyclic Jacobi rotations.
 * `vectors` holds the eigenvectors as columns: A = V diag(values) V^T.
 */
export function symmetricEigen(
  matrix: ArrayLike<number>,
  d: number,
): { values: Float64Array; vectors: Float64Array } {
  if (!Number.isInteger(d) || d < 1 || matrix.length !== d * d) {
    throw new Error(
      `symmetricEigen: need a ${d} x ${d} matrix (${d * d} numbers); got ${matrix.length}`,
    );
  }
  const a = Float64Array.from(matrix);
  for (let i = 0; i < d; i++) {
    for (let j = i + 1; j < d; j++) {
      const x = a[i * d + j];
      const y = a[j * d + i];
      if (!Number.isFinite(x) || !Number.isFinite(y))
        throw new Error("symmetricEigen: the matrix must be finite");
      if (Math.abs(x - y) > 1e-9 * (Math.abs(x) + Math.abs(y) + 1e-300)) {
        throw new Error(
          `symmetricEigen: the matrix is not symmetric (entries [${i}, ${j}] and [${j}, ${i}]: ` +
            `${x} vs ${y})`,
        );
      }
    }
  }
  const v = new Float64Array(d * d);
  for (let i = 0; i < d; i++) v[i * d + i] = 1;
  let scale = 0;
  for (let i = 0; i < d * d; i++) scale += a[i] * a[i];
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < d; p++) for (let q = p + 1; q < d; q++) off += a[p * d + q] * a[p * d + q];
    if (off <= 1e-30 * scale || off === 0) break;
    for (let p = 0; p < d - 1; p++) {
      for (let q = p + 1; q < d; q++) {
        const apq = a[p * d + q];
        if (apq === 0) continue;
        // The rotation that zeroes a[p][q] (Golub & Van Loan, the symmetric Schur decomposition).
        const theta = (a[q * d + q] - a[p * d + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < d; k++) {
          const akp = a[k * d + p];
          const akq = a[k * d + q];
          a[k * d + p] = c * akp - s * akq;
          a[k * d + q] = s * akp + c * akq;
        }
        for (let k = 0; k < d; k++) {
          const apk = a[p * d + k];
          const aqk = a[q * d + k];
          a[p * d + k] = c * apk - s * aqk;
          a[q * d + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < d; k++) {
          const vkp = v[k * d + p];
          const vkq = v[k * d + q];
          v[k * d + p] = c * vkp - s * vkq;
          v[k * d + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(d);
  for (let i = 0; i < d; i++) values[i] = a[i * d + i];
  return { values, vectors: v };
}

/**
 * The square root of a symmetric positive semi-definite matrix (tiny negative eigenvalues from
 * rounding count as 0).
 */
export function sqrtPsd(matrix: ArrayLike<number>, d: number): Float64Array {
  const { values, vectors } = symmetricEigen(matrix, d);
  const out = new Float64Array(d * d);
  for (let k = 0; k < d; k++) {
    const s = Math.sqrt(Math.max(values[k], 0));
    if (s === 0) continue;
    for (let i = 0; i < d; i++) {
      const vik = vectors[i * d + k] * s;
      for (let j = 0; j < d; j++) out[i * d + j] += vik * vectors[j * d + k];
    }
  }
  return out;
}

/**
 * S^(1/2) of covariances already seen by `frechetDistance` (keyed by the array: fits are not
 * mutated).
 */
const roots = new WeakMap<Float64Array, Float64Array>();

function multiply(a: Float64Array, b: Float64Array, d: number): Float64Array {
  const out = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let k = 0; k < d; k++) {
      const aik = a[i * d + k];
      if (aik === 0) continue;
      for (let j = 0; j < d; j++) out[i * d + j] += aik * b[k * d + j];
    }
  }
  return out;
}

/**
 * The Frechet distance between two Gaussians N(m1, S1) and N(m2, S2) (module comment): the squared
 * 2-Wasserstein distance between them.
 * @example
 * frechetDistance({ d: 1, n: 2, mean: Float64Array.of(0), cov: Float64Array.of(4) },
 *                 { d: 1, n: 2, mean: Float64Array.of(1), cov: Float64Array.of(1) });   // returns
 * 2 = 1 + (2 - 1)^2
 */
export function frechetDistance(a: GaussianFit, b: GaussianFit): number {
  if (!a || !b || a.d !== b.d)
    throw new Error(
      `frechetDistance: both fits must have the same dimension; got ${a?.d} and ${b?.d}`,
    );
  const d = a.d;
  if (
    a.mean.length !== d ||
    b.mean.length !== d ||
    a.cov.length !== d * d ||
    b.cov.length !== d * d
  ) {
    throw new Error(
      `frechetDistance: a fit of dimension ${d} needs a mean of ${d} and a covariance of ` +
        `${d * d} numbers`,
    );
  }
  let meanTerm = 0;
  for (let j = 0; j < d; j++) meanTerm += (a.mean[j] - b.mean[j]) ** 2;
  let traces = 0;
  for (let j = 0; j < d; j++) traces += a.cov[j * d + j] + b.cov[j * d + j];
  // The reference set's root is reused across calls (a sweep compares many samples with one set).
  let root = roots.get(a.cov);
  if (!root) {
    root = sqrtPsd(a.cov, d);
    roots.set(a.cov, root);
  }
  const middle = multiply(multiply(root, b.cov, d), root, d);
  // symmetrise away rounding before the eigendecomposition
  for (let i = 0; i < d; i++) {
    for (let j = i + 1; j < d; j++) {
      const m = 0.5 * (middle[i * d + j] + middle[j * d + i]);
      middle[i * d + j] = m;
      middle[j * d + i] = m;
    }
  }
  const { values } = symmetricEigen(middle, d);
  let cross = 0;
  for (const v of values) cross += Math.sqrt(Math.max(v, 0));
  return Math.max(meanTerm + traces - 2 * cross, 0);
}

/**
 * The Frechet distance between two sets of feature vectors `[n, d]` and `[m, d]` (module comment).
 * @example
 * fm.frechetDistanceOf(featuresOfSamples, featuresOfTestImages);   // 0 only for identical fits
 */
export function frechetDistanceOf(
  a: tf.Tensor2D | number[][],
  b: tf.Tensor2D | number[][],
): number {
  return frechetDistance(gaussianFit(a), gaussianFit(b));
}
