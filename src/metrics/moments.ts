/**
 * Sample moments and a Gaussian moment test: does a cloud of points have the mean and covariance
 * that a closed form predicts, up to sampling error? (Notebook 1: particles pushed by the ODE have
 * the moments of p_t; notebook 3: samples of the conditional path N(t x1, (1 - t)^2 I) and, with
 * sigma_min > 0, its end N(x1, sigma_min^2 I).)
 *
 * For n independent draws from a distribution with covariance S, the sample mean's entry i has
 * standard error sqrt(S_ii / n); for a Gaussian, the sample covariance's entry (i, j) has standard
 * error sqrt((S_ii S_jj + S_ij^2) / (n - 1)). `gaussianMomentGaps` divides each gap by its standard
 * error: |z| below ~4 for every entry is what a correct closed form gives (a z-score of 4 is
 * exceeded with probability ~6e-5 per entry); a wrong one gives z-scores that grow like sqrt(n).
 */
import * as tf from "@tensorflow/tfjs";

/** Sample mean and (unbiased, divisor n - 1) covariance of n points in d dimensions, in float64. */
export type SampleMoments = {
  /** The number of points n. */
  n: number;
  /** The sample mean, d numbers. */
  mean: number[];
  /** The sample covariance, d arrays of d numbers (divisor n - 1). */
  cov: number[][];
};

/**
 * Reads `[n, d]` points (tensor, not disposed, or arrays) into rows, checking shape and finiteness.
 */
function readRows(x: unknown, name: string): number[][] {
  let rows: number[][];
  if (x instanceof tf.Tensor) {
    if (x.rank !== 2)
      throw new Error(`${name} must have shape [n, d]; got shape [${x.shape.join(", ")}]`);
    rows = x.arraySync() as number[][];
  } else if (Array.isArray(x) && x.every((r) => Array.isArray(r))) {
    rows = x as number[][];
  } else {
    throw new Error(
      `${name} must be a [n, d] tensor or n arrays of d numbers; got ` +
        `${x === null ? "null" : typeof x}`,
    );
  }
  if (rows.length < 2) throw new Error(`${name} needs at least 2 points; got ${rows.length}`);
  const d = rows[0].length;
  if (d === 0) throw new Error(`${name} must have at least one column; got rows of length 0`);
  rows.forEach((r, i) => {
    if (r.length !== d)
      throw new Error(`${name}: every row must have ${d} entries; row ${i} has ${r.length}`);
    r.forEach((v, j) => {
      if (typeof v !== "number" || !Number.isFinite(v))
        throw new Error(`${name} must be finite; entry [${i}, ${j}] is ${v}`);
    });
  });
  return rows;
}

/**
 * The sample mean and covariance of a cloud of points (float64 sums; no tensor is created).
 * @param x points `[n, d]` (a tensor, which is not disposed, or n arrays of d numbers), n >= 2
 * @example
 * sampleMoments([[0, 0], [2, 0], [1, 3]]); // returns { n: 3, mean: [1, 1], cov: [[1, 0], [0, 3]] }
 */
export function sampleMoments(x: tf.Tensor2D | number[][]): SampleMoments {
  const rows = readRows(x, "sampleMoments: x");
  const n = rows.length;
  const d = rows[0].length;
  const mean = new Array<number>(d).fill(0);
  for (const r of rows) for (let j = 0; j < d; j++) mean[j] += r[j] / n;
  const cov = Array.from({ length: d }, () => new Array<number>(d).fill(0));
  for (const r of rows) {
    for (let i = 0; i < d; i++) {
      const a = r[i] - mean[i];
      for (let j = i; j < d; j++) cov[i][j] += (a * (r[j] - mean[j])) / (n - 1);
    }
  }
  for (let i = 0; i < d; i++) for (let j = 0; j < i; j++) cov[i][j] = cov[j][i];
  return { n, mean, cov };
}

/** What `gaussianMomentGaps` returns. */
export type MomentGaps = {
  /** The sample's moments. */
  sample: SampleMoments;
  /** The largest |sample mean_i - mean_i| / sqrt(cov_ii / n) over the entries. */
  meanZ: number;
  /**
   * The largest |sample cov_ij - cov_ij| / sqrt((cov_ii cov_jj + cov_ij^2) / (n - 1)) over the
   * entries.
   */
  covZ: number;
};

/**
 * Compares a sample's mean and covariance with a Gaussian's, in units of their standard errors (the
 * standard errors come from the expected covariance, so a wrong claim cannot hide behind its own
 * spread). Both z-scores below ~4 is what a sample of the claimed Gaussian gives; a wrong mean or
 * covariance makes them grow like sqrt(n).
 *
 * @param x points `[n, d]` (tensor, not disposed, or arrays), n >= 2
 * @param expected the claimed `{ mean, cov }`: d numbers and a d x d covariance with a positive
 *   diagonal
 * @example
 * seed(0); const z = gaussianMomentGaps(randn([2000, 2]) as tf.Tensor2D, { mean: [0, 0], cov: [[1,
 * 0], [0, 1]] }); z.meanZ < 4 && z.covZ < 4; // returns true gaussianMomentGaps(randn([2000, 2]) as
 * tf.Tensor2D, { mean: [0, 0], cov: [[2, 0], [0, 2]] }).covZ; // returns ~16
 */
export function gaussianMomentGaps(
  x: tf.Tensor2D | number[][],
  expected: { mean: number[]; cov: number[][] },
): MomentGaps {
  const sample = sampleMoments(x);
  const d = sample.mean.length;
  if (!expected || !Array.isArray(expected.mean) || expected.mean.length !== d) {
    throw new Error(
      `gaussianMomentGaps: expected.mean must have ${d} entries (the points' dimension); got ` +
        String(
          expected && Array.isArray(expected.mean) ? expected.mean.length : typeof expected?.mean,
        ),
    );
  }
  const S = expected.cov;
  if (!Array.isArray(S) || S.length !== d || !S.every((r) => Array.isArray(r) && r.length === d)) {
    throw new Error(`gaussianMomentGaps: expected.cov must be ${d} arrays of ${d} numbers`);
  }
  for (let i = 0; i < d; i++) {
    if (!(S[i][i] > 0) || !Number.isFinite(S[i][i])) {
      throw new Error(
        `gaussianMomentGaps: expected.cov must have a positive finite diagonal (a point mass has ` +
          `no sampling error to compare with); entry [${i}, ${i}] is ${S[i][i]}`,
      );
    }
  }
  const n = sample.n;
  let meanZ = 0;
  let covZ = 0;
  for (let i = 0; i < d; i++) {
    meanZ = Math.max(meanZ, Math.abs(sample.mean[i] - expected.mean[i]) / Math.sqrt(S[i][i] / n));
    for (let j = 0; j < d; j++) {
      const se = Math.sqrt((S[i][i] * S[j][j] + S[i][j] * S[i][j]) / (n - 1));
      covZ = Math.max(covZ, Math.abs(sample.cov[i][j] - S[i][j]) / se);
    }
  }
  return { sample, meanZ, covZ };
}
