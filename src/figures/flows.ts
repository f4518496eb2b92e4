/**
 * Figures of notebook 1 (lecture concept 1: trajectory, flow, probability path, vector field, ODE).
 * Each builder draws one of the notebook's pictures in one call, from the library's own objects
 * (fields are evaluated on grids inside `tf.tidy`; tensors passed in are read, never disposed).
 */
import * as tf from "@tensorflow/tfjs";
import type { ScalarField, VelocityField } from "../core/notation";
import { sqrtSolutionParabola, sqrtSolutionZero } from "../examples/nonuniqueness";
import { GridSpec, evaluateGrid, plotContour, plotDensity } from "./density";
import { Figure, PALETTE, Points, color } from "./figure";
import { GridLines, plotLines, plotWarpedGrid } from "./lines";
import { plotPoints } from "./points";
import { autoArrowScale, fieldOnGrid, plotQuiver } from "./quiver";
import { overlay, subplots } from "./subplots";
import { TrajectoryInput, readTrajectory } from "./trajectories";

const bare = { xTitle: "", yTitle: "" };

function checkTimes(times: number[], fn: string, count?: number): void {
  if (!Array.isArray(times) || times.length === 0 || times.some((t) => !(t >= 0 && t <= 1))) {
    throw new Error(
      `${fn}: times must be a non-empty list of times in [0, 1]; got ${JSON.stringify(times)}`,
    );
  }
  if (count !== undefined && times.length !== count) {
    throw new Error(
      `${fn}: times must have one entry per saved state (${count}); got ${times.length}`,
    );
  }
}

/** Options shared by the builders of this file. */
export interface FlowFigureOptions {
  /** Figure title. @default the builder's own */
  title?: string;
  /** Width in pixels. @default the builder's own */
  width?: number;
  /** Height in pixels. @default the builder's own */
  height?: number;
}

/**
 * The two ends of the time axis side by side: samples of p_0 (noise, t = 0) and of p_1 (data, t =
 * 1).
 * @example
 * fm.show(fm.plotNoiseAndData(fm.randn([500, 2]), fm.twoMoons(500), { dataName: "two moons" }));
 */
export function plotNoiseAndData(
  noise: Points,
  data: Points,
  options: FlowFigureOptions & { dataName?: string } = {},
): Figure {
  const name = options.dataName ?? "data";
  return subplots(
    [
      plotPoints([{ name: "x0 ~ p_0", points: noise }], { size: 4 }),
      plotPoints([{ name: "x1 ~ p_1", points: data, color: PALETTE[1] }], { size: 4 }),
    ],
    {
      titles: ["t = 0: noise, p_0 = N(0, I)", `t = 1: data, p_1 (${name})`],
      title: options.title,
      width: options.width ?? 900,
      height: options.height ?? 420,
    },
  );
}

/**
 * The flow as a map of the plane: the lines of `grid` moved by psi_t, one panel per time.
 * @param maps the moved grid points at each time, time first (`[T, m, 2]` tensor, e.g. a
 *   `solveOde(..., { saveAt })` trajectory, or T lists of points), in the order of `grid.points`
 * @param grid the grid (from `gridLines`)
 * @param options `times` (one per map, shown as panel titles `ψ_t`) and `range` (both axes, all
 * panels)
 */
export function plotFlowMaps(
  maps: TrajectoryInput,
  grid: GridLines,
  options: FlowFigureOptions & { times: number[]; range?: [number, number] },
): Figure {
  const steps = readTrajectory(maps, "maps");
  checkTimes(options.times, "plotFlowMaps", steps.length);
  const range = options.range;
  const panels = steps.map((s) =>
    plotWarpedGrid(
      s.x.map((x, i) => [x, s.y[i]]),
      grid,
      { ...bare, xRange: range, yRange: range },
    ),
  );
  return subplots(panels, {
    titles: options.times.map((t) => `ψ_${t}`),
    title: options.title,
    width: options.width ?? 1150,
    height: options.height ?? 310,
    gap: 0.03,
  });
}

/** One row of `plotPathSnapshots`: a probability path's density and particles at the same times. */
export interface PathRow {
  /** Row label, put in front of each panel title (e.g. "straight"). @default none */
  label?: string;
  /** The density p_t(x). Give this or `logDensity`. */
  density?: ScalarField;
  /** log p_t(x) (exponentiated for the picture). */
  logDensity?: ScalarField;
  /** The particles at each time (`[T, n, 2]` tensor or T lists of points). */
  clouds: TrajectoryInput;
}

/**
 * Snapshots of probability paths: the exact density as shading and particles as dots, one panel per
 * time, one row per path (same times in every row).
 * @param options `times` (of the clouds), `grid` (where to evaluate the densities), `maxPoints`
 *   (particles drawn per panel, the first ones; @default 300)
 * @example
 * fm.show(fm.plotPathSnapshots([{ density: flow.density, clouds }], { times: [0, 0.5, 1] }));
 */
