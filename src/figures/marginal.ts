/**
 * Figures of the marginal probability path and the marginal vector field (lecture concept 4,
 * notebook 4): the conditional paths averaged over a data set, p_t(x) = E_{x1}[p_t(x | x1)]; the
 * posterior weights p(x1 | x_t = x) that turn the conditional fields into the marginal field; where
 * noise pushed through that field lands; and why its trajectories, unlike the conditional straight
 * lines, never cross.
 *
 * The builders read targets (`FiniteSet`, `GaussianMixture`) and plain arrays, free every tensor
 * they make, and return a plotly figure; they never display anything.
 */
import * as tf from "@tensorflow/tfjs";
import { assertInRange } from "../core/checks";
import { IsotropicMixture } from "../targets/gaussian-mixture";
import { Figure, PALETTE, Points, toXY } from "./figure";
import { GridSpec, evaluateGrid, plotContour, plotDensity } from "./density";
import { plotLines } from "./lines";
import { plotPoints } from "./points";
import { fieldOnGrid, plotQuiver } from "./quiver";
import { overlay, subplots } from "./subplots";
import { pathsAgainstTime } from "./timelines";
import { plotTrajectories } from "./trajectories";

const BARE = { xTitle: "", yTitle: "" };

function checkTarget(target: unknown, fn: string, name = "target"): IsotropicMixture {
  if (!(target instanceof IsotropicMixture)) {
    throw new Error(
      `${fn}: ${name} must be a FiniteSet or a GaussianMixture; ` +
        `got ${target === null ? "null" : typeof target}`,
    );
  }
  if (target.dim !== 2)
    throw new Error(
      `${fn}: ${name} must live in the plane (dimension 2); got dimension ${target.dim}`,
    );
  return target;
}

function checkTimes(times: unknown, fn: string): number[] {
  if (!Array.isArray(times) || times.length === 0) {
    throw new Error(
      `${fn}: times must be a non-empty list of times in [0, 1); got ${JSON.stringify(times)}`,
    );
  }
  times.forEach((t, i) => assertInRange(t, `${fn}: times[${i}]`, 0, 1));
  return times as number[];
}

/** Fixes a panel's axes to `range` (both axes). */
function withRange(fig: Figure, range: [number, number]): Figure {
  Object.assign(fig.layout.xaxis as object, { range, autorange: false });
  Object.assign(fig.layout.yaxis as object, { range, autorange: false });
  return fig;
}

/** One row of `plotMarginalPaths`: a named target. */
export interface MarginalPathRow {
  /** The row's name in the panel titles. */
  name: string;
  /** The data distribution: a `FiniteSet` (drawn as its points at t = 1) or a `GaussianMixture`. */
  target: IsotropicMixture;
}

/** Options of `plotMarginalPaths`. */
export interface MarginalPathsOptions {
  /** The columns' times, each in [0, 1). @default [0, 0.3, 0.6, 0.9] */
  times?: number[];
  /** The square shown, on both axes. @default [-3.2, 3.2] */
  range?: [number, number];
  /** Grid points per axis. @default 81 */
  n?: number;
  /** Figure title. @default "Marginal paths p_t from N(0, I) to the data" */
  title?: string;
  /** Width in pixels. @default 1150 */
  width?: number;
}

/**
 * The marginal path p_t of several data sets: one row per data set, one column per time (each panel
 * with its own colour scale), and the data p_1 at the right (a finite set's points; a mixture's
 * density). A finite set has no density at t = 1, so the times must lie below 1.
 * @example
 * const target = new fm.FiniteSet([[-2, 0], [2, 0]]);
 * fm.show(fm.plotMarginalPaths([{ name: "two points", target }]));
 */
