import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { closestApproach, countOrderSwaps } from "../src/metrics/crossings";
import { FiniteSet } from "../src/targets/gaussian-mixture";
import { solveOde } from "../src/solvers/ode";
import { normal, randint, seed } from "../src/core/random";

/** States of straight lines x_t = (1 - t) x0 + t x1 at the given times, [T][n][d]. */
function lines(x0: number[][], x1: number[][], times: number[]): number[][][] {
  return times.map((t) => x0.map((p, i) => p.map((v, j) => (1 - t) * v + t * x1[i][j])));
}
const grid = (N: number): number[] => Array.from({ length: N + 1 }, (_, k) => k / N);

describe("countOrderSwaps", () => {
  it(
    "counts exactly the discordant pairs of straight lines (the pairs that cross), on any time " +
      "grid",
    () => {
      seed(1);
      const n = 60;
      const x0 = Array.from({ length: n }, () => [normal()]);
      const x1 = Array.from({ length: n }, () => [
        randint(2) === 0 ? -2 + 0.01 * normal() : 2 + 0.01 * normal(),
      ]);
      // Independent count: straight lines cross (once) exactly when their order at t = 1 differs
      // from t = 0.
      let discordant = 0;
      for (let i = 0; i < n; i++)
        for (let j = i + 1; j < n; j++)
          if (Math.sign(x0[i][0] - x0[j][0]) !== Math.sign(x1[i][0] - x1[j][0])) discordant++;
      expect(discordant).toBeGreaterThan(100); // the random pairing really does cross
      for (const times of [[0, 1], grid(7), grid(100)]) {
        const r = countOrderSwaps(lines(x0, x1, times));
        expect(r).toEqual({
          swaps: discordant,
          crossingPairs: discordant,
          ties: 0,
          pairs: (n * (n - 1)) / 2,
        });
      }
    },
  );

  it(
    "counts a pair that crosses twice as two swaps but one crossing pair (saved finely " +
      "enough)",
    () => {
      const times = grid(200);
      // x = sin(2 pi t) against 0.1: above from t ~ 0.016 to ~0.484, so two crossings, starting
      // below.
      const traj = times.map((t) => [[Math.sin(2 * Math.PI * t)], [0.1]]);
      expect(countOrderSwaps(traj)).toEqual({ swaps: 2, crossingPairs: 1, ties: 0, pairs: 1 });
      // Negative control of the resolution caveat: saved only at 0 and 1, the two crossings cancel
      // out.
      expect(countOrderSwaps([traj[0], traj[200]]).swaps).toBe(0);
    },
  );

  it(
    "steps over a tie: '+, 0, -' is one flip and one tie; touching ('+, 0, +') is a tie and no " +
      "flip",
    () => {
      expect(
        countOrderSwaps([
          [[1], [0]],
          [[0], [0]],
          [[-1], [0]],
        ]),
      ).toEqual({ swaps: 1, crossingPairs: 1, ties: 1, pairs: 1 });
      expect(
        countOrderSwaps([
          [[1], [0]],
          [[0], [0]],
          [[1], [0]],
        ]),
      ).toEqual({ swaps: 0, crossingPairs: 0, ties: 1, pairs: 1 });
    },
  );

  it("reads the chosen coordinate of a tensor, and leaves the tensor alone", () => {
    // coordinate 0 keeps the order, coordinate 1 swaps it
    const traj = tf.tensor3d([
      [
        [0, 0],
        [1, 1],
      ],
      [
        [0.5, 1],
        [1.5, 0],
      ],
    ]);
    const before = tf.memory().numTensors;
    expect(countOrderSwaps(traj).swaps).toBe(0);
    expect(countOrderSwaps(traj, { coordinate: 1 }).swaps).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
    expect(traj.isDisposed).toBe(false);
    traj.dispose();
  });

  it(
    "the marginal field's trajectories of a 1-D two-point set keep their order; the conditional " +
      "lines from the same starts do not",
    () => {
      seed(2);
      const set = new FiniteSet([[-2], [2]]);
      const n = 40;
      const starts = Array.from({ length: n }, () => [normal()]);
      const x0 = tf.tensor2d(starts);
      const times = grid(50).map((t) => 0.99 * t);
      const sol = solveOde(set.field(), x0, { method: "rk4", steps: 100, t1: 0.99, saveAt: times });
      const marginal = countOrderSwaps(sol.trajectory!);
      expect(marginal.swaps).toBe(0);
      expect(marginal.ties).toBe(0);
      // Negative control: the training pairs (each start with a random end point) cross.
      const ends = starts.map(() => [randint(2) === 0 ? -2 : 2]);
      expect(countOrderSwaps(lines(starts, ends, times)).crossingPairs).toBeGreaterThan(50);
      tf.dispose([x0, sol]);
    },
  );

  it("says what is wrong with its input", () => {
    expect(() => countOrderSwaps([])).toThrow(
      "countOrderSwaps: needs at least one saved state; got 0",
    );
    expect(() => countOrderSwaps([[[0]], [[0], [1]]])).toThrow(
      "countOrderSwaps: state 1 must have 1 points like state 0; got 2",
    );
    expect(() => countOrderSwaps([[[0], [NaN]]])).toThrow(
      "countOrderSwaps: state 0, point 1 is not finite: NaN",
    );
    expect(() => countOrderSwaps([[[0], [1]]], { coordinate: 1 })).toThrow(
      "countOrderSwaps: coordinate must be an integer in [0, 0]; got 1",
    );
    const flat = tf.zeros([2, 2]);
    expect(() => countOrderSwaps(flat as unknown as tf.Tensor3D)).toThrow(
      "countOrderSwaps: trajectory must have shape [T, n, d]; got shape [2, 2]",
    );
    flat.dispose();
  });
});

