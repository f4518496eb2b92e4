import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { gridLines, plotLines, plotWarpedGrid } from "../src/figures/lines";

describe("plotLines", () => {
  it("draws one named scatter trace per series, with the given values", () => {
    const fig = plotLines(
      [
        { name: "zero", x: [0, 0.5, 1], y: [0, 0, 0] },
        { name: "parabola", x: [0, 0.5, 1], y: [0, 0.0625, 0.25], dash: "dash", markers: true },
      ],
      { xTitle: "t", yTitle: "x_t", title: "two solutions" },
    );
    expect(fig.data.map((t) => t.name)).toEqual(["zero", "parabola"]);
    expect(fig.data[1].y).toEqual([0, 0.0625, 0.25]);
    expect(fig.data[1].mode).toBe("lines+markers");
    expect((fig.data[1].line as { dash: string }).dash).toBe("dash");
    expect(fig.layout.showlegend).toBe(true);
    expect(fig.data.map((t) => t.uid)).toEqual(["trace-0", "trace-1"]);
  });

  it("reads tensors, sets log axes and fixed ranges", () => {
    const x = tf.tensor1d([1, 10, 100]);
    const fig = plotLines([{ name: "err", x, y: [1, 0.1, 0.01] }], {
      logX: true,
      logY: true,
      yRange: [-3, 0],
    });
    x.dispose();
    expect(fig.data[0].x).toEqual([1, 10, 100]);
    expect((fig.layout.xaxis as { type: string }).type).toBe("log");
    expect((fig.layout.yaxis as { range: number[] }).range).toEqual([-3, 0]);
    expect(fig.layout.showlegend).toBe(false);
  });

  it("is deterministic (same inputs, same JSON)", () => {
    const make = () => JSON.stringify(plotLines([{ name: "a", x: [0, 1], y: [1 / 3, 2 / 3] }]));
    expect(make()).toBe(make());
  });

  it("says what is wrong with its input", () => {
    expect(() => plotLines([])).toThrow(/non-empty list/);
    expect(() => plotLines([{ name: "a", x: [0, 1], y: [0] }])).toThrow(
      "a: x and y must have the same length; got 2 and 1",
    );
  });
});

describe("gridLines and plotWarpedGrid", () => {
  it("lays `lines` horizontal then `lines` vertical lines of `resolution` points", () => {
    const g = gridLines({ xRange: [-1, 1], lines: 3, resolution: 5 });
    expect(g.points.length).toBe(30);
    expect(g.lines.length).toBe(6);
    expect(g.horizontal).toBe(3);
    // the first line is the bottom one, left to right; the first vertical line is the left one,
    // bottom to top
    expect(g.lines[0].map((i) => g.points[i])).toEqual([
      [-1, -1],
      [-0.5, -1],
      [0, -1],
      [0.5, -1],
      [1, -1],
    ]);
    expect(g.lines[3].map((i) => g.points[i])).toEqual([
      [-1, -1],
      [-1, -0.5],
      [-1, 0],
      [-1, 0.5],
      [-1, 1],
    ]);
  });

  it("the identity map draws the straight grid; a moved grid draws the moved points", () => {
    const g = gridLines({ lines: 2, resolution: 2, xRange: [0, 1] });
    const still = plotWarpedGrid(g.points, g);
    expect(still.data.length).toBe(2);
    // horizontal lines: (0,0)-(1,0), gap, (0,1)-(1,1), gap
    expect(still.data[0].x).toEqual([0, 1, null, 0, 1, null]);
    expect(still.data[0].y).toEqual([0, 0, null, 1, 1, null]);
    const moved = tf.tidy(() => tf.add(tf.tensor2d(g.points), tf.tensor2d([[10, 20]])));
    const shifted = plotWarpedGrid(moved, g, { xRange: [9, 12], yRange: [19, 22] });
    moved.dispose();
    expect(shifted.data[1].x).toEqual([10, 10, null, 11, 11, null]);
    expect(shifted.data[1].y).toEqual([20, 21, null, 20, 21, null]);
    expect((shifted.layout.xaxis as { range: number[] }).range).toEqual([9, 12]);
  });

  it("refuses points that are not the grid's (negative control)", () => {
    const g = gridLines({ lines: 2, resolution: 2 });
    expect(() => plotWarpedGrid([[0, 0]], g)).toThrow(
      "points must be the grid's 8 points moved (same order); got 1 points",
    );
    expect(() => gridLines({ lines: 1 })).toThrow("lines must be an integer in [2, 200]; got 1");
    expect(() => gridLines({ xRange: [1, 0] })).toThrow(/xRange must be \[lo, hi\]/);
  });
});