export function plotPathSnapshots(
  rows: PathRow[],
  options: FlowFigureOptions & { times: number[]; grid?: GridSpec; maxPoints?: number },
): Figure {
  if (!Array.isArray(rows) || rows.length === 0)
    throw new Error(`plotPathSnapshots needs a non-empty list of rows; got ${typeof rows}`);
  const times = options.times;
  checkTimes(times, "plotPathSnapshots");
  const max = options.maxPoints ?? 300;
  const panels: Figure[] = [];
  const titles: string[] = [];
  rows.forEach((row, r) => {
    const clouds = readTrajectory(row.clouds, `rows[${r}].clouds`);
    if (clouds.length !== times.length) {
      throw new Error(
        `plotPathSnapshots: rows[${r}] has ${clouds.length} clouds for ${times.length} times`,
      );
    }
    const field = row.density ?? row.logDensity;
    if (typeof field !== "function")
      throw new Error(`plotPathSnapshots: rows[${r}] needs a density or a logDensity`);
    times.forEach((t, k) => {
      const grid = evaluateGrid(
        (x) => (row.density ? row.density(x, t) : tf.exp(row.logDensity!(x, t))),
        options.grid,
      );
      const cloud = clouds[k].x.slice(0, max).map((x, i) => [x, clouds[k].y[i]]);
      panels.push(
        overlay([
          plotDensity(grid, { ...bare, showScale: false }),
          plotPoints([{ name: "particles x_t", points: cloud, color: PALETTE[3] }], {
            size: 2.5,
            opacity: 0.6,
          }),
        ]),
      );
      titles.push(row.label ? `${row.label}, t = ${t}` : `t = ${t}`);
    });
  });
  return subplots(panels, {
    columns: times.length,
    titles,
    title: options.title,
    width: options.width ?? 1150,
    height: options.height ?? 310 * rows.length - 40 * (rows.length - 1),
    gap: 0.03,
  });
}

/**
 * A time-dependent field at two or more times: contours of p_t, arrows of u_t on a grid (one length
 * scale for all panels) and, highlighted, the arrow at one point.
 * @param spec `field` u_t, `density` p_t, `times`, `point` (highlighted), `range` `{ xRange, yRange
 * }`
 */
export function plotFieldAtTimes(
  spec: {
    field: VelocityField;
    density: ScalarField;
    times: number[];
    point: [number, number];
  } & GridSpec,
  options: FlowFigureOptions = {},
): Figure {
  const { field, density, times, point } = spec;
  checkTimes(times, "plotFieldAtTimes");
  if (!Array.isArray(point) || point.length !== 2 || !point.every(Number.isFinite)) {
    throw new Error(`plotFieldAtTimes: point must be [x, y]; got ${JSON.stringify(point)}`);
  }
  const zoom = { xRange: spec.xRange, yRange: spec.yRange };
  const arrows = times.map((t) => fieldOnGrid(field, t, { ...zoom, n: 11 }));
  const atPoint = times.map((t) =>
    tf.tidy(() => (field(tf.tensor2d([point]), t).arraySync() as number[][])[0]),
  );
  const scale = autoArrowScale(arrows);
  const panels = times.map((t, k) =>
    overlay([
      plotContour(
        evaluateGrid((x) => density(x, t), { ...zoom, n: 60 }),
        { ...bare, showScale: false, levels: 6 },
      ),
      plotQuiver(arrows[k], {
        scale,
        color: "#8a8a8a",
        lineWidth: 1,
        tails: false,
        name: "u_t on a grid",
      }),
      plotQuiver(
        { points: [point], vectors: [atPoint[k]] },
        { scale, clip: false, color: PALETTE[3], lineWidth: 4, tails: false, name: "u_t(x*)" },
      ),
      plotPoints([{ name: "x*", points: [point], color: PALETTE[3], size: 8 }], { opacity: 1 }),
    ]),
  );
  const fmt = (v: number[]) => `(${v.map((x) => x.toFixed(2)).join(", ")})`;
  return subplots(panels, {
    titles: times.map((t, k) => `t = ${t}:  u_t(x*) = ${fmt(atPoint[k])}`),
    title: options.title,
    width: options.width ?? 1000,
    height: options.height ?? 470,
  });
}

/**
 * A velocity field and a score field of the same path at one time, side by side over the density:
 * where each particle is told to go, and where the crowd is densest.
 * @param spec `velocity` u_t, `score` grad log p_t, `logDensity` log p_t, `t`, and the grid range
 */
export function plotVelocityAndScore(
  spec: {
    velocity: VelocityField;
    score: VelocityField;
    logDensity: ScalarField;
    t: number;
  } & GridSpec,
  options: FlowFigureOptions = {},
): Figure {
  const { t } = spec;
  checkTimes([t], "plotVelocityAndScore");
  const range = { xRange: spec.xRange ?? ([-3.5, 3.5] as [number, number]), yRange: spec.yRange };
  const shade = evaluateGrid((x) => tf.exp(spec.logDensity(x, t)), { ...range, n: 70 });
  const panel = (u: VelocityField) =>
    overlay([
      plotDensity(shade, { showScale: false }),
      plotQuiver(fieldOnGrid(u, t, { ...range, n: 15 }), { color: "white" }),
    ]);
  return subplots([panel(spec.velocity), panel(spec.score)], {
    titles: [
      `velocity u_${t}(x): where each particle is told to go`,
      `score ∇ log p_${t}(x): where the crowd is`,
    ],
    title: options.title,
    width: options.width ?? 1000,
    height: options.height ?? 470,
  });
}