export function plotMarginalPaths(
  rows: MarginalPathRow[],
  options: MarginalPathsOptions = {},
): Figure {
  const fn = "plotMarginalPaths";
  if (!Array.isArray(rows) || rows.length === 0)
    throw new Error(`${fn} needs a non-empty list of { name, target }`);
  rows.forEach((r, i) => checkTarget(r?.target, fn, `rows[${i}].target`));
  const times = checkTimes(options.times ?? [0, 0.3, 0.6, 0.9], fn);
  if (times.includes(1))
    throw new Error(`${fn}: times must lie below 1 (the last column shows p_1 = the data); got 1`);
  const range = options.range ?? [-3.2, 3.2];
  const grid: GridSpec = { xRange: range, n: options.n ?? 81 };
  const density = (target: IsotropicMixture, t: number) =>
    plotDensity(
      evaluateGrid((x) => tf.exp(target.logDensity(x, t)), grid),
      { ...BARE, showScale: false },
    );
  const dataPanel = (target: IsotropicMixture): Figure =>
    target.stds.every((s) => s === 0)
      ? withRange(
          plotPoints([{ name: "data", points: target.means, color: PALETTE[3] }], {
            ...BARE,
            size: 6,
            opacity: 1,
          }),
          range,
        )
      : density(target, 1);
  return subplots(
    rows.flatMap((r) => [...times.map((t) => density(r.target, t)), dataPanel(r.target)]),
    {
      columns: times.length + 1,
      titles: rows.flatMap((r) => [
        ...times.map((t) => `${r.name}, t = ${t}`),
        `${r.name}: p_1 = data`,
      ]),
      title: options.title ?? "Marginal paths p_t from N(0, I) to the data",
      width: options.width ?? 1150,
      height: 250 * rows.length,
      gap: 0.03,
    },
  );
}

/** Options of `plotPosteriorField`. */
export interface PosteriorFieldOptions {
  /** One panel per time, each in (0, 1). */
  times: number[];
  /**
   * The colour: the posterior weight of one component (its index) or, with `"max"`, the largest
   * weight at each place (how sure a particle there is of its destination). @default "max"
   */
  show?: number | "max";
  /**
   * Mark t x1 for every data point (the centres of the posterior's cells) instead of the data.
   * @default false
   */
  centres?: boolean;
  /** The square shown, on both axes. @default [-3, 3] */
  range?: [number, number];
  /** Colour grid points per axis. @default 61 */
  n?: number;
  /** Arrows per axis. @default 13 */
  arrows?: number;
  /** Figure title. @default a description */
  title?: string;
  /** Width in pixels. @default 1150 */
  width?: number;
  /** Height in pixels. @default 360 */
  height?: number;
}

/**
 * "Where am I headed?": at each time, the posterior weights p(x1 | x_t = x) as colour (one shared
 * colour bar from 0 to 1) and the marginal field u_t as arrows (scaled per panel: speeds grow like
 * 1 / (1 - t)), with the data points, or with `centres` the points t x1 around which the
 * posterior's cells sit.
 * @example
 * const twoPoints = new fm.FiniteSet([[-2, 0], [2, 0]]);
 * fm.show(fm.plotPosteriorField(twoPoints, { times: [0.1, 0.5, 0.9], show: 1 }));
 */
