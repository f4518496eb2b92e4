/**
 * The small trained models the course ships (issue 13, item 3): a notebook that starts from a
 * trained model loads it from `assets/models/` instead of depending on an earlier notebook's run,
 * so it prints the same numbers whether it runs alone, in order, or after another notebook failed.
 *
 * Each file is written by `saveModel` from a recipe below (data set, its size and seed, the
 * network, its seed, every training setting, the backend) by one command, `npm run models`, and
 * keeps that recipe in its `info`. Training is deterministic (seeded, and independent of the number
 * of threads), so retraining from the recipe on the same backend reproduces the parameters bit for
 * bit: the tests check it, and `npm run models -- --check` does the same from the command line.
 */
import { existsSync } from "fs";
import { join } from "path";
import { backendInfo, initBackend, type BackendName } from "../core/backend";
import { seed } from "../core/random";
import { toyDataset, type ToyDatasetName } from "../data/toy2d";
import { loadModel, saveModel } from "./io";
import { createVelocityModel, type VelocityModel, type VelocityModelOptions } from "./mlp";
import { trainFlowMatching, type TrainResult } from "./train";

/** Everything that makes a shipped model, in the order it is used. */
export interface ModelRecipe {
  /** The file name in `assets/models/`, without `.json`. */
  name: string;
  /** What the model is, for a person. */
  description: string;
  /** The notebook whose recipe this is. */
  notebook: string;
  /** Training data: `fm.seed(data.seed); fm.toyDataset(data.set, data.n)`. */
  data: { set: ToyDatasetName; n: number; seed: number };
  /** The network: `fm.seed(model.seed); fm.createVelocityModel(model.options)`. */
  model: { seed: number; options: VelocityModelOptions };
  /** `fm.trainFlowMatching(model, { data, ...training })`, right after the network is drawn. */
  training: {
    steps: number;
    batchSize: number;
    learningRate: number;
    schedule: "constant" | "cosine";
    shards: number;
  };
  /** The backend whose arithmetic the file holds (others round differently). */
  backend: BackendName;
}

/** The recipes of the shipped models, by name. */
export const MODEL_RECIPES: Readonly<Record<string, ModelRecipe>> = {
  "twoMoons-06": {
    name: "twoMoons-06",
    description: "notebook 06's two-moons model: the 1-rectified flow notebook 07 starts from",
    notebook: "06-training (section 2)",
    data: { set: "twoMoons", n: 1000, seed: 100 },
    model: { seed: 200, options: {} },
    training: { steps: 3000, batchSize: 256, learningRate: 2e-3, schedule: "cosine", shards: 2 },
    backend: "wasm",
  },
};

/** The folder of the shipped models (beside `src/`, whatever the working directory). */
export const SHIPPED_MODELS_DIR = join(__dirname, "..", "..", "assets", "models");

/** The recipe of a shipped model, or an error listing the names there are. */
export function modelRecipe(name: string): ModelRecipe {
  if (!Object.prototype.hasOwnProperty.call(MODEL_RECIPES, name)) {
    throw new Error(
      `no shipped model "${name}"; the course ships ${Object.keys(MODEL_RECIPES).join(", ")}`,
    );
  }
  return MODEL_RECIPES[name];
}

/** The file of a shipped model (in `dir`, by default the course's `assets/models/`). */
export function shippedModelFile(name: string, dir = SHIPPED_MODELS_DIR): string {
  return join(dir, `${modelRecipe(name).name}.json`);
}

/**
 * Trains a model from its recipe (on the recipe's backend: an error if another one is active, since
 * its numbers would differ). `steps` stops early (the first steps of the same run; for tests).
 * Leaves the library's generator where the recipe's training left it.
 */
export async function trainFromRecipe(
  recipe: ModelRecipe,
  options: { steps?: number; progress?: boolean | string } = {},
): Promise<{ model: VelocityModel; run: TrainResult }> {
  const active = backendInfo()?.name;
  if (active !== recipe.backend) {
    throw new Error(
      `the recipe of ${recipe.name} is for the ${recipe.backend} backend; ` +
        `the active one is ${active ?? "none"} ` +
        `(await fm.initBackend({ backend: "${recipe.backend}" }) first)`,
    );
  }
  seed(recipe.data.seed);
  const data = toyDataset(recipe.data.set, recipe.data.n);
  try {
    seed(recipe.model.seed);
    const model = createVelocityModel(recipe.model.options);
    const { steps, ...training } = recipe.training;
    const run = await trainFlowMatching(model, {
      data,
      ...training,
      steps: options.steps ?? steps,
      progress: options.progress ?? false,
    });
    return { model, run };
  } finally {
    data.dispose();
  }
}

/** Trains a shipped model from its recipe and writes its file (what `npm run models` does). */
export async function writeShippedModel(
  name: string,
  options: { progress?: boolean | string } = {},
): Promise<string> {
  const recipe = modelRecipe(name);
  await initBackend({ backend: recipe.backend, quiet: true });
  const { model, run } = await trainFromRecipe(recipe, options);
  const file = shippedModelFile(name);
  saveModel(model, file, { recipe, command: "npm run models", finalLoss: run.finalLoss });
  model.dispose();
  return file;
}

/**
 * Loads a shipped model with its notes (`info.recipe` is the recipe it was made with). A missing
 * file, or one made from another recipe than the library's, is an error that says how to rebuild
 * it.
 * @example
 * const { model, info } = fm.loadShippedModel("twoMoons-06");   // notebook 06's moons model
 */
export function loadShippedModel(
  name: string,
  dir = SHIPPED_MODELS_DIR,
): { model: VelocityModel; info: Record<string, unknown>; file: string } {
  const recipe = modelRecipe(name);
  const file = shippedModelFile(name, dir);
  if (!existsSync(file))
    throw new Error(`the shipped model ${file} is missing; rebuild it with \`npm run models\``);
  const { model, info } = loadModel(file);
  if (JSON.stringify(info.recipe) !== JSON.stringify(recipe)) {
    model.dispose();
    throw new Error(
      `${file} was made from another recipe than the library's MODEL_RECIPES["${name}"]; ` +
        "rebuild it with `npm run models`",
    );
  }
  return { model, info, file };
}
