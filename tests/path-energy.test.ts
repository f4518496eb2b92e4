import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { randn, seed, uniform } from "../src/core/random";
import type { VelocityField } from "../src/core/notation";
import { solveOde } from "../src/solvers/ode";
import { exactW2Squared, flowStraightness, normalizedPathEnergy } from "../src/metrics/path-energy";
import { trajectoryStraightness } from "../src/metrics/straightness";

const TWO_PI = 2 * Math.PI;
/** u = c everywhere: straight lines at constant speed. */
const constantField =
  (c: [number, number]): VelocityField =>
  (x) =>
    tf.tidy(() => tf.tile(tf.tensor2d([c]), [x.shape[0], 1]) as tf.Tensor2D);
/**
 * u(x, t) = (1, 2 pi cos 2 pi t): every particle moves by (1, 0) along one period of a sine wave.
 */
const wiggle: VelocityField = (x, t) => {
  const tt = t as number;
  return tf.tidy(
    () =>
      tf.tile(tf.tensor2d([[1, TWO_PI * Math.cos(TWO_PI * tt)]]), [x.shape[0], 1]) as tf.Tensor2D,
  );
};
/**
 * u = theta J x (J the rotation by +90 degrees): uniform motion on circles, angle theta in time 1.
 */
const rotation =
  (theta: number): VelocityField =>
  (x) =>
    tf.tidy(
      () =>
        tf.matMul(
          x,
          tf.tensor2d([
            [0, theta],
            [-theta, 0],
          ]),
        ) as tf.Tensor2D,
    );

describe("flowStraightness", () => {
  it("is zero for a constant field, whose path energy and transport cost are both |c|^2", () => {
    seed(1);
    const x0 = randn([200, 2]) as tf.Tensor2D;
    const before = tf.memory().numTensors;
    const r = flowStraightness(constantField([1.5, -2]), x0);
    expect(tf.memory().numTensors).toBe(before);
    expect(x0.isDisposed).toBe(false);
    // float32 states of size ~3: x1 - x0 carries ~1e-6 of rounding, squared ~1e-12
    expect(r.straightness).toBeLessThan(1e-10);
    expect(r.pathEnergy).toBeCloseTo(6.25, 10); // u is exact; Simpson weights sum to 1
    expect(Math.abs(r.transportCost - 6.25)).toBeLessThan(1e-5);
    expect(r.perParticle).toHaveLength(200);
    expect(r.nfe).toBe(4 * 32 + 33); // RK4 on 32 steps, then one evaluation per node
    x0.dispose();
  });

  it(
    "is positive for a curved path: u = (1, 2 pi cos 2 pi t) has S = 2 pi^2, PE = 1 + 2 pi^2, C " +
      "= 1",
    () => {
      seed(2);
      const x0 = randn([50, 2]) as tf.Tensor2D;
      const r = flowStraightness(wiggle, x0);
      // Simpson on 32 intervals integrates cos^2(2 pi t) to ~1e-7 relative; RK4 ends within ~1e-6
      // of x0 + (1, 0)
      expect(Math.abs(r.straightness / (2 * Math.PI ** 2) - 1)).toBeLessThan(1e-4);
      expect(Math.abs(r.pathEnergy / (1 + 2 * Math.PI ** 2) - 1)).toBeLessThan(1e-4);
      expect(Math.abs(r.transportCost - 1)).toBeLessThan(1e-4);
      x0.dispose();
    },
  );

  it(
    "matches uniform motion on circles particle by particle: S_i = r_i^2 (theta^2 - 2 (1 - cos " +
      "theta)), and S = PE - C",
    () => {
      seed(3);
      const theta = 2;
      const x0 = randn([40, 2]) as tf.Tensor2D;
      const r2 = (x0.arraySync() as number[][]).map(([a, b]) => a * a + b * b);
      const r = flowStraightness(rotation(theta), x0, { intervals: 64 });
      r.perParticle.forEach((s, i) =>
        expect(Math.abs(s - r2[i] * (theta ** 2 - 2 * (1 - Math.cos(theta))))).toBeLessThan(
          1e-4 * (1 + r2[i]),
        ),
      );
      const meanR2 = r2.reduce((a, b) => a + b, 0) / r2.length;
      expect(r.pathEnergy / (theta ** 2 * meanR2)).toBeCloseTo(1, 4);
      // The identity of the module comment (∫ u dt = x1 - x0): exact up to quadrature and float32
      // rounding
      expect(Math.abs(r.straightness - (r.pathEnergy - r.transportCost))).toBeLessThan(1e-4);
      x0.dispose();
    },
  );

  it(
    "agrees with the polygon straightness of the same trajectories as the saved grid is " +
      "refined",
    () => {
      seed(4);
      const x0 = randn([30, 2]) as tf.Tensor2D;
      const field = rotation(1.5);
      const direct = flowStraightness(field, x0).straightness;
      const times = Array.from({ length: 257 }, (_, k) => k / 256);
      const sol = solveOde(field, x0, { method: "rk4", steps: 256, saveAt: times });
      const polygon = trajectoryStraightness(sol.trajectory!, times).straightness;
      tf.dispose(sol);
      // chords of a circle arc of angle 1.5/256 lose a relative ~(1.5/256)^2 / 12 of the speed^2
      expect(Math.abs(polygon / direct - 1)).toBeLessThan(1e-4);
      x0.dispose();
    },
  );

  it("refuses an odd number of intervals and a bad x0", () => {
    const x0 = tf.zeros([3, 2]) as tf.Tensor2D;
    expect(() => flowStraightness(constantField([1, 0]), x0, { intervals: 7 })).toThrow(
      "intervals must be an even integer >= 2",
    );
    expect(() =>
      flowStraightness(constantField([1, 0]), tf.zeros([3]) as unknown as tf.Tensor2D),
    ).toThrow("x0");
    x0.dispose();
  });
});

