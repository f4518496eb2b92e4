/**
 * The TensorFlow.js side of `npm run bench` (scripts/bench.mjs runs it beside bench/reference.py
 * and prints the ratios). One measurement per call, printed as one JSON line:
 *
 *   node -r ./src/core/ts-register.cjs bench/bench.ts train  --width 64 --depth 3 --batch 256
 *     --steps 1000 --warmup 2000
 *   node -r ./src/core/ts-register.cjs bench/bench.ts sample --width 64 --depth 3 --particles 10000
 *     --euler-steps 100
 *
 * Training: the course's own loop (fm.trainFlowMatching: CFM batch from a 2-D training set,
 * explicit back-propagation, Adam); milliseconds per step over `steps` steps after `warmup` steps.
 * Sampling: fm.sampleFlow with `euler-steps` Euler steps from `particles` noise points; seconds.
 * Image training (notebook 09): `image --dim 100 --classes 10 --width 256 --depth 3 --batch 128`:
 * the class-conditional network's training step (fm.trainConditionalFlow: codes of images with
 * labels, label dropout, Fourier time features), on synthetic codes (the step's cost does not
 * depend on them). Both use the library's default threads (one per core on wasm; FM_THREADS changes
 * it), started before the warm-up. The output says how many ran.
 */
import * as tf from "@tensorflow/tfjs";
import { backendInfo, initBackend } from "../src/core/backend";
import { seed } from "../src/core/random";
import { twoMoons } from "../src/data/toy2d";
import { createVelocityModel } from "../src/model/mlp";
import { trainFlowMatching } from "../src/model/train";
import { sampleFlow } from "../src/model/sample";
import { startThreads } from "../src/model/parallel";
import { threadCount } from "../src/core/threads";
import { normal, randint } from "../src/core/random";
import { trainConditionalFlow } from "../src/images/train";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0)
    throw new Error(`--${name} must be a positive number; got ${process.argv[i + 1]}`);
  return v;
}

async function main(): Promise<void> {
  const what = process.argv[2];
  if (what !== "train" && what !== "sample" && what !== "image") {
    throw new Error("usage: bench.ts train|sample|image [--width N] [--depth N] ...");
  }
  await initBackend({ quiet: true });
  // Start the helper threads before the clock runs (PyTorch's thread pool, too, exists before its
  // first step).
  await startThreads();
  seed(0);
  const width = arg("width", 64);
  const depth = arg("depth", 3);
  const backend = backendInfo()?.name;
  const threads = threadCount();
  if (what === "image") {
    const dim = arg("dim", 100);
    const classes = arg("classes", 10);
    const batch = arg("batch", 128);
    const net = createVelocityModel({ dim, classes, width, depth, time: "fourier" });
    const n = 8000;
    const x1 = Float32Array.from({ length: n * dim }, () => normal());
    const data = { x1, labels: Uint8Array.from({ length: n }, () => randint(classes)), n };
    const options = { data, batchSize: batch, progress: false, labelDropout: 0.2 };
    await trainConditionalFlow(net, { ...options, steps: arg("warmup", 50) });
    const steps = arg("steps", 300);
    const r = await trainConditionalFlow(net, { ...options, steps });
    const msPerStep = (1000 * r.seconds) / steps;
    const shape = { dim, classes, width, depth, batch, steps };
    console.log(JSON.stringify({ side: "tfjs", backend, threads, what, ...shape, msPerStep }));
    net.dispose();
    return;
  }
  const model = createVelocityModel({ width, depth });
  if (what === "train") {
    const batch = arg("batch", 256);
    const steps = arg("steps", 300);
    const warmup = arg("warmup", 50);
    const data = twoMoons(2000);
    await trainFlowMatching(model, { data, steps: warmup, batchSize: batch, progress: false });
    const r = await trainFlowMatching(model, { data, steps, batchSize: batch, progress: false });
    data.dispose();
    console.log(
      JSON.stringify({
        side: "tfjs",
        backend,
        threads,
        what,
        width,
        depth,
        batch,
        steps,
        msPerStep: (1000 * r.seconds) / steps,
      }),
    );
  } else {
    const particles = arg("particles", 10000);
    const eulerSteps = arg("euler-steps", 100);
    // Warm-up: the same run, as often as the reference does it (compiles the code on every thread).
    for (let k = 0; k < arg("warmup", 3); k++)
      tf.dispose(sampleFlow(model, { n: particles, steps: eulerSteps }));
    const start = performance.now();
    const s = sampleFlow(model, { n: particles, steps: eulerSteps });
    s.x.dataSync();
    const seconds = (performance.now() - start) / 1000;
    tf.dispose(s);
    console.log(
      JSON.stringify({
        side: "tfjs",
        backend,
        threads,
        what,
        width,
        depth,
        particles,
        eulerSteps,
        seconds,
      }),
    );
  }
  model.dispose();
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
