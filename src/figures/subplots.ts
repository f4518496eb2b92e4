/**
 * Combining figures: side by side in a grid (`subplots`), or drawn on the same axes (`overlay`),
 * e.g. the density p_t, the arrows of u_t and the particles x_t in one plot, or the data next to
 * the samples of a trained model.
 */
import { BaseOptions, Figure, Layout, Trace, dropUndefined, finish, placeLegend } from "./figure";

/** Options of `subplots`. */
export interface SubplotOptions {
  /** Figures per row. @default all in one row */
  columns?: number;
  /** A title above each panel. @default each figure's own title */
  titles?: string[];
  /** Title of the whole figure. @default none */
  title?: string;
  /** Total width in pixels. @default the widest figure's width times the number of columns */
  width?: number;
  /** Total height in pixels. @default the tallest figure's height times the number of rows */
  height?: number;
  /** Horizontal gap between panels, as a fraction of the width. @default 0.08 */
  gap?: number;
  /**
   * One colour scale for every heatmap and contour panel, with a single colour bar at the right of
   * the figure (the panels' own bars are dropped), so that equal colours mean equal values across
   * panels: `true`, or `{ title, range }`. The colour scale is the first such panel's; the range is
   * `range`, else the span of the panels' fixed ranges (`zRange`) when every panel has one, else
   * the span of their values. @default false: each panel keeps its own bar, if it shows one
   */
  sharedColorbar?: boolean | { title?: string; range?: [number, number] };
}

/** Fraction of the width kept at the right for a shared colour bar. */
const SHARED_BAR_WIDTH = 0.08;

function axisId(letter: "x" | "y", k: number): string {
  return k === 0 ? letter : `${letter}${k + 1}`;
}

function axisKey(letter: "x" | "y", k: number): string {
  return k === 0 ? `${letter}axis` : `${letter}axis${k + 1}`;
}

function titleText(layout: Layout): string | undefined {
  const t = layout.title as { text?: string } | string | undefined;
  return typeof t === "string" ? t : t?.text;
}

function checkFigures(figures: Figure[], what: string): void {
  if (!Array.isArray(figures) || figures.length === 0)
    throw new Error(`${what} needs a non-empty list of figures; got ${typeof figures}`);
  figures.forEach((f, i) => {
    if (!f || !Array.isArray(f.data) || typeof f.layout !== "object") {
      throw new Error(`${what}: figures[${i}] must be a figure { data, layout }; got ${typeof f}`);
    }
    if (f.frames && f.frames.length)
      throw new Error(
        `${what} cannot combine animated figures; figures[${i}] has ${f.frames.length} frames`,
      );
    for (const t of f.data) {
      if ((t.xaxis && t.xaxis !== "x") || (t.yaxis && t.yaxis !== "y")) {
        throw new Error(
          `${what}: figures[${i}] already has several axes (trace on ${t.xaxis}/${t.yaxis}); ` +
            `combine single-panel figures`,
        );
      }
    }
  });
}

/** True for traces that draw a colour bar (heatmaps, contours) unless it is switched off. */
function hasColorbar(t: Trace): boolean {
  return (t.type === "heatmap" || t.type === "contour") && t.showscale !== false;
}

const isColoured = (t: Trace): boolean => t.type === "heatmap" || t.type === "contour";

/**
 * The shared colour axis of `subplots` (see `SubplotOptions.sharedColorbar`), from the panels'
 * coloured traces.
 */
