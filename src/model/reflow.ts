/**
 * Reflow (rectified flow; lecture concept 7, notebook 07).
 *
 * The 1-rectified flow is a model trained with the conditional flow matching loss on independent
 * pairs (noise x0, data x1). Its trajectories curve, because regression averages the velocities of
 * training lines that cross. Reflow keeps the model's *own* pairing instead:
 *
 *   1. draw x0 ~ N(0, I) and integrate the model's ODE accurately to x1_hat = psi_1(x0);
 *   2. train the next model with the same loss on the coupled pairs (x0_i, x1_hat_i) (row i with
 *      row i: `trainFlowMatching(model, { pairs })` never separates them);
 *   3. repeat for the 3-, 4-, ... rectified flow.
 *
 * The pairs' straight lines (nearly) never cross, so the new model can follow them: its
 * trajectories are straighter and a few Euler steps suffice. The marginals stay right: the pairs
 * have the law of the previous flow's (x0, x1), whose x1 has the previous model's distribution.
 * Each round adds the solver's and the network's error to that distribution, which is why one
 * reflow is the usual choice.
 */
import * as tf from "@tensorflow/tfjs";
import type { VelocityField } from "../core/notation";
import { assertFits } from "../core/checks";
import { randn } from "../core/random";
import type { OdeMethod } from "../solvers/ode";
import { VelocityModel } from "./mlp";
import { sampleFlow } from "./sample";
import { trainFlowMatching, type TrainOptions, type TrainResult } from "./train";

/**
 * Options of `reflowPairs`: how many pairs (or which noise) and the accurate solver that makes
 * them.
 */
export interface ReflowPairsOptions {
  /** Number of pairs (noise drawn with the seeded generator). @default 2000 */
  n?: number;
  /** The noise to start from instead, `[n, d]` (not disposed; copied into the result). */
  x0?: tf.Tensor2D;
  /** Dimension of the noise drawn for a plain velocity field (a model knows its own). @default 2 */
  dim?: number;
  /**
   * The solver. Pairs should be accurate: the next model learns whatever error they carry. @default
   * "rk4"
   */
  method?: OdeMethod;
  /** Solver steps (fixed-step methods). @default 40 */
  steps?: number;
  /** Relative tolerance (dopri5). @default 1e-5 */
  rtol?: number;
  /** Absolute tolerance (dopri5). @default 1e-5 */
  atol?: number;
}

/**
 * Coupled pairs: row i of `x1` is where the flow takes row i of `x0`. The caller disposes:
 * `tf.dispose(pairs)`.
 */
export type ReflowPairs = {
  /** The noise, `[n, d]`. */
  x0: tf.Tensor2D;
  /** x1_hat = psi_1(x0), `[n, d]`. */
  x1: tf.Tensor2D;
  /** Velocity-field evaluations per pair. */
  nfe: number;
  /** Wall time of the solve, in seconds. */
  seconds: number;
};

/**
 * The reflow pairs of a flow (step 1 of the module comment): noise x0 and its end point x1_hat =
 * psi_1(x0) under the ODE of `model`, integrated with an accurate solver, kept row by row.
 * Leak-free apart from the returned tensors.
 * @example
 * const pairs = fm.reflowPairs(model, { n: 4000 });   // RK4, 40 steps: nfe = 160
 * await fm.trainFlowMatching(next, { pairs: { x0: pairs.x0, x1: pairs.x1 } });
 * tf.dispose(pairs);
 */
export function reflowPairs(
  model: VelocityModel | VelocityField,
  options: ReflowPairsOptions = {},
): ReflowPairs {
  if (!(model instanceof VelocityModel) && typeof model !== "function") {
    throw new Error("reflowPairs: give a VelocityModel or a velocity field (x, t) => tensor");
  }
  const steps = options.steps ?? 40;
  const n = options.n ?? 2000;
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`reflowPairs: n must be a positive integer; got ${n}`);
  const dim = options.dim ?? 2;
  if (!Number.isInteger(dim) || dim < 1)
    throw new Error(`reflowPairs: dim must be a positive integer; got ${dim}`);
  assertFits(n * dim, "reflowPairs", `n = ${n} pairs of dimension ${dim}`);
  // A model draws its own noise; for a plain field draw it here (seeded), and free it after the
  // copy.
  const drawn =
    options.x0 === undefined && !(model instanceof VelocityModel)
      ? (randn([n, dim]) as tf.Tensor2D)
      : undefined;
  const x0 = options.x0 ?? drawn;
  const start = Date.now();
  const result = sampleFlow(model, {
    n,
    ...(x0 !== undefined ? { x0 } : {}),
    method: options.method ?? "rk4",
    steps,
    ...(options.rtol !== undefined ? { rtol: options.rtol } : {}),
    ...(options.atol !== undefined ? { atol: options.atol } : {}),
  });
  const seconds = (Date.now() - start) / 1000;
  if (drawn) drawn.dispose();
  if (result.trajectory) result.trajectory.dispose();
  return { x0: result.x0, x1: result.x, nfe: result.nfe, seconds };
}

