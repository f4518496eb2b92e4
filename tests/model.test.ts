import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { seed } from "../src/core/random";
import {
  ACTIVATIONS,
  createVelocityModel,
  velocityModelConfig,
  VelocityModel,
  type VelocityModelOptions,
} from "../src/model/mlp";
import {
  autodiffLossAndGradient,
  clipGradientNorm,
  lossAndGradient,
  vectorNorm,
} from "../src/model/backprop";
import { Adam } from "../src/model/adam";
import { loadModel, modelFromJson, modelToJson, saveModel } from "../src/model/io";

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}
function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
function batch(n: number, d = 2) {
  return {
    x: tf.randomNormal([n, d], 0, 1, "float32", 11) as tf.Tensor2D,
    t: tf.randomUniform([n], 0, 1, "float32", 12) as tf.Tensor1D,
    target: tf.randomNormal([n, d], 0, 1, "float32", 13) as tf.Tensor2D,
  };
}

describe("VelocityModel", () => {
  it("fills defaults (2-D, width 64, 3 hidden layers, ELU, raw t) and counts parameters", () => {
    seed(0);
    const m = createVelocityModel();
    expect(m.config).toEqual({
      dim: 2,
      width: 64,
      depth: 3,
      activation: "elu",
      time: { kind: "raw" },
    });
    // (2 + 1) * 64 + 64 + 2 * (64 * 64 + 64) + 64 * 2 + 2
    expect(m.numParameters).toBe(3 * 64 + 64 + 2 * (64 * 64 + 64) + 64 * 2 + 2);
    const f = createVelocityModel({ time: "fourier", width: 8, depth: 1 });
    expect(f.layers[0].inputs).toBe(2 + 1 + 2 * 8);
    expect(f.describe()).toMatch(/Fourier/);
  });

  it("rejects bad options with a message that names the option and the value", () => {
    expect(() => velocityModelConfig({ width: 0 })).toThrow(/width must be an integer >= 1; got 0/);
    expect(() => velocityModelConfig({ depth: 1.5 })).toThrow(/depth/);
    expect(() => velocityModelConfig({ activation: "gelu" as never })).toThrow(
      /activation must be one of elu, relu, tanh, silu; got "gelu"/,
    );
    expect(() =>
      velocityModelConfig({ time: { kind: "fourier", frequencies: 0, scale: 1 } }),
    ).toThrow(/frequencies/);
    expect(() => new VelocityModel(velocityModelConfig(), new Float32Array(3))).toThrow(
      /3 numbers but this architecture has/,
    );
  });

  it("draws the same parameters after the same seed, different ones after another", () => {
    seed(5);
    const a = createVelocityModel();
    seed(5);
    const b = createVelocityModel();
    seed(6);
    const c = createVelocityModel();
    expect(maxAbsDiff(a.theta, b.theta)).toBe(0);
    expect(maxAbsDiff(a.theta, c.theta)).toBeGreaterThan(0.1);
  });

  it("predicts [n, d]; one time for all rows (folded into the bias) equals a time per row", () => {
    for (const time of ["raw", "fourier"] as const) {
      seed(1);
      const m = createVelocityModel({ width: 16, depth: 2, time });
      const x = tf.randomNormal([9, 2], 0, 1, "float32", 3) as tf.Tensor2D;
      const before = tf.memory().numTensors;
      const folded = m.predict(x, 0.37);
      const times = tf.fill([9], 0.37) as tf.Tensor1D;
      const perRow = m.predict(x, times);
      times.dispose();
      expect(folded.shape).toEqual([9, 2]);
      // Same arithmetic regrouped: float32 rounding only.
      expect(maxAbsDiff(folded.dataSync(), perRow.dataSync())).toBeLessThan(1e-5);
      // Negative control: another time gives visibly different velocities.
      const other = m.predict(x, 0.8);
      expect(maxAbsDiff(folded.dataSync(), other.dataSync())).toBeGreaterThan(1e-3);
      tf.dispose([folded, perRow, other]);
      m.dispose();
      expect(tf.memory().numTensors).toBe(before);
      x.dispose();
    }
  });

  it("checks its inputs", () => {
    const m = createVelocityModel({ width: 4, depth: 1 });
    const x3 = tf.zeros([2, 3]) as tf.Tensor2D;
    expect(() => m.predict(x3, 0.5)).toThrow(/x/);
    const x = tf.zeros([2, 2]) as tf.Tensor2D;
    expect(() => m.predict(x, 1.5)).toThrow(/t must lie in \[0, 1\]; got 1.5/);
    tf.dispose([x3, x]);
    m.dispose();
  });
});

