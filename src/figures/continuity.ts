/**
 * Figures of notebook 2 (lecture concept 2: conservation of mass, divergence, the continuity
 * equation, continuous normalizing flows). Each builder draws one of the notebook's pictures in one
 * call; values computed by the notebook (and checked there) are passed in, fields are evaluated on
 * grids inside `tf.tidy`.
 */
import type { VelocityField } from "../core/notation";
import { Grid, plotDensity, readGrid } from "./density";
import { Figure, PALETTE, color } from "./figure";
import { LineSeries, plotLines } from "./lines";
import { fieldOnGrid, plotQuiver } from "./quiver";
import { overlay, subplots } from "./subplots";

/** Options shared by the builders of this file. */
export interface ContinuityFigureOptions {
  /** Figure title. @default the builder's own */
  title?: string;
  /** Width in pixels. @default the builder's own */
  width?: number;
  /** Height in pixels. @default the builder's own */
  height?: number;
}

function checkValues(values: number[], n: number, what: string): void {
  if (!Array.isArray(values) || values.length !== n || values.some((v) => typeof v !== "number")) {
    throw new Error(
      `${what} must be ${n} numbers; got ${Array.isArray(values) ? values.length : typeof values}`,
    );
  }
}

/**
 * Divergence in one dimension: for each signed flow F(x) along a line, arrows of F at a few points,
 * the graph of F (dashed) and a small box [a, b]: what leaves through b minus what enters through a
 * is F(b) - F(a), about (b - a) F'.
 * @param fields one panel each: a title and F
 * @param options `box` [a, b] @default [-0.25, 0.25]
 */
export function plotDivergence1d(
  fields: { title: string; F: (x: number) => number }[],
  options: ContinuityFigureOptions & { box?: [number, number] } = {},
): Figure {
  if (!Array.isArray(fields) || fields.length === 0)
    throw new Error("plotDivergence1d needs at least one field");
  const [a, b] = options.box ?? [-0.25, 0.25];
  if (!(a < b))
    throw new Error(`plotDivergence1d: box must be [a, b] with a < b; got [${a}, ${b}]`);
  const xs = Array.from({ length: 81 }, (_, i) => -1 + i / 40);
  const arrowXs = [-1, -0.5, 0, 0.5, 1];
  const panels = fields.map(({ F, title }) => {
    if (typeof F !== "function") throw new Error(`plotDivergence1d: ${title} needs a function F`);
    return overlay([
      plotLines(
        [
          {
            name: "graph of F",
            x: xs,
            y: xs.map(F),
            color: "#999",
            dash: "dash",
            showLegend: false,
          },
          {
            name: "box",
            x: [a, a, b, b, a],
            y: [-0.3, 0.3, 0.3, -0.3, -0.3],
            color: PALETTE[1],
            showLegend: false,
          },
        ],
        { xRange: [-1.6, 1.6], yRange: [-1.2, 2], xTitle: "x", yTitle: "" },
      ),
      plotQuiver(
        { points: arrowXs.map((x) => [x, 0]), vectors: arrowXs.map((x) => [F(x), 0]) },
        { scale: 0.3, clip: false, equal: false, tails: false, lineWidth: 3, name: "F" },
      ),
    ]);
  });
  return subplots(panels, {
    titles: fields.map((f) => f.title),
    title: options.title,
    width: options.width ?? 1150,
    height: options.height ?? 300,
    gap: 0.04,
  });
}

/**
 * Divergence maps of 2-D fields: the divergence as a red (out) / blue (in) heatmap on one shared
 * colour scale, with the field's arrows on top.
 * @param panels a name, the field (arrows are drawn at t = 0) and its divergence on a grid
 * @param options `zRange` of the colour scale @default [-2, 2]
 */
