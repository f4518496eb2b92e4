/**
 * Densities on a grid: heatmaps and contour plots of p_t(x) or log p_t(x) over the plane
 * (lecture, concepts 1-4: the probability path p_t, the conditional and the marginal path).
 */
import * as tf from "@tensorflow/tfjs";
import {
  BaseOptions,
  COORD_TITLES,
  DENSITY_COLORSCALE,
  Figure,
  Trace,
  baseLayout,
  finish,
  round,
  roundAll,
  toNumbers,
} from "./figure";

/**
 * Values on a rectangular grid, plotly's way round: `z[j][i]` is the value at `(x[i], y[j])`
 * (rows are y). `z` may also be a `[ny, nx]` tensor.
 */
export interface Grid {
  x: number[];
  y: number[];
  z: number[][] | tf.Tensor;
}

/** Where and how finely to lay a grid over the plane. */
export interface GridSpec {
  /** x range. @default [-3, 3] */
  xRange?: [number, number];
  /** y range. @default the x range */
  yRange?: [number, number];
  /** Points per axis (both). @default 60 */
  n?: number;
  /** Points along x. @default n */
  nx?: number;
  /** Points along y. @default n */
  ny?: number;
}

function linspace(lo: number, hi: number, n: number): number[] {
  if (n === 1) return [(lo + hi) / 2];
  return Array.from({ length: n }, (_, i) => lo + ((hi - lo) * i) / (n - 1));
}

function checkSpec(spec: GridSpec): { x: number[]; y: number[] } {
  const xRange = spec.xRange ?? [-3, 3];
  const yRange = spec.yRange ?? xRange;
  const nx = spec.nx ?? spec.n ?? 60;
  const ny = spec.ny ?? spec.n ?? 60;
  for (const [name, r] of [
    ["xRange", xRange],
    ["yRange", yRange],
  ] as const) {
    if (
      !Array.isArray(r) ||
      r.length !== 2 ||
      !Number.isFinite(r[0]) ||
      !Number.isFinite(r[1]) ||
      !(r[0] < r[1])
    ) {
      throw new Error(`${name} must be [lo, hi] with lo < hi; got ${JSON.stringify(r)}`);
    }
  }
  for (const [name, n] of [
    ["nx", nx],
    ["ny", ny],
  ] as const) {
    if (!Number.isInteger(n) || n < 2 || n > 1000)
      throw new Error(`${name} must be an integer in [2, 1000]; got ${n}`);
  }
  return { x: linspace(xRange[0], xRange[1], nx), y: linspace(yRange[0], yRange[1], ny) };
}

/**
 * The points of a grid, row by row (y outer, x inner), ready to stack into a `[nx * ny, 2]` tensor.
 * @example
 * gridPoints({ n: 3, xRange: [0, 1] }).points; // returns [[0, 0], [0.5, 0], [1, 0], [0, 0.5], ...]
 */
export function gridPoints(spec: GridSpec = {}): { x: number[]; y: number[]; points: number[][] } {
  const { x, y } = checkSpec(spec);
  const points: number[][] = [];
  for (const yj of y) for (const xi of x) points.push([xi, yj]);
  return { x, y, points };
}

/**
 * Evaluates a scalar function of points (such as a density `x => p_t(x)`) on a grid.
 * `f` takes `[m, 2]` and returns `[m]` or `[m, 1]`; everything it allocates is freed.
 * @example
 * const grid = evaluateGrid((x) => fm.tf.exp(fm.tf.mul(-0.5, fm.tf.sum(fm.tf.square(x), 1))), { n:
 * 50 }); fm.show(plotDensity(grid));
 */
export function evaluateGrid(f: (x: tf.Tensor2D) => tf.Tensor, spec: GridSpec = {}): Grid {
  const { x, y, points } = gridPoints(spec);
  const values = tf.tidy(() => {
    const out = f(tf.tensor2d(points, [points.length, 2]));
    if (!(out instanceof tf.Tensor))
      throw new Error(`evaluateGrid: f must return a tensor; got ${typeof out}`);
    if (out.size !== points.length) {
      throw new Error(
        `evaluateGrid: f must return one value per point ([${points.length}] or ` +
          `[${points.length}, 1]); got shape [${out.shape.join(", ")}]`,
      );
    }
    return out.dataSync().slice();
  });
  const z: number[][] = [];
  for (let j = 0; j < y.length; j++)
    z.push(Array.from(values.subarray(j * x.length, (j + 1) * x.length)));
  return { x, y, z };
}

