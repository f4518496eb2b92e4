/**
 * What every figure builder shares: the `Figure` record (plotly's `{ data, layout }`), the course's
 * look (palette, fonts, axes), and the conversion of tensors or plain arrays into plotly's columns.
 *
 * Builders in `src/figures/` are pure: they read their inputs (tensors synchronously, never
 * disposing or creating any) and return a plain JSON-ready object. Only `src/notebook/display.ts`
 * talks to the notebook. Every trace gets a fixed `uid` derived from its index, so the same inputs
 * give byte-identical JSON, and `npm run figures` byte-identical SVG and PNG files.
 */
import * as tf from "@tensorflow/tfjs";

/** One plotly trace (`scatter`, `heatmap`, `contour`, ...). Extra plotly attributes are allowed. */
export interface Trace {
  /** Plotly's trace type. */
  type: string;
  /** Stable id (`"trace-0"`, ...), set by the builders; plotly draws a random one when missing. */
  uid?: string;
  /** Legend and hover name. */
  name?: string;
  [attribute: string]: unknown;
}

/** Plotly's layout. The builders always set `width` and `height` (static export uses them). */
export interface Layout {
  width?: number;
  height?: number;
  [attribute: string]: unknown;
}

/** One animation frame: the traces listed in `traces` (indices into `data`) replaced by `data`. */
export interface Frame {
  name: string;
  data: Trace[];
  traces?: number[];
  layout?: Layout;
}

/** A plotly figure, ready for `show(figure)` or `JSON.stringify`. */
export interface Figure {
  data: Trace[];
  layout: Layout;
  frames?: Frame[];
  config?: Record<string, unknown>;
}

/**
 * 2-D points: a `[n, 2]` tensor or an array of `[x, y]` pairs.
 * (Builders read tensors with `arraySync`; they do not dispose them.)
 */
export type Points = tf.Tensor | number[][];

/** Plain columns, as plotly wants them. */
export interface XY {
  x: number[];
  y: number[];
}

/** The course's colours (Okabe-Ito: distinguishable with the common colour-vision deficiencies). */
export const PALETTE = [
  "#0072B2", // blue
  "#E69F00", // orange
  "#009E73", // green
  "#D55E00", // vermillion
  "#CC79A7", // purple
  "#56B4E9", // sky blue
  "#F0E442", // yellow
  "#000000",
] as const;

/** The colour of series `i` (cycles through `PALETTE`). */
export function color(i: number): string {
  return PALETTE[((i % PALETTE.length) + PALETTE.length) % PALETTE.length];
}

/** Colour scale of densities (perceptually uniform, dark = low). */
export const DENSITY_COLORSCALE = "Viridis";

/**
 * Significant digits kept in the figure's numbers: plenty for a picture, and it keeps notebooks
 * small.
 */
export const DIGITS = 5;

/** Rounds to `DIGITS` significant digits; non-finite values become `null` (plotly leaves a gap). */
export function round(v: number): number | null {
  if (!Number.isFinite(v)) return null;
  if (v === 0) return 0;
  return Number(v.toPrecision(DIGITS));
}

/** Rounds every entry (see `round`). */
export function roundAll(values: ArrayLike<number>): (number | null)[] {
  const out = new Array<number | null>(values.length);
  for (let i = 0; i < values.length; i++) out[i] = round(values[i]);
  return out;
}

function describe(x: unknown): string {
  if (x instanceof tf.Tensor) return `a tensor of shape [${x.shape.join(", ")}]`;
  if (Array.isArray(x)) return `an array of length ${x.length}`;
  return x === null ? "null" : typeof x;
}

/**
 * Reads 2-D points into columns. Accepts a `[n, 2]` tensor or an array of `[x, y]` pairs.
 * Throws, naming `name` and what it got, for anything else.
 * @example
 * toXY([[0, 1], [2, 3]], "x1");   // returns { x: [0, 2], y: [1, 3] }
 */
