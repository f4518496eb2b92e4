import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { pathsAgainstTime } from "../src/figures/timelines";
import { plotLines } from "../src/figures/lines";

describe("pathsAgainstTime", () => {
  it("joins the particles' curves into one series, a gap between particles", () => {
    const traj = [
      [[0], [1]],
      [[0.5], [0.5]],
      [[1], [0]],
    ];
    expect(pathsAgainstTime(traj, [0, 0.5, 1])).toEqual({
      x: [0, 0.5, 1, NaN, 0, 0.5, 1],
      y: [0, 0.5, 1, NaN, 1, 0.5, 0],
    });
  });

  it("draws the chosen coordinate of the chosen particles, from a tensor (left alone)", () => {
    const traj = tf.tensor3d([
      [
        [0, 10],
        [1, 11],
        [2, 12],
      ],
      [
        [3, 13],
        [4, 14],
        [5, 15],
      ],
    ]);
    const before = tf.memory().numTensors;
    expect(pathsAgainstTime(traj, [0, 1], { coordinate: 1, particles: [2, 0] })).toEqual({
      x: [0, 1, NaN, 0, 1],
      y: [12, 15, NaN, 10, 13],
    });
    expect(tf.memory().numTensors).toBe(before);
    traj.dispose();
  });

  it("becomes one plotly trace with breaks (null) between particles", () => {
    const fig = plotLines([
      {
        name: "paths",
        ...pathsAgainstTime(
          [
            [[0], [1]],
            [[1], [0]],
          ],
          [0, 1],
        ),
      },
    ]);
    expect(fig.data).toHaveLength(1);
    expect(fig.data[0].x).toEqual([0, 1, null, 0, 1]);
    expect(fig.data[0].y).toEqual([0, 1, null, 1, 0]);
  });

  it("says what is wrong with its input", () => {
    expect(() => pathsAgainstTime([[[0]], [[1]]], [0])).toThrow(
      "pathsAgainstTime: times must have one entry per saved state (2); got 1",
    );
    expect(() => pathsAgainstTime([[[0]]], [0], { coordinate: 1 })).toThrow(
      "pathsAgainstTime: coordinate must be an integer in [0, 0]; got 1",
    );
    expect(() => pathsAgainstTime([[[0]]], [0], { particles: [1] })).toThrow(
      "pathsAgainstTime: particles[0] must be an index in [0, 0]; got 1",
    );
  });
});
