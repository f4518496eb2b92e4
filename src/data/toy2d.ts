/**
 * Two-dimensional toy data sets: the p_data = p_1 of the course's pictures.
 *
 * Every set is drawn in "unit coordinates" (a shape that fits roughly in [-1.5, 1.5]^2), jittered
 * by isotropic Gaussian noise of standard deviation `noise` (also in unit coordinates), then
 * multiplied by `scale`. So `scale` zooms the whole picture, jitter included, and the defaults put
 * the data at the same size as the N(0, I) noise it is transported from (lecture concept 1: p_0
 * noise, p_1 data).
 *
 * All randomness goes through `core/random`, so `seed(k)` makes every draw repeat exactly.
 * Introduced in notebook 1 (trajectories and flows) and used by every training notebook.
 */
import * as tf from "@tensorflow/tfjs";
import { normal, randint, uniform } from "../core/random";
import { assertFits } from "../core/checks";

/** Options shared by every toy data set. */
export interface ToyDataOptions {
  /**
   * Standard deviation of the Gaussian jitter, in unit coordinates (before `scale`). @default
   * depends on the set (see each function)
   */
  noise?: number;
  /** Factor applied to the whole set after the jitter. @default 2 */
  scale?: number;
}

/** The names `toyDataset` accepts, in the order the course introduces them. */
export const TOY_DATASETS = [
  "twoMoons",
  "eightGaussians",
  "checkerboard",
  "spirals",
  "concentricCircles",
  "twoPoints",
] as const;

/** One of `TOY_DATASETS`. */
export type ToyDatasetName = (typeof TOY_DATASETS)[number];

/** Checks `n` and the options, and fills in the defaults. */
function settle(
  name: string,
  n: number,
  options: ToyDataOptions,
  defaultNoise: number,
): { noise: number; scale: number } {
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1) {
    throw new Error(`${name}: n must be a positive integer (the number of points); got ${n}`);
  }
  assertFits(2 * n, name, `${n} points of 2 coordinates`);
  const noise = options.noise ?? defaultNoise;
  const scale = options.scale ?? 2;
  if (typeof noise !== "number" || !Number.isFinite(noise) || noise < 0) {
    throw new Error(`${name}: noise must be a finite number >= 0; got ${noise}`);
  }
  if (typeof scale !== "number" || !Number.isFinite(scale) || scale <= 0) {
    throw new Error(`${name}: scale must be a finite number > 0; got ${scale}`);
  }
  return { noise, scale };
}

/**
 * Builds the `[n, 2]` tensor from a point generator in unit coordinates, adding jitter and scaling.
 */
function draw(
  n: number,
  noise: number,
  scale: number,
  point: (i: number) => [number, number],
): tf.Tensor2D {
  const data = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const [px, py] = point(i);
    const jx = noise > 0 ? noise * normal() : 0;
    const jy = noise > 0 ? noise * normal() : 0;
    data[2 * i] = scale * (px + jx);
    data[2 * i + 1] = scale * (py + jy);
  }
  return tf.tensor2d(data, [n, 2]);
}

/**
 * Two interleaving half circles ("two moons"), centred on the origin.
 *
 * Unit coordinates: the upper moon is (cos a, sin a), the lower one (1 - cos a, 1/2 - sin a),
 * a ~ U[0, pi], each point on either moon with probability 1/2, then shifted by (-1/2, -1/4) so the
 * set is centred; it spans [-1.5, 1.5] x [-0.75, 0.75] before `scale`.
 *
 * @param n number of points
 * @param options `noise` @default 0.05, `scale` @default 2
 * @returns `[n, 2]`
 * @example
 * seed(0);
 * const x1 = twoMoons(500);   // x1.shape is [500, 2], points in about [-3, 3] x [-1.5, 1.5]
 */
export function twoMoons(n: number, options: ToyDataOptions = {}): tf.Tensor2D {
  const { noise, scale } = settle("twoMoons", n, options, 0.05);
  return draw(n, noise, scale, () => {
    const a = Math.PI * uniform();
    const upper = uniform() < 0.5;
    return upper
      ? [Math.cos(a) - 0.5, Math.sin(a) - 0.25]
      : [1 - Math.cos(a) - 0.5, 0.5 - Math.sin(a) - 0.25];
  });
}

/**
 * Eight Gaussian blobs with centres evenly spaced on the unit circle (angles k * pi/4, k = 0..7),
 * each blob chosen with probability 1/8. The jitter `noise` is each blob's standard deviation.
 *
 * @param n number of points
 * @param options `noise` @default 0.1, `scale` @default 2 (centres on the circle of radius 2)
 * @returns `[n, 2]`
 * @example
 * const x1 = eightGaussians(1000, { noise: 0.05 });   // tighter blobs
 */
export function eightGaussians(n: number, options: ToyDataOptions = {}): tf.Tensor2D {
  const { noise, scale } = settle("eightGaussians", n, options, 0.1);
  return draw(n, noise, scale, () => {
    const a = (Math.PI / 4) * randint(8);
    return [Math.cos(a), Math.sin(a)];
  });
}