/**
 * Options of `reflow`: the pairs, the start of the next model, and the training (as
 * `trainFlowMatching`).
 */
export interface ReflowOptions extends Omit<TrainOptions, "data" | "pairs" | "coupling"> {
  /** Number of pairs to generate. @default 4000 */
  n?: number;
  /**
   * The accurate solver that generates the pairs (see `ReflowPairsOptions`). @default { method:
   * "rk4", steps: 40 }
   */
  solver?: Omit<ReflowPairsOptions, "n" | "x0" | "dim">;
  /**
   * `"warm"`: the next model starts as a copy of the previous one (fine-tuning; the usual choice,
   * it needs fewer steps). `"fresh"`: a new network of the same architecture, drawn with the seeded
   * generator.
   * @default "warm"
   */
  init?: "warm" | "fresh";
}

/** What one round of `reflow` returns. Dispose the pairs when done: `tf.dispose(round.pairs)`. */
export interface ReflowRound {
  /** The next (k+1-rectified) model; the input model is left unchanged. */
  model: VelocityModel;
  /** The coupled pairs it was trained on. */
  pairs: ReflowPairs;
  /** The training record (losses, seconds, ...). */
  training: TrainResult;
  /** How the next model started. */
  init: "warm" | "fresh";
  /** Seconds spent generating the pairs and training, and their sum. */
  seconds: { pairs: number; training: number; total: number };
}

/**
 * One reflow round (steps 1-2 of the module comment): pairs from `model`'s ODE, then a new model
 * trained on them with the conditional flow matching loss. `model` is not changed. Seeded through
 * `fm.seed`.
 * @example
 * const round = await fm.reflow(rf1, { n: 4000, steps: 3000, learningRate: 1e-3, schedule: "cosine"
 * }); const rf2 = round.model; // the 2-rectified flow tf.dispose(round.pairs);
 */
export async function reflow(
  model: VelocityModel,
  options: ReflowOptions = {},
): Promise<ReflowRound> {
  if (!(model instanceof VelocityModel))
    throw new Error(
      "reflow: model must be a VelocityModel (fm.createVelocityModel or fm.loadModel)",
    );
  const init = options.init ?? "warm";
  if (init !== "warm" && init !== "fresh")
    throw new Error(`reflow: init must be "warm" or "fresh"; got ${JSON.stringify(init)}`);
  const { n, solver, init: _init, ...train } = options;
  const pairs = reflowPairs(model, { ...(solver ?? {}), n: n ?? 4000 });
  try {
    const next =
      init === "warm"
        ? model.clone()
        : new VelocityModel({ ...model.config, time: { ...model.config.time } });
    const training = await trainFlowMatching(next, {
      ...train,
      pairs: { x0: pairs.x0, x1: pairs.x1 },
    });
    return {
      model: next,
      pairs,
      training,
      init,
      seconds: {
        pairs: pairs.seconds,
        training: training.seconds,
        total: pairs.seconds + training.seconds,
      },
    };
  } catch (err) {
    tf.dispose([pairs.x0, pairs.x1]);
    throw err;
  }
}

/**
 * Options of `rectifiedFlows`: the number of rounds and the options of each round (see `reflow`).
 */
export interface RectifiedFlowsOptions extends ReflowOptions {
  /** Reflow rounds: k - 1 for the k-rectified flow. @default 2 */
  rounds?: number;
  /** Keep every round's pairs in the result (else they are disposed). @default false */
  keepPairs?: boolean;
}

/**
 * The k-rectified flows by repeated reflow: round r (1-based) trains the (r+1)-rectified flow on
 * pairs of the r-rectified one. Returns one `ReflowRound` per round (pairs disposed unless
 * `keepPairs`).
 * @example
 * const rounds = await fm.rectifiedFlows(rf1, { rounds: 2, steps: 3000 });
 * const [rf2, rf3] = rounds.map((r) => r.model);
 */
export async function rectifiedFlows(
  model: VelocityModel,
  options: RectifiedFlowsOptions = {},
): Promise<ReflowRound[]> {
  const { rounds = 2, keepPairs = false, ...round } = options;
  if (!Number.isInteger(rounds) || rounds < 1)
    throw new Error(`rectifiedFlows: rounds must be a positive integer; got ${rounds}`);
  const out: ReflowRound[] = [];
  let current = model;
  for (let r = 0; r < rounds; r++) {
    const next = await reflow(current, round);
    if (!keepPairs) tf.dispose([next.pairs.x0, next.pairs.x1]);
    out.push(next);
    current = next.model;
  }
  return out;
}
