// The figure builders: trace shapes and exact geometry, determinism, input checks, no tensor leaks.
import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { Figure, logAxis, round, toXY } from "../src/figures/figure";
import { plotPoints } from "../src/figures/points";
import { evaluateGrid, gridPoints, plotContour, plotDensity } from "../src/figures/density";
import {
  arrowSpacing,
  autoArrowScale,
  fieldOnGrid,
  plotQuiver,
  quiverTraces,
} from "../src/figures/quiver";
import { plotTrajectories, subsetIndices } from "../src/figures/trajectories";
import { pathFrames, plotPath } from "../src/figures/path";
import { plotLoss, plotMetricVsNfe, smoothCurve, thinIndices } from "../src/figures/curves";
import { overlay, subplots } from "../src/figures/subplots";

/** Runs `fn`, disposes nothing of its own, and checks the tensor count is unchanged. */
function noLeak<T>(fn: () => T): T {
  const before = tf.memory().numTensors;
  const out = fn();
  expect(tf.memory().numTensors).toBe(before);
  return out;
}

function uids(fig: Figure): string[] {
  return fig.data.map((t) => String(t.uid));
}

const cloud = [
  [0, 0],
  [1, 2],
  [-1, 0.5],
];

describe("inputs", () => {
  it("reads [n, 2] tensors and [x, y] pairs alike", () => {
    const x = tf.tensor2d(cloud);
    expect(noLeak(() => toXY(x))).toEqual({ x: [0, 1, -1], y: [0, 2, 0.5] });
    expect(toXY(cloud)).toEqual(toXY(x));
    x.dispose();
  });
  it("says what it got for a wrong shape", () => {
    const x = tf.zeros([4, 3]);
    expect(() => toXY(x, "x1")).toThrow("x1 must have shape [n, 2]; got shape [4, 3]");
    expect(() => toXY([[1, 2, 3]] as number[][], "x1")).toThrow(
      "x1 must be [x, y] pairs (shape [n, 2]); entry 0 is [1,2,3]",
    );
    x.dispose();
  });
  it("rounds to 5 significant digits and turns non-finite values into gaps", () => {
    expect(round(0.123456789)).toBe(0.12346);
    expect(round(123456.7)).toBe(123460);
    expect(round(1e-9 * 1.23456789)).toBe(1.2346e-9);
    expect(round(NaN)).toBeNull();
    expect(round(Infinity)).toBeNull();
  });
});

describe("plotPoints", () => {
  it("draws one marker trace per cloud, axes equal, fixed uids", () => {
    const x0 = tf.tensor2d(cloud);
    const fig = noLeak(() =>
      plotPoints([
        { name: "x0", points: x0 },
        { name: "x1", points: [[3, 3]] },
      ]),
    );
    expect(fig.data.map((t) => [t.type, t.mode, t.name])).toEqual([
      ["scatter", "markers", "x0"],
      ["scatter", "markers", "x1"],
    ]);
    expect(fig.data[0].x).toEqual([0, 1, -1]);
    expect(fig.data[0].y).toEqual([0, 2, 0.5]);
    expect(uids(fig)).toEqual(["trace-0", "trace-1"]);
    expect((fig.layout.yaxis as Record<string, unknown>).scaleanchor).toBe("x");
    expect(fig.layout.showlegend).toBe(true);
    expect(x0.isDisposed).toBe(false); // the builder never disposes its inputs
    x0.dispose();
  });
  it("gives byte-identical JSON for the same input (tensor or array)", () => {
    const x = tf.tensor2d(cloud);
    expect(JSON.stringify(plotPoints(x, { title: "a" }))).toBe(
      JSON.stringify(plotPoints(cloud, { title: "a" })),
    );
    x.dispose();
  });
});

