/**
 * The optimiser loop both trainers share: flow matching (train.ts) and maximum likelihood
 * (cnf-ml.ts). They differ only in how a step's loss and gradient are computed; everything around
 * that is here, once: the checks of the optimiser options, the progress bar, Adam with its
 * learning-rate schedule and warm-up, gradient clipping, the stop on a loss that is not finite
 * (the model goes back to the last parameters whose loss was finite) and the stop on an interrupt
 * (an `InterruptedError` whose `partial` is the summary of the steps taken).
 */
import { InterruptedError, checkInterrupt, interruptibleAsync } from "../core/interrupt";
import { inKernel } from "../notebook/display";
import { progress as startProgress, type Progress } from "../notebook/progress";
import { Adam } from "./adam";
import { clipGradientNorm } from "./backprop";
import type { VelocityModel } from "./mlp";
import type { TrainOptions } from "./train";

/** A learning-rate schedule: a factor in (0, 1] of the base rate at `step` (1-based) of `total`. */
export type LearningRateSchedule =
  "constant" | "cosine" | ((step: number, total: number) => number);

/** The factor of the base learning rate at `step` (1-based) of `total`, warm-up included. */
export function learningRateFactor(
  schedule: LearningRateSchedule,
  step: number,
  total: number,
  warmup = 0,
): number {
  let f: number;
  if (schedule === "constant") f = 1;
  else if (schedule === "cosine") f = 0.5 * (1 + Math.cos((Math.PI * (step - 1)) / total));
  else if (typeof schedule === "function") f = schedule(step, total);
  else
    throw new Error(
      `schedule must be "constant", "cosine" or a function; got ${JSON.stringify(schedule)}`,
    );
  if (!Number.isFinite(f) || f < 0)
    throw new Error(
      `the learning-rate schedule gave ${f} at step ${step}; it must be a finite number >= 0`,
    );
  if (warmup > 0 && step <= warmup) f *= step / warmup;
  return f;
}

/**
 * Returns `value` when it is a finite number > 0 (and an integer, with `integer`), or says what was
 * wrong; `prefix` starts the message (e.g. `"trainMaximumLikelihood: "`).
 */
export function positive(value: number, name: string, integer = false, prefix = ""): number {
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new Error(
      `${prefix}${name} must be a positive ${integer ? "integer" : "number"}; got ${value}`,
    );
  }
  return value;
}

/** The optimiser options both trainers take (documented in `TrainOptions`). */
export type OptimiserOptions = Pick<
  TrainOptions,
  "steps" | "batchSize" | "learningRate" | "schedule" | "warmup" | "clipNorm"
>;

/** `OptimiserOptions` checked, with their defaults filled in. */
export interface OptimiserSettings {
  steps: number;
  batchSize: number;
  learningRate: number;
  schedule: LearningRateSchedule;
  warmup: number;
  clipNorm?: number;
}

/**
 * Checks the optimiser options before any work (the schedule is tried at step 1) and fills in the
 * defaults: `defaultSteps` steps, batches of 256, a rate of 1e-3, a constant schedule, no warm-up.
 * `prefix` starts every message (`""` or e.g. `"trainMaximumLikelihood: "`).
 */
export function optimiserSettings(
  options: OptimiserOptions,
  defaultSteps: number,
  prefix: string,
): OptimiserSettings {
  const steps = positive(options.steps ?? defaultSteps, "steps", true, prefix);
  const batchSize = positive(options.batchSize ?? 256, "batchSize", true, prefix);
  const learningRate = positive(options.learningRate ?? 1e-3, "learningRate", false, prefix);
  const warmup = options.warmup ?? 0;
  if (!Number.isInteger(warmup) || warmup < 0)
    throw new Error(`${prefix}warmup must be a non-negative integer; got ${warmup}`);
  const clipNorm = options.clipNorm;
  if (clipNorm !== undefined) positive(clipNorm, "clipNorm", false, prefix);
  const schedule = options.schedule ?? "constant";
  learningRateFactor(schedule, 1, steps, warmup); // checks the schedule before any work
  return { steps, batchSize, learningRate, schedule, warmup, clipNorm };
}

