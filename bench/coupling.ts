/**
 * Measurements for the lecture's two arguments (issue 18): what the notebook sections quote.
 *
 * Run with `node -r ./src/core/ts-register.cjs bench/coupling.ts WHAT`, WHAT one of
 *
 *   cost                   the per-step cost of each coupling, for batches of 16 to 1024 points
 *   grid [--out FILE]      couplings x batch sizes x data sets, and one reflow: straightness, NPE,
 *                          few-step energy distance, cost (options: --only TEXT, --steps N)
 *   report                 the two files above as tables (options: --grid FILE, --ml FILE)
 *   ml [--out FILE]        maximum likelihood vs flow matching: held-out NLL and energy distance
 *                          at checkpoints of training steps, with the wall time reached there
 *
 * `grid` and `ml` append one JSON line per finished run to FILE (default build/coupling-*.jsonl)
 * and skip the runs already there, so an interrupted measurement resumes. Everything is seeded;
 * only the wall times depend on the machine (and on what else it runs: the output says how many
 * cores and the load).
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from "fs";
import { loadavg } from "os";
import { dirname } from "path";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../src/core/backend";
import { normal, randn, seed } from "../src/core/random";
import { startThreads } from "../src/model/parallel";
import { stopThreads } from "../src/core/threads";
import { toyDataset, type ToyDatasetName } from "../src/data/toy2d";
import { logLikelihood } from "../src/field/likelihood";
import { energyDistance } from "../src/metrics/distance";
import { expectedEnergyDistance } from "../src/metrics/energyFloor";
import { flowStraightness, normalizedPathEnergy } from "../src/metrics/path-energy";
import { trainMaximumLikelihood, type MlSolverOptions } from "../src/model/cnf-ml";
import { couplingOptions, pairRows, type Coupling } from "../src/model/coupling";
import { createVelocityModel, type VelocityModel } from "../src/model/mlp";
import { reflow } from "../src/model/reflow";
import { saveModel } from "../src/model/io";
import { sampleFlow } from "../src/model/sample";
import { trainFlowMatching } from "../src/model/train";

const DATASETS: ToyDatasetName[] = ["twoMoons", "eightGaussians"];
const BATCHES = [16, 64, 256, 1024];

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : process.argv[i + 1];
}

function load(): string {
  return loadavg()
    .map((v) => v.toFixed(1))
    .join(" ");
}

/** Training and held-out sets of a toy data set (seeded by the set's index). */
function dataOf(name: ToyDatasetName): {
  train: tf.Tensor2D;
  held: tf.Tensor2D;
  reference: tf.Tensor2D;
} {
  seed(1000 + DATASETS.indexOf(name));
  return {
    train: toyDataset(name, 4000),
    held: toyDataset(name, 1000),
    reference: toyDataset(name, 1000),
  };
}

/** Milliseconds of `fn`, the median of `reps` runs. */
function median(reps: number, fn: () => void): number {
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const start = performance.now();
    fn();
    times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b)[Math.floor(reps / 2)];
}

/** Per-step cost: pairing a batch alone, and a whole training step with that pairing. */
async function cost(): Promise<void> {
  await startThreads();
  const couplings: [string, Coupling][] = [
    ["independent", "independent"],
    ["exact", "exact"],
    ["sinkhorn 0.5", { method: "sinkhorn", regularization: 0.5 }],
    ["sinkhorn 0.05", { method: "sinkhorn", regularization: 0.05 }],
  ];
  const { train } = dataOf("eightGaussians");
  const rows = train.dataSync();
  for (const B of BATCHES) {
    for (const [label, coupling] of couplings) {
      const options = couplingOptions(coupling);
      seed(B);
      const x0 = Float64Array.from({ length: 2 * B }, () => normal());
      const x1 = Float64Array.from({ length: 2 * B }, (_, k) => rows[k]);
      const reps = B >= 1024 && label !== "independent" ? 3 : 11;
      const pairMs = median(reps, () => pairRows(x0, x1, B, 2, options));
      seed(0);
      const model = createVelocityModel();
      const steps =
        B >= 1024 && label !== "independent"
          ? 5
          : B >= 256 && label.startsWith("sinkhorn")
            ? 20
            : 100;
      await trainFlowMatching(model, {
        data: train,
        steps: 10,
        batchSize: B,
        progress: false,
        coupling,
      });
      const run = await trainFlowMatching(model, {
        data: train,
        steps,
        batchSize: B,
        progress: false,
        coupling,
      });
      model.dispose();
      const line = {
        what: "cost",
        batch: B,
        coupling: label,
        pairMs: +pairMs.toFixed(3),
        stepMs: +((1000 * run.seconds) / steps).toFixed(3),
        couplingMsPerStep: +((1000 * run.couplingSeconds) / steps).toFixed(3),
        load: load(),
      };
      console.log(JSON.stringify(line));
    }
  }
}