describe("densities on a grid", () => {
  it("lays the grid out row by row (y outer, x inner)", () => {
    const g = gridPoints({ xRange: [0, 1], yRange: [10, 12], nx: 3, ny: 2 });
    expect(g.x).toEqual([0, 0.5, 1]);
    expect(g.y).toEqual([10, 12]);
    expect(g.points).toEqual([
      [0, 10],
      [0.5, 10],
      [1, 10],
      [0, 12],
      [0.5, 12],
      [1, 12],
    ]);
  });
  it("evaluates a function at exactly the grid points, z[j][i] = f(x[i], y[j]), leak-free", () => {
    // f(a, b) = a + 10 b: every entry is known in closed form.
    const f = (p: tf.Tensor2D) =>
      tf.add(tf.slice(p, [0, 0], [-1, 1]), tf.mul(10, tf.slice(p, [0, 1], [-1, 1])));
    const grid = noLeak(() => evaluateGrid(f, { xRange: [-1, 1], yRange: [0, 2], nx: 5, ny: 3 }));
    expect(grid.z).toHaveLength(3);
    (grid.z as number[][]).forEach((row, j) =>
      row.forEach((v, i) => expect(v).toBeCloseTo(grid.x[i] + 10 * grid.y[j], 5)),
    );
  });
  it("rejects a function returning the wrong number of values (and frees it)", () => {
    const before = tf.memory().numTensors;
    expect(() => evaluateGrid((p) => tf.sum(p), { n: 4 })).toThrow(
      "evaluateGrid: f must return one value per point ([16] or [16, 1]); got shape []",
    );
    expect(tf.memory().numTensors).toBe(before);
  });
  it("checks the grid spec", () => {
    expect(() => gridPoints({ xRange: [1, 0] })).toThrow(
      "xRange must be [lo, hi] with lo < hi; got [1,0]",
    );
    expect(() => gridPoints({ n: 1 })).toThrow("nx must be an integer in [2, 1000]; got 1");
  });
  it("builds a heatmap and a contour from a tensor grid, fixed to the grid's extent", () => {
    const z = tf.tensor2d([
      [0, 1, 2],
      [3, 4, 5],
    ]);
    const grid = { x: [0, 1, 2], y: [0, 1], z };
    const heat = noLeak(() => plotDensity(grid));
    const cont = noLeak(() => plotContour(grid, { levels: 5, filled: true }));
    expect(heat.data[0].type).toBe("heatmap");
    expect(heat.data[0].z).toEqual([
      [0, 1, 2],
      [3, 4, 5],
    ]);
    expect((heat.layout.xaxis as Record<string, unknown>).range).toEqual([0, 2]);
    expect(cont.data[0].type).toBe("contour");
    expect(cont.data[0].ncontours).toBe(5);
    expect(() => plotDensity({ x: [0, 1], y: [0, 1], z })).toThrow(
      "grid.z must have shape [ny, nx] = [2, 2]; got [2, 3]",
    );
    z.dispose();
  });
});