/** Mean loss of the last 10% of steps (NaN before any step): a less noisy final value. */
export function finalLoss(losses: number[]): number {
  const tail = losses.slice(Math.floor(0.9 * losses.length));
  return tail.length ? tail.reduce((a, b) => a + b, 0) / tail.length : NaN;
}

/** What differs between the trainers that `optimise` runs. */
export interface OptimiserRun<Result> {
  /** The model trained in place. */
  model: VelocityModel;
  /** From `optimiserSettings`. */
  settings: OptimiserSettings;
  /** Who stops, in the messages: `"training"`, `"trainMaximumLikelihood"`. */
  who: string;
  /** The `progress` option (true, false, a title, or undefined: a bar inside a notebook only). */
  progress: boolean | string | undefined;
  /** The bar's title when `progress` gives none. */
  title: string;
  /** Step `step`'s loss and its gradient (same layout as `model.theta`); draws its own batch. */
  lossAndGradient: (step: number) => { loss: number; grad: Float32Array };
  /** Stop on a gradient that is not finite too (not only on a loss that is not finite). */
  checkGradient: boolean;
  /** Ends the message of a stop on a loss that is not finite: what to try. */
  hint: string;
  /** Called after each step's update; a returned promise is awaited. */
  onStep: (step: number, loss: number, seconds: number) => void | Promise<void>;
  /** The result of the steps taken (also the `partial` of an interrupt). */
  summary: (losses: number[], learningRates: number[], seconds: number) => Result;
}

/**
 * Runs `settings.steps` Adam steps on `run.model` (module comment) and returns `run.summary` of
 * them. A loss that is not finite (or a gradient, with `checkGradient`) restores the parameters of
 * the step before and throws an error naming the step; an interrupt stops between two steps, the
 * model keeping the parameters of the last completed one, exactly as a run of that many steps.
 */
export async function optimise<Result>(run: OptimiserRun<Result>): Promise<Result> {
  const { model, who } = run;
  const { steps, learningRate: baseRate, schedule, warmup, clipNorm } = run.settings;
  const showProgress = run.progress ?? inKernel();
  const bar: Progress | null = showProgress
    ? startProgress({
        total: steps,
        title: typeof showProgress === "string" ? showProgress : run.title,
      })
    : null;

  const adam = new Adam(model.numParameters, { learningRate: baseRate });
  const losses: number[] = [];
  const learningRates: number[] = [];
  const previous = new Float32Array(model.numParameters);
  const start = Date.now();
  const seconds = (): number => (Date.now() - start) / 1000;
  // An interrupt (Kernel > Interrupt, src/core/interrupt.ts) stops the loop between two steps: the
  // model keeps the parameters of the last completed step, exactly as a run of that many steps.
  try {
    await interruptibleAsync(async () => {
      for (let step = 1; step <= steps; step++) {
        checkInterrupt();
        const { loss, grad } = run.lossAndGradient(step);
        if (!Number.isFinite(loss) || (run.checkGradient && !grad.every(Number.isFinite))) {
          if (step > 1) model.setTheta(previous);
          if (bar) await bar.done();
          throw new Error(
            `${who} stopped at step ${step} of ${steps}: the loss is ${loss}` +
              `${Number.isFinite(loss) ? " (its gradient is not finite)" : ""}. The model keeps ` +
              `the parameters of step ${step - 1}. ${run.hint}`,
          );
        }
        if (clipNorm !== undefined) clipGradientNorm(grad, clipNorm);
        const rate = baseRate * learningRateFactor(schedule, step, steps, warmup);
        previous.set(model.theta);
        adam.update(model.theta, grad, rate);
        model.invalidate();
        losses.push(loss);
        learningRates.push(rate);
        await run.onStep(step, loss, seconds());
        if (bar) await bar.update(step, { loss });
      }
    });
  } catch (err) {
    if (!(err instanceof InterruptedError)) throw err;
    const done = losses.length;
    if (bar) await bar.stop(`interrupted after step ${done}`);
    throw new InterruptedError(
      `Interrupted: ${who} stopped after step ${done} of ${steps}; the model keeps the ` +
        `parameters of step ${done} (the error's "partial" holds the losses of those steps)`,
      run.summary(losses, learningRates, seconds()),
    );
  }
  const elapsed = seconds();
  if (bar) await bar.done();
  return run.summary(losses, learningRates, elapsed);
}