/** All permutations of 0..n-1. */
function permutations(n: number): number[][] {
  if (n === 1) return [[0]];
  return permutations(n - 1).flatMap((p) =>
    Array.from({ length: n }, (_, k) => [...p.slice(0, k), n - 1, ...p.slice(k)]),
  );
}

describe("exactW2Squared", () => {
  it("finds the cheapest of all 720 assignments of 6 random points", () => {
    seed(5);
    for (let trial = 0; trial < 5; trial++) {
      const a = randn([6, 2]) as tf.Tensor2D;
      const b = randn([6, 2]) as tf.Tensor2D;
      const A = a.arraySync() as number[][];
      const B = b.arraySync() as number[][];
      const cost = (p: number[]) =>
        p.reduce((s, j, i) => s + (A[i][0] - B[j][0]) ** 2 + (A[i][1] - B[j][1]) ** 2, 0) / 6;
      const best = Math.min(...permutations(6).map(cost));
      const before = tf.memory().numTensors;
      const r = exactW2Squared(a, b);
      expect(tf.memory().numTensors).toBe(before);
      expect(r.cost).toBeCloseTo(best, 12);
      expect(cost(r.assignment)).toBeCloseTo(best, 12);
      expect([...r.assignment].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5]);
      tf.dispose([a, b]);
    }
  });

  it("pairs sorted values in 1-D, and a translation costs |c|^2 (the identity is optimal)", () => {
    seed(6);
    const a = Array.from({ length: 60 }, () => [Math.sin(7 * uniform()) * 3]);
    const b = Array.from({ length: 60 }, () => [Math.cos(5 * uniform()) * 2]);
    const sa = a.map((r) => r[0]).sort((x, y) => x - y);
    const sb = b.map((r) => r[0]).sort((x, y) => x - y);
    const sorted = sa.reduce((s, v, i) => s + (v - sb[i]) ** 2, 0) / 60;
    expect(exactW2Squared(a, b).cost).toBeCloseTo(sorted, 10);
    const x = (randn([100, 2]) as tf.Tensor2D).arraySync() as number[][];
    const r = exactW2Squared(
      x,
      x.map(([p, q]) => [p + 0.3, q - 0.4]),
    );
    expect(r.cost).toBeCloseTo(0.25, 10);
    expect(r.assignment).toEqual(x.map((_, i) => i));
    // negative control: a shuffled assignment of the same sets costs much more
    const shuffled =
      x.reduce(
        (s, [p, q], i) =>
          s + (p - (x[(i + 1) % 100][0] + 0.3)) ** 2 + (q - (x[(i + 1) % 100][1] - 0.4)) ** 2,
        0,
      ) / 100;
    expect(shuffled).toBeGreaterThan(2);
  });

  it("refuses sets of different sizes or dimensions", () => {
    expect(() =>
      exactW2Squared(
        [[0, 0]],
        [
          [0, 0],
          [1, 1],
        ],
      ),
    ).toThrow("equally many points on both sides; got 1 and 2");
    expect(() => exactW2Squared([[0, 0]], [[0]])).toThrow("same dimension");
  });
});