describe("quiver", () => {
  it("draws a shaft and a two-stroke head with the exact geometry", () => {
    const [arrows] = quiverTraces(
      { points: [[0, 0]], vectors: [[2, 0]] },
      { scale: 0.5, spacing: 10, clip: false, tails: false },
    );
    // Drawn length 0.5 * 2 = 1; head strokes of length 0.3 turned back by ±25°.
    const c = 0.3 * Math.cos((25 * Math.PI) / 180);
    const s = 0.3 * Math.sin((25 * Math.PI) / 180);
    expect(arrows.x).toEqual([0, 1, round(1 - c), 1, round(1 - c), null]);
    expect(arrows.y).toEqual([0, 0, round(-s), 0, round(s), null]);
  });
  it("skips zero vectors and clips outliers to `clip` spacings", () => {
    const points = [
      [0, 0],
      [1, 0],
      [2, 0],
      [3, 0],
    ];
    const vectors = [
      [0, 0],
      [1, 0],
      [1, 0],
      [1000, 0],
    ];
    const spacing = arrowSpacing([0, 1, 2, 3], [0, 0, 0, 0]);
    expect(spacing).toBe(1);
    const [clipped] = quiverTraces(
      { points, vectors },
      { scale: 0.5, spacing, clip: 1.5, tails: false },
    );
    const xs = clipped.x as (number | null)[];
    expect(xs.length).toBe(3 * 6); // three arrows drawn, the zero vector skipped
    expect(xs[13]).toBe(4.5); // tip of the outlier: 3 + 1.5 spacings
    // Negative control: without clipping the outlier is drawn at full length (500).
    const [free] = quiverTraces(
      { points, vectors },
      { scale: 0.5, spacing, clip: false, tails: false },
    );
    expect((free.x as number[])[13]).toBe(503);
  });
  it("scales automatically so a typical arrow is 0.9 spacings long", () => {
    const field = noLeak(() => fieldOnGrid((x) => tf.neg(x), 0.5, { xRange: [-2, 2], n: 9 }));
    expect(field.points[0]).toEqual([-2, -2]);
    expect(field.vectors[0]).toEqual([2, 2]); // u(x) = -x, exactly
    const scale = autoArrowScale([field]);
    const speeds = field.vectors
      .map(([a, b]) => Math.hypot(a, b))
      .filter((s) => s > 0)
      .sort((a, b) => a - b);
    const p95 = speeds[Math.round(0.95 * (speeds.length - 1))];
    expect(scale * p95).toBeCloseTo(0.9 * 0.5, 10); // spacing of a 9 x 9 grid over [-2, 2]^2 is 0.5
    // Scattered points: sqrt(bounding-box area / n).
    expect(arrowSpacing([0, 4, 0, 4, 1], [0, 0, 1, 1, 0.3])).toBeCloseTo(Math.sqrt(4 / 5), 12);
    const fig = plotQuiver(field);
    expect(fig.data.map((t) => t.mode)).toEqual(["lines", "markers"]);
    expect(uids(fig)).toEqual(["trace-0", "trace-1"]);
  });
  it("checks the field's output and time", () => {
    const before = tf.memory().numTensors;
    expect(() => fieldOnGrid((x) => tf.sum(x, 1) as unknown as tf.Tensor2D, 0.5, { n: 3 })).toThrow(
      "the velocity field must return [9, 2] for [9, 2] points; got shape [9]",
    );
    expect(tf.memory().numTensors).toBe(before);
    expect(() => fieldOnGrid((x) => x, 1.2)).toThrow("t must lie in [0, 1]; got 1.2");
    expect(() =>
      plotQuiver({
        points: [[0, 0]],
        vectors: [
          [1, 1],
          [2, 2],
        ],
      }),
    ).toThrow("points and vectors must have the same shape; got [1, 2] and [2, 2]");
  });
});

describe("trajectories", () => {
  it(
    "reads [T, n, 2] tensors and lists of [n, 2] alike; one null-separated line per " + "particle",
    () => {
      const steps = [
        [
          [0, 0],
          [1, 1],
          [2, 2],
        ],
        [
          [0.5, 0],
          [1.5, 1],
          [2.5, 2],
        ],
        [
          [1, 0],
          [2, 1],
          [3, 2],
        ],
      ];
      const traj = tf.tensor3d(steps);
      const fig = noLeak(() => plotTrajectories(traj));
      expect(JSON.stringify(fig)).toBe(JSON.stringify(plotTrajectories(steps)));
      const [paths, starts, ends] = fig.data;
      expect(paths.x).toEqual([0, 0.5, 1, null, 1, 1.5, 2, null, 2, 2.5, 3, null]);
      expect(starts.x).toEqual([0, 1, 2]);
      expect(ends.x).toEqual([1, 2, 3]);
      traj.dispose();
    },
  );
  it("draws an evenly spaced subset of at most maxPaths particles", () => {
    expect(subsetIndices(10, 4)).toEqual([0, 2, 5, 7]);
    expect(subsetIndices(3, 4)).toEqual([0, 1, 2]);
    const many = [
      Array.from({ length: 500 }, (_, i) => [i, 0]),
      Array.from({ length: 500 }, (_, i) => [i, 1]),
    ];
    const fig = plotTrajectories(many, { maxPaths: 50 });
    expect((fig.data[0].x as unknown[]).length).toBe(50 * 3);
  });
  it("says which step has the wrong number of points", () => {
    expect(() =>
      plotTrajectories([
        [[0, 0]],
        [
          [0, 0],
          [1, 1],
        ],
      ]),
    ).toThrow("trajectory[1] must have 1 points like trajectory[0]; got 2");
    const bad = tf.zeros([3, 2]);
    expect(() => plotTrajectories(bad)).toThrow(
      "trajectory must have shape [T, n, 2]; got shape [3, 2]",
    );
    bad.dispose();
  });
});

