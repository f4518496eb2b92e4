/**
 * A linear autoencoder for digits: the principal components of the training images (notebook 09).
 *
 * Why: a multilayer perceptron that outputs a velocity for all 784 pixels through narrower hidden
 * layers can only move the image inside the span of its last layer's weights (as many directions as
 * hidden units). In the other directions the sample keeps its starting noise, so every image comes
 * out speckled. Flow matching in the coordinates of the first k principal components (a
 * k-dimensional "latent space", as latent diffusion and latent flow matching do with a learned
 * autoencoder) avoids that: the network's output spans all k directions, and the decoder puts the
 * pixels back.
 *
 *     encode: z = V^T (x - m) / s          decode: x = m + s V z
 *
 * with x an image in the network's scale [-1, 1] (src/images/mnist.ts), m the mean training image,
 * V (784 x k) the top k eigenvectors of the training images' covariance, and s one scale that gives
 * the codes an average variance of 1 (the noise's). The eigenvectors come from a cyclic Jacobi
 * eigendecomposition in float64 (src/metrics/frechet.ts); it takes a minute or two for 784 pixels,
 * so the course ships the codec (assets/models/mnist-codec.json) and `verifyCodec` checks it
 * against the training images in a second.
 */
import * as tf from "@tensorflow/tfjs";
import { assert2D } from "../core/checks";
import { symmetricEigen } from "../metrics/frechet";
import type { ImageSet } from "./mnist";

/** The mean image, k principal directions and the code scale. */
export class ImageCodec {
  /** Pixels per image. */
  readonly pixels: number;
  /** Code dimension. */
  readonly k: number;
  /** The mean training image in [-1, 1] scale, `pixels` numbers. */
  readonly mean: Float32Array;
  /** The principal directions as rows: direction i is `basis[i * pixels ...]` (orthonormal). */
  readonly basis: Float32Array;
  /** The variance of the training images along each direction (in [-1, 1] scale), largest first. */
  readonly variances: Float32Array;
  /** The scale s (codes z = V^T (x - m) / s). */
  readonly scale: number;
  private tensors: { mean: tf.Tensor1D; basis: tf.Tensor2D; basisT: tf.Tensor2D } | null = null;

  constructor(parts: {
    pixels: number;
    k: number;
    mean: Float32Array;
    basis: Float32Array;
    variances: Float32Array;
    scale: number;
  }) {
    const { pixels, k, mean, basis, variances, scale } = parts;
    if (!Number.isInteger(pixels) || !Number.isInteger(k) || k < 1 || k > pixels) {
      throw new Error(
        `ImageCodec: need integers 1 <= k <= pixels; got k = ${k}, pixels = ${pixels}`,
      );
    }
    if (mean.length !== pixels || basis.length !== k * pixels || variances.length !== k) {
      throw new Error(
        `ImageCodec: expected a mean of ${pixels}, a basis of ${k} x ${pixels} and ${k} ` +
          `variances; ` +
          `got ${mean.length}, ${basis.length} and ${variances.length}`,
      );
    }
    if (!(scale > 0) || !Number.isFinite(scale))
      throw new Error(`ImageCodec: scale must be a positive number; got ${scale}`);
    this.pixels = pixels;
    this.k = k;
    this.mean = mean;
    this.basis = basis;
    this.variances = variances;
    this.scale = scale;
  }

  private parts(): { mean: tf.Tensor1D; basis: tf.Tensor2D; basisT: tf.Tensor2D } {
    if (!this.tensors) {
      const basisT = new Float32Array(this.k * this.pixels);
      for (let i = 0; i < this.k; i++)
        for (let p = 0; p < this.pixels; p++)
          basisT[p * this.k + i] = this.basis[i * this.pixels + p];
      this.tensors = {
        mean: tf.keep(tf.tensor1d(this.mean)),
        basis: tf.keep(tf.tensor2d(this.basis, [this.k, this.pixels])),
        basisT: tf.keep(tf.tensor2d(basisT, [this.pixels, this.k])),
      };
    }
    return this.tensors;
  }

  /** Codes of images in the network's scale [-1, 1]: `[n, pixels]` -> `[n, k]`. */
  encode(x: tf.Tensor2D): tf.Tensor2D {
    assert2D(x, "encode: x", this.pixels);
    const { mean, basisT } = this.parts();
    return tf.tidy(() => tf.div(tf.matMul(tf.sub(x, mean), basisT), this.scale) as tf.Tensor2D);
  }

