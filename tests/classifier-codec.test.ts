// The digit classifier (src/images/classifier.ts) and the PCA codec (src/images/codec.ts).
import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { seed } from "../src/core/random";
import {
  Classifier,
  classifierAccuracy,
  classifierAutodiffGradient,
  classifierLossAndGradient,
  shiftedImage,
  trainClassifier,
} from "../src/images/classifier";
import { fitImageCodec, ImageCodec, verifyCodec } from "../src/images/codec";
import { imageSet, type ImageSet } from "../src/images/mnist";

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/**
 * 4 x 4 images of three classes: a bright row 0, a bright column 0 or a bright diagonal, plus
 * faint texture.
 */
function bars(n: number, s = 0): ImageSet {
  const pixels: number[] = [];
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = (i + s) % 3;
    labels.push(c);
    for (let r = 0; r < 4; r++) {
      for (let col = 0; col < 4; col++) {
        const on = c === 0 ? r === 1 : c === 1 ? col === 2 : r === col;
        pixels.push(on ? 0.9 : 0.1 * (((i * 5 + r * 3 + col) % 4) / 3));
      }
    }
  }
  return imageSet(pixels, labels, { height: 4, width: 4, classes: 3 });
}

describe("Classifier", () => {
  it("back-propagates the cross-entropy exactly as TensorFlow.js's automatic gradient does", () => {
    seed(1);
    const clf = new Classifier({ inputs: 16, hidden: [7, 5], classes: 3 });
    const set = bars(11);
    const x = tf.tensor2d(set.pixels, [11, 16]);
    const before = tf.memory().numTensors;
    const hand = classifierLossAndGradient(clf, x, set.labels);
    const auto = classifierAutodiffGradient(clf, x, set.labels);
    expect(tf.memory().numTensors).toBe(before);
    expect(Math.abs(hand.loss - auto.loss)).toBeLessThan(1e-6);
    const scale = Math.max(...Array.from(auto.grad, Math.abs));
    expect(maxAbsDiff(hand.grad, auto.grad) / scale).toBeLessThan(1e-5);
    // a finite difference on one weight of the first layer agrees too
    const i = 3;
    const h = 1e-2;
    const lossAt = (v: number) => {
      const c = new Classifier(clf.config, clf.theta);
      c.theta[i] = v;
      return classifierLossAndGradient(c, x, set.labels).loss;
    };
    const fd = (lossAt(clf.theta[i] + h) - lossAt(clf.theta[i] - h)) / (2 * h);
    expect(Math.abs(fd - hand.grad[i])).toBeLessThan(2e-3 + 0.02 * Math.abs(hand.grad[i]));
    // negative control: the gradient for other labels is another gradient
    const wrong = classifierLossAndGradient(
      clf,
      x,
      set.labels.map((c) => (c + 1) % 3),
    );
    expect(maxAbsDiff(wrong.grad, auto.grad) / scale).toBeGreaterThan(1e-2);
    x.dispose();
  });

  it(
    "learns a separable task (accuracy 1 on held-out images; chance for an untrained net), " +
      "deterministically",
    async () => {
      const train = bars(90);
      const test = bars(30, 1);
      const run = async () => {
        seed(2);
        const clf = new Classifier({ inputs: 16, hidden: [16, 8], classes: 3 });
        seed(3);
        const r = await trainClassifier(clf, {
          data: train,
          steps: 200,
          batchSize: 32,
          learningRate: 1e-2,
          shift: 0,
          progress: false,
        });
        return { clf, r };
      };
      const a = await run();
      const b = await run();
      expect(b.r.losses).toEqual(a.r.losses);
      expect(classifierAccuracy(a.clf, test)).toBe(1);
      seed(2);
      const untrained = new Classifier({ inputs: 16, hidden: [16, 8], classes: 3 });
      expect(classifierAccuracy(untrained, test)).toBeLessThan(0.7);
      // features: the last hidden layer, non-negative (ReLU)
      const x = tf.tensor2d(test.pixels, [30, 16]);
      const f = a.clf.features(x);
      expect(f.shape).toEqual([30, 8]);
      expect(Math.min(...Array.from(f.dataSync()))).toBeGreaterThanOrEqual(0);
      tf.dispose([x, f]);
    },
  );

  it("shifts a training image by whole pixels, zeros shifted in", () => {
    const set = imageSet([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], [0], {
      height: 3,
      width: 3,
      classes: 2,
    });
    const out = new Float32Array(9);
    shiftedImage(set, 0, 1, 0, out, 0);
    expect(Array.from(out)).toEqual([0, 0, 0.1, 0, 0.3, 0.4, 0, 0.6, 0.7].map(Math.fround));
    shiftedImage(set, 0, 0, -1, out, 0);
    expect(Array.from(out)).toEqual([0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0, 0, 0].map(Math.fround));
  });

  it("says what is wrong with its input", async () => {
    expect(() => new Classifier({ inputs: 4, hidden: [], classes: 2 })).toThrow(
      /needs positive integers inputs, classes and hidden/,
    );
    expect(() => new Classifier({ inputs: 4, hidden: [3], classes: 1 })).toThrow(
      "needs at least 2 classes; got 1",
    );
    expect(
      () => new Classifier({ inputs: 4, hidden: [3], classes: 2 }, new Float32Array(2)),
    ).toThrow("theta has 2 numbers; the architecture needs 23");
    seed(4);
    const clf = new Classifier({ inputs: 16, hidden: [4], classes: 3 });
    const x = tf.zeros([2, 16]) as tf.Tensor2D;
    expect(() => classifierLossAndGradient(clf, x, [0])).toThrow("need 2 labels; got 1");
    expect(() => classifierLossAndGradient(clf, x, [0, 3])).toThrow(
      "label 1 is 3, not a class in [0, 3)",
    );
    expect(() => clf.logits(tf.zeros([2, 5]) as tf.Tensor2D)).toThrow(/16 columns/);
    await expect(trainClassifier(clf, { data: bars(6), steps: 0 })).rejects.toThrow(
      "steps must be an integer >= 1; got 0",
    );
    await expect(trainClassifier(clf, { data: { ...bars(6), height: 3 } })).rejects.toThrow(
      /an ImageSet of 16-pixel images in 3 classes/,
    );
    x.dispose();
  });
});