describe("plotPath (t-slider animation)", () => {
  const frameAt = (t: number) => ({
    t,
    density: {
      x: [-1, 0, 1],
      y: [-1, 1],
      z: [
        [t, 1, 2],
        [3, 4, 5],
      ],
    },
    field: {
      points: [
        [-1, -1],
        [1, 1],
      ],
      vectors: [
        [1 + t, 0],
        [0, 1],
      ],
    },
    particles: [
      [t, t],
      [0, 1],
    ],
  });
  it(
    "has one frame per time, each replacing the same traces, with slider steps and fixed " +
      "ranges",
    () => {
      const fig = plotPath([0, 0.5, 1].map(frameAt), { active: 1 });
      expect(fig.frames?.map((f) => f.name)).toEqual(["t = 0", "t = 0.5", "t = 1"]);
      expect(fig.data.map((t) => t.type)).toEqual(["heatmap", "scatter", "scatter"]);
      expect(uids(fig)).toEqual(["trace-0", "trace-1", "trace-2"]);
      for (const f of fig.frames ?? []) {
        expect(f.traces).toEqual([0, 1, 2]);
        expect(f.data.map((t) => t.uid)).toEqual(["trace-0", "trace-1", "trace-2"]);
      }
      expect(fig.data[2].x).toEqual([0.5, 0]); // the active frame is shown first
      const sliders = fig.layout.sliders as { active: number; steps: { args: unknown[][] }[] }[];
      expect(sliders[0].active).toBe(1);
      expect(sliders[0].steps.map((s) => s.args[0][0])).toEqual(["t = 0", "t = 0.5", "t = 1"]);
      expect((fig.layout.xaxis as Record<string, unknown>).range).toEqual([-1, 1]);
      expect((fig.layout.xaxis as Record<string, unknown>).autorange).toBe(false);
    },
  );
  it("uses one arrow scale for all frames, so equal speeds draw equal arrows", () => {
    const fig = plotPath([0, 1].map(frameAt));
    // The second arrow, (0, 1), is the same at t = 0 and t = 1: same drawn tip.
    const tip = (k: number) => (fig.frames?.[k].data[1].y as number[])[7];
    expect(tip(0)).toBe(tip(1));
  });
  it("checks the frames", () => {
    expect(() =>
      plotPath([
        frameAt(0),
        { t: 1.5, density: frameAt(0).density, field: frameAt(0).field, particles: [[0, 0]] },
      ]),
    ).toThrow("frames[1].t must lie in [0, 1]; got 1.5");
    expect(() => plotPath([frameAt(0), { t: 0.5, particles: [[0, 0]] }])).toThrow(
      "every frame must carry the same kinds as frames[0] (density, field, particles); frames[1] " +
        "differs in density",
    );
    expect(() => plotPath([frameAt(0.5), frameAt(0.5)])).toThrow(
      "frame times must differ; t = 0.5 appears twice",
    );
  });
});

describe("pathFrames", () => {
  it("evaluates density, field and particles at each time, exactly and leak-free", () => {
    const x0 = tf.tensor2d([
      [1, 2],
      [-1, 0],
    ]);
    const frames = noLeak(() =>
      pathFrames({
        times: [0, 0.5, 1],
        density: (x, t) => tf.add(tf.sum(x, 1), t), // p(x, t) = x_a + x_b + t, known everywhere
        field: (x, t) => tf.mul(x, typeof t === "number" ? -t : 0) as tf.Tensor2D, // u = -t x
        particles: (t) => tf.mul(x0, 1 - t), // x_t = (1 - t) x0
        grid: { xRange: [0, 1], nx: 2, ny: 2 },
        arrowGrid: { xRange: [0, 1], nx: 2, ny: 2 },
        fieldTmax: 0.5,
      }),
    );
    expect(frames.map((f) => f.t)).toEqual([0, 0.5, 1]);
    expect(frames[1].density?.z).toEqual([
      [0.5, 1.5],
      [1.5, 2.5],
    ]);
    expect(frames[1].field?.vectors).toEqual([
      [-0, -0],
      [-0.5, -0],
      [-0, -0.5],
      [-0.5, -0.5],
    ]);
    // evaluated at fieldTmax = 0.5
    expect(frames[2].field?.vectors).toEqual(frames[1].field?.vectors);
    expect(frames[1].particles).toEqual([
      [0.5, 1],
      [-0.5, 0],
    ]);
    expect(plotPath(frames).frames).toHaveLength(3);
    x0.dispose();
  });
  it("takes the particles from a trajectory with one step per time", () => {
    const traj = tf.tensor3d([[[0, 0]], [[1, 1]]]);
    const frames = noLeak(() => pathFrames({ times: [0, 1], particles: traj }));
    expect(frames.map((f) => f.particles)).toEqual([[[0, 0]], [[1, 1]]]);
    expect(() => pathFrames({ times: [0, 0.5, 1], particles: traj })).toThrow(
      "particles must have one step per time (3); got 2 steps",
    );
    traj.dispose();
    expect(() => pathFrames({ times: [0, 2] })).toThrow("times[1] must lie in [0, 1]; got 2");
  });
});