/** Reads and checks a grid: `z` has `y.length` rows of `x.length` values. */
export function readGrid(grid: Grid, name = "grid"): { x: number[]; y: number[]; z: number[][] } {
  if (grid === null || typeof grid !== "object" || !("z" in grid)) {
    throw new Error(
      `${name} must be { x, y, z } (see evaluateGrid); got ${grid === null ? "null" : typeof grid}`,
    );
  }
  const x = toNumbers(grid.x, `${name}.x`);
  const y = toNumbers(grid.y, `${name}.y`);
  let z: number[][];
  if (grid.z instanceof tf.Tensor) {
    if (grid.z.rank !== 2)
      throw new Error(`${name}.z must have shape [ny, nx]; got shape [${grid.z.shape.join(", ")}]`);
    z = grid.z.arraySync() as number[][];
  } else {
    z = grid.z;
  }
  if (
    !Array.isArray(z) ||
    z.length !== y.length ||
    z.some((row) => !Array.isArray(row) || row.length !== x.length)
  ) {
    const got = Array.isArray(z)
      ? `[${z.length}, ${Array.isArray(z[0]) ? z[0].length : "?"}]`
      : typeof z;
    throw new Error(`${name}.z must have shape [ny, nx] = [${y.length}, ${x.length}]; got ${got}`);
  }
  return { x, y, z };
}

/** Options of `plotDensity` (and of the density in `plotContour`). */
export interface DensityOptions extends BaseOptions {
  /** Plotly colour scale. @default "Viridis" */
  colorscale?: string;
  /** Show the colour bar. @default true */
  showScale?: boolean;
  /** Colour-bar title. @default "p(x)" */
  zTitle?: string;
  /** Fix the colour range (e.g. to compare several figures). @default the data's range */
  zRange?: [number, number];
}

/** The heatmap trace of a grid (shared with `plotPath`). */
export function heatmapTrace(grid: Grid, options: DensityOptions = {}): Trace {
  const { x, y, z } = readGrid(grid);
  return {
    type: "heatmap",
    name: options.zTitle ?? "p(x)",
    x: roundAll(x),
    y: roundAll(y),
    z: z.map((row) => roundAll(row)),
    colorscale: options.colorscale ?? DENSITY_COLORSCALE,
    showscale: options.showScale ?? true,
    zmin: options.zRange ? round(options.zRange[0]) : undefined,
    zmax: options.zRange ? round(options.zRange[1]) : undefined,
    colorbar: { title: { text: options.zTitle ?? "p(x)" }, thickness: 14 },
    hovertemplate: `(%{x:.2f}, %{y:.2f})<br>${options.zTitle ?? "p(x)"} = %{z:.4g}<extra></extra>`,
  };
}

function gridLayout(grid: Grid, options: BaseOptions, title?: string) {
  const { x, y } = readGrid(grid);
  const layout = baseLayout(
    { ...options, title: options.title ?? title, equal: true },
    {
      width: 560,
      height: 480,
      xTitle: COORD_TITLES[0],
      yTitle: COORD_TITLES[1],
    },
  );
  (layout.xaxis as Record<string, unknown>).range = [x[0], x[x.length - 1]];
  (layout.yaxis as Record<string, unknown>).range = [y[0], y[y.length - 1]];
  (layout.xaxis as Record<string, unknown>).constrain = "domain";
  (layout.yaxis as Record<string, unknown>).constrain = "domain";
  return layout;
}

/**
 * A heatmap of values on a grid (a density p_t, a log-density, a divergence, ...), axes equal.
 * @example
 * fm.show(fm.plotDensity(fm.evaluateGrid(density, { xRange: [-4, 4], n: 80 }), { title: "p_0" }));
 */
export function plotDensity(grid: Grid, options: DensityOptions = {}): Figure {
  return finish({ data: [heatmapTrace(grid, options)], layout: gridLayout(grid, options) });
}

/** Options of `plotContour`. */
export interface ContourOptions extends DensityOptions {
  /** Number of contour levels (plotly's `ncontours`, an upper bound). @default 12 */
  levels?: number;
  /** Fill between levels (`true`) or draw coloured lines only. @default false */
  filled?: boolean;
}

/** The contour trace of a grid. */
export function contourTrace(grid: Grid, options: ContourOptions = {}): Trace {
  const base = heatmapTrace(grid, options);
  return {
    ...base,
    type: "contour",
    ncontours: options.levels ?? 12,
    autocontour: true,
    contours: { coloring: options.filled ? "fill" : "lines", showlabels: false },
    line: { width: 1.5 },
  };
}

/**
 * Contour lines (or filled contours) of values on a grid, axes equal.
 * @example
 * fm.show(fm.plotContour(grid, { levels: 8, title: "log p_1" }));
 */
export function plotContour(grid: Grid, options: ContourOptions = {}): Figure {
  return finish({ data: [contourTrace(grid, options)], layout: gridLayout(grid, options) });
}
