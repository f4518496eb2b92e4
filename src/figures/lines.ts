/**
 * Plain line plots and warped grids (lecture concept 1, notebook 1):
 * - `plotLines`: named curves y against x, e.g. a trajectory x_t against t, several candidate
 *   solutions of one ODE, Euler polygons over the exact path, an error against the step size.
 * - `gridLines` + `plotWarpedGrid`: the flow psi_t seen as a map of the plane: lay a grid of lines
 *   over the start positions x0, move every point of every line by psi_t, and draw the bent lines.
 */
import * as tf from "@tensorflow/tfjs";
import {
  BaseOptions,
  COORD_TITLES,
  Figure,
  Points,
  Trace,
  baseLayout,
  color,
  finish,
  logAxis,
  round,
  roundAll,
  toNumbers,
  toXY,
} from "./figure";

/** One named curve. */
export interface LineSeries {
  /** Legend and hover name. */
  name: string;
  /** The x values (e.g. times t). */
  x: number[] | tf.Tensor;
  /** The y values, as many as `x`. */
  y: number[] | tf.Tensor;
  /** Line colour. @default the palette colour of the series' index */
  color?: string;
  /** Plotly dash style. @default "solid" */
  dash?: "solid" | "dash" | "dot" | "dashdot" | "longdash";
  /** Line width in pixels. @default 2 */
  width?: number;
  /** Draw a marker at every point (e.g. the vertices of an Euler polygon). @default false */
  markers?: boolean;
  /** Draw markers only, no line. @default false */
  markersOnly?: boolean;
  /** List the series in the legend. @default true */
  showLegend?: boolean;
  /** Opacity of the series. @default 1 */
  opacity?: number;
}

/** Options of `plotLines`. */
export interface LinesOptions extends BaseOptions {
  /** One unit on x as long as one on y (for curves in the plane). @default false */
  equal?: boolean;
  /** Logarithmic x axis. @default false */
  logX?: boolean;
  /** Logarithmic y axis. @default false */
  logY?: boolean;
  /** Fixed x range. @default plotly's automatic range */
  xRange?: [number, number];
  /** Fixed y range. @default plotly's automatic range */
  yRange?: [number, number];
}

/**
 * Named curves on one pair of axes.
 * @example
 * const ts = [0, 0.25, 0.5, 0.75, 1];
 * fm.show(fm.plotLines([
 *   { name: "x_t = 0", x: ts, y: ts.map(() => 0) },
 *   { name: "x_t = t^2/4", x: ts, y: ts.map((t) => t * t / 4), dash: "dash" },
 * ], { xTitle: "t", yTitle: "x_t" }));
 */
export function plotLines(series: LineSeries[], options: LinesOptions = {}): Figure {
  if (!Array.isArray(series) || series.length === 0) {
    throw new Error(
      `plotLines needs a non-empty list of { name, x, y }; got ` +
        `${Array.isArray(series) ? "an empty list" : typeof series}`,
    );
  }
  const xs: number[] = [];
  const ys: number[] = [];
  const data: Trace[] = series.map((s, k) => {
    if (!s || typeof s !== "object" || typeof s.name !== "string") {
      throw new Error(`plotLines: series[${k}] must be { name, x, y }; got ${JSON.stringify(s)}`);
    }
    const x = toNumbers(s.x, `${s.name}: x`);
    const y = toNumbers(s.y, `${s.name}: y`);
    if (x.length !== y.length)
      throw new Error(
        `${s.name}: x and y must have the same length; got ${x.length} and ${y.length}`,
      );
    xs.push(...x);
    ys.push(...y);
    const c = s.color ?? color(k);
    const mode = s.markersOnly ? "markers" : s.markers ? "lines+markers" : "lines";
    return {
      type: "scatter",
      mode,
      name: s.name,
      x: roundAll(x),
      y: roundAll(y),
      line: { color: c, width: s.width ?? 2, dash: s.dash ?? "solid" },
      marker: { color: c, size: 6 },
      opacity: s.opacity,
      showlegend: s.showLegend ?? true,
      hovertemplate: `${s.name}<br>(%{x:.4g}, %{y:.4g})<extra></extra>`,
    };
  });
  const layout = baseLayout(
    { ...options, equal: options.equal ?? false },
    { width: 600, height: 420, xTitle: "x", yTitle: "y" },
  );
  if (options.logX) Object.assign(layout.xaxis as object, logAxis(xs));
  if (options.logY) Object.assign(layout.yaxis as object, logAxis(ys));
  if (options.xRange)
    Object.assign(layout.xaxis as object, { range: options.xRange, autorange: false });
  if (options.yRange)
    Object.assign(layout.yaxis as object, { range: options.yRange, autorange: false });
  layout.showlegend = data.filter((t) => t.showlegend !== false).length > 1;
  return finish({ data, layout });
}

/** Where to lay the grid of `gridLines`. */
export interface GridLinesSpec {
  /** x range of the grid. @default [-2, 2] */
  xRange?: [number, number];
  /** y range of the grid. @default the x range */
  yRange?: [number, number];
  /** Number of lines in each direction. @default 9 */
  lines?: number;
  /** Points along each line (more points: smoother bent lines). @default 41 */
  resolution?: number;
}

/**
 * A grid of lines as one point set: `points` (all points of all lines, `[m, 2]`, ready to be moved
 * by a flow) and, per line, the indices of its points in order. The first `lines` lines are
 * horizontal (constant y), the next `lines` vertical.
 */
