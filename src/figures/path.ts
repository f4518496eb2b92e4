/**
 * A probability path over time: the density p_t, the velocity field u_t and particles x_t ~ p_t in
 * one picture, with a t-slider and a play button (lecture, concepts 1-4: u_t moves the particles,
 * and the particles stay distributed like p_t because u_t generates p_t).
 */
import * as tf from "@tensorflow/tfjs";
import { assertInRange } from "../core/checks";
import type { VelocityField } from "../core/notation";
import {
  BaseOptions,
  COORD_TITLES,
  Figure,
  Frame,
  Layout,
  Points,
  Trace,
  baseLayout,
  color,
  extent,
  finish,
  pad,
  toXY,
} from "./figure";
import { Grid, GridSpec, evaluateGrid, heatmapTrace, readGrid } from "./density";
import { ArrowField, arrowSpacing, autoArrowScale, fieldOnGrid, quiverTraces } from "./quiver";
import { pointsTrace } from "./points";
import { TrajectoryInput, readTrajectory } from "./trajectories";

/**
 * What to draw at one time t. Every frame must carry the same kinds (all with a density, or none,
 * ...).
 */
export interface PathFrame {
  /** The time, in [0, 1]. */
  t: number;
  /** p_t on a grid (see `evaluateGrid`). */
  density?: Grid;
  /** u_t as arrows (see `fieldOnGrid`). */
  field?: ArrowField;
  /** Particles x_t, `[n, 2]`. */
  particles?: Points;
}

/** Options of `plotPath`. */
export interface PathOptions extends BaseOptions {
  /** Index of the frame shown first (and in the static export). @default 0 */
  active?: number;
  /** Colour range of the density: per frame, or one range shared by all frames. @default "frame" */
  densityScale?: "frame" | "shared";
  /**
   * Arrow length per unit speed, one for all frames (so speeds compare across t). @default "auto"
   */
  arrowScale?: number | "auto";
  /** Longest drawn arrow, in arrow spacings. @default 1.5 */
  clip?: number | false;
  /** Milliseconds per frame when playing. @default 400 */
  frameDuration?: number;
  /** Particle marker size. @default 4 */
  particleSize?: number;
}

type Kind = "density" | "field" | "particles";
const KINDS: Kind[] = ["density", "field", "particles"];

/** The frame name of time t (also the slider's label). */
function frameName(t: number): string {
  return `t = ${Number(t.toFixed(3))}`;
}

/**
 * An animated probability path: density heatmap, velocity arrows and particles at each t, with a
 * slider over t and play/pause buttons. Axis ranges and the arrow scale are fixed across frames.
 * @example
 * const frames = [0, 0.25, 0.5, 0.75, 1].map((t) => ({
 *   t,
 *   density: fm.evaluateGrid((x) => density(x, t), { n: 50 }),
 *   field: fm.fieldOnGrid(u, Math.min(t, 0.95), { n: 13 }),
 *   particles: xtAt(t),
 * }));
 * fm.show(fm.plotPath(frames, { title: "The marginal path" }), { export: "marginal-path" });
 */