/** Energy distance of n Euler samples (same noise for every model) to the held-out set. */
function eulerDistance(
  model: VelocityModel,
  steps: number,
  held: tf.Tensor2D,
  method: "euler" | "rk4" = "euler",
): number {
  seed(77);
  const s = sampleFlow(model, { n: 1000, method, steps });
  const ed = energyDistance(s.x, held);
  tf.dispose(s);
  return ed;
}

/** The measures of one trained model. */
function measure(model: VelocityModel, held: tf.Tensor2D): Record<string, number> {
  seed(78);
  const x0 = randn([500, 2]) as tf.Tensor2D;
  const held500 = tf.slice(held, [0, 0], [500, 2]) as tf.Tensor2D;
  const npe = normalizedPathEnergy(model.field, x0, held500);
  tf.dispose([x0, held500]);
  return {
    straightness: npe.flow.straightness,
    pathEnergy: npe.pathEnergy,
    transportCost: npe.flow.transportCost,
    w2Squared: npe.w2Squared,
    ownW2Squared: npe.ownW2Squared,
    npe: npe.npe,
    ed1: eulerDistance(model, 1, held),
    ed2: eulerDistance(model, 2, held),
    ed4: eulerDistance(model, 4, held),
    edRk4: eulerDistance(model, 40, held, "rk4"),
  };
}

function done(file: string): Set<string> {
  if (!existsSync(file)) return new Set();
  return new Set(
    readFileSync(file, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l).key as string),
  );
}

function record(file: string, line: Record<string, unknown>): void {
  mkdirSync(dirname(file), { recursive: true });
  appendFileSync(file, JSON.stringify({ ...line, load: load() }) + "\n");
  console.log(JSON.stringify(line));
}