describe("ImageCodec", () => {
  it(
    "is the PCA: on images that vary along two known directions, it finds them and their " +
      "variances",
    () => {
      // x = mean + a u + b v with orthonormal u, v and independent a, b of variances 4 and 1 (in
      // [-1, 1] scale)
      const P = 9;
      const u = [1, 1, 1, 0, 0, 0, 0, 0, 0].map((v) => v / Math.sqrt(3));
      const v = [0, 0, 0, 0, 1, -1, 0, 0, 0].map((w) => w / Math.sqrt(2));
      const pixels: number[] = [];
      const labels: number[] = [];
      const n = 400;
      for (let i = 0; i < n; i++) {
        const a = 2 * Math.sign(Math.sin(i * 1.3 + 0.1)) * 0.2;
        const b = Math.sign(Math.cos(i * 0.7 + 0.2)) * 0.2;
        for (let p = 0; p < P; p++) pixels.push(0.5 + (a * u[p] + b * v[p]) / 2);
        labels.push(0);
      }
      const set = imageSet(pixels, labels, { height: 3, width: 3, classes: 1 });
      const codec = fitImageCodec(set, 2);
      const dot = (row: number, w: number[]) =>
        w.reduce((s, x, p) => s + x * codec.basis[row * P + p], 0);
      expect(Math.abs(Math.abs(dot(0, u)) - 1)).toBeLessThan(1e-5);
      expect(Math.abs(Math.abs(dot(1, v)) - 1)).toBeLessThan(1e-5);
      expect(codec.variances[0]).toBeGreaterThan(codec.variances[1]);
      const check = verifyCodec(codec, set);
      expect(check.orthonormality).toBeLessThan(1e-6);
      expect(check.eigenResidual).toBeLessThan(1e-5);
      expect(check.nextVariance).toBeLessThan(1e-6);
      expect(check.meanError).toBeLessThan(1e-6);
      // the set has rank 2: its total variance is the two kept variances
      const kept = codec.variances[0] + codec.variances[1];
      expect(Math.abs(check.total / kept - 1)).toBeLessThan(1e-5);
      // negative control: a codec with the directions swapped fails the eigen test
      const swapped = new ImageCodec({
        ...codec,
        mean: codec.mean,
        basis: Float32Array.from([...codec.basis.slice(P), ...codec.basis.slice(0, P)]),
        variances: codec.variances,
        scale: codec.scale,
        pixels: P,
        k: 2,
      });
      expect(verifyCodec(swapped, set).eigenResidual).toBeGreaterThan(0.1);
    },
  );

  it("with k = all pixels, decode(encode(x)) = x; codes have average variance 1; leak-free", () => {
    const set = bars(60);
    const codec = fitImageCodec(set, 16);
    const before = tf.memory().numTensors;
    const z = codec.encodeSet(set);
    const back = codec.toPixels(z);
    expect(maxAbsDiff(back.dataSync(), set.pixels)).toBeLessThan(1e-5);
    const variance = tf.tidy(() => tf.mean(tf.moments(z, 0).variance).dataSync()[0] * (60 / 59));
    // variances of the kept directions average 1 in code units (zero-variance directions count too)
    expect(Math.abs(variance - 1)).toBeLessThan(1e-3);
    tf.dispose([z, back]);
    codec.dispose();
    expect(tf.memory().numTensors).toBe(before);
    // fewer directions lose detail: the reconstruction differs (negative control)
    const small = fitImageCodec(set, 2);
    const rec = tf.tidy(() => small.toPixels(small.encodeSet(set)));
    expect(maxAbsDiff(rec.dataSync(), set.pixels)).toBeGreaterThan(0.05);
    rec.dispose();
    small.dispose();
  });

  it("says what is wrong with its input", () => {
    const set = bars(4);
    expect(() => fitImageCodec(set, 0)).toThrow("k must be an integer in [1, 16]; got 0");
    const parts = (basis: number, scale: number) => ({
      pixels: 4,
      k: 2,
      mean: new Float32Array(4),
      basis: new Float32Array(basis),
      variances: new Float32Array(2),
      scale,
    });
    expect(() => new ImageCodec(parts(7, 1))).toThrow(
      "expected a mean of 4, a basis of 2 x 4 and 2 variances; got 4, 7 and 2",
    );
    expect(() => new ImageCodec(parts(8, 0))).toThrow("scale must be a positive number; got 0");
    const codec = fitImageCodec(set, 3);
    expect(() => codec.decode(tf.zeros([1, 4]) as tf.Tensor2D)).toThrow(
      /decode: z must have 3 columns/,
    );
  });
});