describe("lossAndGradient (explicit back-propagation)", () => {
  const cases: VelocityModelOptions[] = [
    ...ACTIVATIONS.map((activation) => ({ activation, width: 12, depth: 2 })),
    { time: "fourier", width: 10, depth: 3 },
    { dim: 3, width: 7, depth: 1 },
  ];
  for (const options of cases) {
    it(`agrees with TensorFlow.js's automatic gradient: ${JSON.stringify(options)}`, () => {
      seed(2);
      const m = createVelocityModel(options);
      const { x, t, target } = batch(33, m.config.dim);
      const before = tf.memory().numTensors;
      const manual = lossAndGradient(m, x, t, target);
      const auto = autodiffLossAndGradient(m, x, t, target);
      m.dispose();
      expect(tf.memory().numTensors).toBe(before);
      expect(manual.loss).toBeCloseTo(auto.loss, 5);
      // Float32 sums over 33 rows: agreement to ~1e-6 of the gradient's size.
      expect(maxAbsDiff(manual.grad, auto.grad)).toBeLessThan(
        1e-5 * Math.max(1, maxAbs(auto.grad)),
      );
      // Negative control: the gradient for another target is far from it.
      const shifted = tf.add(target, 0.5) as tf.Tensor2D;
      const other = autodiffLossAndGradient(m, x, t, shifted);
      expect(maxAbsDiff(manual.grad, other.grad)).toBeGreaterThan(1e-2);
      m.dispose();
      tf.dispose([x, t, target, shifted]);
    });
  }

  it("matches central finite differences of the loss on sampled parameters", () => {
    seed(3);
    const m = createVelocityModel({ width: 8, depth: 2, activation: "tanh" });
    const { x, t, target } = batch(16);
    const { grad } = lossAndGradient(m, x, t, target);
    const theta = Float32Array.from(m.theta);
    const h = 1e-2;
    for (const k of [0, 5, 40, 77, m.numParameters - 1]) {
      const plus = Float32Array.from(theta);
      plus[k] += h;
      m.setTheta(plus);
      const lp = lossAndGradient(m, x, t, target).loss;
      const minus = Float32Array.from(theta);
      minus[k] -= h;
      m.setTheta(minus);
      const lm = lossAndGradient(m, x, t, target).loss;
      // O(h^2) truncation plus float32 rounding of the loss (~1e-7 / h).
      expect(Math.abs((lp - lm) / (2 * h) - grad[k])).toBeLessThan(2e-3);
    }
    m.setTheta(theta);
    m.dispose();
    tf.dispose([x, t, target]);
  });

  it("checks shapes", () => {
    const m = createVelocityModel({ width: 4, depth: 1 });
    const x = tf.zeros([3, 2]) as tf.Tensor2D;
    const y = tf.zeros([4, 2]) as tf.Tensor2D;
    expect(() => lossAndGradient(m, x, 0.5, y)).toThrow(/shape/);
    tf.dispose([x, y]);
    m.dispose();
  });

  it("clips a gradient to a global norm and reports the norm before", () => {
    const g = Float32Array.from([3, 4]);
    expect(clipGradientNorm(g, 1)).toBeCloseTo(5, 6);
    expect(vectorNorm(g)).toBeCloseTo(1, 6);
    const small = Float32Array.from([0.3, 0.4]);
    clipGradientNorm(small, 1);
    expect(Array.from(small)).toEqual([Math.fround(0.3), Math.fround(0.4)]);
    expect(() => clipGradientNorm(g, 0)).toThrow(/maxNorm/);
  });
});