/** Independent vs minibatch OT (exact, Sinkhorn) over batch sizes, one reflow, both data sets. */
async function grid(): Promise<void> {
  const file = option("out", "build/coupling-grid.jsonl");
  const only = option("only", "");
  const finished = done(file);
  await startThreads();
  const STEPS = Number(option("steps", "2000"));
  const runs: {
    key: string;
    data: ToyDatasetName;
    batch: number;
    label: string;
    coupling: Coupling | "reflow";
  }[] = [];
  for (const data of DATASETS) {
    for (const batch of BATCHES) {
      runs.push({
        key: `${data}/independent/${batch}`,
        data,
        batch,
        label: "independent",
        coupling: "independent",
      });
      runs.push({ key: `${data}/exact/${batch}`, data, batch, label: "exact", coupling: "exact" });
    }
    for (const eps of [0.5, 0.05]) {
      for (const batch of [64, 256]) {
        runs.push({
          key: `${data}/sinkhorn-${eps}/${batch}`,
          data,
          batch,
          label: `sinkhorn ${eps}`,
          coupling: { method: "sinkhorn", regularization: eps },
        });
      }
    }
    runs.push({
      key: `${data}/reflow/256`,
      data,
      batch: 256,
      label: "reflow (1 round)",
      coupling: "reflow",
    });
  }
  // Cheapest first: the exact assignment of 1024 points per step, and small eps, come last.
  const order = (r: (typeof runs)[number]) =>
    r.coupling === "exact" && r.batch === 1024
      ? 3
      : r.label === "sinkhorn 0.05"
        ? 2
        : r.label.startsWith("sinkhorn")
          ? 1
          : 0;
  runs.sort((a, b) => order(a) - order(b));
  for (const run of runs) {
    if (finished.has(run.key) || (only && !run.key.includes(only))) continue;
    const { train, held, reference } = dataOf(run.data);
    const floor = expectedEnergyDistance(reference, 1000);
    seed(2000);
    let model = createVelocityModel();
    const base = run.coupling === "reflow" ? "independent" : run.coupling;
    const first = await trainFlowMatching(model, {
      data: train,
      steps: STEPS,
      batchSize: run.batch,
      learningRate: 2e-3,
      schedule: "cosine",
      progress: false,
      coupling: base,
    });
    let seconds = first.seconds;
    let couplingSeconds = first.couplingSeconds;
    let extra: Record<string, number> = {};
    if (run.coupling === "reflow") {
      seed(2001);
      const round = await reflow(model, {
        n: 4000,
        steps: STEPS,
        learningRate: 1e-3,
        schedule: "cosine",
        progress: false,
      });
      tf.dispose([round.pairs.x0, round.pairs.x1]);
      model.dispose();
      model = round.model;
      seconds += round.seconds.total;
      extra = { pairSeconds: round.seconds.pairs, reflowTrainingSeconds: round.seconds.training };
    }
    const metrics = measure(model, held);
    saveModel(model, `build/coupling-models/${run.key.replace(/\//g, "--")}.json`, {
      key: run.key,
      steps: STEPS,
    });
    model.dispose();
    record(file, {
      key: run.key,
      data: run.data,
      coupling: run.label,
      batch: run.batch,
      steps: STEPS,
      trainingSeconds: +seconds.toFixed(2),
      msPerStep: +((1000 * first.seconds) / STEPS).toFixed(3),
      couplingMsPerStep: +((1000 * couplingSeconds) / STEPS).toFixed(3),
      finalLoss: +first.finalLoss.toFixed(4),
      floor: +floor.toFixed(5),
      ...Object.fromEntries(
        Object.entries({ ...metrics, ...extra }).map(([k, v]) => [k, +v.toFixed(5)]),
      ),
    });
    tf.dispose([train, held, reference]);
  }
}

/** Mean negative log-likelihood (nats per point) of held-out points, by the adaptive solver. */
function heldOutNll(model: VelocityModel, held: tf.Tensor2D): number {
  const r = logLikelihood(model.field, held, { method: "dopri5", rtol: 1e-5, atol: 1e-5 });
  const v = -tf.tidy(() => tf.mean(r.logp).dataSync()[0]);
  tf.dispose(r);
  return v;
}

/**
 * Maximum likelihood vs flow matching on the same network and data: held-out NLL (adaptive
 * solver) and energy distance (RK4, 40 steps) at checkpoints given in training steps, with the
 * training wall time reached there (evaluation time left out). Checkpoints in steps, not seconds,
 * so that a busy machine changes the times but not the models.
 */
async function ml(): Promise<void> {
  const file = option("out", "build/coupling-ml.jsonl");
  const finished = done(file);
  await startThreads();
  const methods: { label: string; checkpoints: number[]; train: Trainer }[] = [
    { label: "cfm b256", checkpoints: [250, 500, 1000, 2000, 4000], train: cfmTrainer },
    {
      label: "ml midpoint x4 b128",
      checkpoints: [25, 50, 100, 200, 400],
      train: mlTrainer({ method: "midpoint", steps: 4 }, 128),
    },
    {
      label: "ml rk4 x8 b256",
      checkpoints: [25, 50, 100, 200, 400],
      train: mlTrainer({ method: "rk4", steps: 8 }, 256),
    },
  ];
  for (const data of DATASETS) {
    const { train, held } = dataOf(data);
    const held500 = tf.slice(held, [0, 0], [500, 2]) as tf.Tensor2D;
    for (const method of methods) {
      const key = `${data}/${method.label}`;
      if (finished.has(key)) continue;
      seed(3000);
      const model = createVelocityModel();
      const evaluate = (seconds: number, steps: number) => ({
        steps,
        seconds: +seconds.toFixed(2),
        nll: +heldOutNll(model, held500).toFixed(4),
        ed: +eulerDistance(model, 40, held, "rk4").toFixed(5),
      });
      const points = [evaluate(0, 0)];
      const last = method.checkpoints[method.checkpoints.length - 1];
      const start = performance.now();
      let evaluating = 0; // milliseconds spent evaluating, left out of the training time
      seed(3001);
      const nfePerStep = await method.train(model, train, last, (step) => {
        if (!method.checkpoints.includes(step)) return;
        const t0 = performance.now();
        points.push(evaluate((t0 - start - evaluating) / 1000, step));
        evaluating += performance.now() - t0;
      });
      const seconds = points[points.length - 1].seconds;
      model.dispose();
      record(file, {
        key,
        data,
        method: method.label,
        msPerStep: +((1000 * seconds) / last).toFixed(2),
        nfePerStep,
        points,
      });
    }
    tf.dispose([train, held, held500]);
  }
}

