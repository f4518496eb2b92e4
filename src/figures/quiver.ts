/**
 * Vector fields as arrows ("quiver" plots): the velocity u_t(x) tells a particle at x, at time t,
 * where to go and how fast (lecture, concept 1; the conditional field of concept 3 and the marginal
 * field of concept 4).
 *
 * Arrows are drawn as line segments (a shaft and a two-stroke head) in one scatter trace, with the
 * arrow length proportional to the speed |u|. The scale is chosen so that a typical arrow (the 95th
 * percentile of speeds) is a bit shorter than the spacing between arrows; the rare much faster
 * arrows (a conditional field near t = 1 blows up) are clipped to `clip` spacings, so one outlier
 * does not shrink every other arrow to a dot. Hover the arrow tails for the exact speed.
 */
import * as tf from "@tensorflow/tfjs";
import type { VelocityField } from "../core/notation";
import { assertInRange } from "../core/checks";
import {
  BaseOptions,
  COORD_TITLES,
  Figure,
  Points,
  Trace,
  baseLayout,
  color,
  finish,
  round,
  roundAll,
  toXY,
} from "./figure";
import { GridSpec, gridPoints } from "./density";

/** Arrow positions and their vectors, both `[n, 2]`. */
export interface ArrowField {
  /** Where the arrows start. */
  points: Points;
  /** The vectors (velocities) at those points. */
  vectors: Points;
}

/** Options of `plotQuiver`. */
export interface QuiverOptions extends BaseOptions {
  /**
   * Length of the drawn arrow per unit of speed, or `"auto"` (typical arrow ≈ 0.9 spacings).
   * Give a number to compare several figures at one scale. @default "auto"
   */
  scale?: number | "auto";
  /** Longest drawn arrow, in spacings between arrows (`false`: never clip). @default 1.5 */
  clip?: number | false;
  /** Arrow colour. @default the first palette colour */
  color?: string;
  /** Line width in pixels. @default 1.3 */
  lineWidth?: number;
  /** Name in the legend and on hover. @default "u_t(x)" */
  name?: string;
  /** Small hoverable markers at the arrow tails showing |u|. @default true */
  tails?: boolean;
  /** One unit on x as long as one on y. @default true */
  equal?: boolean;
}

/** Read positions and vectors, checking they match. */
function readArrows(field: ArrowField): { px: number[]; py: number[]; vx: number[]; vy: number[] } {
  const p = toXY(field.points, "points");
  const v = toXY(field.vectors, "vectors");
  if (p.x.length !== v.x.length) {
    throw new Error(
      `points and vectors must have the same shape; got [${p.x.length}, 2] and [${v.x.length}, 2]`,
    );
  }
  return { px: p.x, py: p.y, vx: v.x, vy: v.y };
}

/**
 * Typical distance between neighbouring arrows: on a full rectangular grid (as from `fieldOnGrid`)
 * the smaller grid step; on a line, length / (n - 1); else sqrt(area of the bounding box / n).
 */
export function arrowSpacing(px: number[], py: number[]): number {
  const n = px.length;
  if (n === 0) return 1;
  const w = Math.max(...px) - Math.min(...px);
  const h = Math.max(...py) - Math.min(...py);
  if (n === 1 || (w === 0 && h === 0)) return 1;
  const nx = new Set(px).size;
  const ny = new Set(py).size;
  if (nx * ny === n && nx > 1 && ny > 1) return Math.min(w / (nx - 1), h / (ny - 1));
  // Points on a line (w or h zero): spread evenly along it.
  if (w === 0 || h === 0) return Math.max(w, h) / (n - 1);
  return Math.sqrt((w * h) / n);
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))));
  return sorted[i];
}

/**
 * The automatic arrow scale for one or several fields (several: one scale for all, as in an
 * animation over t): `0.9 * spacing / (95th percentile of the non-zero speeds)`.
 */
export function autoArrowScale(fields: ArrowField[]): number {
  const speeds: number[] = [];
  let spacing = Infinity;
  for (const f of fields) {
    const { px, py, vx, vy } = readArrows(f);
    spacing = Math.min(spacing, arrowSpacing(px, py));
    for (let i = 0; i < vx.length; i++) {
      const s = Math.hypot(vx[i], vy[i]);
      if (s > 0 && Number.isFinite(s)) speeds.push(s);
    }
  }
  speeds.sort((a, b) => a - b);
  const typical = quantile(speeds, 0.95);
  if (!(typical > 0) || !Number.isFinite(spacing)) return 1;
  return (0.9 * spacing) / typical;
}

/**
 * The traces of an arrow field: the arrows (one line trace) and, optionally, hoverable tails.
 * `scale` is the drawn length per unit speed; `spacing` sets the clip length and head size.
 */
