// Sampling a class-conditional model (src/images/sample.ts) and judging samples
// (src/images/evaluate.ts).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { mkdtempSync, writeFileSync, readFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { seed, randn } from "../src/core/random";
import { backendInfo } from "../src/core/backend";
import { runningHelpers, setThreads, stopThreads } from "../src/core/threads";
import { createVelocityModel } from "../src/model/mlp";
import { guidedField } from "../src/images/conditional";
import {
  sampleDigits,
  MIN_IMAGES_PER_THREAD,
  slerpNoise,
  startImageThreads,
} from "../src/images/sample";
import { solveOde } from "../src/solvers/ode";
import { Classifier } from "../src/images/classifier";
import { ImageCodec } from "../src/images/codec";
import { saveImageModel } from "../src/images/io";
import { imageSet } from "../src/images/mnist";
import {
  balancedLabels,
  classBalance,
  DigitJudge,
  guidanceSweep,
  loadDigitModels,
  nearestCodes,
  solverSweep,
} from "../src/images/evaluate";

const K = 3;
const k = 6;
function model(s = 1) {
  seed(s);
  return createVelocityModel({ dim: k, classes: K, width: 16, depth: 2, time: "fourier" });
}

beforeAll(async () => {
  setThreads(2);
  await startImageThreads();
});
afterAll(() => {
  setThreads();
  stopThreads();
});

