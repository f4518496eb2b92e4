import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { nearestPoints, pointSpacing } from "../src/metrics/nearest";
import { seed, uniform } from "../src/core/random";

describe("nearestPoints", () => {
  it("finds the nearest reference point and its distance (a small exact case)", () => {
    expect(
      nearestPoints(
        [
          [0.1, 0],
          [3, 4],
          [0, -2],
        ],
        [
          [0, 0],
          [3, 3],
        ],
      ),
    ).toEqual({ distance: [0.1, 1, 2], index: [0, 1, 0] });
  });

  it(
    "on an integer lattice, a point moved by less than 1/2 finds its lattice point at exactly " +
      "the offset's length",
    () => {
      seed(4);
      const lattice: number[][] = [];
      for (let i = -3; i <= 3; i++) for (let j = -3; j <= 3; j++) lattice.push([i, j]);
      const offsets = lattice.map(() => [
        (0.49 * (2 * uniform() - 1)) / Math.SQRT2,
        (0.49 * (2 * uniform() - 1)) / Math.SQRT2,
      ]);
      const moved = lattice.map((p, k) => [p[0] + offsets[k][0], p[1] + offsets[k][1]]);
      const r = nearestPoints(moved, lattice);
      expect(r.index).toEqual(lattice.map((_, k) => k));
      r.distance.forEach((v, k) =>
        expect(v).toBeCloseTo(Math.hypot(offsets[k][0], offsets[k][1]), 12),
      );
    },
  );

  it(
    "resolves tiny distances next to large coordinates (which the float32 expansion |a|^2 - 2ab " +
      "+ |b|^2 cannot)",
    () => {
      const ref = tf.tensor2d([[1000, -1000]]);
      const x = tf.tensor2d([[1000, -1000 + 0.0625]]); // exactly representable in float32
      expect(nearestPoints(x, ref).distance[0]).toBe(0.0625);
      // Negative control: the expanded form in float32 loses the answer entirely (|a|^2 ~ 2e6, eps
      // ~ 0.25 there).
      const expanded = tf.tidy(
        () =>
          tf
            .sqrt(
              tf.relu(
                tf.add(
                  tf.sub(tf.sum(tf.square(x)), tf.mul(2, tf.sum(tf.mul(x, ref)))),
                  tf.sum(tf.square(ref)),
                ),
              ),
            )
            .dataSync()[0],
      );
      expect(Math.abs(expanded - 0.0625)).toBeGreaterThan(0.01);
      tf.dispose([ref, x]);
    },
  );

  it("reads tensors without disposing them and creates none", () => {
    const x = tf.tensor2d([
      [0, 0],
      [2, 2],
    ]);
    const ref = tf.tensor2d([[1, 1]]);
    const before = tf.memory().numTensors;
    const r = nearestPoints(x, ref);
    expect(tf.memory().numTensors).toBe(before);
    expect(r.index).toEqual([0, 0]);
    r.distance.forEach((v) => expect(v).toBeCloseTo(Math.SQRT2, 6));
    expect(x.isDisposed || ref.isDisposed).toBe(false);
    tf.dispose([x, ref]);
  });

  it("says what is wrong with its input", () => {
    expect(() => nearestPoints([[0, 0]], [[0, 0, 0]])).toThrow(
      "nearestPoints: x and reference must have the same dimension; got 2 and 3",
    );
    expect(() => nearestPoints([], [[0]])).toThrow(
      "nearestPoints: x must hold at least one point; got none",
    );
    expect(() => nearestPoints([[0, 1], [2]], [[0, 0]])).toThrow(
      "nearestPoints: every point of x must have 2 coordinates; point 1 has 1",
    );
    expect(() => nearestPoints([[0, Infinity]], [[0, 0]])).toThrow(
      "nearestPoints: x must be finite; point 0 has Infinity",
    );
  });
});

describe("pointSpacing", () => {
  it("is the distance to the nearest other point", () => {
    expect(
      pointSpacing([
        [0, 0],
        [1, 0],
        [3, 0],
      ]),
    ).toEqual([1, 1, 2]);
    // a duplicated point has spacing 0 (a copy), the others are unaffected
    expect(pointSpacing([[0], [0], [5]])).toEqual([0, 0, 5]);
  });

  it("says what is wrong with its input", () => {
    expect(() => pointSpacing([[1, 2]])).toThrow("pointSpacing: needs at least 2 points; got 1");
  });
});
