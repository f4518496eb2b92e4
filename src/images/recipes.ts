/**
 * The recipes of notebook 09's shipped models (assets/models/mnist-*.json), and the functions that
 * follow them. Each file stores its recipe; `scripts/train-digits.ts` runs them all and writes the
 * files; `tests/digit-models.test.ts` checks that each file is what its recipe makes (the first
 * steps of each training run repeat the recorded losses bit for bit; the codec is the PCA of the
 * split).
 *
 * Everything is seeded, and the training numbers do not depend on the number of threads (the batch
 * is always cut in the same two parts), so a recipe gives the same model on any machine with the
 * same backend (wasm here: the recipe records it; another backend rounds differently).
 */
import * as tf from "@tensorflow/tfjs";
import { createHash } from "crypto";
import { seed } from "../core/random";
import { createVelocityModel, VelocityModel, type VelocityModelOptions } from "../model/mlp";
import type { TrainResult } from "../model/train";
import { Classifier, trainClassifier } from "./classifier";
import { fitImageCodec, type ImageCodec } from "./codec";
import { loadMnist, type LoadMnistOptions, type MnistSplit } from "./mnist";
import { sampleDigits, type ImageSolver } from "./sample";
import { labelledCodes, trainConditionalFlow, type LabelledPoints } from "./train";

/** The data split every model of the notebook uses. */
export const DIGIT_SPLIT: Required<Pick<LoadMnistOptions, "testFraction" | "seed">> = {
  testFraction: 0.2,
  seed: 0,
};

/** The PCA codec: the top `k` directions of the training images. */
export const CODEC_RECIPE = { split: DIGIT_SPLIT, k: 100 };

/** The digit classifier. */
export const CLASSIFIER_RECIPE = {
  split: DIGIT_SPLIT,
  hidden: [256, 128],
  initSeed: 2,
  trainSeed: 3,
  steps: 8000,
  batchSize: 128,
  learningRate: 1e-3,
  schedule: "cosine" as const,
  shift: 2,
};

/** The class-conditional velocity model on the codec's codes. */
export const FLOW_RECIPE = {
  split: DIGIT_SPLIT,
  model: {
    width: 256,
    depth: 3,
    activation: "elu",
    time: "fourier",
    classes: 10,
  } as VelocityModelOptions,
  initSeed: 1,
  trainSeed: 4,
  steps: 6000,
  batchSize: 128,
  learningRate: 1e-3,
  schedule: "cosine" as const,
  warmup: 200,
  labelDropout: 0.2,
  shards: 2,
};

/**
 * One reflow of the flow model (notebook 07's idea, for images): pairs (x0, c) -> x1 drawn with the
 * guided sampler at weight `w`, then a model started from the flow model's parameters trained on
 * the pairs (no label dropout: it is used with its labels, w = 0).
 */
export const REFLOW_RECIPE = {
  pairsPerClass: 1000,
  noiseSeed: 5,
  w: 1,
  method: "midpoint" as ImageSolver,
  solverSteps: 16,
  trainSeed: 6,
  steps: 3000,
  batchSize: 128,
  learningRate: 5e-4,
  schedule: "cosine" as const,
  warmup: 100,
  labelDropout: 0,
  shards: 2,
};

/** How many first losses of each run are stored exactly (the reproduction test repeats them). */
export const RECORDED_STEPS = 30;

/** The data split of a recipe. */
export function digitSplit(): MnistSplit {
  return loadMnist(DIGIT_SPLIT);
}

/** SHA-256 of an array's bytes (hex): how a recipe names the exact data or model it used. */
export function sha256Of(values: Float32Array | Uint8Array): string {
  return createHash("sha256")
    .update(Buffer.from(values.buffer, values.byteOffset, values.byteLength))
    .digest("hex");
}

/** The codec of `CODEC_RECIPE` (a minute or two: a 784 x 784 eigendecomposition). */
export function codecFromRecipe(split = digitSplit()): ImageCodec {
  return fitImageCodec(split.train, CODEC_RECIPE.k);
}

/**
 * Options of the recipe runners: stop early after `steps` (the reproduction test) and show
 * progress.
 */