  /** Images in the network's scale [-1, 1] (not clipped) of codes: `[n, k]` -> `[n, pixels]`. */
  decode(z: tf.Tensor2D): tf.Tensor2D {
    assert2D(z, "decode: z", this.k);
    const { mean, basis } = this.parts();
    return tf.tidy(() => tf.add(tf.matMul(tf.mul(z, this.scale), basis), mean) as tf.Tensor2D);
  }

  /** Grey values in [0, 1] (clipped) of codes: `[n, k]` -> `[n, pixels]`. */
  toPixels(z: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(
      () => tf.clipByValue(tf.mul(tf.add(this.decode(z), 1), 0.5), 0, 1) as tf.Tensor2D,
    );
  }

  /**
   * A velocity in code space as a velocity of grey values: d/dt of (x + 1) / 2 for x = m + s V z,
   * that is (s / 2) V u, `[n, k]` -> `[n, pixels]` (signed: ink appearing is positive).
   */
  toPixelVelocity(u: tf.Tensor2D): tf.Tensor2D {
    assert2D(u, "toPixelVelocity: u", this.k);
    const { basis } = this.parts();
    return tf.tidy(() => tf.matMul(tf.mul(u, this.scale / 2), basis) as tf.Tensor2D);
  }

  /** Codes of an image set (grey values in [0, 1]), `[n, k]`. */
  encodeSet(set: ImageSet): tf.Tensor2D {
    if (set.height * set.width !== this.pixels)
      throw new Error(
        `encodeSet: the codec takes ${this.pixels}-pixel images; got ${set.height} x ${set.width}`,
      );
    return tf.tidy(() =>
      this.encode(
        tf.sub(tf.mul(tf.tensor2d(set.pixels, [set.n, this.pixels]), 2), 1) as tf.Tensor2D,
      ),
    );
  }

  /** The codec of the first `k` directions only (same mean and scale): a coarser code. */
  truncate(k: number): ImageCodec {
    if (!Number.isInteger(k) || k < 1 || k > this.k)
      throw new Error(`truncate: k must be an integer in [1, ${this.k}]; got ${k}`);
    return new ImageCodec({
      pixels: this.pixels,
      k,
      mean: this.mean,
      basis: this.basis.slice(0, k * this.pixels),
      variances: this.variances.slice(0, k),
      scale: this.scale,
    });
  }

  /** Images squeezed through the code: decode(encode(x)) as grey values, `[n, pixels]`. */
  reconstruct(set: ImageSet): tf.Tensor2D {
    return tf.tidy(() => this.toPixels(this.encodeSet(set)));
  }

  /** Frees the codec's tensors (rebuilt on the next use). */
  dispose(): void {
    if (this.tensors) tf.dispose([this.tensors.mean, this.tensors.basis, this.tensors.basisT]);
    this.tensors = null;
  }

  /** One line: code size and the share of the training images' variance it keeps. */
  describe(total?: number): string {
    const kept = this.variances.reduce((a, b) => a + b, 0);
    const share = total ? `, ${((100 * kept) / total).toFixed(1)}% of the pixel variance` : "";
    return `PCA codec: ${this.pixels} pixels -> ${this.k} numbers${share}`;
  }
}

/** The pixel covariance of a set of images in [-1, 1] scale, float64, with the mean. */
export function pixelCovariance(set: ImageSet): {
  mean: Float64Array;
  cov: Float64Array;
  total: number;
} {
  const P = set.height * set.width;
  const n = set.n;
  if (n < 2) throw new Error(`pixelCovariance: needs at least 2 images; got ${n}`);
  const mean = new Float64Array(P);
  for (let i = 0; i < n; i++) for (let p = 0; p < P; p++) mean[p] += 2 * set.pixels[i * P + p] - 1;
  for (let p = 0; p < P; p++) mean[p] /= n;
  // X_c^T X_c with an explicit transpose (a transposed operand is slow on wasm), one product.
  const cov64 = tf.tidy(() => {
    const x = tf.sub(
      tf.sub(tf.mul(tf.tensor2d(set.pixels, [n, P]), 2), 1),
      tf.tensor1d(Float32Array.from(mean)),
    );
    return tf.div(tf.matMul(tf.transpose(x), x), n - 1).dataSync();
  });
  const cov = new Float64Array(P * P);
  // symmetrise (float32 products are symmetric up to rounding)
  for (let a = 0; a < P; a++)
    for (let b = 0; b < P; b++) cov[a * P + b] = 0.5 * (cov64[a * P + b] + cov64[b * P + a]);
  let total = 0;
  for (let p = 0; p < P; p++) total += cov[p * P + p];
  return { mean, cov, total };
}

