/**
 * Live progress for long loops (training, lecture concept 6; reflow, concept 7): a progress bar and
 * a live loss curve in ONE output that is updated in place.
 *
 * Sending many display messages without yielding loses output (the kernel's message socket only
 * flushes when the event loop runs), so updates are throttled (at most one per `interval` ms) and
 * every update that is sent is followed by a yield to the event loop. The final state is always
 * sent: by `done()`, and by the update whose step reaches `total`.
 *
 * Kernel > Interrupt: `update` throws an `InterruptedError` once the cell has been interrupted, so
 * a loop that reports its progress stops there (instead of running on in the background after the
 * cell was abandoned); `stop(reason)` then shows where it stopped.
 *
 * The curve is a small inline SVG (no script): it renders the same in every front end and in the
 * HTML pages, and costs a few kilobytes per update. For an interactive curve afterwards:
 * `fm.show(fm.plotLoss(p.history.loss))`.
 *
 * @example
 * const p = fm.progress({ total: 2000, title: "training" });
 * for (let step = 1; step <= 2000; step++) {
 *   const loss = trainStep();
 *   await p.update(step, { loss });
 * }
 * await p.done();
 */
import { checkInterrupt } from "../core/interrupt";
import {
  DisplayBundle,
  METADATA_KEY,
  escapeHtml,
  kernelDisplayWriter,
  newDisplayId,
} from "./display";

/** Options of `progress`. */
export interface ProgressOptions {
  /** Number of steps (the bar is full at `step = total`). */
  total: number;
  /** Shown before the bar. @default "progress" */
  title?: string;
  /** Least time between two sent updates, in milliseconds. @default 100 */
  interval?: number;
  /** Logarithmic y axis for the loss curve (ignored when a loss is not positive). @default true */
  logY?: boolean;
  /** Outside a kernel: print nothing (inside one, the display is always shown). @default false */
  quiet?: boolean;
}

/** Values reported at a step: `loss` is drawn; every other number is shown in the text line. */
export interface ProgressValues {
  loss?: number;
  [name: string]: number | undefined;
}

/** What a finished progress display reports. */
export interface ProgressSummary {
  /** Last step reported. */
  step: number;
  total: number;
  /** Wall time from creation to `done()`, in seconds. */
  seconds: number;
  /** Display messages sent (the first display plus its in-place updates). */
  updates: number;
  /** Last reported loss (NaN if none). */
  loss: number;
  /** Why the loop stopped early (`stop`), if it did. */
  stopped?: string;
}

