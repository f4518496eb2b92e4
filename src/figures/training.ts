/**
 * Figures of the flow matching loss and of training (lecture concepts 5 and 6, notebooks 05, 06):
 * - `plotGradientDistance`: how far apart the Monte-Carlo gradients of L_CFM and L_FM are, against
 *   the sample count, next to a wrong target and the reference C / sqrt(n);
 * - `plotLossGap`: both losses on fixed samples during training, their gap, and a control gap;
 * - `plotQualityVsNfe`: sample quality against the cost of sampling, one line per solver, with the
 *   floor two samples of the data already show;
 * - `plotTrainingComparison`: two training methods (maximum likelihood through the ODE solver and
 *   conditional flow matching) on one clock: held-out NLL and energy distance against wall time.
 *
 * The builders take plain arrays, make no tensors, and return a plotly figure; they never display
 * anything.
 */
import { BaseOptions, Figure } from "./figure";
import { plotMetricVsNfe } from "./curves";
import { plotLines } from "./lines";
import { subplots } from "./subplots";

function checkSeries(fn: string, name: string, x: unknown, y: unknown): void {
  if (!Array.isArray(x) || !Array.isArray(y) || x.length === 0 || x.length !== y.length) {
    const len = (v: unknown) => (Array.isArray(v) ? v.length : typeof v);
    throw new Error(
      `${fn}: ${name} needs two non-empty lists of the same length; got ${len(x)} and ${len(y)}`,
    );
  }
  [...x, ...y].forEach((v, i) => {
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new Error(`${fn}: ${name} must hold finite numbers; entry ${i} is ${v}`);
    }
  });
}

/** The measured gradient distances of `plotGradientDistance`. */
export interface GradientDistanceInput {
  /** Sample counts n. */
  ns: number[];
  /** RMS of |g_CFM - g_FM| / |g| at each n, with the target x1 - x0. */
  right: number[];
  /** The same with a wrong target (x1). */
  wrong: number[];
}

/**
 * |g_CFM - g_FM| / |grad L_FM| against the sample count n on log-log axes: the right target, a
 * wrong one, and the reference line C / sqrt(n) through the first point of the right target.
 */
export function plotGradientDistance(input: GradientDistanceInput, options: BaseOptions = {}) {
  const fn = "plotGradientDistance";
  const { ns, right, wrong } = input ?? ({} as GradientDistanceInput);
  checkSeries(fn, "ns and right", ns, right);
  checkSeries(fn, "ns and wrong", ns, wrong);
  if (ns.some((n) => !(n > 0)) || [...right, ...wrong].some((v) => !(v > 0))) {
    throw new Error(`${fn}: sample counts and distances must be positive (log axes)`);
  }
  const anchor = right[0] * Math.sqrt(ns[0]);
  return plotLines(
    [
      { name: "target x1 - x0 (CFM)", x: ns, y: right, markers: true },
      { name: "target x1 (wrong)", x: ns, y: wrong, markers: true },
      {
        name: "reference: C / sqrt(n)",
        x: ns,
        y: ns.map((n) => anchor / Math.sqrt(n)),
        dash: "dash",
        width: 1.5,
        color: "#888888",
      },
    ],
    {
      title: options.title ?? "Distance between the Monte-Carlo gradients of L_CFM and L_FM",
      xTitle: options.xTitle ?? "samples n",
      yTitle: options.yTitle ?? "|g_CFM - g_FM| / |grad L_FM|",
      logX: true,
      logY: true,
      width: options.width ?? 720,
      height: options.height ?? 430,
    },
  );
}

/** The evaluations of `plotLossGap`, one entry per evaluation. */
export interface LossGapInput {
  /** Training steps at which both losses were evaluated. */
  steps: number[];
  /** L_CFM on the fixed samples. */
  cfm: number[];
  /** L_FM on the same samples. */
  fm: number[];
  /** The loss with the wrong target x1 on the same samples (the control). */
  wrong: number[];
}