describe("sampleDigits", () => {
  it(
    "integrates the guided field from the noise, " + "and counts evaluations and network passes",
    () => {
      const m = model();
      const labels = [0, 1, 2, 1];
      seed(3);
      const s = sampleDigits(m, { labels, w: 2, method: "rk4", steps: 3 });
      expect([s.nfe, s.passes]).toEqual([12, 24]);
      const direct = solveOde(guidedField(m, labels, 2), s.x0, { method: "rk4", steps: 3 });
      expect(Array.from(s.x.dataSync())).toEqual(Array.from(direct.x.dataSync()));
      const plain = sampleDigits(m, { labels, w: 0, method: "euler", steps: 5, x0: s.x0 });
      expect([plain.nfe, plain.passes]).toEqual([5, 5]);
      tf.dispose([s.x, s.x0, direct.x, plain.x, plain.x0]);
    },
  );

  it("gives bit-identical images on one thread and on two", () => {
    // native backends use no helpers
    if (!["wasm", "cpu"].includes(backendInfo()?.name ?? "")) return;
    const m = model(2);
    const labels = balancedLabels(K, Math.ceil((3 * MIN_IMAGES_PER_THREAD) / K));
    const x0 = randn([labels.length, k]) as tf.Tensor2D;
    setThreads(1);
    const one = sampleDigits(m, { labels, w: 1.5, method: "midpoint", steps: 4, x0 });
    setThreads(2);
    expect(runningHelpers()).toBe(1); // the image helper is ready: the rows are really shared
    const two = sampleDigits(m, { labels, w: 1.5, method: "midpoint", steps: 4, x0 });
    expect(Buffer.from(two.x.dataSync().buffer).equals(Buffer.from(one.x.dataSync().buffer))).toBe(
      true,
    );
    // negative control: another weight gives other images
    const other = sampleDigits(m, { labels, w: 1, method: "midpoint", steps: 4, x0 });
    expect(
      Buffer.from(other.x.dataSync().buffer).equals(Buffer.from(one.x.dataSync().buffer)),
    ).toBe(false);
    tf.dispose([x0, one.x, one.x0, two.x, two.x0, other.x, other.x0]);
  });

  it("keeps a trajectory at saveAt, and leaks nothing", () => {
    const m = model(3);
    m.layerTensors();
    const before = tf.memory().numTensors;
    const s = sampleDigits(m, { labels: [0, 2], steps: 4, saveAt: [0, 0.5, 1] });
    expect(s.trajectory!.shape).toEqual([3, 2, k]);
    tf.dispose([s.x, s.x0, s.trajectory!]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("says what is wrong", () => {
    const m = model();
    expect(() => sampleDigits(m, { labels: [] })).toThrow("labels must hold at least one class");
    expect(() => sampleDigits(m, { labels: [0, 3] })).toThrow("entry 1 is 3");
    expect(() => sampleDigits(m, { labels: [0], method: "dopri5" as never })).toThrow(
      /method must be one of euler, midpoint, heun, rk4; got dopri5/,
    );
    expect(() => sampleDigits(m, { labels: [0], steps: 0 })).toThrow(
      "steps must be a positive integer; got 0",
    );
    const x0 = tf.zeros([2, k]) as tf.Tensor2D;
    expect(() => sampleDigits(m, { labels: [0], x0 })).toThrow("x0 has 2 rows for 1 labels");
    x0.dispose();
    expect(() => sampleDigits(createVelocityModel({ dim: k }), { labels: [0] })).toThrow(
      /unconditional/,
    );
  });
});

describe("slerpNoise", () => {
  it("runs from a to b along the arc, keeping the length of orthogonal equal-length points", () => {
    const a = tf.tensor2d([[3, 0, 0]]);
    const b = tf.tensor2d([[0, 3, 0]]);
    const s = slerpNoise(a, b, [0, 0.25, 0.5, 1]).arraySync() as number[][];
    expect(s[0]).toEqual([3, 0, 0]);
    expect(s[3][1]).toBeCloseTo(3, 6);
    s.forEach((row) => expect(Math.hypot(...row)).toBeCloseTo(3, 5));
    expect(s[1][0]).toBeCloseTo(3 * Math.cos(Math.PI / 8), 5);
    // negative control: the straight line halfway is sqrt(2) times shorter
    expect(Math.hypot(1.5, 1.5, 0)).toBeLessThan(0.75 * 3);
    expect(() => slerpNoise(a, a, [0.5])).toThrow(/point the same way/);
    expect(() => slerpNoise(a, b, [1.5])).toThrow("alphas must be numbers in [0, 1]; got [1.5]");
    expect(() => slerpNoise(tf.zeros([2, 3]) as tf.Tensor2D, b, [0])).toThrow(
      /single points \[1, d\]; got 2 and 1 rows/,
    );
    tf.dispose([a, b]);
  });
});

describe("judging samples", () => {
  /** A codec that is the identity on 2 x 3 'images' (k = 6), and a classifier. */
  const codec = new ImageCodec({
    pixels: 6,
    k: 6,
    mean: new Float32Array(6),
    basis: Float32Array.from({ length: 36 }, (_, i) => (i % 7 === 0 ? 1 : 0)),
    variances: new Float32Array(6).fill(1),
    scale: 1,
  });
  const images = (n: number, s: number) => {
    const pixels = Array.from({ length: n * 6 }, (_, i) => 0.5 + 0.4 * Math.sin(i * 0.37 + s));
    return imageSet(
      pixels,
      Array.from({ length: n }, (_, i) => i % K),
      { height: 2, width: 3, classes: K },
    );
  };

  it(
    "DigitJudge: the floor is the distance between " +
      "two real sets; images of another kind are far",
    () => {
      seed(4);
      const clf = new Classifier({ inputs: 6, hidden: [5], classes: K });
      const judge = new DigitJudge(clf, images(90, 0), images(120, 1));
      expect(judge.floor).toBeGreaterThanOrEqual(0);
      const same = tf.tensor2d(images(90, 0).pixels, [90, 6]);
      expect(judge.frechet(same)).toBeLessThan(1e-9);
      const dark = tf.zeros([90, 6]) as tf.Tensor2D;
      expect(judge.frechet(dark)).toBeGreaterThan(judge.floor);
      const { accuracy, predicted } = judge.accuracy(same, images(90, 0).labels);
      expect(predicted.length).toBe(90);
      expect(accuracy).toBeGreaterThanOrEqual(0);
      expect(() => judge.accuracy(same, [0])).toThrow("90 images but 1 labels");
      tf.dispose([same, dark]);
    },
  );

  it(
    "guidanceSweep and solverSweep: one row per " +
      "weight, one curve per run, NFEs a solver can take",
    () => {
      seed(5);
      const clf = new Classifier({ inputs: 6, hidden: [5], classes: K });
      const judge = new DigitJudge(clf, images(60, 0), images(60, 1));
      const m = model(6);
      seed(7);
      const rows = guidanceSweep(m, codec, judge, {
        ws: [0, 1],
        perClass: 10,
        method: "euler",
        steps: 2,
      });
      expect(rows.map((r) => [r.w, r.nfe, r.passes])).toEqual([
        [0, 2, 2],
        [1, 2, 4],
      ]);
      rows.forEach((r) => expect(r.accuracy).toBeGreaterThanOrEqual(0));
      seed(8);
      const curves = solverSweep(
        [
          { name: "Euler", model: m, method: "euler" },
          { name: "RK4", model: m, method: "rk4", w: 1 },
        ],
        codec,
        judge,
        { labels: balancedLabels(K, 10), nfes: [1, 2, 4, 8] },
      );
      expect(curves.map((c) => c.nfe)).toEqual([
        [1, 2, 4, 8],
        [4, 8],
      ]);
      curves.forEach((c) => c.values.forEach((v) => expect(Number.isFinite(v)).toBe(true)));
    },
  );

  it(
    "a code velocity becomes a grey-value velocity (s / 2) V u, the derivative of the decoded " +
      "image",
    () => {
      const scaled = new ImageCodec({
        ...codec,
        pixels: 6,
        k: 6,
        mean: codec.mean,
        basis: codec.basis,
        variances: codec.variances,
        scale: 2,
      });
      const z = tf.tensor2d([[0.1, 0.2, 0.3, 0.4, 0.5, 0.6]]);
      const u = tf.tensor2d([[1, -1, 0, 2, 0, 0]]);
      const v = scaled.toPixelVelocity(u);
      const h = 1e-2;
      const ahead = tf.tidy(() => scaled.decode(tf.add(z, tf.mul(u, h)) as tf.Tensor2D));
      const now = scaled.decode(z);
      const fd = tf.tidy(() => tf.div(tf.sub(ahead, now), 2 * h)); // d/dt of (x + 1) / 2
      expect(
        Array.from(v.dataSync())
          .map((x, i) => Math.abs(x - fd.dataSync()[i]))
          .every((e) => e < 1e-4),
      ).toBe(true);
      expect(Array.from(v.dataSync())).toEqual([1, -1, 0, 2, 0, 0]);
      tf.dispose([z, u, v, ahead, now, fd]);
    },
  );

  it("classBalance: shares and their total variation from the reference", () => {
    const b = classBalance([0, 0, 1, 2], [0, 1, 2, 0, 1, 2], 3);
    expect(b.counts).toEqual([2, 1, 1]);
    expect(b.shares).toEqual([0.5, 0.25, 0.25]);
    expect(b.totalVariation).toBeCloseTo(0.5 * (1 / 6 + 1 / 12 + 1 / 12), 12);
    expect(classBalance([0, 1, 2], [2, 1, 0], 3).totalVariation).toBe(0);
  });

  it("nearestCodes finds the nearest reference row (as a brute-force search does)", () => {
    const q = randn([20, 5]) as tf.Tensor2D;
    const r = randn([50, 5]) as tf.Tensor2D;
    const got = nearestCodes(q, r);
    const Q = q.arraySync() as number[][];
    const R = r.arraySync() as number[][];
    Q.forEach((row, i) => {
      const d = R.map((s) => Math.hypot(...s.map((v, j) => v - row[j])));
      const best = d.indexOf(Math.min(...d));
      expect(got.index[i]).toBe(best);
      expect(Math.abs(got.distance[i] - d[best])).toBeLessThan(1e-4);
    });
    const self = nearestCodes(r, r);
    expect(Math.max(...self.distance)).toBeLessThan(2e-3);
    tf.dispose([q, r]);
    expect(() =>
      nearestCodes(tf.zeros([2, 3]) as tf.Tensor2D, tf.zeros([2, 4]) as tf.Tensor2D),
    ).toThrow(/must be \[n, k\] and \[m, k\]/);
  });

  it("loadDigitModels refuses files that were not made from each other", () => {
    const dir = mkdtempSync(join(tmpdir(), "fm-digits-"));
    expect(() => loadDigitModels(dir)).toThrow(/mnist-codec\.json is missing/);
    seed(9);
    saveImageModel(codec, join(dir, "mnist-codec.json"));
    saveImageModel(
      new Classifier({ inputs: 6, hidden: [4], classes: K }),
      join(dir, "mnist-classifier.json"),
    );
    const sha = JSON.parse(readFileSync(join(dir, "mnist-codec.json"), "utf8")).sha256;
    saveImageModel(model(1), join(dir, "mnist-flow.json"), { recipe: { codecSha256: sha } });
    const flowSha = JSON.parse(readFileSync(join(dir, "mnist-flow.json"), "utf8")).sha256;
    saveImageModel(model(2), join(dir, "mnist-reflow.json"), {
      recipe: { codecSha256: sha, flowSha256: flowSha },
    });
    const ok = loadDigitModels(dir);
    expect(ok.codec.k).toBe(6);
    saveImageModel(model(2), join(dir, "mnist-reflow.json"), {
      recipe: { codecSha256: sha, flowSha256: "0".repeat(64) },
    });
    expect(() => loadDigitModels(dir)).toThrow(/the reflow model was not made from/);
    saveImageModel(model(1), join(dir, "mnist-flow.json"), {
      recipe: { codecSha256: "f".repeat(64) },
    });
    expect(() => loadDigitModels(dir)).toThrow(/the flow model was trained on another codec/);
    writeFileSync(join(dir, "mnist-flow.json"), "{}");
    expect(() => loadDigitModels(dir)).toThrow(/is not an image model/);
  });
});