export function toXY(points: Points, name = "points"): XY {
  let rows: number[][];
  if (points instanceof tf.Tensor) {
    if (points.rank !== 2 || points.shape[1] !== 2) {
      throw new Error(`${name} must have shape [n, 2]; got shape [${points.shape.join(", ")}]`);
    }
    rows = points.arraySync() as number[][];
  } else if (Array.isArray(points)) {
    rows = points;
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      if (
        !Array.isArray(r) ||
        r.length !== 2 ||
        typeof r[0] !== "number" ||
        typeof r[1] !== "number"
      ) {
        throw new Error(
          `${name} must be [x, y] pairs (shape [n, 2]); entry ${i} is ${JSON.stringify(r)}`,
        );
      }
    }
  } else {
    throw new Error(
      `${name} must be a [n, 2] tensor or an array of [x, y] pairs; got ${describe(points)}`,
    );
  }
  const x = new Array<number>(rows.length);
  const y = new Array<number>(rows.length);
  for (let i = 0; i < rows.length; i++) {
    x[i] = rows[i][0];
    y[i] = rows[i][1];
  }
  return { x, y };
}

/**
 * Reads a 1-D series (a tensor of any shape with one axis of length > 1, or an array of numbers).
 */
export function toNumbers(values: tf.Tensor | ArrayLike<number>, name = "values"): number[] {
  if (values instanceof tf.Tensor) {
    const nonTrivial = values.shape.filter((s) => s !== 1);
    if (nonTrivial.length > 1) {
      throw new Error(`${name} must be one-dimensional; got shape [${values.shape.join(", ")}]`);
    }
    return Array.from(values.dataSync());
  }
  if (values == null || typeof (values as ArrayLike<number>).length !== "number") {
    throw new Error(`${name} must be an array of numbers or a 1-D tensor; got ${describe(values)}`);
  }
  const out = Array.from(values as ArrayLike<number>);
  for (let i = 0; i < out.length; i++) {
    if (typeof out[i] !== "number")
      throw new Error(`${name} must hold numbers; entry ${i} is ${JSON.stringify(out[i])}`);
  }
  return out;
}

/** Smallest and largest finite value (or `[0, 1]` when there is none). */
export function extent(values: ArrayLike<number>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : [0, 1];
}

/**
 * `[lo, hi]` widened by `fraction` of its length on each side (a degenerate interval gets ±0.5).
 */
export function pad([lo, hi]: [number, number], fraction = 0.05): [number, number] {
  const w = hi - lo;
  if (w <= 0) return [lo - 0.5, hi + 0.5];
  return [round(lo - fraction * w) ?? lo, round(hi + fraction * w) ?? hi];
}

/**
 * Default axis titles of 2-D plots. (Not "x1"/"x2": in the lecture's notation x1 is a data sample.)
 */
export const COORD_TITLES = ["coordinate 1", "coordinate 2"] as const;

/** Options every builder understands. */
export interface BaseOptions {
  /** Figure title. @default none (or the builder's own) */
  title?: string;
  /** Width in pixels (also the static export's width). @default the builder's size */
  width?: number;
  /** Height in pixels. @default the builder's size */
  height?: number;
  /** x-axis title. @default the builder's own */
  xTitle?: string;
  /** y-axis title. @default the builder's own */
  yTitle?: string;
}

/** Axis style of the course: a plain frame, light grid, outside ticks. */
export function axisStyle(
  title?: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    title: title ? { text: title } : undefined,
    showline: true,
    linecolor: "#444",
    mirror: true,
    ticks: "outside",
    gridcolor: "#e8e8e8",
    zeroline: false,
    ...extra,
  };
}

/**
 * The course's layout: fonts, margins, white background, axes, and a fixed size.
 * `equal: true` makes one unit on x as long as one unit on y (for 2-D point plots).
 */
