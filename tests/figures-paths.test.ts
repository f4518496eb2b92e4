// The figure builders of notebooks 03 and 04 (src/figures/conditional.ts and marginal.ts): what
// each draws (traces, titles, exact values where the lecture gives them), fixed uids, the same
// JSON for the same input, no tensor left behind, and bad input refused with what was wrong.
import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import type { Figure, Trace } from "../src/figures/figure";
import {
  plotConditionalArrows,
  plotOnePointPath,
  plotSigmaMinTradeoff,
} from "../src/figures/conditional";
import {
  plotCrossings1d,
  plotCrossings2d,
  plotFieldSamples,
  plotMarginalPaths,
  plotMemorisation,
  plotPosteriorField,
} from "../src/figures/marginal";
import { FiniteSet, GaussianMixture } from "../src/targets/gaussian-mixture";

/** Runs `fn` and checks that it leaves the number of live tensors unchanged. */
function noLeak<T>(fn: () => T): T {
  const before = tf.memory().numTensors;
  const out = fn();
  expect(tf.memory().numTensors).toBe(before);
  return out;
}

const uidsOf = (fig: Figure) => fig.data.map((t) => t.uid);
const expectFixedUids = (fig: Figure) =>
  expect(uidsOf(fig)).toEqual(fig.data.map((_, i) => `trace-${i}`));
const titles = (fig: Figure) =>
  ((fig.layout.annotations as { text: string }[]) ?? []).map((a) => a.text);
const ofType = (fig: Figure, type: string) => fig.data.filter((t: Trace) => t.type === type);

describe("plotOnePointPath", () => {
  const x0 = [
    [0, 0],
    [1, -1],
    [-2, 0.5],
  ];

  it("animates p_t(x | x1), u_t(x | x1) and the particles t x1 + (1 - t) x0, a frame per t", () => {
    const fig = noLeak(() =>
      plotOnePointPath({ x1: [2, 1], x0, times: [0, 0.5, 0.9], n: 11, arrows: 5 }),
    );
    expect(fig.frames!.map((f) => f.name)).toEqual(["t = 0", "t = 0.5", "t = 0.9"]);
    expectFixedUids(fig);
    // The particles of the frame at t = 0.5 are exactly 0.5 x1 + 0.5 x0.
    const frame = fig.frames![1];
    const particles = frame.data.find((t) => t.mode === "markers" && t.type === "scatter")!;
    expect(particles.x).toEqual([1, 1.5, 0]);
    expect(particles.y).toEqual([0.5, 0, 0.75]);
    // The density of the frame at t = 0.5 peaks at its mean t x1 = (1, 0.5) ...
    const heat = frame.data.find((t) => t.type === "heatmap")!;
    const z = heat.z as number[][];
    const peak = Math.max(...z.flat());
    const j = z.findIndex((row) => row.includes(peak));
    expect([(heat.x as number[])[z[j].indexOf(peak)], (heat.y as number[])[j]]).toEqual([1, 0.5]);
    // ... with the height of N(t x1, (1 - t)^2 I) there: 1 / (2 pi 0.25).
    expect(peak).toBeCloseTo(1 / (2 * Math.PI * 0.25), 4);
  });

  it("reads the particles from a tensor (left alone) and gives the same JSON every time", () => {
    const t = tf.tensor2d(x0);
    const a = JSON.stringify(
      plotOnePointPath({ x1: [2, 1], x0: t, times: [0, 0.5], n: 7, arrows: 3 }),
    );
    const b = JSON.stringify(
      plotOnePointPath({ x1: [2, 1], x0, times: [0, 0.5], n: 7, arrows: 3 }),
    );
    expect(t.isDisposed).toBe(false);
    t.dispose();
    expect(a).toBe(b);
  });

  it("reaches t = 1 only with sigma_min > 0, and refuses bad input saying what it got", () => {
    expect(() => plotOnePointPath({ x1: [2, 1], x0, times: [0.5, 1] })).toThrow(
      /times\[1\] is 1, where p_1\(\. \| x1\) is a point mass/,
    );
    const end = noLeak(() =>
      plotOnePointPath({ x1: [2, 1], x0, times: [1], sigmaMin: 0.1, n: 7, arrows: 3 }),
    );
    expect(end.frames).toHaveLength(1);
    expect(() => plotOnePointPath({ x1: [2, 1, 0], x0, times: [0] })).toThrow(
      "x1 must be one point of the plane, [a, b] with finite numbers; got [2,1,0]",
    );
    expect(() => plotOnePointPath({ x1: [2, 1], x0, times: [] })).toThrow(
      /non-empty list of times/,
    );
    expect(() => plotOnePointPath({ x1: [2, 1], x0, times: [1.5] })).toThrow(
      /must lie in \[0, 1\]; got 1.5/,
    );
    expect(() => plotOnePointPath({ x1: [2, 1], x0, times: [0], particles: 0 })).toThrow(
      "plotOnePointPath: particles must be a positive integer; got 0",
    );
    expect(() => plotOnePointPath({ x1: [2, 1], x0: [[1, 2, 3]], times: [0] })).toThrow(
      /x0 must be \[x, y\] pairs/,
    );
  });
});

