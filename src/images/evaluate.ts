/**
 * Judging generated digits (notebook 09), with honest floors:
 *
 * - `DigitJudge`: the shipped classifier says which digit an image shows, and the Frechet distance
 *   in its penultimate features compares a set of images with the held-out test digits. Two real
 *   samples differ too: `floor` is the distance between test digits and as many training digits.
 * - `guidanceSweep`: how often guided samples show their label, and their Frechet distance, for
 *   several guidance weights w (quality against diversity).
 * - `solverSweep`: the Frechet distance against the number of field evaluations for several
 *   solvers, all from the same noise.
 * - `classBalance`: which classes unguided samples fall into, against the training set's shares.
 * - `nearestCodes`: the nearest training image of each sample, in the codec's space (memorisation).
 * - `loadDigitModels`: the shipped codec, classifier, flow model and its reflow, checked against
 *   each other (each recipe names the SHA-256 of the files it was made from).
 */
import * as tf from "@tensorflow/tfjs";
import { existsSync } from "fs";
import { join } from "path";
import { randn } from "../core/random";
import { frechetDistance, gaussianFit, type GaussianFit } from "../metrics/frechet";
import { VelocityModel } from "../model/mlp";
import { ODE_STAGES } from "../solvers/ode";
import { Classifier } from "./classifier";
import { ImageCodec } from "./codec";
import { guidedField } from "./conditional";
import { loadImageModelOf } from "./io";
import { classCounts, takeImages, type ImageSet } from "./mnist";
import { sampleDigits, type ImageSolver } from "./sample";

/** The classifier, the test digits' features and the floor of the Frechet distance. */
export class DigitJudge {
  readonly classifier: Classifier;
  /** The Gaussian fit of the test digits' features (the reference of every distance). */
  readonly reference: GaussianFit;
  /** FD between the test digits and as many training digits: what two real samples give. */
  readonly floor: number;
  /** How many test digits the reference holds. */
  readonly n: number;

  constructor(classifier: Classifier, test: ImageSet, train: ImageSet) {
    if (!(classifier instanceof Classifier))
      throw new Error("DigitJudge: classifier must be a Classifier");
    this.classifier = classifier;
    this.n = test.n;
    this.reference = this.fit(tf.tensor2d(test.pixels, [test.n, test.height * test.width]), true);
    const m = Math.min(test.n, train.n);
    const other = takeImages(train, m);
    this.floor = frechetDistance(
      this.reference,
      this.fit(tf.tensor2d(other.pixels, [m, other.height * other.width]), true),
    );
  }

  private fit(pixels: tf.Tensor2D, dispose = false): GaussianFit {
    const f = this.classifier.features(pixels);
    const g = gaussianFit(f);
    f.dispose();
    if (dispose) pixels.dispose();
    return g;
  }

  /** FD between images (grey values, `[n, 784]`) and the test digits. */
  frechet(pixels: tf.Tensor2D): number {
    return frechetDistance(this.reference, this.fit(pixels));
  }

  /** The fraction of images the classifier labels as `labels` (and its predictions). */
  accuracy(
    pixels: tf.Tensor2D,
    labels: ArrayLike<number>,
  ): { accuracy: number; predicted: Int32Array } {
    const predicted = this.classifier.classify(pixels);
    if (labels.length !== predicted.length)
      throw new Error(`accuracy: ${predicted.length} images but ${labels.length} labels`);
    let right = 0;
    predicted.forEach((c, i) => (right += c === labels[i] ? 1 : 0));
    return { accuracy: right / predicted.length, predicted };
  }
}

/** `perClass` labels of each of K classes, class after class in turn (0, 1, ..., K-1, 0, ...). */
export function balancedLabels(K: number, perClass: number): Uint8Array {
  return Uint8Array.from({ length: K * perClass }, (_, i) => i % K);
}

/**
 * Samples of a class-conditional model as grey values (codes decoded by `codec`), `[n, pixels]`.
 */
export function sampleDigitPixels(
  flow: VelocityModel,
  codec: ImageCodec,
  options: {
    labels: ArrayLike<number>;
    w?: number;
    method?: ImageSolver;
    steps?: number;
    x0?: tf.Tensor2D;
  },
): { pixels: tf.Tensor2D; codes: tf.Tensor2D; nfe: number; passes: number } {
  const s = sampleDigits(flow, options);
  const pixels = codec.toPixels(s.x);
  s.x0.dispose();
  return { pixels, codes: s.x, nfe: s.nfe, passes: s.passes };
}

/** One row of `guidanceSweep`. */
export interface GuidanceRow {
  w: number;
  /** Fraction of samples the classifier labels as the class they were drawn for. */
  accuracy: number;
  /** Frechet distance to the test digits. */
  fd: number;
  /** Field evaluations per image, and network passes. */
  nfe: number;
  passes: number;
  /** The class the classifier gives each sample, and the class it was drawn for. */
  predicted: Int32Array;
  labels: Uint8Array;
}

