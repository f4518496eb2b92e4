/**
 * The continuity equation as pictures (lecture concepts 3 and 4; notebooks 3 and 4): its two terms,
 * the rate d/dt p_t at which density builds up or drains and the net inflow -div(p_t u_t), side by
 * side with their difference, the residual. Where u_t generates p_t the two terms are the same
 * picture and the residual is blank; a wrong field leaves a residual as large as the terms.
 *
 * `continuityMaps` evaluates the terms on a grid (through `continuityResidual`);
 * `plotContinuityMaps` draws one row of three panels per field, all on one colour scale.
 */
import * as tf from "@tensorflow/tfjs";
import type { ScalarField, VelocityField } from "../core/notation";
import { continuityResidual } from "../field/continuity";
import { Figure } from "./figure";
import { GridSpec, gridPoints, plotDensity } from "./density";
import { subplots } from "./subplots";

/** What `continuityMaps` evaluates. */
export interface ContinuityMapsSpec {
  /** log p_t(x), `(x [n, 2], t) -> [n]`, differentiable in x. */
  logDensity: ScalarField;
  /** The velocity u_t(x), `(x [n, 2], t) -> [n, 2]`. */
  velocity: VelocityField;
  /** The time, in [0, 1]. */
  t: number;
  /** The grid. @default 41 x 41 points over [-3, 3]² */
  grid?: GridSpec;
  /** Time step of the finite difference for d/dt p (see `continuityResidual`). @default 1e-2 */
  dt?: number;
}

/** Values on a grid, `z[j][i]` at `(x[i], y[j])`. */
export interface GridValues {
  x: number[];
  y: number[];
  z: number[][];
}

/** The continuity equation's terms on a grid at one time. */
export interface ContinuityMaps {
  /** The time. */
  t: number;
  /** d/dt p_t(x). */
  dpdt: GridValues;
  /** The net inflow -div(p_t u_t)(x). */
  inflow: GridValues;
  /** d/dt p_t + div(p_t u_t): zero where u_t generates p_t. */
  residual: GridValues;
  /** max |d/dt p_t| on the grid. */
  scale: number;
  /**
   * max |residual| / max |d/dt p_t|: float32 round-off (~1e-5) when u_t generates p_t, order 1
   * when not.
   */
  relative: number;
}

/**
 * The continuity equation's terms for a 2-D density and field at time t on a grid. Leak-free.
 * @example
 * const logDensity = data.logDensityField();
 * const m = fm.continuityMaps({ logDensity, velocity: data.field(), t: 0.5 });
 * m.relative;   // ~1e-5: the marginal field generates the marginal path
 */
export function continuityMaps(spec: ContinuityMapsSpec): ContinuityMaps {
  if (spec === null || typeof spec !== "object") {
    throw new Error(
      `continuityMaps: pass { logDensity, velocity, t, grid?, dt? }; got ${String(spec)}`,
    );
  }
  const { x, y, points } = gridPoints({ n: 41, ...spec.grid });
  const at = tf.tensor2d(points, [points.length, 2]);
  let dpdt: number[];
  let divFlux: number[];
  try {
    const r = continuityResidual({
      logDensity: spec.logDensity,
      velocity: spec.velocity,
      x: at,
      t: spec.t,
      dt: spec.dt,
    });
    dpdt = Array.from(r.dpdt.dataSync());
    divFlux = Array.from(r.divFlux.dataSync());
    tf.dispose(r);
  } finally {
    at.dispose();
  }
  const rows = (values: number[]): GridValues => ({
    x,
    y,
    z: y.map((_, j) => values.slice(j * x.length, (j + 1) * x.length)),
  });
  const residual = dpdt.map((v, i) => v + divFlux[i]);
  const largest = (values: number[]) => values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const scale = largest(dpdt);
  if (!(scale > 0) || !Number.isFinite(scale) || !residual.every(Number.isFinite)) {
    throw new Error(
      `continuityMaps: d/dt p_t is ${scale === 0 ? "zero" : "not finite"} somewhere on the grid ` +
        `at t = ${spec.t}; ` +
        "move the grid to where the density lives (or away from a singular time)",
    );
  }
  return {
    t: spec.t,
    dpdt: rows(dpdt),
    inflow: rows(divFlux.map((v) => -v)),
    residual: rows(residual),
    scale,
    relative: largest(residual) / scale,
  };
}

/** One row of `plotContinuityMaps`: a field's name and its maps. */
export interface ContinuityRow {
  /** The field's name, e.g. `"u_t(x | x1)"` or `"wrong u = x1"`. */
  label: string;
  /** Its maps (`continuityMaps`). */
  maps: ContinuityMaps;
}

/** Options of `plotContinuityMaps`. */
export interface ContinuityPlotOptions {
  /** Figure title. @default "Continuity equation at t = ..." */
  title?: string;
  /** Width in pixels. @default 1000 */
  width?: number;
  /** Height in pixels. @default 340 per row */
  height?: number;
}

/** A relative residual as a title reads it: `4e-6` when tiny, `0.80` when of order 1. */
function relativeLabel(r: number): string {
  return r < 0.01 ? r.toExponential(0) : r.toFixed(2);
}

/**
 * One row of three panels per field: d/dt p_t, the inflow -div(p_t u_t) and the residual (its size
 * relative to max |d/dt p_t| in the title). All panels share one colour scale, symmetric around 0
 * (red: density grows, blue: it drains), set by the first row's d/dt p_t.
 * @example
 * const rows = [{ label: "marginal field", maps: good }, { label: "wrong field", maps: bad }];
 * fm.show(fm.plotContinuityMaps(rows));
 */
export function plotContinuityMaps(
  rows: ContinuityRow[],
  options: ContinuityPlotOptions = {},
): Figure {
  if (!Array.isArray(rows) || rows.length === 0) {
    throw new Error(
      "plotContinuityMaps needs a non-empty list of { label, maps }; got " +
        (Array.isArray(rows) ? "an empty list" : typeof rows),
    );
  }
  rows.forEach((r, i) => {
    if (!r || typeof r.label !== "string" || !r.maps || !(r.maps.scale > 0)) {
      throw new Error(
        `plotContinuityMaps: rows[${i}] must be { label, maps } with maps from continuityMaps`,
      );
    }
  });
  const zMax = rows[0].maps.scale;
  const panel = (grid: GridValues) =>
    plotDensity(grid, {
      xTitle: "",
      yTitle: "",
      colorscale: "RdBu",
      zRange: [-zMax, zMax],
      showScale: false,
      zTitle: "rate",
    });
  const figures = rows.flatMap((r) => [
    panel(r.maps.dpdt),
    panel(r.maps.inflow),
    panel(r.maps.residual),
  ]);
  const titles = rows.flatMap((r) => [
    "∂p/∂t",
    `−∇·(p u), ${r.label}`,
    `residual, ${r.label}: ${relativeLabel(r.maps.relative)}`,
  ]);
  const t = rows[0].maps.t;
  return subplots(figures, {
    columns: 3,
    titles,
    title: options.title ?? `Continuity equation at t = ${t} (residuals relative to max |∂p/∂t|)`,
    width: options.width ?? 1000,
    height: options.height ?? 340 * rows.length,
    gap: 0.05,
    sharedColorbar: { title: "rate" },
  });
}