export function baseLayout(
  options: BaseOptions & { equal?: boolean },
  defaults: { width: number; height: number; xTitle?: string; yTitle?: string },
): Layout {
  const layout: Layout = {
    width: options.width ?? defaults.width,
    height: options.height ?? defaults.height,
    font: { family: "Helvetica, Arial, sans-serif", size: 13, color: "#222" },
    margin: { l: 60, r: 20, t: options.title ? 50 : 20, b: 50 },
    paper_bgcolor: "white",
    plot_bgcolor: "white",
    hovermode: "closest",
    legend: { bgcolor: "rgba(255,255,255,0.7)" },
    xaxis: axisStyle(options.xTitle ?? defaults.xTitle),
    yaxis: axisStyle(
      options.yTitle ?? defaults.yTitle,
      options.equal ? { scaleanchor: "x", scaleratio: 1 } : {},
    ),
  };
  if (options.title) layout.title = { text: options.title, x: 0.5, xanchor: "center" };
  return dropUndefined(layout);
}

/**
 * Removes `undefined` fields (recursively through plain objects), so the JSON is clean and stable.
 */
export function dropUndefined<T>(value: T): T {
  if (Array.isArray(value)) return value.map(dropUndefined) as unknown as T;
  if (
    value !== null &&
    typeof value === "object" &&
    Object.getPrototypeOf(value) === Object.prototype
  ) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (v !== undefined) out[k] = dropUndefined(v);
    }
    return out as T;
  }
  return value;
}

/**
 * Settings of a logarithmic axis showing `values`: plotly's automatic log ticks crowd the axis with
 * minor digits, so label the decades only when the data spans two or more, else 1-2-5 steps.
 */
export function logAxis(values: ArrayLike<number>): Record<string, unknown> {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v > 0 && Number.isFinite(v)) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  const decades = lo <= hi ? Math.log10(hi / lo) : 0;
  return { type: "log", dtick: decades >= 2 ? 1 : "D2", exponentformat: "power" };
}

/**
 * Shows or hides the legend. `below` puts it in a row under the plot (taller figure, same plot
 * area): for plots with equal axes, where a legend at the side would squeeze the plot, and for
 * plots whose right-hand side holds a colour bar.
 */
export function placeLegend(layout: Layout, show: boolean, below: boolean): Layout {
  layout.showlegend = show;
  if (!show || !below) return layout;
  const margin = (layout.margin as { t?: number; b?: number }) ?? {};
  const bottom = (margin.b ?? 50) + 50;
  layout.margin = { ...margin, b: bottom };
  layout.height = (layout.height ?? 480) + 50;
  // Legend y is a fraction of the plot's height: place its top 62 px under the plot, below the
  // x-axis title, inside the enlarged bottom margin.
  const plotHeight = layout.height - (margin.t ?? 50) - bottom;
  const y = -Math.min(0.5, 62 / Math.max(plotHeight, 1));
  layout.legend = {
    ...((layout.legend as object) ?? {}),
    orientation: "h",
    x: 0,
    xanchor: "left",
    y: Number(y.toFixed(4)),
    yanchor: "top",
  };
  return layout;
}

/** Plotly's `config` for the course: no logo, responsive, a PNG button at 2x scale. */
export const DEFAULT_CONFIG: Record<string, unknown> = {
  displaylogo: false,
  responsive: true,
  toImageButtonOptions: { format: "png", scale: 2 },
};

/**
 * Gives every trace its fixed uid (`trace-<index>`, also inside animation frames, where a frame's
 * trace gets the uid of the trace it replaces), adds the default config and drops undefined fields.
 */
export function finish(figure: Figure): Figure {
  figure.data.forEach((trace, i) => {
    trace.uid = `trace-${i}`;
  });
  for (const frame of figure.frames ?? []) {
    frame.data.forEach((trace, j) => {
      const target = frame.traces ? frame.traces[j] : j;
      trace.uid = `trace-${target}`;
    });
  }
  if (!figure.config) figure.config = { ...DEFAULT_CONFIG };
  return dropUndefined(figure);
}

/** True when `value` looks like a plotly figure (`{ data: [...], layout: {...} }`). */
export function isFigure(value: unknown): value is Figure {
  return (
    value !== null &&
    typeof value === "object" &&
    Array.isArray((value as Figure).data) &&
    (value as Figure).layout !== null &&
    typeof (value as Figure).layout === "object"
  );
}