/**
 * Accuracy and Frechet distance of guided samples for each weight in `ws`, `perClass` images of
 * each class, all from the same noise (seeded by `fm.seed` before the call).
 */
export function guidanceSweep(
  flow: VelocityModel,
  codec: ImageCodec,
  judge: DigitJudge,
  options: { ws: number[]; perClass: number; method?: ImageSolver; steps?: number },
): GuidanceRow[] {
  const K = flow.config.classes ?? 0;
  const labels = balancedLabels(K, options.perClass);
  const x0 = randn([labels.length, codec.k]) as tf.Tensor2D;
  try {
    return options.ws.map((w) => {
      const s = sampleDigitPixels(flow, codec, {
        labels,
        w,
        method: options.method,
        steps: options.steps,
        x0,
      });
      const { accuracy, predicted } = judge.accuracy(s.pixels, labels);
      const fd = judge.frechet(s.pixels);
      tf.dispose([s.pixels, s.codes]);
      return { w, accuracy, fd, nfe: s.nfe, passes: s.passes, predicted, labels };
    });
  } finally {
    x0.dispose();
  }
}

/** One solver's curve of `solverSweep` (what `fm.plotMetricVsNfe` draws). */
export interface SolverCurve {
  name: string;
  nfe: number[];
  values: number[];
}

/**
 * The Frechet distance to the test digits against the number of field evaluations per image, for
 * each (model, solver) run, all from the same noise and labels (seeded by `fm.seed` before the
 * call). An NFE a solver cannot take (below its stages, or not a multiple of them) is skipped.
 * @example
 * fm.solverSweep([{ name: "Euler", model: flow, method: "euler" }], codec, judge, { labels, w: 1,
 * nfes: [1, 2, 4] });
 */
export function solverSweep(
  runs: { name: string; model: VelocityModel; method: ImageSolver; w?: number }[],
  codec: ImageCodec,
  judge: DigitJudge,
  options: { labels: ArrayLike<number>; nfes: number[] },
): SolverCurve[] {
  const x0 = randn([options.labels.length, codec.k]) as tf.Tensor2D;
  try {
    return runs.map((run) => {
      const stages = ODE_STAGES[run.method];
      const nfe = options.nfes.filter((n) => n >= stages && n % stages === 0);
      const values = nfe.map((n) => {
        const s = sampleDigitPixels(run.model, codec, {
          labels: options.labels,
          w: run.w ?? 0,
          method: run.method,
          steps: n / stages,
          x0,
        });
        const fd = judge.frechet(s.pixels);
        tf.dispose([s.pixels, s.codes]);
        return fd;
      });
      return { name: run.name, nfe, values };
    });
  } finally {
    x0.dispose();
  }
}

/**
 * How predicted classes are spread, against reference shares (e.g. the training set's): the counts,
 * the shares and the total variation distance 1/2 sum |share - reference| (0: the same balance).
 */
export function classBalance(
  predicted: ArrayLike<number>,
  reference: ArrayLike<number>,
  K: number,
): { counts: number[]; shares: number[]; reference: number[]; totalVariation: number } {
  const counts = classCounts(predicted, K);
  const refCounts = classCounts(reference, K);
  const shares = counts.map((c) => c / predicted.length);
  const ref = refCounts.map((c) => c / reference.length);
  const totalVariation = 0.5 * shares.reduce((s, v, k) => s + Math.abs(v - ref[k]), 0);
  return { counts, shares, reference: ref, totalVariation };
}

/**
 * For each query code, the nearest reference code (Euclidean) and its distance, by one matrix
 * product (|q|^2 - 2 q.r + |r|^2; codes are of size ~10, so float32 cancellation is far below the
 * distances).
 */
export function nearestCodes(
  query: tf.Tensor2D,
  reference: tf.Tensor2D,
): { distance: number[]; index: number[] } {
  if (query.rank !== 2 || reference.rank !== 2 || query.shape[1] !== reference.shape[1]) {
    throw new Error(
      `nearestCodes: query and reference must be [n, k] and [m, k]; got [${query.shape}] and ` +
        `[${reference.shape}]`,
    );
  }
  return tf.tidy(() => {
    const q2 = tf.sum(tf.square(query), 1, true);
    const r2 = tf.reshape(tf.sum(tf.square(reference), 1), [1, -1]);
    const d2 = tf.add(tf.sub(q2, tf.mul(2, tf.matMul(query, tf.transpose(reference)))), r2);
    const index = Array.from(tf.argMin(d2, 1).dataSync());
    const best = tf.min(d2, 1).dataSync();
    return { distance: Array.from(best, (v) => Math.sqrt(Math.max(v, 0))), index };
  });
}