describe("Adam", () => {
  it(
    "takes a first step of learningRate * sign(g) (bias correction), like " + "torch.optim.Adam",
    () => {
      const theta = Float32Array.from([1, -2, 0.5]);
      const adam = new Adam(3, { learningRate: 0.1 });
      adam.update(theta, [0.3, -7, 1e-3]);
      expect(theta[0]).toBeCloseTo(0.9, 6);
      expect(theta[1]).toBeCloseTo(-1.9, 6);
      expect(theta[2]).toBeCloseTo(0.4, 4);
    },
  );

  it(
    "follows the closed form over several steps with a constant gradient (m/c1 = g, v/c2 = " +
      "g^2)",
    () => {
      const theta = Float32Array.from([0]);
      const adam = new Adam(1, { learningRate: 0.01, epsilon: 0 });
      for (let k = 0; k < 5; k++) adam.update(theta, [2]);
      expect(theta[0]).toBeCloseTo(-0.05, 6);
      // Negative control: without bias correction the first steps would be ~10x smaller.
      expect(Math.abs(theta[0])).toBeGreaterThan(0.04);
    },
  );

  it("rejects bad settings and mismatched arrays", () => {
    expect(() => new Adam(0)).toThrow(/size/);
    expect(() => new Adam(2, { beta1: 1 })).toThrow(/beta1 must lie in \[0, 1\)/);
    expect(() => new Adam(2, { learningRate: -1 })).toThrow(/learningRate/);
    expect(() => new Adam(2).update(new Float32Array(3), [1, 2, 3])).toThrow(/expected 2/);
  });
});

describe("saveModel / loadModel", () => {
  const dir = mkdtempSync(join(tmpdir(), "fm-model-"));

  it("round-trips exactly: same config, same parameters, same predictions, notes kept", () => {
    seed(4);
    const m = createVelocityModel({ width: 8, depth: 2, time: "fourier", activation: "silu" });
    const file = join(dir, "sub", "model.json");
    saveModel(m, file, { data: "twoMoons", steps: 10 });
    const { model, info } = loadModel(file);
    expect(model.config).toEqual(m.config);
    expect(maxAbsDiff(model.theta, m.theta)).toBe(0);
    expect(info).toEqual({ data: "twoMoons", steps: 10 });
    const x = tf.randomNormal([5, 2], 0, 1, "float32", 1) as tf.Tensor2D;
    const a = m.predict(x, 0.3);
    const b = model.predict(x, 0.3);
    expect(maxAbsDiff(a.dataSync(), b.dataSync())).toBe(0);
    tf.dispose([x, a, b]);
    m.dispose();
    model.dispose();
    expect(existsSync(`${file}.${process.pid}.tmp`)).toBe(false);
  });

  it("says what is wrong with a missing, foreign, damaged or newer file", () => {
    expect(() => loadModel(join(dir, "nope.json"))).toThrow(/no file/);
    const bad = join(dir, "bad.json");
    writeFileSync(bad, "{ not json");
    expect(() => loadModel(bad)).toThrow(/not valid JSON/);
    writeFileSync(bad, JSON.stringify({ format: "something-else" }));
    expect(() => loadModel(bad)).toThrow(/not a velocity model saved by this course/);
    const m = createVelocityModel({ width: 4, depth: 1 });
    const saved = modelToJson(m);
    expect(() => modelFromJson({ ...saved, version: 99 })).toThrow(/format version 99/);
    expect(() => modelFromJson({ ...saved, theta: saved.theta.slice(0, 8) })).toThrow(
      /theta holds/,
    );
    expect(() => modelFromJson({ ...saved, config: { ...saved.config, width: 5 } })).toThrow(
      /theta holds/,
    );
    const nan = new VelocityModel(m.config, m.theta);
    nan.theta[3] = NaN;
    expect(() => modelToJson(nan)).toThrow(/parameter 3 \(layer 0, W\[0\]\[3\]\) is NaN/);
    const text = readFileSync(bad, "utf8");
    expect(text).toContain("something-else");
  });
});
