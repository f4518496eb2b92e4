// The figure builders of notebooks 1 and 2 (src/figures/flows.ts, src/figures/continuity.ts), and
// the
// two small library helpers they brought: energyRatio (src/metrics/twoSample.ts) and
// continuityCheck
// (src/field/continuity.ts). Structure, fixed uids, determinism, no leaked tensor, bad input.
import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import {
  plotEulerPolygons,
  plotFieldAtTimes,
  plotFlowMaps,
  plotNoiseAndData,
  plotPathSnapshots,
  plotSqrtSolutions,
  plotStepErrors,
  plotVelocityAndScore,
} from "../src/figures/flows";
import {
  plotContinuityTerms,
  plotDivergence1d,
  plotDivergenceMaps,
  plotFluxTest,
  plotLikelihoodCost,
  plotLikelihoodScatter,
} from "../src/figures/continuity";
import { gridLines } from "../src/figures/lines";
import type { Figure } from "../src/figures/figure";
import { rotatingGaussianFlow, straightGaussianFlow } from "../src/examples/linearFlows";
import { GaussianMixture } from "../src/targets/gaussian-mixture";
import { energyRatio } from "../src/metrics/twoSample";
import { continuityCheck, grid2d } from "../src/field/continuity";
import { randn, seed } from "../src/core/random";

/** Runs `make` twice: no tensor may be left behind, and the JSON must be the same both times. */
function pure(make: () => Figure): Figure {
  const before = tf.memory().numTensors;
  const a = make();
  const b = make();
  expect(tf.memory().numTensors).toBe(before);
  expect(JSON.stringify(a)).toBe(JSON.stringify(b));
  expect(a.data.map((t) => t.uid)).toEqual(a.data.map((_, i) => `trace-${i}`));
  return a;
}
const titles = (f: Figure) =>
  ((f.layout.annotations ?? []) as { text: string }[]).map((a) => a.text);