describe("normalizedPathEnergy", () => {
  it(
    "is 0 for a constant field (a translation is optimal transport) and 2 pi^2 for the wiggling " +
      "one",
    () => {
      seed(7);
      const x0 = randn([100, 2]) as tf.Tensor2D;
      const rows = x0.arraySync() as number[][];
      const before = tf.memory().numTensors;
      const straight = normalizedPathEnergy(
        constantField([1, 0]),
        x0,
        rows.map(([p, q]) => [p + 1, q]),
      );
      expect(tf.memory().numTensors).toBe(before);
      expect(straight.w2Squared).toBeCloseTo(1, 10);
      expect(straight.npe).toBeLessThan(1e-5);
      const curved = normalizedPathEnergy(
        wiggle,
        x0,
        rows.map(([p, q]) => [p + 1, q]),
      );
      expect(Math.abs(curved.npe / (2 * Math.PI ** 2) - 1)).toBeLessThan(1e-4);
      expect(curved.flow.straightness).toBeGreaterThan(19);
      x0.dispose();
    },
  );

  it("ownW2Squared: no excess cost for a shift, a large one for a rotation", () => {
    seed(8);
    const x0 = randn([100, 2]) as tf.Tensor2D;
    const rows = x0.arraySync() as number[][];
    const data = rows.map(([p, q]) => [p + 1, q]);
    const before = tf.memory().numTensors;
    const straight = normalizedPathEnergy(constantField([1, 0]), x0, data);
    expect(tf.memory().numTensors).toBe(before);
    // A translation is optimal: the pairs (x0, x0 + c) are already the cheapest assignment.
    expect(Math.abs(straight.ownW2Squared - straight.flow.transportCost)).toBeLessThan(1e-6);
    // Rotating the Gaussian by 2 radians: straight in no sense, its coupling far from the optimal
    // one (the identity is optimal between N(0, I) and itself); PE - own = S + (C - own) holds.
    const turned = normalizedPathEnergy(rotation(2), x0, data);
    const { straightness: S, transportCost: C, pathEnergy: PE } = turned.flow;
    expect(turned.ownW2Squared).toBeLessThan(0.2 * C);
    expect(C - turned.ownW2Squared).toBeGreaterThan(1);
    expect(Math.abs(PE - turned.ownW2Squared - (S + (C - turned.ownW2Squared)))).toBeLessThan(1e-4);
    // A W2^2 given in the options is the one NPE is normalised by.
    const given = normalizedPathEnergy(constantField([1, 0]), x0, data, { w2Squared: 2 });
    expect(given.w2Squared).toBe(2);
    expect(given.npe).toBeCloseTo(0.5, 5);
    expect(() => normalizedPathEnergy(constantField([1, 0]), x0, data, { w2Squared: 0 })).toThrow(
      "w2Squared must be a positive number; got 0",
    );
    x0.dispose();
  });
});