export function plotPath(frames: PathFrame[], options: PathOptions = {}): Figure {
  if (!Array.isArray(frames) || frames.length === 0) {
    throw new Error(
      `frames must be a non-empty list of { t, density?, field?, particles? }; got ` +
        `${JSON.stringify(frames)}`,
    );
  }
  const kinds = KINDS.filter((k) => frames[0][k] !== undefined);
  if (kinds.length === 0)
    throw new Error("frames[0] must carry at least one of density, field, particles; got none");
  const names = new Set<string>();
  frames.forEach((f, i) => {
    assertInRange(f.t, `frames[${i}].t`, 0, 1);
    for (const k of KINDS) {
      if ((f[k] !== undefined) !== kinds.includes(k)) {
        throw new Error(
          `every frame must carry the same kinds as frames[0] (${kinds.join(", ")}); ` +
            `frames[${i}] differs in ${k}`,
        );
      }
    }
    const name = frameName(f.t);
    if (names.has(name)) throw new Error(`frame times must differ; ${name} appears twice`);
    names.add(name);
  });
  const active = options.active ?? 0;
  if (!Number.isInteger(active) || active < 0 || active >= frames.length) {
    throw new Error(`active must be a frame index in [0, ${frames.length - 1}]; got ${active}`);
  }

  // Fixed axis ranges: the density grid's extent, else everything drawn, padded.
  let xr: [number, number];
  let yr: [number, number];
  if (kinds.includes("density")) {
    const xs: number[] = [];
    const ys: number[] = [];
    for (const f of frames) {
      const g = readGrid(f.density as Grid, "density");
      xs.push(g.x[0], g.x[g.x.length - 1]);
      ys.push(g.y[0], g.y[g.y.length - 1]);
    }
    xr = extent(xs);
    yr = extent(ys);
  } else {
    const xs: number[] = [];
    const ys: number[] = [];
    for (const f of frames) {
      for (const p of [f.particles, f.field?.points]) {
        if (p === undefined) continue;
        const c = toXY(p);
        xs.push(...c.x);
        ys.push(...c.y);
      }
    }
    xr = pad(extent(xs));
    yr = pad(extent(ys));
  }

  let zRange: [number, number] | undefined;
  if (kinds.includes("density") && options.densityScale === "shared") {
    const all: number[] = [];
    for (const f of frames)
      for (const row of readGrid(f.density as Grid, "density").z) all.push(...row);
    zRange = extent(all);
  }
  const fields = kinds.includes("field") ? frames.map((f) => f.field as ArrowField) : [];
  const arrowScale =
    options.arrowScale === undefined || options.arrowScale === "auto"
      ? autoArrowScale(fields)
      : options.arrowScale;
  const spacing = fields.length
    ? Math.min(
        ...fields.map((f) => {
          const p = toXY(f.points, "field.points");
          return arrowSpacing(p.x, p.y);
        }),
      )
    : 1;

  const tracesOf = (f: PathFrame): Trace[] => {
    const out: Trace[] = [];
    if (f.density) out.push(heatmapTrace(f.density, { zRange, zTitle: "p_t(x)" }));
    if (f.field) {
      // White arrows read well on the density's colours; on a white background, the first palette
      // colour.
      const arrowColor = f.density ? "rgba(255,255,255,0.9)" : color(0);
      out.push(
        ...quiverTraces(f.field, {
          scale: arrowScale,
          spacing,
          clip: options.clip,
          tails: false,
          name: "u_t(x)",
          color: arrowColor,
        }),
      );
    }
    if (f.particles) {
      out.push(
        pointsTrace(f.particles, "particles x_t", {
          color: color(3),
          size: options.particleSize ?? 4,
          opacity: 0.85,
        }),
      );
    }
    return out;
  };

  const animationFrames: Frame[] = frames.map((f) => {
    const data = tracesOf(f);
    return { name: frameName(f.t), data, traces: data.map((_, i) => i) };
  });
  const data = tracesOf(frames[active]);

  const duration = options.frameDuration ?? 400;
  const layout: Layout = baseLayout(
    {
      ...options,
      title: options.title ?? "Probability path",
      equal: true,
      height: options.height ?? 600,
    },
    { width: 560, height: 600, xTitle: COORD_TITLES[0], yTitle: COORD_TITLES[1] },
  );
  Object.assign(layout.xaxis as object, { range: xr, autorange: false, constrain: "domain" });
  Object.assign(layout.yaxis as object, { range: yr, autorange: false, constrain: "domain" });
  layout.margin = { l: 60, r: 20, t: 50, b: 130 };
  layout.showlegend = false;
  layout.sliders = [
    {
      active,
      currentvalue: { prefix: "", font: { size: 14 } },
      pad: { t: 50, b: 10 },
      len: 0.85,
      x: 0.15,
      steps: frames.map((f) => ({
        label: frameName(f.t),
        method: "animate",
        args: [
          [frameName(f.t)],
          { mode: "immediate", frame: { duration: 0, redraw: true }, transition: { duration: 0 } },
        ],
      })),
    },
  ];
  layout.updatemenus = [
    {
      type: "buttons",
      showactive: false,
      direction: "left",
      x: 0.13,
      xanchor: "right",
      y: 0,
      yanchor: "top",
      pad: { t: 60, r: 10 },
      buttons: [
        {
          label: "▶",
          method: "animate",
          args: [
            null,
            { frame: { duration, redraw: true }, fromcurrent: true, transition: { duration: 0 } },
          ],
        },
        {
          label: "❚❚",
          method: "animate",
          args: [
            [null],
            {
              mode: "immediate",
              frame: { duration: 0, redraw: false },
              transition: { duration: 0 },
            },
          ],
        },
      ],
    },
  ];
  return finish({ data, layout, frames: animationFrames });
}