/** A live progress display. */
export interface Progress {
  /**
   * Reports step `step` (1..total) and its values; sends an update when due. Await it. Throws an
   * `InterruptedError` when the loop was interrupted (Kernel > Interrupt).
   */
  update(step: number, values?: ProgressValues): Promise<void>;
  /** Sends the final state (always) and returns a summary. */
  done(values?: ProgressValues): Promise<ProgressSummary>;
  /** Sends the final state, marked as stopped early for `reason` ("interrupted after step 120"). */
  stop(reason: string): Promise<ProgressSummary>;
  /** Every reported step and loss, for `plotLoss` afterwards. */
  readonly history: { step: number[]; loss: number[] };
  /** Display messages sent so far. */
  readonly updates: number;
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "?";
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - 60 * m)} s`;
}

function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5)
    ? v.toExponential(3)
    : Number(v.toPrecision(4)).toString();
}

/**
 * The loss curve as an inline SVG polyline (at most ~300 points: the mean of each bucket of steps),
 * against step in [0, total], with the y range written at the left.
 */
export function lossSparkline(
  steps: number[],
  losses: number[],
  total: number,
  logY = true,
  width = 420,
  height = 130,
): string {
  const pts: [number, number][] = [];
  for (let i = 0; i < steps.length; i++)
    if (Number.isFinite(losses[i])) pts.push([steps[i], losses[i]]);
  const useLog = logY && pts.length > 0 && pts.every(([, v]) => v > 0);
  const f = (v: number) => (useLog ? Math.log10(v) : v);
  const left = 58;
  const right = 8;
  const top = 8;
  const bottom = 20;
  const w = width - left - right;
  const h = height - top - bottom;
  const frame =
    `<rect x="${left}" y="${top}" width="${w}" height="${h}" fill="none" stroke="#999" ` +
    `stroke-width="1"/>` +
    `<text x="${left + w}" y="${height - 5}" text-anchor="end" font-size="11" fill="#555">step ` +
    `${total}</text>` +
    `<text x="${left}" y="${height - 5}" font-size="11" fill="#555">0</text>`;
  if (pts.length === 0) {
    return (
      `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" ` +
      `height="${height}">${frame}</svg>`
    );
  }
  // Bucket means, so a long run costs no more than a short one.
  const buckets = Math.min(300, pts.length);
  const per = pts.length / buckets;
  const drawn: [number, number][] = [];
  for (let b = 0; b < buckets; b++) {
    const lo = Math.floor(b * per);
    const hi = Math.max(lo + 1, Math.floor((b + 1) * per));
    let sx = 0;
    let sy = 0;
    for (let i = lo; i < hi; i++) {
      sx += pts[i][0];
      sy += f(pts[i][1]);
    }
    drawn.push([sx / (hi - lo), sy / (hi - lo)]);
  }
  let ymin = Infinity;
  let ymax = -Infinity;
  for (const [, y] of drawn) {
    ymin = Math.min(ymin, y);
    ymax = Math.max(ymax, y);
  }
  if (ymax - ymin < 1e-12) {
    ymin -= 0.5;
    ymax += 0.5;
  }
  const sx = (s: number) => left + (w * s) / Math.max(total, 1);
  const sy = (y: number) => top + h - (h * (y - ymin)) / (ymax - ymin);
  const poly = drawn.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ");
  const label = (y: number) => formatNumber(useLog ? 10 ** y : y);
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
    frame +
    `<text x="${left - 4}" y="${top + 10}" text-anchor="end" font-size="11" ` +
    `fill="#555">${label(ymax)}</text>` +
    `<text x="${left - 4}" y="${top + h}" text-anchor="end" font-size="11" ` +
    `fill="#555">${label(ymin)}</text>` +
    `<text x="4" y="${top + h / 2 + 4}" font-size="11" ` +
    `fill="#555">loss${useLog ? " (log)" : ""}</text>` +
    `<polyline fill="none" stroke="#0072B2" stroke-width="1.6" points="${poly}"/>` +
    `</svg>`
  );
}

/**
 * Starts a live progress display (see the module comment). Inside a Jupyter kernel it shows one
 * output updated in place; outside, it prints a line every 10% (unless `quiet`).
 */