describe("plotConditionalArrows", () => {
  it("draws one panel per time whose title gives the largest speed, max |x1 - x| / (1 - t)", () => {
    const fig = noLeak(() => plotConditionalArrows({ x1: [2, 1], times: [0, 0.5, 0.9], n: 5 }));
    expectFixedUids(fig);
    // The grid spans [-2, 4] x [-2, 3] around the segment from 0 to x1; the farthest corner from x1
    // is (-2, -2), at distance 5: speeds 5, 10 and 50.
    expect(titles(fig).filter((t) => t.startsWith("t = "))).toEqual([
      "t = 0: max |u| = 5.0",
      "t = 0.5: max |u| = 10",
      "t = 0.9: max |u| = 50",
    ]);
    // The dashed circle of panel t has radius 2 (1 - t) around t x1.
    const circles = fig.data.filter((t) => t.name === "2 std of p_t");
    const c = circles[1];
    const xs = c.x as number[];
    const ys = c.y as number[];
    expect(Math.max(...xs) - Math.min(...xs)).toBeCloseTo(2, 4);
    expect((Math.max(...ys) + Math.min(...ys)) / 2).toBeCloseTo(0.5, 4);
  });

  it("refuses t = 1 (the field divides by zero there) and a point that is not in the plane", () => {
    expect(() => plotConditionalArrows({ x1: [2, 1], times: [0, 1] })).toThrow(/times\[1\] is 1/);
    expect(() => plotConditionalArrows({ x1: [NaN, 1], times: [0] })).toThrow(
      /x1 must be one point/,
    );
  });
});

describe("plotSigmaMinTradeoff", () => {
  it("draws the clouds, then blur and stiffness against sigma_min on log axes", () => {
    const fig = plotSigmaMinTradeoff({
      data: [[0, 0]],
      blurred: [{ sigmaMin: 0.1, points: [[0.1, 0]] }],
      sweep: [0.01, 0.1],
      blur: [0.014, 0.14],
      stiffness: [99, 9],
      scale: 0.1,
    });
    expectFixedUids(fig);
    const stiff = fig.data.find((t) => String(t.name).startsWith("stiffness"))!;
    expect(stiff.y).toEqual([99, 9]);
    expect(titles(fig)).toContain("the trade-off");
    expect(() =>
      plotSigmaMinTradeoff({
        data: [],
        blurred: [],
        sweep: [0.1],
        blur: [1],
        stiffness: [1],
        scale: 1,
      }),
    ).toThrow(
      "sweep, blur and stiffness must be lists of the same length (at least 2); got 1, 1 and 1",
    );
  });
});