/**
 * The PCA codec of a training set: the top k eigenvectors of its pixel covariance (module comment).
 * Deterministic; takes a minute or two for 784 pixels (the course ships the result).
 * @example
 * const codec = fm.fitImageCodec(fm.loadMnist().train, 64);
 */
export function fitImageCodec(set: ImageSet, k: number): ImageCodec {
  const P = set.height * set.width;
  if (!Number.isInteger(k) || k < 1 || k > P)
    throw new Error(`fitImageCodec: k must be an integer in [1, ${P}]; got ${k}`);
  const { mean, cov } = pixelCovariance(set);
  const { values, vectors } = symmetricEigen(cov, P);
  const order = Array.from(values.keys()).sort((a, b) => values[b] - values[a] || a - b);
  const basis = new Float32Array(k * P);
  const variances = new Float32Array(k);
  order.slice(0, k).forEach((j, i) => {
    variances[i] = values[j];
    // a fixed sign: the largest entry of each direction positive (eigenvectors are defined up to
    // sign)
    let big = 0;
    for (let p = 0; p < P; p++)
      if (Math.abs(vectors[p * P + j]) > Math.abs(big)) big = vectors[p * P + j];
    const sign = big < 0 ? -1 : 1;
    for (let p = 0; p < P; p++) basis[i * P + p] = sign * vectors[p * P + j];
  });
  const meanVariance = variances.reduce((a, b) => a + b, 0) / k;
  return new ImageCodec({
    pixels: P,
    k,
    mean: Float32Array.from(mean),
    basis,
    variances,
    scale: Math.sqrt(meanVariance),
  });
}

/**
 * Checks that a codec is the PCA of `set` without redoing it: the basis is orthonormal, each
 * direction is an eigenvector of the covariance with its recorded variance (relative residual
 * |C v - lambda v| / lambda_1), and no direction orthogonal to the basis has more variance than the
 * smallest kept one (power iteration on the covariance restricted to the rest). Also returns the
 * set's total pixel variance (the covariance's trace), for the share the codec keeps.
 */
export function verifyCodec(
  codec: ImageCodec,
  set: ImageSet,
): {
  orthonormality: number;
  eigenResidual: number;
  nextVariance: number;
  meanError: number;
  total: number;
} {
  const P = codec.pixels;
  const k = codec.k;
  const { mean, cov, total } = pixelCovariance(set);
  let meanError = 0;
  for (let p = 0; p < P; p++) meanError = Math.max(meanError, Math.abs(mean[p] - codec.mean[p]));
  const V = (i: number, p: number) => codec.basis[i * P + p];
  let orthonormality = 0;
  for (let i = 0; i < k; i++) {
    for (let j = i; j < k; j++) {
      let dot = 0;
      for (let p = 0; p < P; p++) dot += V(i, p) * V(j, p);
      orthonormality = Math.max(orthonormality, Math.abs(dot - (i === j ? 1 : 0)));
    }
  }
  const times = (v: Float64Array): Float64Array => {
    const out = new Float64Array(P);
    for (let a = 0; a < P; a++) {
      let s = 0;
      for (let b = 0; b < P; b++) s += cov[a * P + b] * v[b];
      out[a] = s;
    }
    return out;
  };
  let eigenResidual = 0;
  for (let i = 0; i < k; i++) {
    const v = Float64Array.from({ length: P }, (_, p) => V(i, p));
    const cv = times(v);
    let r = 0;
    for (let p = 0; p < P; p++) r += (cv[p] - codec.variances[i] * v[p]) ** 2;
    eigenResidual = Math.max(eigenResidual, Math.sqrt(r) / codec.variances[0]);
  }
  // power iteration on (I - V V^T) C (I - V V^T), from a fixed start
  const project = (v: Float64Array) => {
    for (let i = 0; i < k; i++) {
      let dot = 0;
      for (let p = 0; p < P; p++) dot += V(i, p) * v[p];
      for (let p = 0; p < P; p++) v[p] -= dot * V(i, p);
    }
    return v;
  };
  let v = project(Float64Array.from({ length: P }, (_, p) => Math.sin(p + 1)));
  let nextVariance = 0;
  for (let it = 0; it < 60; it++) {
    const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    v = v.map((x) => x / norm);
    const w = project(times(v));
    nextVariance = v.reduce((s, x, p) => s + x * w[p], 0);
    v = w;
  }
  return { orthonormality, eigenResidual, nextVariance, meanError, total };
}