describe("curves", () => {
  it("smooths with a bias-corrected moving average (a constant stays constant)", () => {
    expect(smoothCurve([2, 2, 2, 2], 0.9).map((v) => Number(v.toFixed(12)))).toEqual([2, 2, 2, 2]);
    const m = smoothCurve([1, 0], 0.5);
    expect(m[0]).toBe(1);
    expect(m[1]).toBeCloseTo(1 / 3, 12); // (0.5*0.5*1 + 0.5*0) / (1 - 0.25)
    expect(() => smoothCurve([1], 1)).toThrow("smooth must lie in [0, 1); got 1");
  });
  it("thins long curves but keeps the last step", () => {
    const idx = thinIndices(10001, 100);
    expect(idx.length).toBeLessThanOrEqual(101);
    expect(idx[0]).toBe(0);
    expect(idx[idx.length - 1]).toBe(10000);
  });
  it("plots a loss on a log axis, raw and smoothed, leaving gaps for non-positive values", () => {
    const values = tf.tensor1d([1, 0.1, 0, 0.001]);
    const fig = noLeak(() => plotLoss(values, { smooth: 0.5 }));
    expect(fig.data.map((t) => t.name)).toEqual(["loss (raw)", "loss (EMA 0.5)"]);
    expect(fig.data[0].y).toEqual([1, 0.1, null, 0.001]);
    expect(fig.data[0].x).toEqual([1, 2, 3, 4]);
    // 3 decades: label decades only
    expect(fig.layout.yaxis).toMatchObject({ type: "log", dtick: 1 });
    expect(logAxis([0.5, 1])).toMatchObject({ dtick: "D2" });
    values.dispose();
    const named = plotLoss({ "1-rectified": [1, 0.5], "2-rectified": [0.4, 0.3] }, { logY: false });
    expect(named.data.map((t) => t.name)).toEqual(["1-rectified", "2-rectified"]);
    expect((named.layout.yaxis as Record<string, unknown>).type).toBeUndefined();
  });
  it("plots a metric against NFE with ticks at the measured NFEs", () => {
    const fig = plotMetricVsNfe(
      [
        { name: "Euler", nfe: [1, 2, 4, 8], values: [0.9, 0.5, 0.26, 0.13] },
        { name: "midpoint", nfe: [2, 4, 8, 16], values: [0.3, 0.08, 0.02, 0.005] },
      ],
      { metric: "W2", logY: true },
    );
    expect(fig.data.map((t) => [t.name, t.mode])).toEqual([
      ["Euler", "lines+markers"],
      ["midpoint", "lines+markers"],
    ]);
    expect(fig.layout.xaxis).toMatchObject({ type: "log", tickvals: [1, 2, 4, 8, 16] });
    expect(() => plotMetricVsNfe([{ name: "E", nfe: [1, 2], values: [1] }])).toThrow(
      "E: nfe and values must have the same length; got 2 and 1",
    );
  });
});