function sharedColorAxis(
  traces: Trace[],
  spec: { title?: string; range?: [number, number] },
): Record<string, unknown> {
  if (traces.length === 0)
    throw new Error(
      "subplots: sharedColorbar needs at least one heatmap or contour panel; there is none",
    );
  let range = spec.range;
  if (range !== undefined) {
    if (
      !Array.isArray(range) ||
      range.length !== 2 ||
      !range.every(Number.isFinite) ||
      !(range[0] < range[1])
    ) {
      throw new Error(
        `subplots: sharedColorbar.range must be [low, high] with low < high; got ` +
          `${JSON.stringify(range)}`,
      );
    }
  } else if (traces.every((t) => typeof t.zmin === "number" && typeof t.zmax === "number")) {
    range = [
      Math.min(...traces.map((t) => t.zmin as number)),
      Math.max(...traces.map((t) => t.zmax as number)),
    ];
  } else {
    let lo = Infinity;
    let hi = -Infinity;
    for (const t of traces) {
      for (const row of (t.z as number[][]) ?? []) {
        for (const v of row) {
          if (Number.isFinite(v)) {
            lo = Math.min(lo, v);
            hi = Math.max(hi, v);
          }
        }
      }
    }
    if (!(lo <= hi))
      throw new Error(
        "subplots: sharedColorbar found no finite value in the panels to set its range from; " +
          "give range",
      );
    range = lo < hi ? [lo, hi] : [lo - 1, hi + 1];
  }
  const first = traces[0];
  const title =
    spec.title ??
    (first.colorbar as { title?: { text?: string } } | undefined)?.title?.text ??
    String(first.name ?? "");
  return {
    colorscale: first.colorscale,
    cmin: range[0],
    cmax: range[1],
    colorbar: {
      title: { text: title },
      thickness: 14,
      x: 1 - SHARED_BAR_WIDTH + 0.01,
      xanchor: "left",
      y: 0.5,
      yanchor: "middle",
      len: 0.9,
    },
  };
}

/**
 * Figures side by side (in rows of `columns`), each in its own panel with its own axes and title.
 * Panels keep their axis settings (equal axes, log scales, fixed ranges). With `sharedColorbar`,
 * the heatmap and contour panels share one colour scale and one colour bar.
 * @example
 * fm.show(fm.subplots([fm.plotPoints(x1, { title: "data" }), fm.plotPoints(samples, { title:
 * "model" })]));
 */