export function plotPosteriorField(
  target: IsotropicMixture,
  options: PosteriorFieldOptions,
): Figure {
  const fn = "plotPosteriorField";
  checkTarget(target, fn);
  if (options === null || typeof options !== "object")
    throw new Error(`${fn}: pass options { times, ... }`);
  const times = checkTimes(options.times, fn);
  const show = options.show ?? "max";
  if (show !== "max" && !(Number.isInteger(show) && show >= 0 && show < target.numComponents)) {
    throw new Error(
      `${fn}: show must be "max" or a component index in [0, ${target.numComponents - 1}]; ` +
        `got ${show}`,
    );
  }
  const range = options.range ?? [-3, 3];
  const inner: [number, number] = [range[0] * 0.92, range[1] * 0.92];
  const zTitle =
    show === "max" ? "max_k p(k | x, t)" : `p(x1 = (${target.means[show].join(", ")}) | x, t)`;
  const weight = (x: tf.Tensor2D, t: number) =>
    show === "max"
      ? tf.max(target.posterior(x, t), 1)
      : tf.slice(target.posterior(x, t), [0, show], [-1, 1]);
  const panels = times.map((t) => {
    const marks = options.centres ? target.means.map((m) => m.map((v) => t * v)) : target.means;
    return overlay([
      plotDensity(
        evaluateGrid((x) => weight(x, t), { xRange: range, n: options.n ?? 61 }),
        {
          ...BARE,
          zRange: [0, 1],
          colorscale: show === "max" ? "Viridis" : "RdBu",
          showScale: false,
          zTitle,
        },
      ),
      plotQuiver(fieldOnGrid(target.field(), t, { xRange: inner, n: options.arrows ?? 13 }), {
        color: show === "max" ? "white" : "#222",
        lineWidth: 1,
        tails: false,
      }),
      plotPoints(
        [
          {
            name: options.centres ? "t x1" : "data",
            points: marks,
            color: options.centres ? PALETTE[3] : "#222",
          },
        ],
        {
          size: options.centres ? 5 : 8,
          opacity: 1,
        },
      ),
    ]);
  });
  return subplots(panels, {
    titles: times.map((t) => `t = ${t}`),
    title: options.title ?? `${zTitle} (colour) and the marginal field u_t (arrows)`,
    width: options.width ?? 1150,
    height: options.height ?? 360,
    gap: 0.03,
    sharedColorbar: { title: zTitle },
  });
}

/** What `plotMemorisation` draws. */
export interface MemorisationSpec {
  /** The training points. */
  training: Points;
  /** Samples of the exact field of the training set (noise pushed to t close to 1). */
  samples: Points;
  /** Fresh samples of the distribution the training points came from. */
  fresh: Points;
  /** Points drawn per cloud (the first rows). @default 300 */
  max?: number;
}

/**
 * Memorisation in two panels: the exact field's samples on top of the training points (they cover
 * them, dot for dot), and fresh samples of the data distribution on top of the same points (what
 * a generator that generalises would produce).
 */
export function plotMemorisation(spec: MemorisationSpec): Figure {
  const fn = "plotMemorisation";
  if (spec === null || typeof spec !== "object")
    throw new Error(`${fn}: pass { training, samples, fresh }`);
  const max = spec.max ?? 300;
  if (!Number.isInteger(max) || max < 1)
    throw new Error(`${fn}: max must be a positive integer; got ${max}`);
  const first = (p: Points, name: string) => {
    const { x, y } = toXY(p, `${fn}: ${name}`);
    return x.slice(0, max).map((a, i) => [a, y[i]]);
  };
  const training = {
    name: "training points",
    points: first(spec.training, "training"),
    color: "#f2b48c",
    size: 12,
  };
  return subplots(
    [
      plotPoints(
        [
          training,
          {
            name: "exact field's samples",
            points: first(spec.samples, "samples"),
            color: PALETTE[0],
            size: 4,
          },
        ],
        {
          ...BARE,
          opacity: 0.9,
        },
      ),
      plotPoints(
        [
          training,
          {
            name: "fresh samples of the data",
            points: first(spec.fresh, "fresh"),
            color: PALETTE[1],
            size: 4,
          },
        ],
        {
          ...BARE,
          opacity: 0.9,
        },
      ),
    ],
    {
      titles: [
        "samples of the exact field: copies of the training points",
        "what generalising would look like",
      ],
      width: 1000,
      height: 440,
    },
  );
}

/** Reads saved 1-D states `[T][n][1]`, checking they match `times`. */
function readLineStates(states: unknown, times: number[], fn: string, name: string): number[][][] {
  if (!Array.isArray(states) || states.length !== times.length) {
    throw new Error(
      `${fn}: ${name} must have one state per time (${times.length}); ` +
        `got ${Array.isArray(states) ? states.length : typeof states}`,
    );
  }
  return states as number[][][];
}