describe("notebook 1's builders", () => {
  const straight = straightGaussianFlow();
  const cloud = [
    [0, 0],
    [1, 1],
    [2, -1],
  ];

  it("plotNoiseAndData: two panels, noise then data, named", () => {
    const fig = pure(() => plotNoiseAndData(cloud, cloud, { dataName: "two moons" }));
    expect(fig.data.map((t) => t.name)).toEqual(["x0 ~ p_0", "x1 ~ p_1"]);
    expect(titles(fig)).toEqual(["t = 0: noise, p_0 = N(0, I)", "t = 1: data, p_1 (two moons)"]);
    expect(() => plotNoiseAndData([[0]], cloud)).toThrow(/x0 ~ p_0 must be \[x, y\] pairs/);
  });

  it("plotFlowMaps: one warped-grid panel per time, titled ψ_t, from a tensor left alone", () => {
    const grid = gridLines({ lines: 2, resolution: 2 });
    const maps = tf.tensor3d([grid.points, grid.points.map(([x, y]) => [x + 1, y])]);
    const fig = pure(() => plotFlowMaps(maps, grid, { times: [0, 1], range: [-4, 4] }));
    maps.dispose();
    expect(fig.data).toHaveLength(4); // two line groups per panel
    expect(titles(fig)).toEqual(["ψ_0", "ψ_1"]);
    expect(fig.data[0].x).toEqual([-2, 2, null, -2, 2, null]); // the grid's horizontal lines
    // the same lines in the second panel, moved by 1
    expect(fig.data[2].x).toEqual([-1, 3, null, -1, 3, null]);
    expect(() => plotFlowMaps([grid.points], grid, { times: [0, 1] })).toThrow(
      "plotFlowMaps: times must have one entry per saved state (1); got 2",
    );
  });

  it("plotPathSnapshots: rows x times panels of density and particles", () => {
    const clouds = [cloud, cloud];
    const fig = pure(() =>
      plotPathSnapshots(
        [
          { label: "a", density: straight.density, clouds },
          { label: "b", logDensity: straight.logDensity, clouds },
        ],
        { times: [0, 1], grid: { n: 5 }, maxPoints: 2 },
      ),
    );
    expect(fig.data.map((t) => t.type)).toEqual([
      "heatmap",
      "scatter",
      "heatmap",
      "scatter",
      "heatmap",
      "scatter",
      "heatmap",
      "scatter",
    ]);
    expect(titles(fig)).toEqual(["a, t = 0", "a, t = 1", "b, t = 0", "b, t = 1"]);
    expect(fig.data[1].x).toHaveLength(2); // maxPoints
    // the density and the log-density rows shade the same values
    expect(fig.data[4].z).toEqual(fig.data[0].z);
    expect(() =>
      plotPathSnapshots([{ density: straight.density, clouds }], { times: [0] }),
    ).toThrow("rows[0] has 2 clouds for 1 times");
    expect(() => plotPathSnapshots([{ clouds }], { times: [0, 1] })).toThrow(
      "needs a density or a logDensity",
    );
    expect(() =>
      plotPathSnapshots([{ density: straight.density, clouds }], { times: [0, 1.5] }),
    ).toThrow(/times in \[0, 1\]/);
  });

  it("plotFieldAtTimes: one panel per time; the highlighted arrow is u_t at the point", () => {
    const fig = pure(() =>
      plotFieldAtTimes({
        field: straight.u,
        density: straight.density,
        times: [0, 0.5],
        point: [0, 0],
        xRange: [-1, 1],
      }),
    );
    expect(titles(fig)).toHaveLength(2);
    expect(titles(fig)[0]).toBe("t = 0:  u_t(x*) = (2.00, 1.00)"); // u_0(0) = b
    expect(titles(fig)[1]).toMatch(/^t = 0\.5:  u_t\(x\*\) = \(/);
    expect(() =>
      plotFieldAtTimes({
        field: straight.u,
        density: straight.density,
        times: [0],
        point: [0, NaN] as [number, number],
      }),
    ).toThrow(/point must be \[x, y\]/);
  });

  it("plotVelocityAndScore: two panels over the same shading", () => {
    const mix = new GaussianMixture({
      means: [
        [-1, 0],
        [1, 0],
      ],
      stds: 0.5,
    });
    const fig = pure(() =>
      plotVelocityAndScore({
        velocity: mix.field(),
        score: mix.scoreField(),
        logDensity: mix.logDensityField(),
        t: 0.5,
        xRange: [-2, 2],
      }),
    );
    const heat = fig.data.filter((t) => t.type === "heatmap");
    expect(heat).toHaveLength(2);
    expect(heat[0].z).toEqual(heat[1].z);
    expect(titles(fig)[1]).toContain("score ∇ log p_0.5(x)");
    expect(() =>
      plotVelocityAndScore({
        velocity: mix.field(),
        score: mix.scoreField(),
        logDensity: mix.logDensityField(),
        t: 2,
      }),
    ).toThrow(/times in \[0, 1\]/);
  });

  it("plotEulerPolygons, plotStepErrors, plotSqrtSolutions: series and checks", () => {
    const exact = [
      [0, 0],
      [1, 1],
    ];
    const poly = pure(() =>
      plotEulerPolygons(exact, [
        {
          steps: 1,
          vertices: [
            [0, 0],
            [1, 0.5],
          ],
        },
      ]),
    );
    expect(poly.data.map((t) => t.name)).toEqual(["exact trajectory ψ_t(x_0)", "Euler, 1 steps"]);
    expect(() => plotEulerPolygons(exact, [{ steps: 2, vertices: [[0, 0]] }])).toThrow(
      "polygon 0 must have steps + 1 = 3 vertices; got 1",
    );
    const err = pure(() => plotStepErrors([1, 2, 4], [0.4, 0.2, 0.1], { order: 1 }));
    expect(err.data[1].y).toEqual([0.4, 0.2, 0.1]); // the slope-1 line through the finest point
    expect(() => plotStepErrors([1, 2], [0.4, 0])).toThrow("steps and errors must be positive");
    expect(() => plotStepErrors([1, 2], [0.4])).toThrow(/as many errors as step counts/);
    const sq = pure(() =>
      plotSqrtSolutions([0, 0.5, 1], [{ name: "solver", values: [0, 0.0625, 0.25] }]),
    );
    expect(sq.data[1].y).toEqual([0, 0.0625, 0.25]); // t^2 / 4
    expect(() => plotSqrtSolutions([0, 1], [{ name: "solver", values: [0] }])).toThrow(
      "solver must have one value per time (2); got 1",
    );
  });
});

describe("notebook 2's builders", () => {
  it("plotDivergence1d: one panel per field, graph, box and arrows", () => {
    const fig = pure(() =>
      plotDivergence1d([{ title: "F = x", F: (x) => x }], { box: [-0.5, 0.5] }),
    );
    expect(fig.data[1].x).toEqual([-0.5, -0.5, 0.5, 0.5, -0.5]);
    expect(titles(fig)).toEqual(["F = x"]);
    expect(() => plotDivergence1d([{ title: "bad", F: (x) => x }], { box: [1, 0] })).toThrow(
      "box must be [a, b] with a < b",
    );
  });

  it("plotDivergenceMaps: heatmaps on one colour bar, arrows on top", () => {
    const u = (x: tf.Tensor2D) => tf.neg(x) as tf.Tensor2D;
    const divergence = {
      x: [-1, 0, 1],
      y: [-1, 1],
      z: [
        [-2, -2, -2],
        [-2, -2, -2],
      ],
    };
    const fig = pure(() => plotDivergenceMaps([{ name: "sink", field: u, divergence }]));
    const heat = fig.data.filter((t) => t.type === "heatmap");
    expect(heat).toHaveLength(1);
    expect(heat[0].coloraxis).toBe("coloraxis");
    // the fixed zRange
    expect(fig.layout.coloraxis).toMatchObject({ colorscale: "RdBu", cmin: -2, cmax: 2 });
    expect(() =>
      plotDivergenceMaps([{ name: "sink", field: u, divergence: { x: [0], y: [0, 1], z: [[1]] } }]),
    ).toThrow(/must have shape \[ny, nx\]/);
  });

  it("plotFluxTest, plotContinuityTerms: curves and heatmaps of the given values", () => {
    const x = [0, 1];
    const flux = pure(() =>
      plotFluxTest({
        x,
        before: { name: "p_0", values: [1, 2] },
        after: { name: "p_1", values: [2, 1] },
        dpdt: [1, -1],
        minusDivFlux: [1, -1],
        minusDivVelocity: [0, 0],
        t: 0.5,
      }),
    );
    expect(flux.data.map((t) => t.name)).toEqual([
      "p_0",
      "p_1",
      "∂p/∂t (finite difference in t)",
      "-∂(p u)/∂x",
      "-∂u/∂x (if the flux were u)",
    ]);
    expect(() =>
      plotFluxTest({
        x,
        before: { name: "p_0", values: [1] },
        after: { name: "p_1", values: [2, 1] },
        dpdt: [1, -1],
        minusDivFlux: [1, -1],
        minusDivVelocity: [0, 0],
        t: 0,
      }),
    ).toThrow("plotFluxTest: before must be 2 numbers; got 1");
    const grid = { xs: [0, 1], ys: [0, 1] };
    const row = {
      label: "u",
      dpdt: [1, -1, 0.5, 0],
      divFlux: [-1, 1, -0.5, 0],
      residual: [0, 0, 0, 0],
    };
    const terms = pure(() => plotContinuityTerms([row], grid));
    expect(terms.data.map((t) => t.z)).toEqual([
      [
        [1, -1],
        [0.5, 0],
      ],
      [
        [1, -1],
        [0.5, 0],
      ],
      [
        [0, 0],
        [0, 0],
      ],
    ]);
    expect(() => plotContinuityTerms([{ ...row, residual: [0] }], grid)).toThrow(
      "plotContinuityTerms: u.residual must be 4 numbers; got 1",
    );
  });

  it("plotLikelihoodScatter, plotLikelihoodCost", () => {
    const sc = pure(() =>
      plotLikelihoodScatter([{ title: "flow", exact: [-1, -2], cnf: [-1.1, -2] }]),
    );
    expect(sc.data[1].y).toEqual([-1.1, -2]);
    expect(() => plotLikelihoodScatter([{ title: "flow", exact: [-1, -2], cnf: [-1] }])).toThrow(
      "flow.cnf must be 2 numbers",
    );
    const cost = pure(() =>
      plotLikelihoodCost(
        [
          { nfe: 20, passes: 80 },
          { nfe: 40, passes: 160 },
        ],
        2,
        { batch: 256 },
      ),
    );
    expect(cost.data[1].y).toEqual([2, 2]);
    expect(cost.layout.title).toMatchObject({ text: "Work on a batch of 256 points" });
    expect(() => plotLikelihoodCost([{ nfe: 20, passes: 80 }], 2)).toThrow("at least two runs");
  });
});

describe("energyRatio", () => {
  it("is ~1 for samples of one distribution, large for different ones (negative control)", () => {
    seed(0);
    const a = randn([600, 2]) as tf.Tensor2D;
    const b = randn([600, 2]) as tf.Tensor2D;
    const shifted = tf.add(randn([600, 2]), 1) as tf.Tensor2D;
    const before = tf.memory().numTensors;
    const same = energyRatio(a, b);
    const different = energyRatio(shifted, b);
    expect(tf.memory().numTensors).toBe(before);
    expect(same).toBeGreaterThan(0.2);
    expect(same).toBeLessThan(3.3);
    expect(different).toBeGreaterThan(20);
    // rows or tensors alike
    expect(energyRatio(a.arraySync() as number[][], b)).toBeCloseTo(same, 10);
    tf.dispose([a, b, shifted]);
  });

  it("refuses mismatched or too small inputs", () => {
    expect(() => energyRatio([[0, 0]], [[0]])).toThrow(
      "energyRatio: a and b must have the same dimension; got 2 and 1",
    );
    expect(() => energyRatio([[0, 0]], [[0, 0]])).toThrow(
      "the reference b needs at least 2 samples; got 1",
    );
    expect(() =>
      energyRatio(
        [[0, NaN]],
        [
          [0, 0],
          [1, 1],
        ],
      ),
    ).toThrow(/must be finite/);
  });
});

describe("continuityCheck", () => {
  it("reads the terms into numbers: tiny relative residual for the right field only", () => {
    const flow = straightGaussianFlow();
    const g = grid2d({ xmin: -3, xmax: 5, ymin: -3, ymax: 5, nx: 21, ny: 21 });
    const before = tf.memory().numTensors;
    const right = continuityCheck({
      logDensity: flow.logDensity,
      velocity: flow.u,
      x: g.points,
      t: 0.5,
    });
    const wrong = continuityCheck({
      logDensity: flow.logDensity,
      velocity: rotatingGaussianFlow().u,
      x: g.points,
      t: 0.5,
    });
    expect(tf.memory().numTensors).toBe(before);
    g.points.dispose();
    expect(right.dpdt).toHaveLength(441);
    expect(
      right.residual
        .map((r, i) => r - right.dpdt[i] - right.divFlux[i])
        .every((v) => Math.abs(v) < 1e-6),
    ).toBe(true);
    expect(right.relative).toBeLessThan(1e-3);
    expect(wrong.relative).toBeGreaterThan(1);
  });

  it("refuses a path that does not change (nothing to compare with) and bad times", () => {
    // log p = 0: every term is 0
    const still = (x: tf.Tensor2D) => tf.zeros([x.shape[0]]) as tf.Tensor1D;
    const x = tf.tensor2d([
      [0, 0],
      [1, 1],
    ]);
    expect(() =>
      continuityCheck({ logDensity: still, velocity: (p) => tf.zerosLike(p), x, t: 0.5 }),
    ).toThrow("continuityCheck: d/dt p_t is 0 at every point at t = 0.5");
    expect(() =>
      continuityCheck({ logDensity: still, velocity: (p) => tf.zerosLike(p), x, t: 2 }),
    ).toThrow("t must lie in [0, 1]; got 2");
    x.dispose();
  });
});
