// Trains notebook 09's shipped models from their recipes (src/images/recipes.ts) and writes them to
// assets/models/: the PCA codec, the digit classifier, the class-conditional flow model and its
// reflow.
//
//   node -r ./src/core/ts-register.cjs scripts/train-digits.ts [codec|classifier|flow|reflow|all]
//
// Each step reads the files of the steps before it (the flow model trains on the shipped codec's
// codes, the reflow starts from the shipped flow model) and records in its file the recipe, the
// SHA-256 of what it was made from, the first losses exactly, the whole loss trace (4 significant
// digits), the wall time and how loaded the machine was. Deterministic: the same recipe gives the
// same files.
import { cpus, loadavg } from "os";
import { join } from "path";
import * as tf from "@tensorflow/tfjs";
import { backendInfo, initBackend } from "../src/core/backend";
import { threadCount } from "../src/core/threads";
import { startThreads } from "../src/model/parallel";
import { classifierAccuracy } from "../src/images/classifier";
import { loadImageModelOf, saveImageModel } from "../src/images/io";
import {
  CLASSIFIER_RECIPE,
  classifierFromRecipe,
  CODEC_RECIPE,
  codecFromRecipe,
  digitSplit,
  FLOW_RECIPE,
  flowFromRecipe,
  RECORDED_STEPS,
  REFLOW_RECIPE,
  reflowFromRecipe,
  digitReflowPairs,
  sha256Of,
} from "../src/images/recipes";

const DIR = join(__dirname, "..", "assets", "models");
export const FILES = {
  codec: join(DIR, "mnist-codec.json"),
  classifier: join(DIR, "mnist-classifier.json"),
  flow: join(DIR, "mnist-flow.json"),
  reflow: join(DIR, "mnist-reflow.json"),
};

function machine(seconds: number, loadBefore: number[]) {
  return {
    seconds: Math.round(seconds),
    backend: backendInfo()?.name,
    threads: threadCount(),
    cpu: `${cpus().length} x ${cpus()[0]?.model ?? "?"}`,
    loadAverageBefore: loadBefore.map((v) => Number(v.toFixed(2))),
    loadAverageAfter: loadavg().map((v) => Number(v.toFixed(2))),
    date: new Date().toISOString().slice(0, 10),
  };
}

const trace = (losses: number[]) => ({
  lossPrefix: losses.slice(0, RECORDED_STEPS),
  losses: losses.map((v) => Number(v.toPrecision(4))),
});

async function main(): Promise<void> {
  const what = process.argv[2] ?? "all";
  if (!["codec", "classifier", "flow", "reflow", "all"].includes(what))
    throw new Error(`unknown step ${what}`);
  await initBackend();
  await startThreads();
  const split = digitSplit();
  const all = what === "all";
  if (all || what === "codec") {
    const load = loadavg();
    const t0 = Date.now();
    const codec = codecFromRecipe(split);
    saveImageModel(codec, FILES.codec, {
      recipe: CODEC_RECIPE,
      info: machine((Date.now() - t0) / 1000, load),
    });
    console.log(`codec: ${codec.describe()} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  }
  if (all || what === "classifier") {
    const load = loadavg();
    const r = await classifierFromRecipe(split, { progress: "classifier" });
    const accuracy = classifierAccuracy(r.classifier, split.test);
    saveImageModel(r.classifier, FILES.classifier, {
      recipe: CLASSIFIER_RECIPE,
      info: { ...machine(r.seconds, load), testAccuracy: accuracy, ...trace(r.losses) },
    });
    console.log(`classifier: test accuracy ${accuracy}, ${r.seconds.toFixed(0)} s`);
  }
  if (all || what === "flow") {
    const codec = loadImageModelOf(FILES.codec, "codec");
    const load = loadavg();
    const { model, run } = await flowFromRecipe(codec.model, split, { progress: "flow model" });
    saveImageModel(model, FILES.flow, {
      recipe: { ...FLOW_RECIPE, codecSha256: codec.sha256 },
      info: { ...machine(run.seconds, load), finalLoss: run.finalLoss, ...trace(run.losses) },
    });
    console.log(
      `flow: ${model.describe()}, final loss ${run.finalLoss.toFixed(2)}, ` +
        `${run.seconds.toFixed(0)} s`,
    );
  }
  if (all || what === "reflow") {
    const codec = loadImageModelOf(FILES.codec, "codec");
    const flow = loadImageModelOf(FILES.flow, "velocity");
    const load = loadavg();
    const t0 = Date.now();
    const pairs = digitReflowPairs(flow.model);
    const pairSeconds = (Date.now() - t0) / 1000;
    const { model, run } = await reflowFromRecipe(flow.model, pairs, { progress: "reflow" });
    saveImageModel(model, FILES.reflow, {
      recipe: { ...REFLOW_RECIPE, flowSha256: flow.sha256, codecSha256: codec.sha256 },
      info: {
        ...machine(pairSeconds + run.seconds, load),
        pairSeconds: Math.round(pairSeconds),
        pairsSha256: { x0: sha256Of(pairs.x0!), x1: sha256Of(pairs.x1) },
        finalLoss: run.finalLoss,
        ...trace(run.losses),
      },
    });
    console.log(
      `reflow: pairs in ${pairSeconds.toFixed(0)} s, training ${run.seconds.toFixed(0)} s, ` +
        `final loss ${run.finalLoss.toFixed(2)}`,
    );
  }
  console.log(`live tensors at the end: ${tf.memory().numTensors}`);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