/** Both losses during training, their gap L_CFM - L_FM, and the control gap L(x1) - L_FM. */
export function plotLossGap(input: LossGapInput, options: BaseOptions = {}): Figure {
  const fn = "plotLossGap";
  const { steps, cfm, fm, wrong } = input ?? ({} as LossGapInput);
  for (const [name, v] of [
    ["cfm", cfm],
    ["fm", fm],
    ["wrong", wrong],
  ] as const) {
    checkSeries(fn, `steps and ${name}`, steps, v);
  }
  return plotLines(
    [
      { name: "L_CFM (target x1 - x0)", x: steps, y: cfm },
      { name: "L_FM (target u_t(x))", x: steps, y: fm },
      { name: "L_CFM - L_FM", x: steps, y: cfm.map((v, i) => v - fm[i]), width: 3 },
      {
        name: "control: L(target x1) - L_FM",
        x: steps,
        y: wrong.map((v, i) => v - fm[i]),
        dash: "dash",
      },
    ],
    {
      title: options.title ?? "Both losses on fixed samples during training, and their gap",
      xTitle: options.xTitle ?? "training step",
      yTitle: options.yTitle ?? "loss",
      width: options.width ?? 760,
      height: options.height ?? 430,
    },
  );
}

/** One solver's runs for `plotQualityVsNfe`. */
export interface QualitySeries {
  name: string;
  /** NFE of each run. */
  nfe: number[];
  /** The quality measure of each run (lower is better). */
  values: number[];
}

/** A quality measure against NFE for several solvers, with a dashed floor line. */
export function plotQualityVsNfe(
  series: QualitySeries[],
  floor: { value: number; name: string },
  options: BaseOptions & { metric?: string } = {},
): Figure {
  const fn = "plotQualityVsNfe";
  if (!Array.isArray(series) || series.length === 0) {
    throw new Error(`${fn}: series must be a non-empty list of { name, nfe, values }`);
  }
  series.forEach((s) => checkSeries(fn, `${s?.name}`, s?.nfe, s?.values));
  if (!floor || !(floor.value > 0)) {
    throw new Error(`${fn}: the floor must be a positive number; got ${floor?.value}`);
  }
  const all = series.flatMap((s) => s.nfe);
  const range = [Math.min(...all), Math.max(...all)];
  const fig = plotMetricVsNfe(
    [...series, { name: floor.name, nfe: range, values: [floor.value, floor.value] }],
    {
      metric: options.metric ?? "energy distance to held-out data",
      logY: true,
      title: options.title ?? "Sample quality against cost",
      width: options.width ?? 760,
      height: options.height ?? 440,
    },
  );
  const last = fig.data[fig.data.length - 1];
  last.mode = "lines";
  last.line = { color: "#888888", dash: "dash", width: 1.5 };
  return fig;
}

/** One training run for `plotTrainingComparison`: measurements at checkpoints. */
export interface TrainingCurve {
  /** Legend name, e.g. "maximum likelihood" or "flow matching (CFM)". */
  name: string;
  /** Training wall time (seconds) at each checkpoint. */
  seconds: number[];
  /** Held-out negative log-likelihood (nats per point) at each checkpoint. */
  nll: number[];
  /** Energy distance of samples to held-out data at each checkpoint. */
  ed: number[];
  /** Colour (the same for one method across data sets). @default the palette's */
  color?: string;
  /** Dash style (e.g. one per data set). @default "solid" */
  dash?: "solid" | "dash" | "dot";
}

/**
 * Two panels on one clock: held-out NLL against training wall time, and the energy distance of
 * samples to held-out data against training wall time (log scale), one line per run.
 */
export function plotTrainingComparison(runs: TrainingCurve[], options: BaseOptions = {}): Figure {
  const fn = "plotTrainingComparison";
  if (!Array.isArray(runs) || runs.length === 0) {
    throw new Error(`${fn}: runs must be a non-empty list of { name, seconds, nll, ed }`);
  }
  runs.forEach((r) => {
    checkSeries(fn, `${r?.name} (seconds, nll)`, r?.seconds, r?.nll);
    checkSeries(fn, `${r?.name} (seconds, ed)`, r?.seconds, r?.ed);
    if (r.ed.some((v) => !(v > 0))) throw new Error(`${fn}: ${r.name}: ed must be positive`);
  });
  const panel = (key: "nll" | "ed", yTitle: string, logY: boolean) =>
    plotLines(
      runs.map((r) => ({
        name: r.name,
        x: r.seconds,
        y: r[key],
        markers: true,
        color: r.color,
        dash: r.dash,
        showLegend: key === "nll",
      })),
      { xTitle: "training wall time (s)", yTitle, logY },
    );
  return subplots(
    [
      panel("nll", "held-out NLL (nats per point)", false),
      panel("ed", "energy distance to held-out data", true),
    ],
    {
      titles: ["held-out negative log-likelihood", "energy distance of samples"],
      title: options.title ?? "Maximum likelihood and flow matching on one clock",
      width: options.width ?? 1100,
      height: options.height ?? 440,
    },
  );
}
