/**
 * Figures of the conditional probability path (lecture concept 3, notebook 3): the Gaussian path
 * p_t(x | x1) = N(t x1, sigma_t^2 I) that carries N(0, I) onto one data point x1, and its
 * conditional field u_t(x | x1) = (x1 - x) / (1 - t), which points at x1 and grows like
 * 1 / (1 - t).
 *
 * The builders evaluate the library's own path and field (`condOTPath`, `FiniteSet`), free every
 * tensor they make, and return a plotly figure; they never display anything.
 */
import * as tf from "@tensorflow/tfjs";
import { assertInRange } from "../core/checks";
import { condOTPath } from "../path/affine";
import { FiniteSet } from "../targets/gaussian-mixture";
import { Figure, PALETTE, Points, toXY } from "./figure";
import { GridSpec } from "./density";
import { plotLines } from "./lines";
import { plotPath, pathFrames } from "./path";
import { plotPoints } from "./points";
import { autoArrowScale, fieldOnGrid, plotQuiver } from "./quiver";
import { overlay, subplots } from "./subplots";

/** Checks that `x1` is one point of the plane, `[a, b]`. */
function readPoint(x1: unknown, fn: string): [number, number] {
  if (
    !Array.isArray(x1) ||
    x1.length !== 2 ||
    !x1.every((v) => typeof v === "number" && Number.isFinite(v))
  ) {
    throw new Error(
      `${fn}: x1 must be one point of the plane, [a, b] with finite numbers; ` +
        `got ${JSON.stringify(x1)}`,
    );
  }
  return [x1[0], x1[1]];
}

/** Checks a non-empty list of times in [0, 1], none equal to 1 unless `allowOne`. */
function readTimes(times: unknown, fn: string, allowOne: boolean): number[] {
  if (!Array.isArray(times) || times.length === 0) {
    throw new Error(
      `${fn}: times must be a non-empty list of times in [0, 1); got ${JSON.stringify(times)}`,
    );
  }
  times.forEach((t, i) => {
    assertInRange(t, `${fn}: times[${i}]`, 0, 1);
    if (t === 1 && !allowOne) {
      throw new Error(
        `${fn}: times[${i}] is 1, where p_1(. | x1) is a point mass and u_1(x | x1) ` +
          "divides by zero; " +
          "use times below 1, or sigmaMin > 0",
      );
    }
  });
  return times as number[];
}

/** Where to look: a square of half-width `halfWidth` around the segment from 0 to x1. */
function viewAround(
  x1: [number, number],
  halfWidth: number,
): { x: [number, number]; y: [number, number] } {
  const lo = (a: number) => Math.min(0, a) - halfWidth;
  const hi = (a: number) => Math.max(0, a) + halfWidth;
  return { x: [lo(x1[0]), hi(x1[0])], y: [lo(x1[1]), hi(x1[1])] };
}

/** What `plotOnePointPath` draws. */
export interface OnePointPathSpec {
  /** The data point x1, `[a, b]`. */
  x1: number[];
  /** Noise samples x0 (`[n, 2]`, tensor left alone): the particles are x_t = t x1 + sigma_t x0. */
  x0: Points;
  /** The times of the frames, in [0, 1] (below 1 unless `sigmaMin > 0`). */
  times: number[];
  /** Width left at t = 1 (`condOTPath(sigmaMin)`). @default 0 */
  sigmaMin?: number;
  /** Particles drawn (the first rows of x0). @default 300 */
  particles?: number;
  /** Density grid points per axis. @default 71 */
  n?: number;
  /** Arrows per axis. @default 15 */
  arrows?: number;
  /** Figure title. @default a description of the path */
  title?: string;
}

/**
 * The conditional path to one point as an animation over t: the density p_t(x | x1) (shading), the
 * particles x_t = t x1 + sigma_t x0 (dots) and the arrows of u_t(x | x1), one arrow scale for all
 * frames (tuned to the frame nearest t = 0.5; faster arrows are clipped), with a t-slider.
 * @example
 * const times = [0, 0.25, 0.5, 0.75, 0.95];
 * fm.show(fm.plotOnePointPath({ x1: [2, 1], x0: fm.randn([300, 2]), times }));
 */
