/**
 * Figures of classifier-free guidance (notebook 09): what guided sampling produces against the
 * tilted density p(x | c) p(c | x)^w of the usual story (`fm.compareGuidance`), and the measured
 * trade-off of guidance on images (accuracy and Frechet distance against w).
 */
import type { GuidanceComparison } from "../targets/guidance";
import type { GuidanceRow } from "../images/evaluate";
import type { Figure } from "./figure";
import { plotDensity } from "./density";
import { plotLines } from "./lines";
import { subplots } from "./subplots";

/**
 * Three panels: the density of guided ODE samples, the tilted density (one colour scale for both),
 * and both along the horizontal line through the class's mean, where they differ most visibly.
 * @example
 * fm.show(fm.plotGuidanceComparison(fm.compareGuidance(gm, 0, 3)));
 */
export function plotGuidanceComparison(
  r: GuidanceComparison,
  options: { title?: string; row?: number } = {},
): Figure {
  if (!r || !Array.isArray(r.guided) || !Array.isArray(r.tilted))
    throw new Error("plotGuidanceComparison: give the result of fm.compareGuidance");
  // the grid row nearest to the guided density's mean height (or the one asked for)
  const row =
    options.row ??
    r.y.reduce(
      (best, y, j) =>
        Math.abs(y - r.guidedMean[1]) < Math.abs(r.y[best] - r.guidedMean[1]) ? j : best,
      0,
    );
  if (!Number.isInteger(row) || row < 0 || row >= r.y.length)
    throw new Error(
      `plotGuidanceComparison: row must be an integer in [0, ${r.y.length}); got ${row}`,
    );
  const size = { width: 340, height: 340 };
  const panel = (z: number[][], title: string) =>
    plotDensity({ x: r.x, y: r.y, z }, { title, zTitle: "density", ...size });
  const slice = plotLines(
    [
      { name: "guided ODE", x: r.x, y: r.guided[row] },
      { name: "tilted p(x|c) p(c|x)^w", x: r.x, y: r.tilted[row], dash: "dash" },
    ],
    {
      title: `along y = ${r.y[row].toFixed(2)}`,
      xTitle: "coordinate 1",
      yTitle: "density",
      ...size,
    },
  );
  return subplots(
    [panel(r.guided, `guided sampling, w = ${r.w}`), panel(r.tilted, "tilted density"), slice],
    {
      title:
        options.title ?? `Class ${r.c}, w = ${r.w}: total variation ${r.totalVariation.toFixed(3)}`,
      sharedColorbar: { title: "density" },
      width: 1150,
      height: 430,
    },
  );
}

/**
 * The guidance trade-off: the fraction of samples classified as their label, and their Frechet
 * distance to the test digits (with its floor), against w, side by side.
 */
export function plotGuidanceTradeoff(
  rows: GuidanceRow[],
  options: { floor?: number; title?: string } = {},
): Figure {
  if (!Array.isArray(rows) || rows.length === 0)
    throw new Error("plotGuidanceTradeoff: give the rows of fm.guidanceSweep");
  const w = rows.map((r) => r.w);
  const accuracy = plotLines(
    [{ name: "accuracy", x: w, y: rows.map((r) => r.accuracy), markers: true }],
    {
      title: "samples classified as their label",
      xTitle: "guidance weight w",
      yTitle: "fraction",
      width: 420,
      height: 360,
    },
  );
  const fdSeries = [{ name: "samples", x: w, y: rows.map((r) => r.fd), markers: true }];
  if (options.floor !== undefined) {
    fdSeries.push({
      name: "floor: test vs train digits",
      x: [w[0], w[w.length - 1]],
      y: [options.floor, options.floor],
      markers: false,
    });
  }
  const fd = plotLines(fdSeries, {
    title: "Frechet distance to the test digits",
    xTitle: "guidance weight w",
    yTitle: "FD",
    logY: true,
    width: 420,
    height: 360,
  });
  return subplots([accuracy, fd], {
    title: options.title ?? `Guidance: quality against w (${rows[0].nfe} NFE)`,
    width: 900,
    height: 420,
  });
}