export function quiverTraces(
  field: ArrowField,
  options: QuiverOptions & { scale: number; spacing: number },
): Trace[] {
  const { px, py, vx, vy } = readArrows(field);
  const clip = options.clip === undefined ? 1.5 : options.clip;
  const maxLen = clip === false ? Infinity : clip * options.spacing;
  const headMax = 0.35 * options.spacing;
  const cos = Math.cos((25 * Math.PI) / 180);
  const sin = Math.sin((25 * Math.PI) / 180);
  const ax: (number | null)[] = [];
  const ay: (number | null)[] = [];
  const speed: (number | null)[] = [];
  for (let i = 0; i < px.length; i++) {
    const s = Math.hypot(vx[i], vy[i]);
    speed.push(round(s));
    if (!(s > 0) || !Number.isFinite(s)) continue; // nothing to draw for a zero (or broken) vector
    const len = Math.min(s * options.scale, maxLen);
    const dx = vx[i] / s;
    const dy = vy[i] / s;
    const ex = px[i] + len * dx;
    const ey = py[i] + len * dy;
    const h = Math.min(0.3 * len, headMax);
    // Head strokes: the unit direction turned back by ±25°, length h.
    const h1x = ex - h * (cos * dx - sin * dy);
    const h1y = ey - h * (sin * dx + cos * dy);
    const h2x = ex - h * (cos * dx + sin * dy);
    const h2y = ey - h * (-sin * dx + cos * dy);
    ax.push(px[i], ex, h1x, ex, h2x, null);
    ay.push(py[i], ey, h1y, ey, h2y, null);
  }
  const name = options.name ?? "u_t(x)";
  const c = options.color ?? color(0);
  const traces: Trace[] = [
    {
      type: "scatter",
      mode: "lines",
      name,
      x: ax.map((v) => (v === null ? null : round(v))),
      y: ay.map((v) => (v === null ? null : round(v))),
      line: { color: c, width: options.lineWidth ?? 1.3 },
      hoverinfo: "skip",
    },
  ];
  if (options.tails ?? true) {
    traces.push({
      type: "scatter",
      mode: "markers",
      name: `|${name}|`,
      x: roundAll(px),
      y: roundAll(py),
      customdata: speed,
      marker: { color: c, size: 3, opacity: 0.6 },
      showlegend: false,
      hovertemplate: `(%{x:.2f}, %{y:.2f})<br>|${name}| = %{customdata:.3g}<extra></extra>`,
    });
  }
  return traces;
}

/**
 * Arrows of a vector field at given points, length proportional to speed, axes equal.
 * @example
 * const { points, vectors } = fm.fieldOnGrid(u, 0.5, { n: 15 });
 * fm.show(fm.plotQuiver({ points, vectors }, { title: "u_0.5(x)" }));
 */
export function plotQuiver(field: ArrowField, options: QuiverOptions = {}): Figure {
  const { px, py } = readArrows(field);
  const spacing = arrowSpacing(px, py);
  const scale =
    options.scale === undefined || options.scale === "auto"
      ? autoArrowScale([field])
      : options.scale;
  if (!(scale > 0) || !Number.isFinite(scale))
    throw new Error(`scale must be a positive number or "auto"; got ${scale}`);
  const data = quiverTraces(field, { ...options, scale, spacing });
  const layout = baseLayout(
    { ...options, equal: options.equal ?? true },
    { width: 520, height: 480, xTitle: COORD_TITLES[0], yTitle: COORD_TITLES[1] },
  );
  layout.showlegend = false;
  return finish({ data, layout });
}

/**
 * Samples a velocity field u_t on a grid at one time t, for `plotQuiver`. Leak-free. The grid
 * defaults to 15 x 15 points over [-3, 3]² (coarser than a density grid: arrows need room).
 * @example
 * fieldOnGrid((x, t) => fm.tf.neg(x), 0.5, { n: 11 }); // returns { points: [[-3, -3], ...],
 * vectors: [[3, 3], ...] }
 */
export function fieldOnGrid(
  u: VelocityField,
  t: number,
  spec: GridSpec = {},
): { points: number[][]; vectors: number[][] } {
  assertInRange(t, "t", 0, 1);
  const { points } = gridPoints({ n: 15, ...spec });
  const vectors = tf.tidy(() => {
    const out = u(tf.tensor2d(points, [points.length, 2]), t);
    if (
      !(out instanceof tf.Tensor) ||
      out.rank !== 2 ||
      out.shape[0] !== points.length ||
      out.shape[1] !== 2
    ) {
      const got = out instanceof tf.Tensor ? `shape [${out.shape.join(", ")}]` : typeof out;
      throw new Error(
        `the velocity field must return [${points.length}, 2] for [${points.length}, 2] points; ` +
          `got ${got}`,
      );
    }
    return out.arraySync() as number[][];
  });
  return { points, vectors };
}
