// The figure builders of notebook 08 (src/figures/unification.ts): what each draws (traces,
// titles, values read from the schedulers), fixed uids, the same JSON for the same input, no
// tensor left behind, and bad input refused with what was wrong.
import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import type { Figure } from "../src/figures/figure";
import { plotSamplerQuality, plotSchedules } from "../src/figures/unification";
import { condOTPath } from "../src/path/affine";
import { vpSde } from "../src/path/sde";

const uidsOf = (fig: Figure) => fig.data.map((t) => t.uid);
const titles = (fig: Figure) =>
  ((fig.layout.annotations as { text: string }[]) ?? []).map((a) => a.text);

describe("plotSchedules", () => {
  const lecture = condOTPath();
  const vp = vpSde().path;
  const make = () =>
    plotSchedules({
      processes: [
        { name: "VP", path: vp },
        { name: "flow matching", path: lecture },
      ],
      discrete: { name: "dots", path: lecture, stepTimes: [0, 0.5, 0.9] },
      times: [0, 0.25, 0.5, 0.75],
    });

  it("draws alpha, sigma and alpha / sigma of each process, three panels", () => {
    const before = tf.memory().numTensors;
    const fig = make();
    expect(tf.memory().numTensors).toBe(before);
    expect(titles(fig)).toEqual(
      expect.arrayContaining([
        "alpha_t (signal)",
        "sigma_t (noise), log scale",
        "alpha_t / sigma_t, log scale",
      ]),
    );
    expect(fig.data).toHaveLength(9); // 3 series x 3 panels
    const fmAlpha = fig.data.find((t) => t.name === "flow matching")!;
    expect(fmAlpha.y).toEqual([0, 0.25, 0.5, 0.75]); // alpha_t = t on the lecture's path
    const dots = fig.data.filter((t) => t.name === "dots");
    expect(dots[0].mode).toBe("markers");
    expect(dots[0].y).toEqual([0, 0.5, 0.9]);
    expect((dots[2].y as number[])[1]).toBeCloseTo(1, 12); // alpha / sigma at t = 0.5
    expect(uidsOf(fig)).toEqual(fig.data.map((_, i) => `trace-${i}`));
    expect(JSON.stringify(make())).toBe(JSON.stringify(fig));
  });

  it("refuses bad input with what was wrong", () => {
    expect(() => plotSchedules({ processes: [] })).toThrow(/processes must be a non-empty/);
    expect(() =>
      plotSchedules({ processes: [{ name: "x", path: lecture }], times: [0, 1.5] }),
    ).toThrow(/times\[1\]/);
    expect(() => plotSchedules({ processes: [{ name: "x", path: undefined as never }] })).toThrow(
      /processes\[0\]/,
    );
  });
});

describe("plotSamplerQuality", () => {
  const rows = [
    { label: "fresh", stochastic: false, ratio: 0.9, reference: true },
    { label: "ODE", stochastic: false, ratio: 1.2 },
    { label: "SDE", stochastic: true, ratio: 2.5 },
  ];
  it("one dot per sampler, by kind, with the floor and the threshold", () => {
    const fig = plotSamplerQuality(rows);
    const byName = (n: string) => fig.data.find((t) => t.name === n)!;
    expect(byName("deterministic").x).toEqual([1]);
    expect(byName("deterministic").y).toEqual([1.2]);
    expect(byName("stochastic").y).toEqual([2.5]);
    expect(byName("reference").x).toEqual([0]);
    expect(byName("match threshold").y).toEqual([4, 4]);
    expect(byName("noise floor (expected)").y).toEqual([1, 1]);
    expect((fig.layout.xaxis as { ticktext: string[] }).ticktext).toEqual(["fresh", "ODE", "SDE"]);
    expect(uidsOf(fig)).toEqual(fig.data.map((_, i) => `trace-${i}`));
    expect(JSON.stringify(plotSamplerQuality(rows))).toBe(JSON.stringify(fig));
  });
  it("refuses bad input", () => {
    expect(() => plotSamplerQuality([])).toThrow(/non-empty/);
    expect(() => plotSamplerQuality([{ label: "x", stochastic: false, ratio: NaN }])).toThrow(
      /results\[0\].*finite ratio/,
    );
  });
});