export function plotDivergenceMaps(
  panels: { name: string; field: VelocityField; divergence: Grid }[],
  options: ContinuityFigureOptions & { zRange?: [number, number] } = {},
): Figure {
  if (!Array.isArray(panels) || panels.length === 0)
    throw new Error("plotDivergenceMaps needs at least one panel");
  const zRange = options.zRange ?? [-2, 2];
  const figures = panels.map((p) => {
    const g = readGrid(p.divergence, `${p.name}.divergence`);
    const range: [number, number] = [g.x[0], g.x[g.x.length - 1]];
    return overlay([
      plotDensity(g, {
        colorscale: "RdBu",
        zRange,
        zTitle: "div u",
        showScale: false,
        xTitle: "",
        yTitle: "",
      }),
      plotQuiver(
        fieldOnGrid(p.field, 0, { xRange: range, yRange: [g.y[0], g.y[g.y.length - 1]], n: 13 }),
        {
          color: "#222",
          tails: false,
          lineWidth: 1.2,
        },
      ),
    ]);
  });
  return subplots(figures, {
    titles: panels.map((p) => `${p.name}: div u`),
    title:
      options.title ?? "Divergence under the arrows (red: more flows out; blue: more flows in)",
    width: options.width ?? 1150,
    height: options.height ?? 420,
    sharedColorbar: { title: "div u" },
  });
}

/**
 * Which flux predicts how a sliding density changes? Left: the density before and after it slid;
 * right: its time derivative beside -d(p u)/dx and -du/dx, on the points `x`.
 */
export function plotFluxTest(
  spec: {
    x: number[];
    before: { name: string; values: number[] };
    after: { name: string; values: number[] };
    dpdt: number[];
    minusDivFlux: number[];
    minusDivVelocity: number[];
    t: number;
  },
  options: ContinuityFigureOptions = {},
): Figure {
  const n = spec.x.length;
  for (const [what, v] of [
    ["before", spec.before.values],
    ["after", spec.after.values],
    ["dpdt", spec.dpdt],
    ["minusDivFlux", spec.minusDivFlux],
    ["minusDivVelocity", spec.minusDivVelocity],
  ] as [string, number[]][]) {
    checkValues(v, n, `plotFluxTest: ${what}`);
  }
  const x = spec.x;
  return subplots(
    [
      plotLines(
        [
          { name: spec.before.name, x, y: spec.before.values, color: "#000" },
          { name: spec.after.name, x, y: spec.after.values, dash: "dash", color: PALETTE[1] },
        ],
        { xTitle: "x", yTitle: "density" },
      ),
      plotLines(
        [
          { name: "∂p/∂t (finite difference in t)", x, y: spec.dpdt, width: 5, color: "#bbb" },
          { name: "-∂(p u)/∂x", x, y: spec.minusDivFlux, color: PALETTE[0] },
          {
            name: "-∂u/∂x (if the flux were u)",
            x,
            y: spec.minusDivVelocity,
            color: PALETTE[3],
            dash: "dash",
          },
        ],
        { xTitle: "x", yTitle: `rate of change at t = ${spec.t}` },
      ),
    ],
    {
      titles: ["the same velocity everywhere, a sliding density", "which flux predicts ∂p/∂t?"],
      title: options.title,
      width: options.width ?? 1100,
      height: options.height ?? 400,
    },
  );
}

/**
 * The continuity equation's two terms and their sum (the residual) on a 2-D grid, one row per
 * field,
 * all on one colour scale: ±max|∂p/∂t| of the first row.
 * @param rows a label (the field) and ∂p/∂t, ∇·(p u) and the residual at the grid's points (x
 * fastest)
 * @param grid the grid's coordinates `{ xs, ys }` (as `grid2d` returns them)
 */
