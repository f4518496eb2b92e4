// The figure builders of notebooks 05 and 06 (src/figures/training.ts): what each draws (traces,
// values where they are computed), fixed uids, the same JSON for the same input, no tensor left
// behind, and bad input refused with what was wrong.
import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import type { Figure } from "../src/figures/figure";
import {
  plotGradientDistance,
  plotLossGap,
  plotQualityVsNfe,
  plotTrainingComparison,
} from "../src/figures/training";

function noLeak<T>(fn: () => T): T {
  const before = tf.memory().numTensors;
  const out = fn();
  expect(tf.memory().numTensors).toBe(before);
  return out;
}
const expectFixedUids = (fig: Figure) =>
  expect(fig.data.map((t) => t.uid)).toEqual(fig.data.map((_, i) => `trace-${i}`));
const names = (fig: Figure) => fig.data.map((t) => t.name);

describe("plotGradientDistance", () => {
  const input = { ns: [256, 1024, 4096], right: [0.2, 0.1, 0.05], wrong: [0.4, 0.39, 0.39] };

  it("draws both targets and the reference C / sqrt(n) through the first point", () => {
    const fig = noLeak(() => plotGradientDistance(input));
    expectFixedUids(fig);
    expect(names(fig)).toEqual([
      "target x1 - x0 (CFM)",
      "target x1 (wrong)",
      "reference: C / sqrt(n)",
    ]);
    // C = 0.2 sqrt(256) = 3.2: the reference is 3.2 / sqrt(n)
    expect(fig.data[2].y).toEqual([0.2, 0.1, 0.05]);
    expect((fig.layout.xaxis as { type: string }).type).toBe("log");
    expect(JSON.stringify(plotGradientDistance(input))).toBe(JSON.stringify(fig));
  });

  it("refuses lists of different lengths and non-positive values, saying what was wrong", () => {
    expect(() => plotGradientDistance({ ...input, wrong: [0.4] })).toThrow(
      /same length; got 3 and 1/,
    );
    expect(() => plotGradientDistance({ ...input, right: [0.2, 0, 0.05] })).toThrow(/positive/);
    expect(() => plotGradientDistance({ ...input, ns: [256, NaN, 4096] })).toThrow(/finite/);
  });
});

describe("plotLossGap", () => {
  it("draws both losses, their gap and the control gap", () => {
    const fig = noLeak(() =>
      plotLossGap({ steps: [0, 25], cfm: [7, 4], fm: [3.5, 0.5], wrong: [9, 3] }),
    );
    expectFixedUids(fig);
    expect(fig.data).toHaveLength(4);
    expect(fig.data[2].y).toEqual([3.5, 3.5]); // L_CFM - L_FM
    expect(fig.data[3].y).toEqual([5.5, 2.5]); // L(x1) - L_FM
  });

  it("refuses a missing series", () => {
    expect(() => plotLossGap({ steps: [0, 25], cfm: [7, 4], fm: [3.5], wrong: [9, 3] })).toThrow(
      /steps and fm/,
    );
  });
});

describe("plotQualityVsNfe", () => {
  const series = [
    { name: "Euler", nfe: [1, 2, 4], values: [1, 0.3, 0.1] },
    { name: "RK4", nfe: [4, 8], values: [0.03, 0.006] },
  ];

  it("adds the floor as a dashed line across the measured NFE range", () => {
    const fig = noLeak(() => plotQualityVsNfe(series, { value: 0.005, name: "floor" }));
    expectFixedUids(fig);
    expect(names(fig)).toEqual(["Euler", "RK4", "floor"]);
    const floor = fig.data[2];
    expect(floor.x).toEqual([1, 8]);
    expect(floor.y).toEqual([0.005, 0.005]);
    expect((floor.line as { dash: string }).dash).toBe("dash");
  });

  it("refuses an empty list and a non-positive floor", () => {
    expect(() => plotQualityVsNfe([], { value: 1, name: "f" })).toThrow(/non-empty/);
    expect(() => plotQualityVsNfe(series, { value: 0, name: "f" })).toThrow(
      /floor must be a positive number; got 0/,
    );
  });
});

describe("plotTrainingComparison", () => {
  const runs = [
    { name: "ML", seconds: [0, 1, 2], nll: [3, 2.5, 2.2], ed: [0.2, 0.05, 0.03], color: "#d62728" },
    {
      name: "CFM",
      seconds: [0, 0.5, 1],
      nll: [3, 2.4, 2.1],
      ed: [0.2, 0.02, 0.01],
      dash: "dash" as const,
    },
  ];

  it("puts NLL and energy distance against wall time in two panels, one legend per run", () => {
    const fig = noLeak(() => plotTrainingComparison(runs));
    expectFixedUids(fig);
    expect(fig.data).toHaveLength(4);
    const legend = fig.data.filter((t) => t.showlegend !== false).map((t) => t.name);
    expect(legend).toEqual(["ML", "CFM"]);
    expect(fig.data[0].y).toEqual([3, 2.5, 2.2]);
    expect(fig.data[3].y).toEqual([0.2, 0.02, 0.01]);
    expect(JSON.stringify(plotTrainingComparison(runs))).toBe(JSON.stringify(fig));
  });

  it("refuses runs with mismatched lengths or a non-positive distance", () => {
    expect(() => plotTrainingComparison([])).toThrow(/non-empty/);
    expect(() => plotTrainingComparison([{ ...runs[0], nll: [3] }])).toThrow(/ML \(seconds, nll\)/);
    expect(() => plotTrainingComparison([{ ...runs[0], ed: [0.2, 0, 0.1] }])).toThrow(/positive/);
  });
});