export function plotOnePointPath(spec: OnePointPathSpec): Figure {
  const fn = "plotOnePointPath";
  if (spec === null || typeof spec !== "object")
    throw new Error(`${fn}: pass { x1, x0, times }; got ${String(spec)}`);
  const x1 = readPoint(spec.x1, fn);
  const sigmaMin = spec.sigmaMin ?? 0;
  assertInRange(sigmaMin, `${fn}: sigmaMin`, 0, 0.999);
  const times = readTimes(spec.times, fn, sigmaMin > 0);
  const count = spec.particles ?? 300;
  if (!Number.isInteger(count) || count < 1)
    throw new Error(`${fn}: particles must be a positive integer; got ${count}`);
  const noise = toXY(spec.x0, `${fn}: x0`);
  const starts = noise.x.slice(0, count).map((a, i) => [a, noise.y[i]]);
  const path = condOTPath(sigmaMin);
  const point = new FiniteSet([x1]);
  const view = viewAround(x1, 3);
  const arrowGrid: GridSpec = { xRange: view.x, yRange: view.y, n: spec.arrows ?? 15 };
  const x1Tensor = tf.tensor2d([x1]);
  try {
    const u = path.conditionalField(x1Tensor);
    const frames = pathFrames({
      times,
      density: (x, t) => tf.exp(point.logDensity(x, t, path)),
      field: u,
      particles: (t) => {
        const { alpha, sigma } = path.scheduler.at(t);
        return starts.map(([a, b]) => [alpha * x1[0] + sigma * a, alpha * x1[1] + sigma * b]);
      },
      grid: { xRange: view.x, yRange: view.y, n: spec.n ?? 71 },
      arrowGrid,
    });
    const middle = times.reduce(
      (best, t) => (Math.abs(t - 0.5) < Math.abs(best - 0.5) ? t : best),
      times[0],
    );
    const arrowScale = autoArrowScale([fieldOnGrid(u, middle, arrowGrid)]);
    const title = spec.title ?? "Transport to one point: p_t(x | x1), u_t(x | x1) and particles";
    return plotPath(frames, { title, arrowScale });
  } finally {
    x1Tensor.dispose();
  }
}

/** What `plotConditionalArrows` draws. */
export interface ConditionalArrowsSpec {
  /** The data point x1, `[a, b]`. */
  x1: number[];
  /** One panel per time, each in [0, 1). */
  times: number[];
  /** Arrows per axis. @default 13 */
  n?: number;
  /** Figure title. @default a description */
  title?: string;
  /** Width in pixels. @default 1150 */
  width?: number;
  /** Height in pixels. @default 340 */
  height?: number;
}

/**
 * The conditional field u_t(x | x1) = (x1 - x) / (1 - t) at several times, one panel each, each
 * with its own arrow scale (so the unchanging pattern shows), the largest speed in the panel's
 * title, the point x1, and a dashed circle of radius 2 (1 - t) around the mean t x1 of
 * p_t(. | x1).
 * @example
 * fm.show(fm.plotConditionalArrows({ x1: [2, 1], times: [0, 0.5, 0.9, 0.99] }));
 */
export function plotConditionalArrows(spec: ConditionalArrowsSpec): Figure {
  const fn = "plotConditionalArrows";
  if (spec === null || typeof spec !== "object")
    throw new Error(`${fn}: pass { x1, times }; got ${String(spec)}`);
  const x1 = readPoint(spec.x1, fn);
  const times = readTimes(spec.times, fn, false);
  const view = viewAround(x1, 2);
  const bare = { xTitle: "", yTitle: "" };
  const x1Tensor = tf.tensor2d([x1]);
  try {
    const u = condOTPath().conditionalField(x1Tensor);
    const panels = times.map((t) => {
      const arrows = fieldOnGrid(u, t, { xRange: view.x, yRange: view.y, n: spec.n ?? 13 });
      const maxSpeed = Math.max(...arrows.vectors.map(([a, b]) => Math.hypot(a, b)));
      const angles = Array.from({ length: 73 }, (_, i) => (2 * Math.PI * i) / 72);
      const r = 2 * (1 - t);
      const circle = {
        name: "2 std of p_t",
        x: angles.map((a) => t * x1[0] + r * Math.cos(a)),
        y: angles.map((a) => t * x1[1] + r * Math.sin(a)),
        dash: "dash" as const,
        color: "#888",
        width: 1.5,
      };
      const figure = overlay([
        plotQuiver(arrows, { ...bare, tails: false, name: "u_t(x | x1)" }),
        plotLines([circle], { ...bare, equal: true }),
        plotPoints([{ name: "x1", points: [x1], color: PALETTE[3], size: 9 }], {
          ...bare,
          opacity: 1,
        }),
      ]);
      return { figure, label: `t = ${t}: max |u| = ${maxSpeed.toFixed(maxSpeed < 10 ? 1 : 0)}` };
    });
    return subplots(
      panels.map((p) => p.figure),
      {
        titles: panels.map((p) => p.label),
        title:
          spec.title ??
          "u_t(x | x1) = (x1 - x) / (1 - t): every arrow points at x1 (red); " +
            "speeds grow as t → 1",
        width: spec.width ?? 1150,
        height: spec.height ?? 340,
        gap: 0.03,
      },
    );
  } finally {
    x1Tensor.dispose();
  }
}