export type GridLines = {
  /** Every point of every line, `[m, 2]` with m = 2 lines resolution. */
  points: number[][];
  /** One list of point indices per line. */
  lines: number[][];
  /** How many of `lines` (the first ones) are horizontal. */
  horizontal: number;
};

function linspace(lo: number, hi: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => lo + ((hi - lo) * i) / (n - 1));
}

function checkRange(r: unknown, name: string): [number, number] {
  if (
    !Array.isArray(r) ||
    r.length !== 2 ||
    !Number.isFinite(r[0]) ||
    !Number.isFinite(r[1]) ||
    !(r[0] < r[1])
  ) {
    throw new Error(`${name} must be [lo, hi] with lo < hi; got ${JSON.stringify(r)}`);
  }
  return r as [number, number];
}

/**
 * Lays a grid of horizontal and vertical lines over a rectangle, for `plotWarpedGrid`.
 * @example
 * const grid = fm.gridLines({ xRange: [-2, 2], lines: 5, resolution: 3 });
 * grid.points.length;   // returns 30 (5 horizontal + 5 vertical lines of 3 points)
 * grid.lines[0];        // returns [0, 1, 2]: the bottom line, left to right
 */
export function gridLines(spec: GridLinesSpec = {}): GridLines {
  const xRange = checkRange(spec.xRange ?? [-2, 2], "xRange");
  const yRange = checkRange(spec.yRange ?? xRange, "yRange");
  const lines = spec.lines ?? 9;
  const resolution = spec.resolution ?? 41;
  if (!Number.isInteger(lines) || lines < 2 || lines > 200)
    throw new Error(`lines must be an integer in [2, 200]; got ${lines}`);
  if (!Number.isInteger(resolution) || resolution < 2 || resolution > 2000) {
    throw new Error(`resolution must be an integer in [2, 2000]; got ${resolution}`);
  }
  const points: number[][] = [];
  const out: number[][] = [];
  const along = {
    x: linspace(xRange[0], xRange[1], resolution),
    y: linspace(yRange[0], yRange[1], resolution),
  };
  for (const y of linspace(yRange[0], yRange[1], lines)) {
    out.push(along.x.map((x) => points.push([x, y]) - 1));
  }
  for (const x of linspace(xRange[0], xRange[1], lines)) {
    out.push(along.y.map((y) => points.push([x, y]) - 1));
  }
  return { points, lines: out, horizontal: lines };
}

/** Options of `plotWarpedGrid`. */
export interface WarpedGridOptions extends BaseOptions {
  /** Colours of the lines that started horizontal and vertical. @default two palette colours */
  colors?: [string, string];
  /** Line width in pixels. @default 1.2 */
  lineWidth?: number;
  /** Fixed x range (use the same in several panels to compare them). @default automatic */
  xRange?: [number, number];
  /** Fixed y range. @default automatic */
  yRange?: [number, number];
}

/**
 * The lines of a grid after a map moved their points (e.g. psi_t): `points` are the moved
 * `grid.points` (same order, `[m, 2]` tensor or pairs). At t = 0 the flow is the identity and the
 * grid is straight; later the lines bend, stretch and turn with the flow. Axes equal.
 * @example
 * const grid = fm.gridLines();
 * const moved = flow.psi(tf.tensor2d(grid.points), 0.5);
 * fm.show(fm.plotWarpedGrid(moved, grid, { title: "psi_0.5" }));
 */
export function plotWarpedGrid(
  points: Points,
  grid: GridLines,
  options: WarpedGridOptions = {},
): Figure {
  if (!grid || !Array.isArray(grid.lines) || !Array.isArray(grid.points)) {
    throw new Error(
      `grid must come from gridLines() ({ points, lines, horizontal }); got ${typeof grid}`,
    );
  }
  const { x, y } = toXY(points, "points");
  if (x.length !== grid.points.length) {
    throw new Error(
      `points must be the grid's ${grid.points.length} points moved (same order); got ` +
        `${x.length} points`,
    );
  }
  const colors = options.colors ?? [color(0), color(1)];
  const group = (from: number, to: number, name: string, c: string): Trace => {
    const gx: (number | null)[] = [];
    const gy: (number | null)[] = [];
    for (let l = from; l < to; l++) {
      for (const i of grid.lines[l]) {
        if (!Number.isInteger(i) || i < 0 || i >= x.length)
          throw new Error(`grid.lines[${l}] holds ${i}, not an index of the ${x.length} points`);
        gx.push(round(x[i]));
        gy.push(round(y[i]));
      }
      gx.push(null);
      gy.push(null);
    }
    return {
      type: "scatter",
      mode: "lines",
      name,
      x: gx,
      y: gy,
      line: { color: c, width: options.lineWidth ?? 1.2 },
      hoverinfo: "skip",
    };
  };
  const data = [
    group(0, grid.horizontal, "lines that started horizontal", colors[0]),
    group(grid.horizontal, grid.lines.length, "lines that started vertical", colors[1]),
  ];
  const layout = baseLayout(
    { ...options, equal: true },
    { width: 480, height: 460, xTitle: COORD_TITLES[0], yTitle: COORD_TITLES[1] },
  );
  if (options.xRange)
    Object.assign(layout.xaxis as object, {
      range: checkRange(options.xRange, "xRange"),
      autorange: false,
    });
  if (options.yRange)
    Object.assign(layout.yaxis as object, {
      range: checkRange(options.yRange, "yRange"),
      autorange: false,
    });
  layout.showlegend = false;
  return finish({ data, layout });
}