/**
 * Euler polygons over the exact trajectory of one particle.
 * @param exact points of the exact trajectory (a dense list of `[x, y]`)
 * @param polygons the vertices of each Euler solution, with its number of steps
 */
export function plotEulerPolygons(
  exact: number[][],
  polygons: { steps: number; vertices: number[][] }[],
  options: FlowFigureOptions = {},
): Figure {
  if (!Array.isArray(polygons) || polygons.length === 0)
    throw new Error("plotEulerPolygons needs at least one polygon");
  polygons.forEach((p, k) => {
    if (!Array.isArray(p.vertices) || p.vertices.length !== p.steps + 1) {
      throw new Error(
        `plotEulerPolygons: polygon ${k} must have steps + 1 = ${p.steps + 1} vertices; ` +
          `got ${p.vertices?.length}`,
      );
    }
  });
  const col = (rows: number[][], j: number) => rows.map((p) => p[j]);
  return plotLines(
    [
      {
        name: "exact trajectory ψ_t(x_0)",
        x: col(exact, 0),
        y: col(exact, 1),
        color: "#000",
        width: 3,
      },
      ...polygons.map((p, k) => ({
        name: `Euler, ${p.steps} steps`,
        x: col(p.vertices, 0),
        y: col(p.vertices, 1),
        markers: true,
        color: color(k),
        width: 1.5,
      })),
    ],
    {
      equal: true,
      title: options.title ?? "Euler polygons over the exact trajectory",
      xTitle: "coordinate 1",
      yTitle: "coordinate 2",
      width: options.width ?? 640,
      height: options.height ?? 520,
    },
  );
}

/**
 * A solver's global error against its step size h = 1/N on log-log axes, with a reference line of
 * slope `order` through the finest point.
 */
export function plotStepErrors(
  steps: number[],
  errors: number[],
  options: FlowFigureOptions & { order?: number; name?: string } = {},
): Figure {
  if (!Array.isArray(steps) || steps.length < 2 || steps.length !== errors.length) {
    throw new Error(
      `plotStepErrors needs as many errors as step counts (at least 2); ` +
        `got ${steps?.length} and ${errors?.length}`,
    );
  }
  if (errors.some((e) => !(e > 0)) || steps.some((n) => !(n > 0)))
    throw new Error("plotStepErrors: steps and errors must be positive");
  const order = options.order ?? 1;
  const hs = steps.map((n) => 1 / n);
  const last = hs.length - 1;
  return plotLines(
    [
      { name: options.name ?? "error at t = 1", x: hs, y: errors, markers: true },
      {
        name: `slope ${order} (error ∝ h^${order})`,
        x: hs,
        y: hs.map((h) => errors[last] * (h / hs[last]) ** order),
        dash: "dash",
        color: "#888",
      },
    ],
    {
      logX: true,
      logY: true,
      title: options.title ?? "Global error against the step size",
      xTitle: "step size h = 1 / N",
      yTitle: "|x_1(solver) - ψ_1(x_0)|",
      width: options.width,
      height: options.height,
    },
  );
}

/**
 * dx/dt = sqrt(x) from x_0 = 0: the two exact solutions x_t = 0 and x_t = t^2/4, with what solvers
 * computed drawn as markers over them.
 * @param times the times of the computed values (also where the exact curves are drawn)
 * @param computed named solver outputs, one value per time
 */
export function plotSqrtSolutions(
  times: number[],
  computed: { name: string; values: number[] }[],
  options: FlowFigureOptions = {},
): Figure {
  checkTimes(times, "plotSqrtSolutions");
  computed.forEach((c) => {
    if (!Array.isArray(c.values) || c.values.length !== times.length) {
      throw new Error(
        `plotSqrtSolutions: ${c.name} must have one value per time (${times.length}); ` +
          `got ${c.values?.length}`,
      );
    }
  });
  const every = Math.max(1, Math.floor(times.length / 20));
  const thin = <T>(v: T[]) => v.filter((_, i) => i % every === 0);
  return plotLines(
    [
      {
        name: "x_t = 0 (exact)",
        x: times,
        y: times.map(sqrtSolutionZero),
        width: 4,
        color: PALETTE[0],
      },
      {
        name: "x_t = t²/4 (exact)",
        x: times,
        y: times.map(sqrtSolutionParabola),
        width: 4,
        color: PALETTE[1],
      },
      ...computed.map((c, k) => ({
        name: c.name,
        x: thin(times),
        y: thin(c.values),
        markersOnly: true,
        color: color(k + 2),
      })),
    ],
    {
      title: options.title ?? "dx/dt = √x from x_0 = 0: two exact solutions",
      xTitle: "t",
      yTitle: "x_t",
      width: options.width,
      height: options.height,
    },
  );
}