/**
 * A 4 x 4 checkerboard on [-1, 1]^2 (squares of side 1/2) with mass spread uniformly over the 8
 * squares whose column and row indices have an even sum: a density with sharp edges, hard for a
 * flow to reproduce exactly.
 *
 * @param n number of points
 * @param options `noise` @default 0 (sharp edges), `scale` @default 2 (the board covers [-2, 2]^2)
 * @returns `[n, 2]`
 * @example
 * const x1 = checkerboard(2000);   // every point in [-2, 2]^2
 */
export function checkerboard(n: number, options: ToyDataOptions = {}): tf.Tensor2D {
  const { noise, scale } = settle("checkerboard", n, options, 0);
  return draw(n, noise, scale, () => {
    const u = uniform() * 2; // position along x in [0, 2)
    const col = Math.min(3, Math.floor(u / 0.5));
    const row = (col % 2) + 2 * randint(2); // rows with (row + col) even
    const v = row * 0.5 + uniform() * 0.5;
    return [u - 1, v - 1];
  });
}

/**
 * Two interleaved spiral arms. Unit coordinates: arm 0 is r (cos(3 pi r), sin(3 pi r)) for
 * r in [0, 1] (one and a half turns), arm 1 is its point reflection through the origin. The radius
 * is drawn as r = sqrt(u), u ~ U[0, 1], which spreads the points roughly evenly along the curve.
 *
 * @param n number of points
 * @param options `noise` @default 0.03, `scale` @default 2 (outer radius 2)
 * @returns `[n, 2]`
 * @example
 * const x1 = spirals(1000);
 */
export function spirals(n: number, options: ToyDataOptions = {}): tf.Tensor2D {
  const { noise, scale } = settle("spirals", n, options, 0.03);
  return draw(n, noise, scale, () => {
    const r = Math.sqrt(uniform());
    const a = 3 * Math.PI * r;
    const sign = uniform() < 0.5 ? 1 : -1;
    return [sign * r * Math.cos(a), sign * r * Math.sin(a)];
  });
}

/**
 * Two concentric circles of radii 1 and 1/2 (unit coordinates), each point on either circle with
 * probability 1/2 and at a uniform angle.
 *
 * @param n number of points
 * @param options `noise` @default 0.03, `scale` @default 2 (radii 2 and 1)
 * @returns `[n, 2]`
 * @example
 * const x1 = concentricCircles(800);
 */
export function concentricCircles(n: number, options: ToyDataOptions = {}): tf.Tensor2D {
  const { noise, scale } = settle("concentricCircles", n, options, 0.03);
  return draw(n, noise, scale, () => {
    const a = 2 * Math.PI * uniform();
    const r = uniform() < 0.5 ? 1 : 0.5;
    return [r * Math.cos(a), r * Math.sin(a)];
  });
}

/**
 * The lecture's two-point picture: a data set of just two points, (-1, 0) and (+1, 0) in unit
 * coordinates, so (-2, 0) and (2, 0) with the default scale; each sample is either point with
 * probability 1/2 (plus optional jitter).
 *
 * Why this layout: the noise N(0, I) sits between the two points, and under the independent pairing
 * of flow matching training a noise sample is as likely to be sent to the far point as to the near
 * one. Take two noise samples at the same height, the left one x0 = (-0.5, 0.2) paired with (2, 0)
 * and the right one x0' = (0.5, 0.2) paired with (-2, 0): the straight lines x_t = t x1 + (1 - t)
 * x0 meet at the same place, (0, 0.16), at the same time t = 0.2. (In general a left/right pair at
 * the same height, a distance D apart, meets at t = D / (D + 4).) At such a crossing the training
 * targets x1 - x0 point in opposite directions and the regression averages them: the reason the
 * learned paths curve (lecture concept 6) and what reflow straightens (concept 7).
 *
 * With `noise: 0` (the default) the set is exactly a finite data set with two atoms.
 *
 * @param n number of points
 * @param options `noise` @default 0, `scale` @default 2 (points at (-2, 0) and (2, 0))
 * @returns `[n, 2]`
 * @example
 * const x1 = twoPoints(4);   // rows are (-2, 0) or (2, 0)
 */
export function twoPoints(n: number, options: ToyDataOptions = {}): tf.Tensor2D {
  const { noise, scale } = settle("twoPoints", n, options, 0);
  return draw(n, noise, scale, () => [uniform() < 0.5 ? -1 : 1, 0]);
}

const GENERATORS: Record<ToyDatasetName, (n: number, options?: ToyDataOptions) => tf.Tensor2D> = {
  twoMoons,
  eightGaussians,
  checkerboard,
  spirals,
  concentricCircles,
  twoPoints,
};

/**
 * Any toy data set by name, for notebooks that let the reader switch sets with one string.
 *
 * @param name one of `TOY_DATASETS`; anything else is an error that lists them
 * @param n number of points
 * @param options passed to the set (`noise`, `scale`)
 * @returns `[n, 2]`
 * @example
 * seed(0);
 * const x1 = toyDataset("checkerboard", 1000);
 * toyDataset("moons", 10);   // throws: Unknown toy data set "moons"; choose one of twoMoons, ...
 */
export function toyDataset(
  name: ToyDatasetName,
  n: number,
  options: ToyDataOptions = {},
): tf.Tensor2D {
  if (!Object.prototype.hasOwnProperty.call(GENERATORS, name)) {
    throw new Error(
      `Unknown toy data set "${String(name)}"; choose one of ${TOY_DATASETS.join(", ")}`,
    );
  }
  return GENERATORS[name](n, options);
}