/**
 * Grey-value samples in rows, one row per guidance weight, one column per label, all rows from the
 * same noise `x0` (`[labels, k]`): the grids of notebook 09.
 */
export function sampleDigitGrid(
  flow: VelocityModel,
  codec: ImageCodec,
  options: {
    ws: number[];
    labels: number[];
    x0: tf.Tensor2D;
    method?: ImageSolver;
    steps?: number;
  },
): tf.Tensor2D {
  return tf.tidy(
    () =>
      tf.concat(
        options.ws.map((w) => sampleDigitPixels(flow, codec, { ...options, w }).pixels),
      ) as tf.Tensor2D,
  );
}

/**
 * Does a generator copy its training set? Distances to the nearest training code (see
 * `nearestCodes`).
 */
export function codeMemorisation(
  samples: tf.Tensor2D,
  train: tf.Tensor2D,
  heldOut: tf.Tensor2D,
): { ratio: number; sampleMedian: number; heldOutMedian: number; nearest: number[] } {
  const median = (v: number[]) => {
    const s = v.slice().sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  const near = nearestCodes(samples, train);
  const sampleMedian = median(near.distance);
  const heldOutMedian = median(nearestCodes(heldOut, train).distance);
  return { ratio: sampleMedian / heldOutMedian, sampleMedian, heldOutMedian, nearest: near.index };
}

/**
 * The guided velocity of a flow model at one code z and time t, as images: the decoded x_t, the
 * velocity in grey values per unit time, and the final image it predicts, x_t + (1 - t) u
 * (notebook 08).
 */
export function velocityImages(
  flow: VelocityModel,
  codec: ImageCodec,
  z: tf.Tensor2D,
  t: number,
  label: number,
  w: number,
): { xt: tf.Tensor2D; velocity: tf.Tensor2D; prediction: tf.Tensor2D } {
  return tf.tidy(() => {
    const u = guidedField(flow, [label], w)(z, t);
    return {
      xt: codec.toPixels(z),
      velocity: codec.toPixelVelocity(u),
      prediction: codec.toPixels(tf.add(z, tf.mul(u, 1 - t)) as tf.Tensor2D),
    };
  });
}

/** The shipped models of notebook 09, loaded and checked against each other. */
export interface DigitModels {
  codec: ImageCodec;
  classifier: Classifier;
  flow: VelocityModel;
  reflow: VelocityModel;
  /** Recipes and training records of the four files. */
  records: Record<
    "codec" | "classifier" | "flow" | "reflow",
    { recipe: Record<string, unknown>; info: Record<string, unknown>; sha256: string }
  >;
}

/**
 * Loads `mnist-codec.json`, `mnist-classifier.json`, `mnist-flow.json` and `mnist-reflow.json` from
 * `dir`, each checked by its SHA-256, and checks that the flow and reflow models were made from
 * these very files (their recipes name the codec's and the flow model's checksums).
 */
export function loadDigitModels(dir = join("assets", "models")): DigitModels {
  const file = (name: string) => {
    const f = join(dir, `mnist-${name}.json`);
    if (!existsSync(f))
      throw new Error(
        `loadDigitModels: ${f} is missing (the course ships it; or run scripts/train-digits.ts)`,
      );
    return f;
  };
  const codec = loadImageModelOf(file("codec"), "codec");
  const classifier = loadImageModelOf(file("classifier"), "classifier");
  const flow = loadImageModelOf(file("flow"), "velocity");
  const reflow = loadImageModelOf(file("reflow"), "velocity");
  for (const [name, m] of [
    ["flow", flow],
    ["reflow", reflow],
  ] as const) {
    if (m.recipe.codecSha256 !== codec.sha256)
      throw new Error(
        `loadDigitModels: the ${name} model was trained on another codec than ${file("codec")}`,
      );
    if (m.model.config.dim !== codec.model.k)
      throw new Error(
        `loadDigitModels: the ${name} model works on ${m.model.config.dim} numbers; the codec ` +
          `makes ${codec.model.k}`,
      );
  }
  if (reflow.recipe.flowSha256 !== flow.sha256)
    throw new Error(`loadDigitModels: the reflow model was not made from ${file("flow")}`);
  const record = (m: {
    recipe: Record<string, unknown>;
    info: Record<string, unknown>;
    sha256: string;
  }) => ({ recipe: m.recipe, info: m.info, sha256: m.sha256 });
  return {
    codec: codec.model,
    classifier: classifier.model,
    flow: flow.model,
    reflow: reflow.model,
    records: {
      codec: record(codec),
      classifier: record(classifier),
      flow: record(flow),
      reflow: record(reflow),
    },
  };
}
