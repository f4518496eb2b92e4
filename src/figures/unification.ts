/**
 * Figures of the unification notebook (notebook 8): the schedules alpha_t, sigma_t and
 * alpha_t / sigma_t of several forward processes in the course's clock, and the distance of
 * several samplers' outputs to held-out data in units of the two-sample noise floor.
 *
 * Pure builders: they read schedulers (plain numbers, no tensors) and return a plotly figure.
 */
import { assertInRange } from "../core/checks";
import type { AffineProbPath } from "../path/affine";
import { Figure, PALETTE } from "./figure";
import { LineSeries, plotLines } from "./lines";
import { subplots } from "./subplots";

/** One forward process to draw: a name and its path x_t = alpha_t x1 + sigma_t x0. */
export interface NamedPath {
  name: string;
  path: AffineProbPath;
}

export interface SchedulesOptions {
  /** Continuous schedules, drawn as lines. */
  processes: NamedPath[];
  /** A discrete schedule (e.g. DDPM's) drawn as dots at `stepTimes`. */
  discrete?: NamedPath & { stepTimes: number[] };
  /** Times of the lines (default 200 points in [0, 0.995]: some sigma_t vanish at t = 1). */
  times?: number[];
  title?: string;
}

function checkTimes(times: unknown, fn: string, what: string): number[] {
  if (!Array.isArray(times) || times.length === 0) {
    throw new Error(`${fn}: ${what} must be a non-empty list of times in [0, 1); got ${times}`);
  }
  times.forEach((t, i) => assertInRange(t, `${fn}: ${what}[${i}]`, 0, 1));
  return times as number[];
}

/**
 * Three panels: alpha_t (signal), sigma_t (noise, log scale) and alpha_t / sigma_t (log scale)
 * for each process, against the course's time t (0 noise, 1 data).
 */
export function plotSchedules(options: SchedulesOptions): Figure {
  const fn = "plotSchedules";
  const { processes, discrete } = options;
  if (!Array.isArray(processes) || processes.length === 0) {
    throw new Error(`${fn}: processes must be a non-empty list of { name, path }`);
  }
  processes.forEach((p, i) => {
    if (!p || typeof p.name !== "string" || !p.path || !p.path.scheduler) {
      throw new Error(`${fn}: processes[${i}] must be { name, path } with an affine path`);
    }
  });
  const ts = checkTimes(
    options.times ?? Array.from({ length: 200 }, (_, i) => i / 200),
    fn,
    "times",
  );
  const steps = discrete ? checkTimes(discrete.stepTimes, fn, "discrete.stepTimes") : [];
  type Get = (v: { alpha: number; sigma: number }) => number;
  const curves = (get: Get): LineSeries[] => [
    ...processes.map((p, i) => ({
      name: p.name,
      x: ts,
      y: ts.map((t) => get(p.path.scheduler.at(t))),
      color: PALETTE[i % PALETTE.length],
    })),
    ...(discrete
      ? [
          {
            name: discrete.name,
            x: steps,
            y: steps.map((t) => get(discrete.path.scheduler.at(t))),
            markersOnly: true,
            color: PALETTE[processes.length % PALETTE.length],
          },
        ]
      : []),
  ];
  const panel = (title: string, yTitle: string, get: Get, logY: boolean) =>
    plotLines(curves(get), {
      title,
      xTitle: "course time t (0 noise, 1 data)",
      yTitle,
      logY,
      width: 360,
      height: 360,
    });
  return subplots(
    [
      panel("alpha_t (signal)", "alpha_t", (v) => v.alpha, false),
      panel("sigma_t (noise), log scale", "sigma_t", (v) => v.sigma, true),
      panel("alpha_t / sigma_t, log scale", "alpha_t / sigma_t", (v) => v.alpha / v.sigma, true),
    ],
    {
      title: options.title ?? "Forward processes as x_t = alpha_t x1 + sigma_t x0",
      width: 1100,
      height: 430,
    },
  );
}

/** One sampler's result: its label on the axis, whether it draws noise, its ED / floor. */
export interface SamplerResult {
  label: string;
  stochastic: boolean;
  ratio: number;
  /** A reference row (e.g. fresh samples of the data), drawn grey. */
  reference?: boolean;
}

/**
 * The energy distance of each sampler's output to held-out data, in units of the noise floor,
 * with the expected value 1 (dashed) and a match threshold (dotted).
 */
export function plotSamplerQuality(
  results: SamplerResult[],
  options: { threshold?: number; title?: string } = {},
): Figure {
  const fn = "plotSamplerQuality";
  if (!Array.isArray(results) || results.length === 0) {
    throw new Error(`${fn}: results must be a non-empty list of { label, stochastic, ratio }`);
  }
  results.forEach((r, i) => {
    if (!r || typeof r.label !== "string" || !Number.isFinite(r.ratio) || r.ratio < 0) {
      throw new Error(
        `${fn}: results[${i}] must have a label and a finite ratio >= 0; got ${JSON.stringify(r)}`,
      );
    }
  });
  const threshold = options.threshold ?? 4;
  const idx = results.map((_, i) => i);
  const pick = (keep: (r: SamplerResult) => boolean) => idx.filter((i) => keep(results[i]));
  const dots = (name: string, ids: number[], color: string): LineSeries => ({
    name,
    x: ids,
    y: ids.map((i) => results[i].ratio),
    markersOnly: true,
    color,
  });
  const span = [-0.5, results.length - 0.5];
  const top = Math.max(threshold + 1, ...results.map((r) => r.ratio * 1.1));
  const chart = plotLines(
    [
      dots(
        "deterministic",
        pick((r) => !r.reference && !r.stochastic),
        PALETTE[0],
      ),
      dots(
        "stochastic",
        pick((r) => !r.reference && r.stochastic),
        PALETTE[1],
      ),
      dots(
        "reference",
        pick((r) => !!r.reference),
        "#888888",
      ),
      { name: "noise floor (expected)", x: span, y: [1, 1], dash: "dash", color: "#888888" },
      {
        name: "match threshold",
        x: span,
        y: [threshold, threshold],
        dash: "dot",
        color: "#aa3333",
      },
    ],
    {
      title: options.title ?? "Samplers: distance to held-out data",
      xTitle: "sampler",
      yTitle: "energy distance / noise floor",
      width: 900,
      height: 470,
      yRange: [0, top],
    },
  );
  chart.layout.xaxis = {
    ...(chart.layout.xaxis as object),
    tickvals: idx,
    ticktext: results.map((r) => r.label),
    tickangle: 0,
  };
  chart.layout.margin = { ...(chart.layout.margin as object), b: 80 };
  chart.data.forEach((trace) => {
    if (trace.mode === "markers") trace.marker = { ...(trace.marker as object), size: 12 };
  });
  return chart;
}