describe("combining figures", () => {
  it("puts figures side by side on their own axes, keeping equal axes per panel", () => {
    const a = plotPoints(cloud, { title: "data" });
    const b = plotDensity(
      {
        x: [0, 1],
        y: [0, 1],
        z: [
          [0, 1],
          [2, 3],
        ],
      },
      { title: "density" },
    );
    const fig = subplots([a, b]);
    expect(fig.data.map((t) => [t.xaxis, t.yaxis])).toEqual([
      ["x", "y"],
      ["x2", "y2"],
    ]);
    expect(uids(fig)).toEqual(["trace-0", "trace-1"]);
    const x1 = fig.layout.xaxis as { domain: number[] };
    const x2 = fig.layout.xaxis2 as { domain: number[] };
    expect(x1.domain[1]).toBeLessThan(x2.domain[0]);
    expect((fig.layout.yaxis2 as Record<string, unknown>).scaleanchor).toBe("x2");
    expect((fig.layout.annotations as { text: string }[]).map((t) => t.text)).toEqual([
      "data",
      "density",
    ]);
    expect((fig.data[1].colorbar as { x: number }).x).toBeGreaterThan(x2.domain[1]);
  });
  it(
    "shares one colour scale and one colour bar among heatmap panels when asked, and only " +
      "then",
    () => {
      const grid = (scale: number) => ({
        x: [0, 1],
        y: [0, 1],
        z: [
          [0, scale],
          [2 * scale, 3 * scale],
        ],
      });
      const a = plotDensity(grid(1), {
        zRange: [-1, 1],
        colorscale: "RdBu",
        showScale: false,
        zTitle: "rate",
      });
      const b = plotDensity(grid(2), { zRange: [-2, 3], colorscale: "Viridis", showScale: false });
      const line = plotPoints(cloud);
      const fig = subplots([a, b, line], { sharedColorbar: true });
      const heat = fig.data.filter((t) => t.type === "heatmap");
      expect(heat.map((t) => t.coloraxis)).toEqual(["coloraxis", "coloraxis"]);
      for (const t of heat)
        for (const key of ["zmin", "zmax", "colorscale", "showscale", "colorbar"])
          expect(t[key]).toBeUndefined();
      expect(fig.data.find((t) => t.type === "scatter")!.coloraxis).toBeUndefined();
      const axis = fig.layout.coloraxis as {
        cmin: number;
        cmax: number;
        colorscale: string;
        colorbar: { x: number; title: { text: string } };
      };
      // The span of the panels' fixed ranges, the first panel's scale and title; the bar right of
      // every panel.
      expect([axis.cmin, axis.cmax, axis.colorscale, axis.colorbar.title.text]).toEqual([
        -2,
        3,
        "RdBu",
        "rate",
      ]);
      const rightmost = Math.max(
        ...[fig.layout.xaxis, fig.layout.xaxis2, fig.layout.xaxis3].map(
          (x) => (x as { domain: number[] }).domain[1],
        ),
      );
      expect(axis.colorbar.x).toBeGreaterThan(rightmost);
      // Without fixed ranges, the range spans the values; `range` and `title` override.
      const free = subplots([plotDensity(grid(1)), plotDensity(grid(2))], { sharedColorbar: true })
        .layout.coloraxis as { cmin: number; cmax: number };
      expect([free.cmin, free.cmax]).toEqual([0, 6]);
      const given = subplots([a, b], { sharedColorbar: { range: [0, 10], title: "speed" } }).layout
        .coloraxis as typeof axis;
      expect([given.cmin, given.cmax, given.colorbar.title.text]).toEqual([0, 10, "speed"]);
      // Negative control: without the option each heatmap keeps its own range and no colour axis
      // appears.
      const separate = subplots([a, b]);
      expect(separate.layout.coloraxis).toBeUndefined();
      expect(separate.data.map((t) => [t.zmin, t.zmax])).toEqual([
        [-1, 1],
        [-2, 3],
      ]);
      expect(() => subplots([line], { sharedColorbar: true })).toThrow(
        "sharedColorbar needs at least one heatmap or contour panel",
      );
      expect(() => subplots([a], { sharedColorbar: { range: [1, 1] } })).toThrow(
        "sharedColorbar.range must be [low, high] with low < high",
      );
    },
  );
  it("refuses animated figures", () => {
    const path = plotPath([
      { t: 0, particles: cloud },
      { t: 1, particles: cloud },
    ]);
    expect(() => subplots([path])).toThrow(
      "subplots cannot combine animated figures; figures[0] has 2 frames",
    );
  });
  it("overlays figures on the first one's axes, renumbering uids", () => {
    const fig = overlay(
      [
        plotDensity({
          x: [0, 1],
          y: [0, 1],
          z: [
            [0, 1],
            [2, 3],
          ],
        }),
        plotPoints(cloud),
      ],
      { title: "both" },
    );
    expect(fig.data.map((t) => t.type)).toEqual(["heatmap", "scatter"]);
    expect(uids(fig)).toEqual(["trace-0", "trace-1"]);
    expect((fig.layout.xaxis as Record<string, unknown>).range).toEqual([0, 1]);
  });
});