/** What `pathFrames` evaluates at each time. */
export interface PathFramesSpec {
  /** The times of the frames, each in [0, 1]. */
  times: number[];
  /** The density p_t(x): `[m, 2] -> [m]` (or `[m, 1]`) at time t. */
  density?: (x: tf.Tensor2D, t: number) => tf.Tensor;
  /** The velocity field u_t(x), called `(x, t)` like every field of the course. */
  field?: VelocityField;
  /**
   * The particles: a trajectory with one step per time (`[T, n, 2]` tensor or list of `[n, 2]`,
   * e.g. an ODE solution saved at `times`), or a function of t returning `[n, 2]` points.
   */
  particles?: TrajectoryInput | ((t: number) => number[][] | tf.Tensor);
  /** Grid of the density. @default `{ xRange: [-3, 3], n: 60 }` */
  grid?: GridSpec;
  /** Grid of the arrows. @default `{ xRange: [-3, 3], n: 15 }` */
  arrowGrid?: GridSpec;
  /**
   * Largest time at which the field is evaluated (a conditional field blows up at t = 1); later
   * frames show the field at this time. @default 1
   */
  fieldTmax?: number;
}

/**
 * Evaluates a density, a velocity field and particles at each time, ready for `plotPath`.
 * Reads every tensor it makes and frees it: leak-free (the caller keeps what it passed in).
 * @example
 * const frames = fm.pathFrames({ times: [0, 0.25, 0.5, 0.75, 1], density: pt, field: u, particles:
 * trajectory }); fm.show(fm.plotPath(frames));
 */
export function pathFrames(spec: PathFramesSpec): PathFrame[] {
  if (!Array.isArray(spec.times) || spec.times.length === 0) {
    throw new Error(
      `times must be a non-empty list of times in [0, 1]; got ${JSON.stringify(spec.times)}`,
    );
  }
  spec.times.forEach((t, i) => assertInRange(t, `times[${i}]`, 0, 1));
  const tmax = spec.fieldTmax ?? 1;
  assertInRange(tmax, "fieldTmax", 0, 1);
  let steps: number[][][] | undefined;
  if (spec.particles !== undefined && typeof spec.particles !== "function") {
    const read = readTrajectory(spec.particles, "particles");
    if (read.length !== spec.times.length) {
      throw new Error(
        `particles must have one step per time (${spec.times.length}); got ${read.length} steps`,
      );
    }
    steps = read.map(({ x, y }) => x.map((xi, i) => [xi, y[i]]));
  }
  return spec.times.map((t, k) => {
    const frame: PathFrame = { t };
    const density = spec.density;
    if (density) frame.density = evaluateGrid((x) => density(x, t), spec.grid);
    if (spec.field) frame.field = fieldOnGrid(spec.field, Math.min(t, tmax), spec.arrowGrid);
    if (steps) frame.particles = steps[k];
    else if (typeof spec.particles === "function") {
      const f = spec.particles;
      frame.particles = tf.tidy(() => {
        const p = f(t);
        if (p instanceof tf.Tensor) {
          if (p.rank !== 2 || p.shape[1] !== 2)
            throw new Error(
              `particles(${t}) must have shape [n, 2]; got shape [${p.shape.join(", ")}]`,
            );
          return p.arraySync() as number[][];
        }
        return p;
      });
    }
    return frame;
  });
}
