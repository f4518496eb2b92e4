/**
 * The TensorFlow.js side of `npm run bench` (scripts/bench.mjs runs it beside bench/reference.py and
 * prints the ratios). One measurement per call, printed as one JSON line:
 *
 *   node build/bench/bench/bench.js train  --width 64 --depth 3 --batch 256 --steps 300 --warmup 50
 *   node build/bench/bench/bench.js sample --width 64 --depth 3 --particles 10000 --euler-steps 100
 *
 * Training: the course's own loop (fm.trainFlowMatching: CFM batch from a 2-D training set, explicit
 * back-propagation, Adam); milliseconds per step over `steps` steps after `warmup` steps.
 * Sampling: fm.sampleFlow with `euler-steps` Euler steps from `particles` noise points; seconds.
 */
import * as tf from "@tensorflow/tfjs";
import { backendInfo, initBackend } from "../src/core/backend";
import { seed } from "../src/core/random";
import { twoMoons } from "../src/data/toy2d";
import { createVelocityModel } from "../src/model/mlp";
import { trainFlowMatching } from "../src/model/train";
import { sampleFlow } from "../src/model/sample";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number; got ${process.argv[i + 1]}`);
  return v;
}

async function main(): Promise<void> {
  const what = process.argv[2];
  if (what !== "train" && what !== "sample") throw new Error('usage: bench.js train|sample [--width N] [--depth N] ...');
  await initBackend({ quiet: true });
  seed(0);
  const width = arg("width", 64);
  const depth = arg("depth", 3);
  const model = createVelocityModel({ width, depth });
  const backend = backendInfo()?.name;
  if (what === "train") {
    const batch = arg("batch", 256);
    const steps = arg("steps", 300);
    const warmup = arg("warmup", 50);
    const data = twoMoons(2000);
    await trainFlowMatching(model, { data, steps: warmup, batchSize: batch, progress: false });
    const r = await trainFlowMatching(model, { data, steps, batchSize: batch, progress: false });
    data.dispose();
    console.log(JSON.stringify({ side: "tfjs", backend, what, width, depth, batch, steps, msPerStep: (1000 * r.seconds) / steps }));
  } else {
    const particles = arg("particles", 10000);
    const eulerSteps = arg("euler-steps", 100);
    tf.dispose(sampleFlow(model, { n: particles, steps: 5 })); // warm-up
    const start = performance.now();
    const s = sampleFlow(model, { n: particles, steps: eulerSteps });
    s.x.dataSync();
    const seconds = (performance.now() - start) / 1000;
    tf.dispose(s);
    console.log(JSON.stringify({ side: "tfjs", backend, what, width, depth, particles, eulerSteps, seconds }));
  }
  model.dispose();
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