export function subplots(figures: Figure[], options: SubplotOptions = {}): Figure {
  checkFigures(figures, "subplots");
  const n = figures.length;
  const columns = options.columns ?? n;
  if (!Number.isInteger(columns) || columns < 1)
    throw new Error(`columns must be a positive integer; got ${columns}`);
  const rows = Math.ceil(n / columns);
  const gap = options.gap ?? 0.08;
  const vgap = rows > 1 ? 0.12 : 0;
  const cellW = Math.max(...figures.map((f) => f.layout.width ?? 520));
  const cellH = Math.max(...figures.map((f) => f.layout.height ?? 480));
  const titles = options.titles ?? figures.map((f) => titleText(f.layout));
  const shared = options.sharedColorbar
    ? options.sharedColorbar === true
      ? {}
      : options.sharedColorbar
    : null;
  // With a shared colour bar, the panels fill the width left of it; otherwise each panel with a bar
  // makes room for it.
  const span = shared ? 1 - SHARED_BAR_WIDTH : 1;

  const layout: Layout = {
    ...figures[0].layout,
    width: options.width ?? Math.round(cellW * Math.min(columns, n) * 0.85),
    height: options.height ?? Math.round(cellH * rows),
    title: options.title ? { text: options.title, x: 0.5, xanchor: "center" } : undefined,
    margin: { l: 60, r: 30, t: options.title ? 80 : 50, b: 50 },
    annotations: [],
    showlegend: false,
  };
  delete layout.xaxis;
  delete layout.yaxis;
  const data: Trace[] = [];
  const shownNames = new Set<string>();
  const annotations: unknown[] = [];
  figures.forEach((fig, k) => {
    const r = Math.floor(k / columns);
    const c = k % columns;
    const colorbar = !shared && fig.data.some(hasColorbar);
    const x0 = span * (c / columns + gap / 2);
    const x1 = span * ((c + 1) / columns - gap / 2) - (colorbar ? 0.07 : 0);
    const y1 = 1 - r / rows - vgap / 2;
    const y0 = 1 - (r + 1) / rows + vgap / 2;
    const xid = axisId("x", k);
    const yid = axisId("y", k);
    const xaxis: Record<string, unknown> = {
      ...((fig.layout.xaxis as Record<string, unknown>) ?? {}),
      domain: [x0, x1],
      anchor: yid,
    };
    const yaxis: Record<string, unknown> = {
      ...((fig.layout.yaxis as Record<string, unknown>) ?? {}),
      domain: [y0, y1],
      anchor: xid,
    };
    if (yaxis.scaleanchor === "x") yaxis.scaleanchor = xid;
    if (xaxis.scaleanchor === "y") xaxis.scaleanchor = yid;
    layout[axisKey("x", k)] = xaxis;
    layout[axisKey("y", k)] = yaxis;
    for (const t of fig.data) {
      const trace: Trace = { ...t, xaxis: xid, yaxis: yid };
      if (shared && isColoured(t)) {
        for (const key of ["colorscale", "zmin", "zmax", "showscale", "colorbar"])
          delete trace[key];
        trace.coloraxis = "coloraxis";
      } else if (hasColorbar(t)) {
        trace.colorbar = {
          ...((t.colorbar as object) ?? {}),
          x: x1 + 0.01,
          xanchor: "left",
          y: (y0 + y1) / 2,
          yanchor: "middle",
          len: y1 - y0,
        };
      }
      // One legend for all panels: show each name once, and nothing from figures that hid their
      // legend.
      const name = String(t.name ?? "");
      if (t.type !== "scatter") {
        // Heatmaps and contours are explained by their colour bar, not the legend.
      } else if (fig.layout.showlegend === false || t.showlegend === false || shownNames.has(name))
        trace.showlegend = false;
      else {
        trace.showlegend = true;
        shownNames.add(name);
        layout.showlegend = true;
      }
      data.push(trace);
    }
    const title = titles[k];
    if (title) {
      annotations.push({
        text: title,
        showarrow: false,
        xref: "paper",
        yref: "paper",
        x: (x0 + x1) / 2,
        y: y1,
        xanchor: "center",
        yanchor: "bottom",
        yshift: 8,
        font: { size: 14 },
      });
    }
  });
  layout.annotations = annotations;
  if (shared)
    layout.coloraxis = sharedColorAxis(
      figures.flatMap((f) => f.data.filter(isColoured)),
      shared,
    );
  return finish(dropUndefined({ data, layout }));
}

/**
 * Figures drawn on the same axes: the traces of all, the layout (axes, size) of the first.
 * @example
 * fm.show(fm.overlay([fm.plotDensity(grid), fm.plotQuiver(field, { color: "white" }),
 * fm.plotPoints(xt)]));
 */
export function overlay(figures: Figure[], options: BaseOptions = {}): Figure {
  checkFigures(figures, "overlay");
  const layout: Layout = JSON.parse(JSON.stringify(figures[0].layout));
  if (options.title) layout.title = { text: options.title, x: 0.5, xanchor: "center" };
  if (options.width) layout.width = options.width;
  if (options.height) layout.height = options.height;
  if (options.xTitle) (layout.xaxis as Record<string, unknown>).title = { text: options.xTitle };
  if (options.yTitle) (layout.yaxis as Record<string, unknown>).title = { text: options.yTitle };
  if (options.title) layout.margin = { ...((layout.margin as object) ?? {}), t: 50 };
  const data = figures.flatMap((f) => f.data.map((t) => ({ ...t })));
  const show = data.filter((t) => t.showlegend !== false && t.type === "scatter").length > 1;
  const equal = (layout.yaxis as Record<string, unknown> | undefined)?.scaleanchor === "x";
  // Legend below the plot for equal axes or a colour bar (unless the first figure already made
  // room).
  if ((layout.legend as { orientation?: string } | undefined)?.orientation === "h")
    layout.showlegend = show;
  else placeLegend(layout, show, equal || data.some(hasColorbar));
  return finish({ data, layout });
}