/** What `plotCrossings1d` draws. */
export interface Crossings1dSpec {
  /** The saved times. */
  times: number[];
  /** The conditional lines x_t = (1 - t) x0 + t x1, `[T][n][1]`. */
  lines: number[][][];
  /** Each line's destination x1 (its sign picks the colour). */
  destinations: number[];
  /** The marginal trajectories from the same starts, `[T][n][1]`. */
  trajectories: number[][][];
}

/**
 * Lines against trajectories on a line, t across and x_t up: left, the conditional straight lines
 * of random (noise, data) pairs, coloured by destination (they cross); right, the marginal field's
 * trajectories from the same starts (they never meet).
 */
export function plotCrossings1d(spec: Crossings1dSpec): Figure {
  const fn = "plotCrossings1d";
  if (spec === null || typeof spec !== "object")
    throw new Error(`${fn}: pass { times, lines, destinations, trajectories }`);
  const times = checkTimes(spec.times, fn);
  const lines = readLineStates(spec.lines, times, fn, "lines");
  const trajectories = readLineStates(spec.trajectories, times, fn, "trajectories");
  const n = lines[0].length;
  if (!Array.isArray(spec.destinations) || spec.destinations.length !== n) {
    throw new Error(
      `${fn}: destinations must have one entry per line (${n}); got ${spec.destinations?.length}`,
    );
  }
  const group = (sign: number) =>
    spec.destinations.map((d, i) => (Math.sign(d) === sign ? i : -1)).filter((i) => i >= 0);
  const series = (paths: number[][][], name: string, particles: number[], c: string) => ({
    name,
    color: c,
    width: 1.2,
    opacity: 0.8,
    ...pathsAgainstTime(paths, times, { particles }),
  });
  const axes = { xTitle: "t", yTitle: "x_t" };
  return subplots(
    [
      plotLines(
        [1, -1]
          .filter((sign) => group(sign).length > 0)
          .map((sign) => {
            const to = spec.destinations[group(sign)[0]];
            return series(lines, `line to ${to}`, group(sign), sign > 0 ? PALETTE[3] : PALETTE[0]);
          }),
        axes,
      ),
      plotLines(
        [
          series(
            trajectories,
            "marginal trajectory",
            Array.from({ length: n }, (_, i) => i),
            PALETTE[2],
          ),
        ],
        axes,
      ),
    ],
    {
      titles: [
        "conditional lines (random pairs): they cross",
        "marginal trajectories: they never meet",
      ],
      width: 1000,
      height: 420,
    },
  );
}

/** What `plotCrossings2d` draws. */
export interface Crossings2dSpec {
  /** The conditional lines, `[T][n][2]`. */
  lines: number[][][];
  /** The marginal trajectories from the same starts, `[T][n][2]`. */
  trajectories: number[][][];
  /** Particles drawn in red on both panels (e.g. a pair whose lines meet). @default [] */
  highlight?: number[];
  /** A point marked on the left panel (where the red lines meet). */
  meeting?: { point: number[]; label: string };
}

/**
 * Lines against trajectories in the plane: the conditional lines of random pairs (left) and the
 * marginal trajectories from the same starts (right), with chosen particles in red.
 */
