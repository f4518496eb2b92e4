/**
 * Curves against a count: training loss against step (lecture, concept 6: training), and a sample
 * quality metric against the number of function evaluations, NFE (concept 6: solvers; concept 7:
 * reflow makes few-step sampling work).
 */
import * as tf from "@tensorflow/tfjs";
import {
  BaseOptions,
  Figure,
  Trace,
  baseLayout,
  color,
  finish,
  logAxis,
  round,
  roundAll,
  toNumbers,
} from "./figure";

/** One named curve. `x` defaults to 1, 2, 3, ... */
export interface CurveSeries {
  name: string;
  values: number[] | tf.Tensor;
  x?: number[];
}

/** Options of `plotLoss`. */
export interface LossOptions extends BaseOptions {
  /** Logarithmic y axis (losses usually fall over decades). @default true */
  logY?: boolean;
  /**
   * Also draw an exponential moving average with this weight on the past (0 = none; 0.9 ≈ the last
   * 10 steps), the raw curve then fainter. @default 0
   */
  smooth?: number;
  /** Keep at most this many points per curve (every k-th step and the last). @default 2000 */
  maxPoints?: number;
}

/** Exponential moving average, bias-corrected at the start (so it starts at the first value). */
export function smoothCurve(values: number[], weight: number): number[] {
  if (!(weight >= 0 && weight < 1)) throw new Error(`smooth must lie in [0, 1); got ${weight}`);
  const out: number[] = [];
  let m = 0;
  let w = 0;
  for (const v of values) {
    if (!Number.isFinite(v)) {
      out.push(NaN);
      continue;
    }
    m = weight * m + (1 - weight) * v;
    w = weight * w + (1 - weight);
    out.push(m / w);
  }
  return out;
}

/** Indices kept when thinning `n` points to at most `max` (every k-th, and always the last). */
export function thinIndices(n: number, max: number): number[] {
  if (!Number.isInteger(max) || max < 2)
    throw new Error(`maxPoints must be an integer >= 2; got ${max}`);
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  const k = Math.ceil(n / (max - 1));
  const idx: number[] = [];
  for (let i = 0; i < n; i += k) idx.push(i);
  if (idx[idx.length - 1] !== n - 1) idx.push(n - 1);
  return idx;
}

function readSeries(
  input: number[] | tf.Tensor | CurveSeries[] | Record<string, number[]>,
  what: string,
): CurveSeries[] {
  if (
    input instanceof tf.Tensor ||
    (Array.isArray(input) && (input.length === 0 || typeof input[0] === "number"))
  ) {
    return [{ name: what, values: input as number[] | tf.Tensor }];
  }
  if (Array.isArray(input)) return input as CurveSeries[];
  if (input !== null && typeof input === "object") {
    return Object.entries(input).map(([name, values]) => ({ name, values }));
  }
  throw new Error(
    `${what} must be numbers, a 1-D tensor, a list of { name, values } or { name: values }; got ` +
      `${typeof input}`,
  );
}

/**
 * Training loss against step: one curve, several named curves, optional smoothing, log y by
 * default.
 * @example
 * fm.show(fm.plotLoss(losses, { smooth: 0.9 }));
 * fm.show(fm.plotLoss({ "1-rectified": l1, "2-rectified": l2 }));
 */
export function plotLoss(
  loss: number[] | tf.Tensor | CurveSeries[] | Record<string, number[]>,
  options: LossOptions = {},
): Figure {
  const series = readSeries(loss, "loss");
  const smooth = options.smooth ?? 0;
  const logY = options.logY ?? true;
  const data: Trace[] = [];
  const drawnValues: number[] = [];
  series.forEach((s, k) => {
    const values = toNumbers(s.values, `${s.name} values`);
    drawnValues.push(...values);
    const xs = s.x ?? values.map((_, i) => i + 1);
    if (xs.length !== values.length) {
      throw new Error(
        `${s.name}: x and values must have the same length; got ${xs.length} and ${values.length}`,
      );
    }
    const keep = thinIndices(values.length, options.maxPoints ?? 2000);
    const c = color(k);
    // On a log axis a zero or negative loss cannot be drawn: leave a gap instead of a plotly
    // warning.
    const drawable = (v: number) => (logY && !(v > 0) ? null : round(v));
    data.push({
      type: "scatter",
      mode: "lines",
      name: smooth > 0 ? `${s.name} (raw)` : s.name,
      x: keep.map((i) => xs[i]),
      y: keep.map((i) => drawable(values[i])),
      line: { color: c, width: smooth > 0 ? 1 : 1.8 },
      opacity: smooth > 0 ? 0.35 : 1,
      hovertemplate: `${s.name}<br>step %{x}: %{y:.4g}<extra></extra>`,
    });
    if (smooth > 0) {
      const m = smoothCurve(values, smooth);
      data.push({
        type: "scatter",
        mode: "lines",
        name: `${s.name} (EMA ${smooth})`,
        x: keep.map((i) => xs[i]),
        y: keep.map((i) => drawable(m[i])),
        line: { color: c, width: 2 },
        hovertemplate: `${s.name} (smoothed)<br>step %{x}: %{y:.4g}<extra></extra>`,
      });
    }
  });
  const layout = baseLayout(
    { ...options, title: options.title ?? "Training loss" },
    {
      width: 640,
      height: 400,
      xTitle: "step",
      yTitle: "loss",
    },
  );
  if (logY) Object.assign(layout.yaxis as object, logAxis(drawnValues));
  layout.showlegend = data.length > 1;
  return finish({ data, layout });
}