export function progress(options: ProgressOptions): Progress {
  const total = options.total;
  if (!Number.isInteger(total) || total < 1)
    throw new Error(`total must be a positive integer; got ${total}`);
  const interval = options.interval ?? 100;
  if (!(interval >= 0))
    throw new Error(`interval must be a non-negative number of milliseconds; got ${interval}`);
  const title = options.title ?? "progress";
  const logY = options.logY ?? true;
  const displayId = newDisplayId();
  const start = Date.now();
  const history = { step: [] as number[], loss: [] as number[] };
  let step = 0;
  let values: ProgressValues = {};
  let updates = 0;
  let lastSent = -Infinity;
  let lastPrintedDecile = -1;
  let finished = false;
  let stopped: string | undefined;

  const render = (final: boolean): DisplayBundle => {
    const seconds = (Date.now() - start) / 1000;
    const fraction = Math.min(1, step / total);
    const rate = seconds > 0 ? step / seconds : 0;
    const eta = final ? 0 : rate > 0 ? (total - step) / rate : NaN;
    const extras = Object.entries(values)
      .filter(([, v]) => typeof v === "number")
      .map(([k, v]) => `${k} ${formatNumber(v as number)}`);
    const timing = final
      ? `${formatSeconds(seconds)}`
      : `${formatSeconds(seconds)} elapsed, ~${formatSeconds(eta)} left`;
    const line =
      `${step}/${total} (${(100 * fraction).toFixed(1)}%) · ${timing} · ` +
      `${rate.toFixed(1)} steps/s`;
    const bars = Math.round(30 * fraction);
    const ending = final ? ` · ${stopped ?? "done"}` : "";
    const bar = `[${"#".repeat(bars)}${".".repeat(30 - bars)}]`;
    const shown = extras.length ? ` · ${extras.join(" · ")}` : "";
    const text = `${title} ${bar} ${line}${shown}${ending}`;
    const colour = !final ? "#0072B2" : stopped ? "#D55E00" : "#009E73";
    const html =
      `<div class="fm-progress" ` +
      `style="font-family:Helvetica,Arial,sans-serif;font-size:13px;line-height:1.5">` +
      `<div><b>${escapeHtml(title)}</b> ${escapeHtml(line + ending)}</div>` +
      `<div style="width:420px;height:10px;background:#e6e6e6;border-radius:3px;overflow:hidden">` +
      `<div style="width:${(100 * fraction).toFixed(1)}%;height:100%;background:${colour}">` +
      `</div></div>` +
      (extras.length ? `<div>${escapeHtml(extras.join(" · "))}</div>` : "") +
      (history.loss.length ? lossSparkline(history.step, history.loss, total, logY) : "") +
      `</div>`;
    return {
      data: { "text/html": html, "text/plain": text },
      metadata: {
        [METADATA_KEY]: {
          progress: { step, total, updates: updates + 1, done: final, ...(stopped && { stopped }) },
        },
      },
      transient: { display_id: displayId },
    };
  };

  // Inside a kernel: sends the current state (first as a new output, then in place) and yields to
  // the event loop so the message actually leaves. Outside: prints the text line (unless quiet).
  const send = async (final: boolean): Promise<void> => {
    lastSent = Date.now();
    lastPrintedDecile = Math.min(9, Math.floor((10 * step) / total));
    const write = kernelDisplayWriter();
    if (write) {
      write(render(final), updates > 0);
      updates += 1;
      await yieldToEventLoop();
    } else if (!options.quiet) {
      updates += 1;
      console.log(render(final).data["text/plain"]);
    }
  };

  const record = (s: number, v: ProgressValues | undefined) => {
    if (!Number.isFinite(s)) throw new Error(`step must be a finite number; got ${s}`);
    step = s;
    if (v) {
      values = { ...values, ...v };
      if (typeof v.loss === "number") {
        history.step.push(s);
        history.loss.push(v.loss);
      }
    }
  };

  const finish = async (): Promise<ProgressSummary> => {
    if (!finished) {
      finished = true;
      await send(true);
    }
    const last = history.loss.length ? history.loss[history.loss.length - 1] : NaN;
    const seconds = (Date.now() - start) / 1000;
    const summary: ProgressSummary = { step, total, seconds, updates, loss: last };
    if (stopped) summary.stopped = stopped;
    return summary;
  };

  return {
    async update(s: number, v?: ProgressValues): Promise<void> {
      record(s, v);
      checkInterrupt(() => `${title} stopped at step ${s} of ${total}`);
      if (finished) return;
      // In a kernel: at most one message per `interval`, and the last step. Outside a kernel, where
      // each message is a printed line: one per tenth of the run (0%, 10%, ..., 90%), then done().
      const kernel = kernelDisplayWriter() !== null;
      const due = kernel
        ? s >= total || Date.now() - lastSent >= interval
        : Math.min(9, Math.floor((10 * s) / total)) > lastPrintedDecile;
      if (due) await send(false);
    },
    async done(v?: ProgressValues): Promise<ProgressSummary> {
      if (v) record(step, v);
      return finish();
    },
    async stop(reason: string): Promise<ProgressSummary> {
      if (!finished) stopped = reason;
      return finish();
    },
    get history() {
      return history;
    },
    get updates() {
      return updates;
    },
  };
}
