// The shipped models of notebook 09 (assets/models/mnist-*.json) are what their recipes make.
//
// Retraining them takes minutes to a quarter of an hour each on two cores, too long for a test, so
// each training run is checked by its first RECORDED_STEPS steps: the recipe, run again from its
// seeds, must repeat the recorded losses bit for bit (the numbers do not depend on the thread
// count). Those losses depend on everything before them (data split, codec, initial parameters,
// batches, the model it starts from), so a file made by another recipe fails. The codec is checked
// as the PCA of the split without redoing the eigendecomposition (fm.verifyCodec); the reflow pairs
// by their SHA-256. Bit-for-bit equality holds on the backend the files record (wasm); another
// backend rounds otherwise, and those comparisons are skipped there with a note.
import { describe, expect, it } from "vitest";
import { readdirSync, statSync } from "fs";
import { join } from "path";
import { backendInfo } from "../src/core/backend";
import { classifierAccuracy } from "../src/images/classifier";
import { verifyCodec } from "../src/images/codec";
import { loadDigitModels } from "../src/images/evaluate";
import {
  CLASSIFIER_RECIPE,
  classifierFromRecipe,
  CODEC_RECIPE,
  digitReflowPairs,
  digitSplit,
  FLOW_RECIPE,
  flowFromRecipe,
  RECORDED_STEPS,
  REFLOW_RECIPE,
  reflowFromRecipe,
  sha256Of,
} from "../src/images/recipes";

const DIR = join(__dirname, "..", "assets", "models");
const models = loadDigitModels(DIR);
const split = digitSplit();
const sameBackend = () => backendInfo()?.name === models.records.flow.info.backend;
const prefix = (name: "classifier" | "flow" | "reflow") =>
  models.records[name].info.lossPrefix as number[];

describe("notebook 09's shipped models", () => {
  it("take at most 5 MB together", () => {
    const files = readdirSync(DIR).filter((f) => f.startsWith("mnist-"));
    expect(files.sort()).toEqual([
      "mnist-classifier.json",
      "mnist-codec.json",
      "mnist-flow.json",
      "mnist-reflow.json",
    ]);
    const bytes = files.reduce((s, f) => s + statSync(join(DIR, f)).size, 0);
    expect(bytes).toBeLessThanOrEqual(5 * 1024 * 1024);
  });

  it("store the recipes of src/images/recipes.ts", () => {
    expect(models.records.codec.recipe).toEqual(JSON.parse(JSON.stringify(CODEC_RECIPE)));
    expect(models.records.classifier.recipe).toEqual(JSON.parse(JSON.stringify(CLASSIFIER_RECIPE)));
    const { codecSha256, ...flow } = models.records.flow.recipe;
    expect(flow).toEqual(JSON.parse(JSON.stringify(FLOW_RECIPE)));
    expect(codecSha256).toBe(models.records.codec.sha256);
    const { codecSha256: c2, flowSha256, ...reflow } = models.records.reflow.recipe;
    expect(reflow).toEqual(JSON.parse(JSON.stringify(REFLOW_RECIPE)));
    expect([c2, flowSha256]).toEqual([models.records.codec.sha256, models.records.flow.sha256]);
  });

  it("the codec is the top-k PCA of the training split", () => {
    const v = verifyCodec(models.codec, split.train);
    expect(models.codec.k).toBe(CODEC_RECIPE.k);
    expect(v.orthonormality).toBeLessThan(1e-5);
    expect(v.meanError).toBeLessThan(1e-5);
    expect(v.eigenResidual).toBeLessThan(1e-3);
    expect(v.nextVariance).toBeLessThanOrEqual(models.codec.variances[models.codec.k - 1] * 1.0001);
    // negative control: a basis with its first two directions swapped fails the eigen test
    const swapped = models.codec.truncate(models.codec.k);
    const P = swapped.pixels;
    const first = swapped.basis.slice(0, P);
    swapped.basis.copyWithin(0, P, 2 * P);
    swapped.basis.set(first, P);
    expect(verifyCodec(swapped, split.train).eigenResidual).toBeGreaterThan(1e-2);
  });

  it(
    "the classifier: its recipe repeats the recorded first losses, and its test accuracy is >= " +
      "0.97",
    async () => {
      const accuracy = classifierAccuracy(models.classifier, split.test);
      expect(accuracy).toBe(models.records.classifier.info.testAccuracy);
      expect(accuracy).toBeGreaterThanOrEqual(0.97);
      if (!sameBackend())
        return console.log(`skipped the bit-for-bit check: backend ${backendInfo()?.name}`);
      const run = await classifierFromRecipe(split, { steps: RECORDED_STEPS });
      expect(run.losses).toEqual(prefix("classifier"));
    },
  );

  it(
    "the flow model: its recipe repeats the " + "recorded first losses; other data does not",
    async () => {
      if (!sameBackend())
        return console.log(`skipped the bit-for-bit check: backend ${backendInfo()?.name}`);
      const { run } = await flowFromRecipe(models.codec, split, { steps: RECORDED_STEPS });
      expect(run.losses).toEqual(prefix("flow"));
      // negative control: the same recipe on other images (the test split) gives other losses
      const other = await flowFromRecipe(
        models.codec,
        { ...split, train: split.test },
        { steps: 3 },
      );
      expect(other.run.losses).not.toEqual(prefix("flow").slice(0, 3));
    },
  );

  it("the reflow: the pairs are the recorded ones and the first losses repeat", async () => {
    if (!sameBackend())
      return console.log(`skipped the bit-for-bit check: backend ${backendInfo()?.name}`);
    const pairs = digitReflowPairs(models.flow);
    const recorded = models.records.reflow.info.pairsSha256 as { x0: string; x1: string };
    expect({ x0: sha256Of(pairs.x0!), x1: sha256Of(pairs.x1) }).toEqual(recorded);
    const { run } = await reflowFromRecipe(models.flow, pairs, { steps: RECORDED_STEPS });
    expect(run.losses).toEqual(prefix("reflow"));
    // negative control: starting from the reflowed model instead of the flow model changes the
    // losses
    const wrongStart = await reflowFromRecipe(models.reflow, pairs, { steps: 3 });
    expect(wrongStart.run.losses).not.toEqual(prefix("reflow").slice(0, 3));
  }, 600_000);
});