/** What `plotSigmaMinTradeoff` draws. */
export interface SigmaMinTradeoffSpec {
  /** The data points x1. */
  data: number[][];
  /** The end of the sigma_min path over the data, x1 + sigma_min x0, for a few sigma_min. */
  blurred: { sigmaMin: number; points: number[][] }[];
  /** The sigma_min values of the sweep. */
  sweep: number[];
  /** Measured blur at each swept sigma_min: RMS distance of x1 + sigma_min x0 from x1. */
  blur: number[];
  /** Measured stiffness at each swept sigma_min: the field's Lipschitz constant at t = 1. */
  stiffness: number[];
  /** The data's finest scale, drawn as a dashed level. */
  scale: number;
  /** Points drawn per cloud. @default 200 */
  max?: number;
}

/**
 * Choosing sigma_min: one panel per shown value (the data and its blurred copy), then both costs
 * against sigma_min on log axes: the blur, which grows like sigma_min, and the stiffness at t = 1,
 * which falls like 1 / sigma_min, with the data's finest scale as a dashed level.
 */
export function plotSigmaMinTradeoff(spec: SigmaMinTradeoffSpec): Figure {
  const fn = "plotSigmaMinTradeoff";
  if (spec === null || typeof spec !== "object")
    throw new Error(`${fn}: pass { data, blurred, sweep, blur, stiffness, scale }`);
  const { sweep, blur, stiffness } = spec;
  if (
    !Array.isArray(sweep) ||
    sweep.length < 2 ||
    blur?.length !== sweep.length ||
    stiffness?.length !== sweep.length
  ) {
    throw new Error(
      `${fn}: sweep, blur and stiffness must be lists of the same length (at least 2); ` +
        `got ${sweep?.length}, ${blur?.length} and ${stiffness?.length}`,
    );
  }
  if (!Array.isArray(spec.blurred) || spec.blurred.length === 0)
    throw new Error(`${fn}: blurred must be a non-empty list`);
  const max = spec.max ?? 200;
  const bare = { xTitle: "", yTitle: "" };
  const clouds = spec.blurred.map((b) =>
    plotPoints(
      [
        { name: "data", points: spec.data.slice(0, max), color: "#999" },
        {
          name: `p_1 with σ_min = ${b.sigmaMin}`,
          points: b.points.slice(0, max),
          color: PALETTE[3],
        },
      ],
      { ...bare, size: 3, opacity: 0.7 },
    ),
  );
  const ends = [sweep[0], sweep[sweep.length - 1]];
  const costs = plotLines(
    [
      { name: "blur: RMS |x_1 - data point|", x: sweep, y: blur, markers: true, color: PALETTE[3] },
      {
        name: "stiffness: Lipschitz const. at t = 1",
        x: sweep,
        y: stiffness,
        markers: true,
        color: PALETTE[0],
      },
      {
        name: `finest scale of the data (${spec.scale})`,
        x: ends,
        y: ends.map(() => spec.scale),
        dash: "dash",
        color: "#888",
      },
    ],
    { logX: true, logY: true, xTitle: "σ_min", yTitle: "" },
  );
  return subplots([...clouds, costs], {
    titles: [...spec.blurred.map((b) => `σ_min = ${b.sigmaMin}`), "the trade-off"],
    title: "Choosing σ_min: blur of the data against stiffness of the field at t = 1",
    width: 1150,
    height: 340,
    gap: 0.04,
  });
}