describe("closestApproach", () => {
  it(
    "finds the meeting of two crossing lines: distance |5 t - 1| at every time, zero at t = " +
      "0.2",
    () => {
      // x0 = (-0.5, 0.2) -> (2, 0) and x0' = (0.5, 0.2) -> (-2, 0): difference (-1 + 5 t, 0).
      const times = grid(10);
      const r = closestApproach(
        lines(
          [
            [-0.5, 0.2],
            [0.5, 0.2],
          ],
          [
            [2, 0],
            [-2, 0],
          ],
          times,
        ),
      );
      r.perTime.forEach((v, k) => expect(v).toBeCloseTo(Math.abs(5 * times[k] - 1), 12));
      expect(r.timeIndex).toBe(2);
      expect(r.distance).toBeLessThan(1e-15);
      expect(r.pair).toEqual([0, 1]);
    },
  );

  it("takes the smallest distance over all pairs at each time", () => {
    // at t0: distances 3, 4, 5 (a 3-4-5 triangle); at t1: the first two points are 1 apart
    const r = closestApproach([
      [
        [0, 0],
        [3, 0],
        [0, 4],
      ],
      [
        [0, 0],
        [0, 1],
        [10, 10],
      ],
    ]);
    expect(r.perTime).toEqual([3, 1]);
    expect(r).toMatchObject({ distance: 1, timeIndex: 1, pair: [0, 1] });
  });

  it(
    "stays well away from zero for the marginal field's trajectories of the two-point set; the " +
      "training lines meet (negative control)",
    () => {
      seed(3);
      const set = new FiniteSet([
        [-2, 0],
        [2, 0],
      ]);
      // the two crossing training lines of the example above, plus 20 random starts
      const starts = [
        [-0.5, 0.2],
        [0.5, 0.2],
        ...Array.from({ length: 20 }, () => [normal(), normal()]),
      ];
      const times = grid(40).map((t) => 0.9 * t);
      const x0 = tf.tensor2d(starts);
      const sol = solveOde(set.field(), x0, { method: "rk4", steps: 90, t1: 0.9, saveAt: times });
      const marginal = closestApproach(sol.trajectory!);
      // A flow map is invertible: distances can shrink (the field is contracting near each point)
      // but never reach 0.
      expect(marginal.distance).toBeGreaterThan(0.01 * marginal.perTime[0]);
      const training = closestApproach(
        lines(
          starts,
          starts.map((p, i) => (i === 0 ? [2, 0] : i === 1 ? [-2, 0] : [p[0] < 0 ? -2 : 2, 0])),
          grid(10),
        ),
      );
      expect(training.distance).toBeLessThan(1e-12);
      expect(training.pair).toEqual([0, 1]);
      tf.dispose([x0, sol]);
    },
  );

  it("says what is wrong with its input", () => {
    expect(() => closestApproach([[[0, 0]]])).toThrow(
      "closestApproach: needs at least 2 particles; got 1",
    );
    expect(() => closestApproach([[[0, 0], [1]]])).toThrow(
      "closestApproach: point 1 of state 0 must have 2 coordinates",
    );
    expect(() => closestApproach(null as unknown as number[][][])).toThrow(
      "closestApproach: trajectory must be a [T, n, d] tensor or a list of [n, d] states; got null",
    );
  });
});
