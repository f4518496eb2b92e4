import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import {
  TOY_DATASETS,
  checkerboard,
  concentricCircles,
  eightGaussians,
  spirals,
  toyDataset,
  twoMoons,
  twoPoints,
} from "../src/data/toy2d";
import { energyDistance } from "../src/metrics/distance";
import { seed } from "../src/core/random";

const rows = (x: tf.Tensor2D): number[][] => x.arraySync();

describe("toy data sets", () => {
  for (const name of TOY_DATASETS) {
    it(`${name}: shape [n, 2], finite, repeats under a seed, changes with it, leak-free`, () => {
      const before = tf.memory().numTensors;
      seed(7);
      const a = toyDataset(name, 300);
      seed(7);
      const b = toyDataset(name, 300);
      seed(8);
      const c = toyDataset(name, 300);
      expect(a.shape).toEqual([300, 2]);
      expect(a.dtype).toBe("float32");
      const av = Array.from(a.dataSync());
      expect(av.every(Number.isFinite)).toBe(true);
      expect(Array.from(b.dataSync())).toEqual(av);
      expect(Array.from(c.dataSync())).not.toEqual(av); // negative control: the seed matters
      tf.dispose([a, b, c]);
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it("twoPoints is exactly the two atoms (-2, 0) and (2, 0), about half each", () => {
    seed(1);
    const x = twoPoints(2000);
    const r = rows(x);
    const right = r.filter((p) => p[0] === 2 && p[1] === 0).length;
    const left = r.filter((p) => p[0] === -2 && p[1] === 0).length;
    expect(left + right).toBe(2000);
    // Binomial(2000, 1/2): standard deviation ~22; 4 standard deviations.
    expect(Math.abs(right - 1000)).toBeLessThan(90);
    x.dispose();
  });

  it("twoPoints: the documented pair of straight lines crosses at the same place and time", () => {
    // x0 = (-0.5, 0.2) -> (2, 0) and x0' = (0.5, 0.2) -> (-2, 0) meet at (0, 0.16) at t = 0.2.
    const line = (x0: number[], x1: number[], t: number): number[] =>
      x0.map((v, i) => t * x1[i] + (1 - t) * v);
    const p = line([-0.5, 0.2], [2, 0], 0.2);
    const q = line([0.5, 0.2], [-2, 0], 0.2);
    expect(p[0]).toBeCloseTo(0, 12);
    expect(p[1]).toBeCloseTo(0.16, 12);
    expect(q[0]).toBeCloseTo(p[0], 12);
    expect(q[1]).toBeCloseTo(p[1], 12);
    // and not at another time: the crossing is a single event.
    expect(
      Math.abs(line([-0.5, 0.2], [2, 0], 0.5)[0] - line([0.5, 0.2], [-2, 0], 0.5)[0]),
    ).toBeGreaterThan(1);
  });

  it("eightGaussians: each point is near one of the 8 centres on the circle of radius 2", () => {
    seed(2);
    const x = eightGaussians(1000, { noise: 0.05 });
    const counts = new Array(8).fill(0);
    for (const [a, b] of rows(x)) {
      const k = ((Math.round(Math.atan2(b, a) / (Math.PI / 4)) % 8) + 8) % 8;
      const cx = 2 * Math.cos((k * Math.PI) / 4);
      const cy = 2 * Math.sin((k * Math.PI) / 4);
      // Jitter 0.05 x scale 2 = 0.1 per axis: 6 standard deviations of the radial distance.
      expect(Math.hypot(a - cx, b - cy)).toBeLessThan(0.6);
      counts[k]++;
    }
    for (const c of counts) expect(c).toBeGreaterThan(70); // 125 expected, sd ~10.5
    x.dispose();
  });

  it(
    "checkerboard (noise 0): points fill only the squares with an even index sum, inside [-2, " +
      "2]^2",
    () => {
      seed(3);
      const x = checkerboard(2000);
      const squares = new Set<string>();
      for (const [a, b] of rows(x)) {
        expect(Math.abs(a)).toBeLessThanOrEqual(2);
        expect(Math.abs(b)).toBeLessThanOrEqual(2);
        const col = Math.min(3, Math.floor((a + 2) / 1));
        const row = Math.min(3, Math.floor((b + 2) / 1));
        expect((col + row) % 2).toBe(0);
        squares.add(`${col},${row}`);
      }
      expect(squares.size).toBe(8);
      x.dispose();
    },
  );

  it(
    "concentricCircles (noise 0): radii 2 and 1; spirals stay within radius 2; twoMoons " +
      "centred",
    () => {
      seed(4);
      const c = concentricCircles(500, { noise: 0 });
      for (const [a, b] of rows(c)) {
        const r = Math.hypot(a, b);
        expect(Math.min(Math.abs(r - 2), Math.abs(r - 1))).toBeLessThan(1e-5);
      }
      const s = spirals(500, { noise: 0 });
      for (const [a, b] of rows(s)) expect(Math.hypot(a, b)).toBeLessThanOrEqual(2 + 1e-5);
      const m = twoMoons(4000, { noise: 0 });
      const mean = tf.tidy(() => tf.mean(m, 0).arraySync() as number[]);
      // Unit moons are centred by construction: the sample mean is within a few standard errors of
      // 0.
      expect(Math.abs(mean[0])).toBeLessThan(0.1);
      expect(Math.abs(mean[1])).toBeLessThan(0.1);
      tf.dispose([c, s, m]);
    },
  );

  it("scale zooms the whole set, jitter included", () => {
    seed(5);
    const a = twoMoons(50, { scale: 1 });
    seed(5);
    const b = twoMoons(50, { scale: 3 });
    const ratio = tf.tidy(() => tf.max(tf.abs(tf.sub(tf.mul(a, 3), b))).dataSync()[0]);
    expect(ratio).toBeLessThan(1e-5);
    tf.dispose([a, b]);
  });

  it("rejects unknown names (listing the valid ones) and bad n, noise, scale", () => {
    // @ts-expect-error: a wrong name on purpose
    expect(() => toyDataset("moons", 10)).toThrow(
      'Unknown toy data set "moons"; choose one of twoMoons, eightGaussians, checkerboard, ' +
        "spirals, concentricCircles, twoPoints",
    );
    expect(() => twoMoons(0)).toThrow(
      "twoMoons: n must be a positive integer (the number of points); got 0",
    );
    expect(() => spirals(2.5)).toThrow("got 2.5");
    expect(() => eightGaussians(10, { noise: -1 })).toThrow(
      "eightGaussians: noise must be a finite number >= 0; got -1",
    );
    expect(() => checkerboard(10, { scale: 0 })).toThrow(
      "checkerboard: scale must be a finite number > 0; got 0",
    );
    expect(() => toyDataset("twoPoints", 10, { scale: NaN })).toThrow(
      "scale must be a finite number > 0; got NaN",
    );
  });
});

describe("energyDistance", () => {
  /** Independent float64 reference: the same formula by plain loops. */
  function reference(a: number[][], b: number[][], unbiased: boolean): number {
    const dist = (p: number[], q: number[]): number =>
      Math.sqrt(p.reduce((s, v, i) => s + (v - q[i]) ** 2, 0));
    const sum = (x: number[][], y: number[][]): number =>
      x.reduce((s, p) => s + y.reduce((t, q) => t + dist(p, q), 0), 0);
    const n = a.length;
    const m = b.length;
    return (
      (2 * sum(a, b)) / (n * m) -
      sum(a, a) / (unbiased ? n * (n - 1) : n * n) -
      sum(b, b) / (unbiased ? m * (m - 1) : m * m)
    );
  }

  it("matches a plain-loop reference, both estimators, with and without chunking", () => {
    seed(9);
    const a = tf.randomNormal([37, 3], 0, 1, "float32", 1) as tf.Tensor2D;
    const b = tf.randomNormal([23, 3], 0.5, 1.2, "float32", 2) as tf.Tensor2D;
    for (const unbiased of [false, true]) {
      const want = reference(rows(a), rows(b), unbiased);
      // float32 distances (relative error ~1e-7 each), summed in float64.
      expect(energyDistance(a, b, { unbiased })).toBeCloseTo(want, 5);
      expect(energyDistance(a, b, { unbiased, maxChunkElements: 50 })).toBeCloseTo(want, 5);
    }
    tf.dispose([a, b]);
  });

  it(
    "is 0 for identical sets (V-statistic), positive for different ones, and grows with a " +
      "shift",
    () => {
      seed(10);
      const a = tf.randomNormal([200, 2], 0, 1, "float32", 3) as tf.Tensor2D;
      const copy = tf.clone(a);
      expect(energyDistance(a, copy)).toBe(0);
      // The U-statistic is not 0 for identical sets: it drops the zero self-distances.
      expect(energyDistance(a, copy, { unbiased: true })).not.toBe(0);
      const d: number[] = [];
      for (const shift of [0.5, 1, 2]) {
        const b = tf.tidy(() =>
          tf.add(tf.randomNormal([200, 2], 0, 1, "float32", 4), tf.tensor1d([shift, 0])),
        ) as tf.Tensor2D;
        d.push(energyDistance(a, b));
        b.dispose();
      }
      expect(d[0]).toBeGreaterThan(0);
      expect(d[1]).toBeGreaterThan(d[0]);
      expect(d[2]).toBeGreaterThan(d[1]);
      tf.dispose([a, copy]);
    },
  );

  it(
    "for two large samples of one distribution is small next to a shifted one (the check can " +
      "fail)",
    () => {
      const a = tf.randomNormal([1000, 2], 0, 1, "float32", 5) as tf.Tensor2D;
      const same = tf.randomNormal([1000, 2], 0, 1, "float32", 6) as tf.Tensor2D;
      const shifted = tf.randomNormal([1000, 2], 0.5, 1, "float32", 7) as tf.Tensor2D;
      expect(energyDistance(a, same)).toBeLessThan(energyDistance(a, shifted) / 5);
      tf.dispose([a, same, shifted]);
    },
  );

  it("is leak-free and rejects mismatched or bad input", () => {
    const a = tf.ones([4, 2]) as tf.Tensor2D;
    const b = tf.zeros([5, 3]) as tf.Tensor2D;
    const c = tf.zeros([5, 2]) as tf.Tensor2D;
    const before = tf.memory().numTensors;
    energyDistance(a, c);
    energyDistance(a, c, { unbiased: true, maxChunkElements: 3 });
    expect(tf.memory().numTensors).toBe(before);
    expect(() => energyDistance(a, b)).toThrow(
      "energyDistance: b must have 2 columns (shape [n, 2]); got shape [5, 3]",
    );
    const one = tf.ones([1, 2]) as tf.Tensor2D;
    expect(() => energyDistance(one, c, { unbiased: true })).toThrow(
      "needs at least 2 samples in each set; got 1 and 5",
    );
    expect(() => energyDistance(a, c, { maxChunkElements: 0 })).toThrow(
      "maxChunkElements must be a positive integer; got 0",
    );
    tf.dispose([a, b, c, one]);
  });
});