export function plotContinuityTerms(
  rows: { label: string; dpdt: number[]; divFlux: number[]; residual: number[] }[],
  grid: { xs: number[]; ys: number[] },
  options: ContinuityFigureOptions = {},
): Figure {
  if (!Array.isArray(rows) || rows.length === 0)
    throw new Error("plotContinuityTerms needs at least one row");
  const n = grid.xs.length * grid.ys.length;
  const onGrid = (v: number[]): Grid => ({
    x: grid.xs,
    y: grid.ys,
    z: grid.ys.map((_, j) => v.slice(j * grid.xs.length, (j + 1) * grid.xs.length)),
  });
  rows.forEach((r) => {
    for (const [what, v] of [
      ["dpdt", r.dpdt],
      ["divFlux", r.divFlux],
      ["residual", r.residual],
    ] as [string, number[]][]) {
      checkValues(v, n, `plotContinuityTerms: ${r.label}.${what}`);
    }
  });
  const scale = Math.max(...rows[0].dpdt.map(Math.abs));
  const zRange: [number, number] = [-scale, scale];
  const heat = (v: number[]) =>
    plotDensity(onGrid(v), {
      colorscale: "RdBu",
      zRange,
      zTitle: "rate",
      showScale: false,
      xTitle: "",
      yTitle: "",
    });
  const panels = rows.flatMap((r) => [
    heat(r.dpdt),
    heat(r.divFlux.map((v) => -v)),
    heat(r.residual),
  ]);
  const titles = rows.flatMap((r) => ["∂p/∂t", `-∇·(p u), ${r.label}`, `residual, ${r.label}`]);
  return subplots(panels, {
    columns: 3,
    titles,
    title:
      options.title ?? `The continuity equation's terms (one colour scale, ±${scale.toFixed(2)})`,
    width: options.width ?? 1100,
    height: options.height ?? 380 * rows.length,
    gap: 0.05,
    sharedColorbar: { title: "rate" },
  });
}

/** The CNF log-likelihood against the exact log-density, point by point, one panel per flow. */
export function plotLikelihoodScatter(
  panels: { title: string; exact: number[]; cnf: number[] }[],
  options: ContinuityFigureOptions = {},
): Figure {
  if (!Array.isArray(panels) || panels.length === 0)
    throw new Error("plotLikelihoodScatter needs at least one panel");
  const figures = panels.map((p, k) => {
    checkValues(p.cnf, p.exact.length, `plotLikelihoodScatter: ${p.title}.cnf`);
    const lo = Math.min(...p.exact);
    const hi = Math.max(...p.exact);
    return plotLines(
      [
        { name: "y = x", x: [lo, hi], y: [lo, hi], color: "#999", dash: "dash" },
        { name: "points x_1", x: p.exact, y: p.cnf, markersOnly: true, color: color(2 * k) },
      ],
      { xTitle: "exact log p_1(x_1)", yTitle: "CNF: log p_0(x_0) - ∫ div u dt" },
    );
  });
  return subplots(figures, {
    titles: panels.map((p) => p.title),
    title: options.title,
    width: options.width ?? 1000,
    height: options.height ?? 430,
  });
}

/**
 * The work of one likelihood evaluation (network passes over the batch) against its number of field
 * evaluations, beside the work of one flow-matching loss and gradient (a constant).
 * @param runs one point per solver setting: its NFE and network passes
 * @param cfmPasses the network passes of one CFM loss and gradient
 */
export function plotLikelihoodCost(
  runs: { nfe: number; passes: number }[],
  cfmPasses: number,
  options: ContinuityFigureOptions & { batch?: number } = {},
): Figure {
  if (!Array.isArray(runs) || runs.length < 2)
    throw new Error("plotLikelihoodCost needs at least two runs");
  if (!(cfmPasses > 0))
    throw new Error(`plotLikelihoodCost: cfmPasses must be positive; got ${cfmPasses}`);
  const nfe = runs.map((r) => r.nfe);
  const series: LineSeries[] = [
    { name: "one log-likelihood evaluation", x: nfe, y: runs.map((r) => r.passes), markers: true },
    {
      name: "one CFM loss and gradient",
      x: [Math.min(...nfe), Math.max(...nfe)],
      y: [cfmPasses, cfmPasses],
      dash: "dash",
      color: PALETTE[2],
    },
  ];
  return plotLines(series, {
    logY: true,
    width: options.width ?? 820,
    height: options.height ?? 420,
    title: options.title ?? `Work on a batch${options.batch ? ` of ${options.batch} points` : ""}`,
    xTitle: "ODE evaluations (NFE) of the likelihood",
    yTitle: "passes of the network over the batch",
  });
}