/** Trains `model` for `steps` steps, calling `onStep` after each; returns the NFE per step. */
type Trainer = (
  model: VelocityModel,
  data: tf.Tensor2D,
  steps: number,
  onStep: (step: number) => void,
) => Promise<number>;

/** Flow matching, the default recipe with a constant learning rate. */
const cfmTrainer: Trainer = async (model, data, steps, onStep) => {
  await trainFlowMatching(model, { data, steps, learningRate: 2e-3, progress: false, onStep });
  return 1;
};

/** Maximum likelihood through the given solver, batches of `batchSize`. */
function mlTrainer(solver: MlSolverOptions, batchSize: number): Trainer {
  return async (model, data, steps, onStep) => {
    const r = await trainMaximumLikelihood(model, {
      data,
      steps,
      batchSize,
      learningRate: 2e-3,
      solver,
      progress: false,
      onStep,
    });
    return r.nfePerStep;
  };
}

/** The measurements so far as markdown tables (from the files `grid` and `ml` write). */
function report(): void {
  const rows = (file: string): Record<string, any>[] =>
    existsSync(file)
      ? readFileSync(file, "utf8")
          .split("\n")
          .filter(Boolean)
          .map((l) => JSON.parse(l))
      : [];
  const grid = rows(option("grid", "build/coupling-grid.jsonl"));
  const f = (v: number, digits = 3) => (v === undefined ? "" : v.toFixed(digits));
  console.log(
    "| data | coupling | batch | S | PE | C | own W2^2 | NPE (W2^2 500) | ED 1 | ED 2 | ED 4 | " +
      "ED RK4 | floor | ms/step | pairing ms/step |",
  );
  console.log("|" + " --- |".repeat(15));
  const order = (r: Record<string, any>) =>
    `${r.data}/${r.coupling === "independent" ? 0 : 1}/${r.coupling}/${1e4 + r.batch}`;
  for (const r of grid.sort((a, b) => (order(a) < order(b) ? -1 : 1))) {
    console.log(
      `| ${r.data} | ${r.coupling} | ${r.batch} | ${f(r.straightness, 4)} | ${f(r.pathEnergy)} | ` +
        `${f(r.transportCost)} | ${f(r.ownW2Squared)} | ${f(r.npe)} | ${f(r.ed1, 4)} | ` +
        `${f(r.ed2, 4)} | ` +
        `${f(r.ed4, 4)} | ${f(r.edRk4, 4)} | ${f(r.floor, 4)} | ${f(r.msPerStep, 1)} | ` +
        `${f(r.couplingMsPerStep, 1)} |`,
    );
  }
  for (const r of rows(option("ml", "build/coupling-ml.jsonl"))) {
    const pts = r.points
      .map((p: any) => `${p.steps}: ${p.seconds}s NLL ${p.nll} ED ${p.ed}`)
      .join("; ");
    console.log(`${r.data} ${r.method}: ${r.msPerStep} ms/step, ${r.nfePerStep} NFE/step; ${pts}`);
  }
}

async function main(): Promise<void> {
  await initBackend({ quiet: true });
  const what = process.argv[2];
  console.log(JSON.stringify({ what, cores: (await import("os")).cpus().length, load: load() }));
  if (what === "cost") await cost();
  else if (what === "grid") await grid();
  else if (what === "ml") await ml();
  else if (what === "report") report();
  else
    throw new Error(
      "usage: coupling.ts cost | grid [--out FILE] [--only TEXT] [--steps N] | ml [--out FILE]",
    );
}

main()
  .then(() => {
    stopThreads();
    process.exit(0);
  })
  .catch((err) => {
    console.error(err);
    stopThreads();
    process.exit(1);
  });