describe("the marginal path and field", () => {
  const two = new FiniteSet([
    [-2, 0],
    [2, 0],
  ]);
  const mixture = new GaussianMixture({ means: [[0, 0]], stds: 0.5 });

  it("plotMarginalPaths: a row per data set, its times, then the data (points or density)", () => {
    const fig = noLeak(() =>
      plotMarginalPaths(
        [
          { name: "two", target: two },
          { name: "blob", target: mixture },
        ],
        { times: [0, 0.5], n: 9 },
      ),
    );
    expectFixedUids(fig);
    expect(titles(fig)).toEqual(
      expect.arrayContaining(["two, t = 0", "two, t = 0.5", "two: p_1 = data", "blob: p_1 = data"]),
    );
    expect(ofType(fig, "heatmap")).toHaveLength(5); // 2 + 2 densities, and the blob's p_1
    const data = fig.data.find((t) => t.name === "data")!;
    expect([data.x, data.y]).toEqual([
      [-2, 2],
      [0, 0],
    ]);
    // At t = 0 every marginal path is N(0, I): the centre of the grid has density 1 / (2 pi).
    const first = ofType(fig, "heatmap")[0].z as number[][];
    expect(first[4][4]).toBeCloseTo(1 / (2 * Math.PI), 4);
    expect(() => plotMarginalPaths([{ name: "two", target: two }], { times: [0.5, 1] })).toThrow(
      "plotMarginalPaths: times must lie below 1 (the last column shows p_1 = the data); got 1",
    );
    expect(() => plotMarginalPaths([{ name: "x", target: {} as never }])).toThrow(
      "plotMarginalPaths: rows[0].target must be a FiniteSet or a GaussianMixture; got object",
    );
  });

  it("plotPosteriorField: a component's weight is the two-point sigmoid; 'max' the largest", () => {
    const fig = noLeak(() => plotPosteriorField(two, { times: [0.5], show: 1, n: 5, arrows: 3 }));
    expectFixedUids(fig);
    const heat = ofType(fig, "heatmap")[0];
    const x = heat.x as number[];
    const z = heat.z as number[][];
    const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
    // p(x1 = (2, 0) | x) = sigmoid(4 t x^(1) / (1 - t)^2), whatever x^(2) is.
    x.forEach((xi, i) => expect(z[2][i]).toBeCloseTo(sigmoid((4 * 0.5 * xi) / 0.25), 4));
    const max = ofType(plotPosteriorField(two, { times: [0.5], n: 5, arrows: 3 }), "heatmap")[0]
      .z as number[][];
    x.forEach((_, i) => expect(max[0][i]).toBeCloseTo(Math.max(z[0][i], 1 - z[0][i]), 4));
    // With `centres`, the red marks sit at t x1.
    const centres = plotPosteriorField(two, { times: [0.25], centres: true, n: 5, arrows: 3 });
    const marks = centres.data.find((t) => t.name === "t x1")!;
    expect(marks.x).toEqual([-0.5, 0.5]);
    expect(() => plotPosteriorField(two, { times: [0.5], show: 2 })).toThrow(
      'plotPosteriorField: show must be "max" or a component index in [0, 1]; got 2',
    );
    expect(() => plotPosteriorField(two, { times: [1] })).toThrow(/t = 1/);
  });

  it("plotMemorisation: the training points under both clouds, at most `max` per cloud", () => {
    const fig = plotMemorisation({
      training: [[0, 0]],
      samples: [
        [0, 0],
        [0.001, 0],
      ],
      fresh: [[0.3, 0.2]],
      max: 1,
    });
    expectFixedUids(fig);
    expect(fig.data.filter((t) => t.name === "training points")).toHaveLength(2);
    expect(fig.data.find((t) => t.name === "exact field's samples")!.x).toEqual([0]);
    expect(() =>
      plotMemorisation({ training: [[0, 0]], samples: [[0]], fresh: [] } as never),
    ).toThrow(/samples must be \[x, y\] pairs/);
  });

  it("plotCrossings1d: lines grouped by destination, trajectories in one series", () => {
    const times = [0, 1];
    const lines = [
      [[-1], [1]],
      [[2], [-2]],
    ];
    const fig = plotCrossings1d({ times, lines, destinations: [2, -2], trajectories: lines });
    expectFixedUids(fig);
    expect(fig.data.map((t) => t.name)).toEqual(["line to 2", "line to -2", "marginal trajectory"]);
    expect(fig.data[0].y).toEqual([-1, 2]);
    expect(fig.data[1].y).toEqual([1, -2]);
    expect(() => plotCrossings1d({ times, lines, destinations: [2], trajectories: lines })).toThrow(
      "plotCrossings1d: destinations must have one entry per line (2); got 1",
    );
    expect(() =>
      plotCrossings1d({ times: [0], lines, destinations: [2, -2], trajectories: lines }),
    ).toThrow("plotCrossings1d: lines must have one state per time (1); got 2");
  });

  it("plotCrossings2d and plotFieldSamples: highlights, the meeting point, the ends", () => {
    const lines = [
      [
        [0, 0],
        [1, 1],
      ],
      [
        [1, 1],
        [0, 0],
      ],
    ];
    const fig = plotCrossings2d({
      lines,
      trajectories: lines,
      highlight: [1],
      meeting: { point: [0.5, 0.5], label: "meet" },
    });
    expectFixedUids(fig);
    expect(fig.data.find((t) => t.name === "meet")!.x).toEqual([0.5]);
    expect(() => plotCrossings2d({ lines, trajectories: lines, highlight: [2] })).toThrow(
      "plotCrossings2d: highlight[0] must be a particle index in [0, 1]; got 2",
    );
    const samples = noLeak(() =>
      plotFieldSamples({ target: mixture, trajectories: lines, fresh: [[0, 0]] }),
    );
    expectFixedUids(samples);
    // the last state of the trajectories
    expect(samples.data.find((t) => t.name === "pushed noise x_1")!.x).toEqual([1, 0]);
    expect(() => plotFieldSamples({ target: two, trajectories: lines, fresh: [[0, 0]] })).toThrow(
      "plotFieldSamples: target must have a density at t = 1 (a GaussianMixture)",
    );
  });
});