/** One method's metric at several step counts. */
export interface NfeSeries {
  /** Legend name, e.g. `"Euler"`, `"midpoint"`, `"2-rectified, Euler"`. */
  name: string;
  /** Number of function evaluations (calls of the velocity field) per sample. */
  nfe: number[];
  /** The metric at each NFE (same length). */
  values: number[];
}

/** Options of `plotMetricVsNfe`. */
export interface NfeOptions extends BaseOptions {
  /** Name of the metric, for the y axis. @default "error" */
  metric?: string;
  /** Logarithmic NFE axis. @default true */
  logX?: boolean;
  /** Logarithmic metric axis. @default false */
  logY?: boolean;
}

/**
 * A metric (distance to the data, error against the exact flow, ...) against NFE, one line per
 * method or model, markers at the measured points.
 * @example
 * fm.show(fm.plotMetricVsNfe([
 *   { name: "Euler", nfe: [1, 2, 4, 8], values: [0.9, 0.5, 0.26, 0.13] },
 *   { name: "midpoint", nfe: [2, 4, 8], values: [0.3, 0.08, 0.02] },
 * ], { metric: "W2 distance", logY: true }));
 */
export function plotMetricVsNfe(series: NfeSeries[], options: NfeOptions = {}): Figure {
  if (!Array.isArray(series) || series.length === 0) {
    throw new Error(
      `series must be a non-empty list of { name, nfe, values }; got ${JSON.stringify(series)}`,
    );
  }
  const metric = options.metric ?? "error";
  const allNfe = new Set<number>();
  const allValues: number[] = [];
  const data: Trace[] = series.map((s, k) => {
    const nfe = toNumbers(s.nfe, `${s.name} nfe`);
    const values = toNumbers(s.values, `${s.name} values`);
    nfe.forEach((v) => allNfe.add(v));
    allValues.push(...values);
    if (nfe.length !== values.length) {
      throw new Error(
        `${s.name}: nfe and values must have the same length; got ${nfe.length} and ` +
          `${values.length}`,
      );
    }
    nfe.forEach((v, i) => {
      if (!(v > 0)) throw new Error(`${s.name}: nfe must be positive counts; entry ${i} is ${v}`);
    });
    return {
      type: "scatter",
      mode: "lines+markers",
      name: s.name,
      x: nfe,
      y: roundAll(values),
      line: { color: color(k), width: 2 },
      marker: { color: color(k), size: 7 },
      hovertemplate: `${s.name}<br>NFE %{x}: ${metric} %{y:.4g}<extra></extra>`,
    };
  });
  const layout = baseLayout(
    { ...options, title: options.title ?? `${metric} against NFE` },
    {
      width: 640,
      height: 420,
      xTitle: "NFE (velocity-field evaluations per sample)",
      yTitle: metric,
    },
  );
  // Ticks at the measured NFEs (step counts are few and meaningful: 1, 2, 4, 8, ...).
  const ticks = [...allNfe].sort((a, b) => a - b);
  Object.assign(layout.xaxis as object, {
    type: (options.logX ?? true) ? "log" : "linear",
    tickvals: ticks.length <= 12 ? ticks : undefined,
  });
  if (options.logY) Object.assign(layout.yaxis as object, logAxis(allValues));
  layout.showlegend = true;
  return finish({ data, layout });
}