export function plotCrossings2d(spec: Crossings2dSpec): Figure {
  const fn = "plotCrossings2d";
  if (spec === null || typeof spec !== "object")
    throw new Error(`${fn}: pass { lines, trajectories }`);
  if (!Array.isArray(spec.lines) || !Array.isArray(spec.trajectories) || spec.lines.length === 0) {
    throw new Error(`${fn}: lines and trajectories must be non-empty lists of [n, 2] states`);
  }
  const n = spec.lines[0].length;
  const red = spec.highlight ?? [];
  red.forEach((i, k) => {
    if (!Number.isInteger(i) || i < 0 || i >= n)
      throw new Error(`${fn}: highlight[${k}] must be a particle index in [0, ${n - 1}]; got ${i}`);
  });
  const others = Array.from({ length: n }, (_, i) => i).filter((i) => !red.includes(i));
  const pick = (paths: number[][][], idx: number[]) => paths.map((s) => idx.map((i) => s[i]));
  const panel = (paths: number[][][], c: string, extra: Figure[]) =>
    overlay([
      plotTrajectories(pick(paths, others), {
        ...BARE,
        opacity: 0.35,
        color: c,
        endNames: ["x_0", "x_1"],
      }),
      ...(red.length
        ? [
            plotTrajectories(pick(paths, red), {
              ...BARE,
              opacity: 1,
              color: PALETTE[3],
              ends: false,
            }),
          ]
        : []),
      ...extra,
    ]);
  const meet = spec.meeting
    ? [
        plotPoints(
          [{ name: spec.meeting.label, points: [spec.meeting.point], color: PALETTE[3], size: 10 }],
          { opacity: 1 },
        ),
      ]
    : [];
  return subplots([panel(spec.lines, PALETTE[0], meet), panel(spec.trajectories, PALETTE[2], [])], {
    titles: ["conditional lines of random pairs", "marginal trajectories from the same starts"],
    width: 1000,
    height: 470,
  });
}

/** What `plotFieldSamples` draws. */
export interface FieldSamplesSpec {
  /** The data distribution (its p_1 drawn as contours). */
  target: IsotropicMixture;
  /** Trajectories of noise pushed through the field, `[T, n, 2]` states. */
  trajectories: number[][][];
  /** Fresh samples of the data, for comparison with where the trajectories end. */
  fresh: Points;
  /** Paths drawn. @default 120 */
  maxPaths?: number;
  /** Points drawn per cloud in the right panel. @default 300 */
  max?: number;
}

/**
 * Sampling with an exact field: left, the trajectories over the contours of p_1; right, where they
 * end next to fresh samples of the data.
 */
export function plotFieldSamples(spec: FieldSamplesSpec): Figure {
  const fn = "plotFieldSamples";
  if (spec === null || typeof spec !== "object")
    throw new Error(`${fn}: pass { target, trajectories, fresh }`);
  const target = checkTarget(spec.target, fn);
  if (target.stds.some((s) => s === 0))
    throw new Error(`${fn}: target must have a density at t = 1 (a GaussianMixture)`);
  if (!Array.isArray(spec.trajectories) || spec.trajectories.length < 2) {
    throw new Error(`${fn}: trajectories must be a list of at least two [n, 2] states`);
  }
  const max = spec.max ?? 300;
  const { x, y } = toXY(spec.fresh, `${fn}: fresh`);
  const ends = spec.trajectories[spec.trajectories.length - 1];
  return subplots(
    [
      overlay([
        plotContour(
          evaluateGrid((p) => tf.exp(target.logDensity(p, 1)), { xRange: [-3, 3], n: 80 }),
          { ...BARE, showScale: false, levels: 5 },
        ),
        plotTrajectories(spec.trajectories, {
          ...BARE,
          maxPaths: spec.maxPaths ?? 120,
          opacity: 0.45,
          endNames: ["x_0", "x_1"],
        }),
      ]),
      plotPoints(
        [
          {
            name: "fresh samples of p_1",
            points: x.slice(0, max).map((a, i) => [a, y[i]]),
            color: PALETTE[1],
          },
          { name: "pushed noise x_1", points: ends.slice(0, max), color: PALETTE[0] },
        ],
        { ...BARE, size: 4 },
      ),
    ],
    {
      titles: ["trajectories of the exact field", "where they end, next to the data"],
      width: 1000,
      height: 470,
    },
  );
}