export interface RecipeRunOptions {
  /**
   * Train only this many steps of the recipe (its first steps, same numbers). @default the recipe's
   */
  steps?: number;
  /** Live progress in a notebook. @default false */
  progress?: boolean | string;
  /** Called after every step. */
  onStep?: (step: number, loss: number) => void;
}

/** The classifier of `CLASSIFIER_RECIPE`, with its losses. */
export async function classifierFromRecipe(
  split = digitSplit(),
  options: RecipeRunOptions = {},
): Promise<{ classifier: Classifier; losses: number[]; seconds: number }> {
  const r = CLASSIFIER_RECIPE;
  seed(r.initSeed);
  const classifier = new Classifier({ inputs: 784, hidden: r.hidden, classes: 10 });
  seed(r.trainSeed);
  const run = await trainClassifier(classifier, {
    data: split.train,
    steps: options.steps ?? r.steps,
    batchSize: r.batchSize,
    learningRate: r.learningRate,
    schedule: fullRunCosine(r.steps),
    shift: r.shift,
    progress: options.progress ?? false,
  });
  return { classifier, ...run };
}

/**
 * The flow model of `FLOW_RECIPE` on the codes of `codec`. With `steps` below the recipe's, the
 * first steps of the same run (the schedule is the full run's).
 */
export async function flowFromRecipe(
  codec: ImageCodec,
  split = digitSplit(),
  options: RecipeRunOptions & { preview?: boolean } = {},
): Promise<{ model: VelocityModel; run: TrainResult }> {
  const r = FLOW_RECIPE;
  seed(r.initSeed);
  const model = createVelocityModel({ ...r.model, dim: codec.k });
  const data = labelledCodes(codec, split.train);
  const { preview, ...rest } = options;
  const run = await trainByRecipe(model, data, r, {
    ...rest,
    ...(preview ? { preview: { codec } } : {}),
  });
  return { model, run };
}

/**
 * The reflow pairs of `REFLOW_RECIPE`: noise, labels (each class in turn) and where the guided
 * sampler takes them.
 */
export function digitReflowPairs(flow: VelocityModel): LabelledPoints {
  const r = REFLOW_RECIPE;
  const K = flow.config.classes ?? 0;
  const n = r.pairsPerClass * K;
  const labels = Uint8Array.from({ length: n }, (_, i) => i % K);
  seed(r.noiseSeed);
  const s = sampleDigits(flow, { labels, w: r.w, method: r.method, steps: r.solverSteps });
  const x0 = Float32Array.from(s.x0.dataSync());
  const x1 = Float32Array.from(s.x.dataSync());
  tf.dispose([s.x, s.x0]);
  return { x0, x1, labels, n };
}

/** The reflowed model of `REFLOW_RECIPE`: a copy of `flow` trained on `pairs`. */
export async function reflowFromRecipe(
  flow: VelocityModel,
  pairs: LabelledPoints,
  options: RecipeRunOptions = {},
): Promise<{ model: VelocityModel; run: TrainResult }> {
  const model = flow.clone();
  const run = await trainByRecipe(model, pairs, REFLOW_RECIPE, options);
  return { model, run };
}

/** What the two velocity recipes share: the settings of `trainConditionalFlow`. */
type VelocityRecipe = Pick<
  typeof FLOW_RECIPE,
  "trainSeed" | "steps" | "batchSize" | "learningRate" | "warmup" | "labelDropout" | "shards"
>;

/** Trains `model` on `data` with a velocity recipe's seed and settings (its first `steps` only,
 * if given). */
async function trainByRecipe(
  model: VelocityModel,
  data: LabelledPoints,
  r: VelocityRecipe,
  options: RecipeRunOptions & { preview?: { codec: ImageCodec } },
): Promise<TrainResult> {
  seed(r.trainSeed);
  return trainConditionalFlow(model, {
    data,
    steps: options.steps ?? r.steps,
    batchSize: r.batchSize,
    learningRate: r.learningRate,
    schedule: fullRunCosine(r.steps),
    warmup: r.warmup,
    labelDropout: r.labelDropout,
    shards: r.shards,
    progress: options.progress ?? false,
    onStep: options.onStep,
    preview: options.preview,
  });
}

/** The cosine schedule of a run of `total` steps, also when only its first steps are run. */
function fullRunCosine(total: number): (step: number) => number {
  return (step) => 0.5 * (1 + Math.cos((Math.PI * (step - 1)) / total));
}
