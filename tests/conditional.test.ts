// The class-conditional velocity network, its gradient, classifier-free guidance and the training
// loop with label dropout (src/model/mlp.ts `classes`, src/images/conditional.ts,
// src/images/train.ts).
import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { seed } from "../src/core/random";
import { createVelocityModel, velocityModelConfig, type VelocityModel } from "../src/model/mlp";
import { gradientSums } from "../src/model/backprop";
import {
  classifierFreeGuidance,
  conditionalFeatures,
  guidedField,
  predictWithLabels,
  readLabels,
} from "../src/images/conditional";
import { trainConditionalFlow, type LabelledPoints } from "../src/images/train";
import { setThreads } from "../src/core/threads";
import { startThreads } from "../src/model/parallel";

const D = 16; // 4 x 4 images
const K = 3;

function model(activation: "elu" | "silu" = "elu", s = 1): VelocityModel {
  seed(s);
  return createVelocityModel({
    dim: D,
    classes: K,
    width: 12,
    depth: 2,
    time: "fourier",
    activation,
  });
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** An independent forward pass from theta with ordinary tf ops (the tests' reference). */
function referenceForward(
  m: VelocityModel,
  input: tf.Tensor2D,
  theta: tf.Tensor[] = params(m),
): tf.Tensor2D {
  let h: tf.Tensor = input;
  for (let i = 0; i < theta.length; i += 2) {
    h = tf.add(tf.matMul(h as tf.Tensor2D, theta[i] as tf.Tensor2D), theta[i + 1]);
    if (i + 2 < theta.length)
      h = m.config.activation === "elu" ? tf.elu(h) : tf.mul(h, tf.sigmoid(h));
  }
  return h as tf.Tensor2D;
}
function params(m: VelocityModel): tf.Tensor[] {
  return m.layers.flatMap(({ inputs, outputs, offset }) => [
    tf.tensor2d(m.theta.subarray(offset, offset + inputs * outputs), [inputs, outputs]),
    tf.tensor1d(m.theta.subarray(offset + inputs * outputs, offset + inputs * outputs + outputs)),
  ]);
}

/** Tiny labelled points: class c lights up coordinates 5c..5c+4, plus a pattern. */
function tinyImages(n: number): LabelledPoints {
  const x1 = new Float32Array(n * D);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % K;
    labels[i] = c;
    for (let p = 0; p < D; p++)
      x1[i * D + p] = Math.floor(p / 5) === c ? 0.9 : -0.8 + 0.1 * ((i * 7 + p) % 3);
  }
  return { x1, labels, n };
}

describe("a class-conditional VelocityModel", () => {
  it("reads K + 1 one-hot label inputs after x and the time features, and says so", () => {
    const m = model();
    expect(m.config.classes).toBe(K);
    expect(m.layers[0].inputs).toBe(D + 17 + K + 1);
    expect(m.describe()).toMatch(
      /16\+17\+4 -> 2 x 12 elu -> 16, Fourier t \(8 frequencies\), 3 classes/,
    );
    // an unconditional configuration is unchanged (no classes field)
    expect(velocityModelConfig({ dim: 2 })).toEqual({
      dim: 2,
      width: 64,
      depth: 3,
      activation: "elu",
      time: { kind: "raw" },
    });
    expect(() => velocityModelConfig({ classes: -1 })).toThrow(
      "classes must be an integer >= 0; got -1",
    );
    expect(() => velocityModelConfig({ classes: 2.5 })).toThrow(/classes/);
  });

  it("refuses to run without labels instead of guessing them", () => {
    const m = model();
    const x = tf.zeros([2, D]) as tf.Tensor2D;
    expect(() => m.predict(x, 0.5)).toThrow(
      /class-conditional \(3 classes\): call fm.predictWithLabels/,
    );
    expect(() => m.features(x, 0.5)).toThrow(/class-conditional/);
    x.dispose();
  });

  it("puts the label's one-hot in the right column (null: the last one)", () => {
    const m = model();
    const x = tf.zeros([3, D]) as tf.Tensor2D;
    const f = conditionalFeatures(m, x, 0.25, [2, null, 0]);
    const rows = f.arraySync() as number[][];
    const label = (r: number[]) => r.slice(D + 17);
    expect(label(rows[0])).toEqual([0, 0, 1, 0]);
    expect(label(rows[1])).toEqual([0, 0, 0, 1]);
    expect(label(rows[2])).toEqual([1, 0, 0, 0]);
    expect(rows[0].slice(D, D + 17)).toEqual(m.timeFeatures(0.25).map(Math.fround));
    tf.dispose([x, f]);
  });

  it("checks labels, naming the wrong entry", () => {
    expect(Array.from(readLabels(1, 3, K))).toEqual([1, 1, 1]);
    expect(Array.from(readLabels(null, 2, K))).toEqual([3, 3]);
    expect(() => readLabels(3, 2, K)).toThrow(
      "labels: a label must be an integer class in [0, 3) or null; the label is 3",
    );
    expect(() => readLabels([0, 1.5], 2, K)).toThrow("entry 1 is 1.5");
    expect(() => readLabels([0], 2, K)).toThrow("need one label per row (2); got 1");
    expect(() => readLabels("1" as never, 1, K)).toThrow(
      /labels must be a class, an array of classes or null/,
    );
  });

  it(
    "predictWithLabels is the network on [x, " + "embed(t), one-hot(c)] (independent forward pass)",
    () => {
      for (const act of ["elu", "silu"] as const) {
        const m = model(act);
        const x = tf.randomNormal([5, D], 0, 1, "float32", 3) as tf.Tensor2D;
        const t = tf.tensor1d([0, 0.2, 0.5, 0.9, 1]);
        const labels = [0, 1, 2, null, 1];
        const u = predictWithLabels(m, x, t, labels);
        const f = conditionalFeatures(m, x, t, labels);
        const ref = referenceForward(m, f);
        expect(maxAbsDiff(u.dataSync(), ref.dataSync())).toBeLessThan(1e-5);
        // negative control: other labels give another field
        const other = predictWithLabels(m, x, t, [1, 2, 0, 0, null]);
        expect(maxAbsDiff(u.dataSync(), other.dataSync())).toBeGreaterThan(1e-3);
        tf.dispose([x, t, u, f, ref, other]);
      }
    },
  );

  it("back-propagation through the label inputs matches TensorFlow.js's automatic gradient", () => {
    for (const act of ["elu", "silu"] as const) {
      const m = model(act, 4);
      const n = 9;
      const x = tf.randomNormal([n, D], 0, 1, "float32", 5) as tf.Tensor2D;
      const t = tf.randomUniform([n], 0, 1, "float32", 6) as tf.Tensor1D;
      const target = tf.randomNormal([n, D], 0, 1, "float32", 7) as tf.Tensor2D;
      const labels = [0, 1, 2, null, 0, 1, 2, null, 2];
      const input = conditionalFeatures(m, x, t, labels);
      m.layerTensors(); // the model's own cache (kept until its parameters change)
      const before = tf.memory().numTensors;
      const sums = gradientSums(m, input, target);
      expect(tf.memory().numTensors).toBe(before);
      // reference: the gradient of the summed squared error (what gradientSums' grad is, up to 1/2)
      const auto = tf.tidy(() => {
        const f = (...p: tf.Tensor[]) =>
          tf.mul(
            0.5,
            tf.sum(tf.square(tf.sub(referenceForward(m, input, p), target))),
          ) as tf.Scalar;
        const g = tf.grads(f)(params(m));
        const flat = new Float32Array(m.numParameters);
        m.layers.forEach(({ inputs, outputs, offset }, i) => {
          flat.set(g[2 * i].dataSync(), offset);
          flat.set(g[2 * i + 1].dataSync(), offset + inputs * outputs);
        });
        return flat;
      });
      const scale = Math.max(...Array.from(auto, Math.abs));
      expect(maxAbsDiff(sums.grad, auto) / scale).toBeLessThan(1e-4);
      // the label rows of the first layer do get a gradient (they are inputs like any other)
      const { outputs, offset } = m.layers[0];
      const labelRow = offset + (D + 17) * outputs; // row of class 0
      expect(
        Math.max(...Array.from(sums.grad.subarray(labelRow, labelRow + outputs), Math.abs)),
      ).toBeGreaterThan(0);
      // negative control: the gradient of a batch with other labels is another gradient
      const shuffled = conditionalFeatures(m, x, t, [1, 2, 0, 0, 1, 2, null, 2, 0]);
      expect(maxAbsDiff(gradientSums(m, shuffled, target).grad, auto) / scale).toBeGreaterThan(
        1e-2,
      );
      tf.dispose([x, t, target, input, shuffled]);
    }
  });
});

describe("classifier-free guidance", () => {
  it(
    "guidedField is (1 + w) u(x | c) - w u(x), in one batched pass; w = 0 and w = -1 are the " +
      "two fields",
    () => {
      const m = model();
      const x = tf.randomNormal([6, D], 0, 1, "float32", 8) as tf.Tensor2D;
      const labels = [0, 1, 2, 0, 1, 2];
      const cond = predictWithLabels(m, x, 0.4, labels);
      const uncond = predictWithLabels(m, x, 0.4, null);
      const before = tf.memory().numTensors;
      for (const w of [-1, 0, 0.5, 3]) {
        const g = guidedField(m, labels, w)(x, 0.4);
        const expected = tf.tidy(() => tf.sub(tf.mul(cond, 1 + w), tf.mul(uncond, w)));
        expect(maxAbsDiff(g.dataSync(), expected.dataSync())).toBeLessThan(2e-5);
        tf.dispose([g, expected]);
      }
      expect(tf.memory().numTensors).toBe(before);
      // per-row times too, and the generic combination of two fields agrees
      const t = tf.fill([6], 0.4) as tf.Tensor1D;
      const generic = classifierFreeGuidance(
        (xx, tt) => predictWithLabels(m, xx, tt, labels),
        (xx, tt) => predictWithLabels(m, xx, tt, null),
        2,
      )(x, t);
      const batched = guidedField(m, labels, 2)(x, t);
      expect(maxAbsDiff(generic.dataSync(), batched.dataSync())).toBeLessThan(2e-5);
      // negative control: the sign convention matters
      const flipped = guidedField(m, labels, -0.5)(x, t);
      expect(maxAbsDiff(flipped.dataSync(), batched.dataSync())).toBeGreaterThan(1e-3);
      tf.dispose([x, cond, uncond, t, generic, batched, flipped]);
    },
  );

  it("rejects bad weights and labels", () => {
    const m = model();
    const x = tf.zeros([2, D]) as tf.Tensor2D;
    expect(() => guidedField(m, [0, 1], -2)).toThrow("w must lie in [-1, 1000]; got -2");
    expect(() => guidedField(m, null, 1)).toThrow(/null is the unconditional field: w = -1/);
    expect(() => guidedField(m, [0, 1, 2], 1)(x, 0.5)).toThrow("need one label per row (2); got 3");
    expect(() => classifierFreeGuidance(null as never, null as never, 1)).toThrow(
      /two velocity fields/,
    );
    const plain = createVelocityModel({ dim: D });
    expect(() => guidedField(plain, 0, 1)).toThrow(/the model is unconditional/);
    x.dispose();
  });
});

describe("trainConditionalFlow", () => {
  it("lowers the loss and repeats exactly under the same seed", async () => {
    const data = tinyImages(60);
    const run = async () => {
      const m = model("elu", 2);
      seed(9);
      const r = await trainConditionalFlow(m, {
        data,
        steps: 150,
        batchSize: 32,
        learningRate: 3e-3,
        progress: false,
      });
      return { r, theta: m.theta };
    };
    const a = await run();
    const b = await run();
    expect(b.r.losses).toEqual(a.r.losses);
    expect(Buffer.from(b.theta.buffer).equals(Buffer.from(a.theta.buffer))).toBe(true);
    const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
    expect(mean(a.r.losses.slice(-20))).toBeLessThan(0.8 * mean(a.r.losses.slice(0, 20)));
  });

  it(
    "label dropout: with p = 1 the class inputs never learn, with p = 0 the 'no label' input " +
      "never does",
    async () => {
      const data = tinyImages(30);
      const labelRows = (m: VelocityModel) => {
        const { outputs, offset } = m.layers[0];
        const start = offset + (D + 17) * outputs;
        return {
          classes: m.theta.slice(start, start + K * outputs),
          none: m.theta.slice(start + K * outputs, start + (K + 1) * outputs),
        };
      };
      for (const p of [0, 1]) {
        const m = model("elu", 3);
        const init = labelRows(m);
        seed(4);
        await trainConditionalFlow(m, {
          data,
          steps: 20,
          batchSize: 16,
          labelDropout: p,
          progress: false,
        });
        const after = labelRows(m);
        const frozen = p === 1 ? "classes" : "none";
        const learnt = p === 1 ? "none" : "classes";
        expect(maxAbsDiff(after[frozen], init[frozen])).toBe(0);
        expect(maxAbsDiff(after[learnt], init[learnt])).toBeGreaterThan(1e-4);
      }
    },
  );

  it(
    "gives the same model on one thread and on " + "two (the batch is always cut in two parts)",
    async () => {
      const data = tinyImages(40);
      const train = async (threads: number) => {
        setThreads(threads);
        const m = model("elu", 5);
        seed(6);
        await trainConditionalFlow(m, { data, steps: 30, batchSize: 64, progress: false });
        return m.theta;
      };
      try {
        await startThreads();
        const one = await train(1);
        const two = await train(2);
        expect(Buffer.from(two.buffer).equals(Buffer.from(one.buffer))).toBe(true);
      } finally {
        setThreads();
      }
    },
  );

  it("with a coupling x0 (reflow), regresses on x1 - x0 of the given pairs", async () => {
    // x1 = x0 + shift_c: every target is the class's constant shift, which a trained model returns
    const n = 60;
    const x0 = new Float32Array(n * D).map((_, i) => Math.sin(i * 1.7));
    const labels = Uint8Array.from({ length: n }, (_, i) => i % K);
    const shift = (c: number) => (c - 1) * 1.5;
    const x1 = x0.map((v, i) => v + shift(labels[Math.floor(i / D)]));
    const m = model("elu", 7);
    seed(8);
    await trainConditionalFlow(m, {
      data: { x1, x0, labels, n },
      steps: 400,
      batchSize: 32,
      learningRate: 3e-3,
      labelDropout: 0,
      progress: false,
    });
    // the training pairs' own x_t at t = 0.5 (rows 0, 1, 2 have the classes 0, 1, 2)
    const x = tf.tensor2d(
      x0.slice(0, 3 * D).map((v, i) => v + 0.5 * shift(Math.floor(i / D))),
      [3, D],
    );
    const meanError = (rows: number[][]) =>
      rows.flatMap((row, c) => row.map((a) => Math.abs(a - shift(c)))).reduce((s, e) => s + e, 0) /
      (3 * D);
    const u = predictWithLabels(m, x, 0.5, [0, 1, 2]).arraySync() as number[][];
    expect(meanError(u)).toBeLessThan(0.15);
    // negative control: without the coupling (fresh noise) the targets are not constant and the
    // fit is off
    const free = model("elu", 7);
    seed(8);
    await trainConditionalFlow(free, {
      data: { x1, labels, n },
      steps: 400,
      batchSize: 32,
      learningRate: 3e-3,
      labelDropout: 0,
      progress: false,
    });
    const v = predictWithLabels(free, x, 0.5, [0, 1, 2]).arraySync() as number[][];
    expect(meanError(v)).toBeGreaterThan(0.5);
    x.dispose();
  });

  it("says what is wrong with its input", async () => {
    const data = tinyImages(6);
    const m = model();
    await expect(trainConditionalFlow(createVelocityModel({ dim: D }), { data })).rejects.toThrow(
      /the model is unconditional/,
    );
    await expect(trainConditionalFlow(m, { data: { ...data, n: 5 } })).rejects.toThrow(
      "the model takes points of 16 numbers; the data holds 96 numbers and 6 labels for n = 5",
    );
    const labels = Uint8Array.from(data.labels);
    labels[4] = 3;
    await expect(trainConditionalFlow(m, { data: { ...data, labels } })).rejects.toThrow(
      "label 4 is 3; the model has 3 classes",
    );
    const x1 = Float32Array.from(data.x1);
    x1[20] = NaN;
    await expect(trainConditionalFlow(m, { data: { ...data, x1 } })).rejects.toThrow(
      "data.x1 must be finite; point 1 has NaN",
    );
    await expect(
      trainConditionalFlow(m, { data: { ...data, x0: new Float32Array(3) } }),
    ).rejects.toThrow(/the coupling x0 must hold one noise point per data point \(96 numbers\)/);
    await expect(trainConditionalFlow(m, { data, labelDropout: 1.5 })).rejects.toThrow(
      "labelDropout must lie in [0, 1]; got 1.5",
    );
    await expect(trainConditionalFlow(m, { data, steps: 0 })).rejects.toThrow(
      "steps must be a positive integer; got 0",
    );
    await expect(trainConditionalFlow(m, { data: [] as never })).rejects.toThrow(
      /data must be \{ x1: Float32Array, labels: Uint8Array, n \}/,
    );
    const big = createVelocityModel({ dim: D, classes: K, width: 8, depth: 1 });
    await expect(
      trainConditionalFlow(big, { data, learningRate: 1e30, steps: 5, progress: false }),
    ).rejects.toThrow(/training stopped at step \d of 5: the loss is/);
  });
});
