import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { trajectoryStraightness } from "../src/metrics/straightness";

/** States x_t = f(t) of one particle at the given times, as a [T + 1, 1, d] list. */
function states(f: (t: number) => number[], times: number[]): number[][][] {
  return times.map((t) => [f(t)]);
}
const uniform = (N: number): number[] => Array.from({ length: N + 1 }, (_, k) => k / N);

describe("trajectoryStraightness", () => {
  it("is zero for straight lines walked at constant speed, on any time grid", () => {
    const times = [0, 0.1, 0.35, 0.5, 0.9, 1];
    const x0 = [
      [-1, 2],
      [0.5, 0.5],
      [3, -2],
    ];
    const x1 = [
      [2, 1],
      [2, 1],
      [-1, 0],
    ];
    const traj = times.map((t) => x0.map((p, i) => p.map((v, j) => (1 - t) * v + t * x1[i][j])));
    const s = trajectoryStraightness(traj, times);
    expect(s.straightness).toBeLessThan(1e-28);
    expect(s.maxChordGap).toBeLessThan(1e-14);
    expect(s.perParticle).toHaveLength(3);
  });

  it(
    "measures a change of speed along a straight line: x_t = t^2 gives sum_k dt (t_k + t_{k+1} " +
      "- 1)^2, tending to 1/3",
    () => {
      for (const N of [2, 10, 1000]) {
        const times = uniform(N);
        const expected = times
          .slice(0, -1)
          .reduce((s, t, k) => s + (1 / N) * (t + times[k + 1] - 1) ** 2, 0);
        const s = trajectoryStraightness(
          states((t) => [t * t], times),
          times,
        );
        expect(s.straightness).toBeCloseTo(expected, 12);
        // |t^2 - t| is largest at t = 1/2
        if (N % 2 === 0) expect(s.maxChordGap).toBeCloseTo(0.25, 12);
      }
      const fine = trajectoryStraightness(
        states((t) => [t * t], uniform(1000)),
        uniform(1000),
      ).straightness;
      expect(Math.abs(fine - 1 / 3)).toBeLessThan(1e-6); // the polygon's error is O(1 / N^2)
    },
  );

  it(
    "measures curvature: uniform motion on a circular arc of angle theta gives (2 r N sin(theta " +
      "/ 2N))^2 - 2 r^2 (1 - cos theta)",
    () => {
      const r = 1.5;
      const theta = Math.PI / 2;
      for (const N of [4, 16, 64]) {
        const times = uniform(N);
        const s = trajectoryStraightness(
          states((t) => [r * Math.cos(theta * t), r * Math.sin(theta * t)], times),
          times,
        );
        const expected =
          (2 * r * N * Math.sin(theta / (2 * N))) ** 2 - 2 * r * r * (1 - Math.cos(theta));
        expect(s.straightness).toBeCloseTo(expected, 10);
      }
      // the continuous limit r^2 theta^2 - |chord|^2 > 0: a curved path is never "straight"
      // (negative control)
      const limit = r * r * theta * theta - 2 * r * r * (1 - Math.cos(theta));
      expect(limit).toBeGreaterThan(0.5);
    },
  );

  it(
    "accepts a [T + 1, n, d] tensor without disposing it or leaking, and uses the time " + "span",
    () => {
      // x_t = t^2 on [0, 2] saved at 0, 1, 2: chords 1 and 3, average velocity 2: S = (1 * 1 + 1 *
      // 1) / 2 = 1
      const traj = tf.tensor3d([[[0]], [[1]], [[4]]]);
      const before = tf.memory().numTensors;
      const s = trajectoryStraightness(traj as tf.Tensor3D, [0, 1, 2]);
      expect(tf.memory().numTensors).toBe(before);
      expect(traj.isDisposed).toBe(false);
      expect(s.straightness).toBeCloseTo(1, 12);
      expect(s.maxChordGap).toBeCloseTo(1, 12); // at t = 1: 1 against the chord's 2
      traj.dispose();
    },
  );

  it("refuses mismatched times, non-increasing times and ragged states", () => {
    expect(() => trajectoryStraightness([[[0]], [[1]]], [0])).toThrow(
      "one entry per saved state (2); got 1",
    );
    expect(() => trajectoryStraightness([[[0]], [[1]]], [0, 0])).toThrow(
      "times must increase strictly; got 0 then 0",
    );
    expect(() => trajectoryStraightness([[[0]]], [0])).toThrow("at least 2 saved states");
    expect(() => trajectoryStraightness([[[0], [1]], [[1]]], [0, 1])).toThrow(
      "state 1 must have 2 points",
    );
    expect(() => trajectoryStraightness([[[0]], [[NaN]]], [0, 1])).toThrow("not finite");
  });
});
