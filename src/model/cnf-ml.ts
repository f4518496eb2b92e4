/**
 * The old way: a continuous normalizing flow trained by maximum likelihood (lecture concept 2, "the
 * historical method"; issue 18, the comparison with flow matching in notebooks 02/06).
 *
 * The network is the same `VelocityModel` flow matching trains. Its flow carries N(0, I) at t = 0
 * to a density p_1 at t = 1, and the instantaneous change of variables gives that density exactly:
 *
 *     log p_1(x1) = log p_0(x0) - int_0^1 div u_theta(x_t, t) dt,   x_t the trajectory through x1.
 *
 * Maximum likelihood minimises the mean of -log p_1 over data batches. Every training step
 * therefore solves the ODE, backwards from the data at t = 1 to t = 0, carrying the divergence
 * integral as one more coordinate (the augmented ODE of likelihood.ts), and differentiates the
 * result:
 *
 *   - the divergence is exact (2-D: no Hutchinson estimate). It is computed by forward-mode
 *     differentiation written out for the MLP: each hidden layer carries, next to its value h, the
 *     derivatives dh/dx_j (j = 1..d), pushed through the same weights (dz' = dh W) and the slope of
 *     the activation; the output's dx_j-derivative's j-th entry summed over j is div u. That costs
 *     about d + 1 forward passes per field evaluation and, being ordinary tensor operations, can be
 *     differentiated once more with respect to the parameters;
 *   - the gradient is back-propagation through the solver's steps ("discretise, then optimise"), by
 *     TensorFlow.js's automatic differentiation of the whole fixed-step solve. Simpler, and exact
 *     for the discretised loss; the adjoint method would save memory (not an issue at this size) at
 *     price of a second, backward ODE solve per step.
 *
 * The loss a step reports is the negative log-likelihood of the *discretised* flow (few solver
 * steps). Held-out likelihood is measured with the accurate adaptive solver of `fm.logLikelihood`,
 * which is what both a CNF and a flow-matching model are judged by.
 *
 * Cost: a step costs `nfePerStep` field evaluations (4 per RK4 step) each worth about d + 1 network
 * passes, then a backward pass through all of them (roughly twice as much again), on one thread. A
 * flow matching step costs one network pass and its backward pass, with no solver at all.
 */
import * as tf from "@tensorflow/tfjs";
import { randint } from "../core/random";
import { VelocityModel } from "./mlp";
import { flatPoints, type PointsInput, type TrainOptions } from "./train";
import { finalLoss, optimise, optimiserSettings } from "./training-loop";

/** Fixed-step solvers the maximum-likelihood loss can be differentiated through. */
export const ML_SOLVERS = ["euler", "midpoint", "rk4"] as const;
export type MlSolver = (typeof ML_SOLVERS)[number];
const STAGES: Record<MlSolver, number> = { euler: 1, midpoint: 2, rk4: 4 };

/** The solver of the likelihood inside training. */
export interface MlSolverOptions {
  /** @default "rk4" */
  method?: MlSolver;
  /** Steps from t = 1 to t = 0. @default 8 */
  steps?: number;
}

/**
 * Options of `trainMaximumLikelihood`: the batch, optimiser and progress settings mean what they
 * mean for `trainFlowMatching` (same defaults), plus the solver the likelihood is differentiated
 * through.
 */
export interface MaximumLikelihoodOptions extends Pick<
  TrainOptions,
  "batchSize" | "learningRate" | "schedule" | "warmup" | "clipNorm" | "progress"
> {
  /** The training set, `[n, d]`: each batch draws rows with replacement. */
  data: PointsInput;
  /** Adam steps (each solves the ODE, so far fewer than flow matching takes). @default 300 */
  steps?: number;
  /** The solver the likelihood is computed and differentiated with. @default rk4, 8 steps */
  solver?: MlSolverOptions;
  /** Called after every step with the step (1-based), its loss and the seconds since the start. */
  onStep?: (step: number, loss: number, seconds: number) => void;
}

/** What `trainMaximumLikelihood` returns. */
export interface MaximumLikelihoodResult {
  /** Each step's loss: mean -log p_1 of the batch under the discretised flow (nats per point). */
  losses: number[];
  /** Learning rate of every step. */
  learningRates: number[];
  /** Steps taken. */
  steps: number;
  /** Wall time in seconds, and per step. */
  seconds: number;
  secondsPerStep: number;
  /** Field evaluations per step by the solver (forward; the backward pass comes on top). */
  nfePerStep: number;
  /** Mean loss of the last 10% of steps. */
  finalLoss: number;
}

/** The MLP's parameters as tensors (W then b for each layer), to differentiate with respect to. */
function parameterTensors(model: VelocityModel): tf.Tensor[] {
  const out: tf.Tensor[] = [];
  for (const { inputs, outputs, offset } of model.layers) {
    out.push(
      tf.tensor2d(model.theta.subarray(offset, offset + inputs * outputs), [inputs, outputs]),
    );
    out.push(
      tf.tensor1d(
        model.theta.subarray(offset + inputs * outputs, offset + inputs * outputs + outputs),
      ),
    );
  }
  return out;
}

/**
 * The matrix product a b, whose gradient is computed with explicit transposes (dy b^T and a^T dy as
 * products of plain operands): on the wasm backend TensorFlow.js's own gradient of `matMul` asks
 * for transposed operands, which run many times slower (see backprop.ts). Same numbers otherwise.
 */
const plainMatMul = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [a, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const [sa, sb] = saved as tf.Tensor2D[];
      const g = dy as tf.Tensor2D;
      return [tf.matMul(g, tf.transpose(sb)), tf.matMul(tf.transpose(sa), g)];
    },
  };
}) as unknown as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor2D;

/** The activation's value and slope at the pre-activation z, as differentiable operations. */
function activate(
  act: VelocityModel["config"]["activation"],
  z: tf.Tensor,
): { h: tf.Tensor; slope: tf.Tensor } {
  // elu' is 1 for z > 0 and e^z for z <= 0: exp(min(z, 0)).
  if (act === "elu") return { h: tf.elu(z), slope: tf.exp(tf.minimum(z, 0)) };
  if (act === "relu") return { h: tf.relu(z), slope: tf.step(z) };
  if (act === "tanh") {
    const h = tf.tanh(z);
    return { h, slope: tf.sub(1, tf.square(h)) };
  }
  const s = tf.sigmoid(z);
  return { h: tf.mul(z, s), slope: tf.mul(s, tf.add(1, tf.mul(z, tf.sub(1, s)))) };
}

/**
 * u_theta(x, t) and its exact divergence by forward-mode differentiation (module comment), from the
 * parameter tensors `params` (so that the result can be differentiated with respect to them). Call
 * inside a tidy or a gradient scope.
 */
export function velocityAndDivergenceOf(
  model: VelocityModel,
  params: tf.Tensor[],
  x: tf.Tensor2D,
  t: number,
): { u: tf.Tensor2D; div: tf.Tensor1D } {
  const d = model.config.dim;
  const n = x.shape[0];
  const act = model.config.activation;
  const e = model.timeFeatures(t);
  const W0 = params[0] as tf.Tensor2D;
  const width0 = model.layers[0].outputs;
  const Wx = tf.slice(W0, [0, 0], [d, width0]);
  const Wt = tf.slice(W0, [d, 0], [e.length, width0]);
  // Layer 0: z = x Wx + (embed(t) Wt + b); dz/dx_j is row j of Wx, the same for every point.
  let z: tf.Tensor = tf.add(
    plainMatMul(x, Wx),
    tf.add(plainMatMul(tf.tensor2d([e]), Wt), params[1]),
  );
  let tangent: tf.Tensor = tf.reshape(Wx, [d, 1, width0]); // [d, 1 or n, width]: dz/dx_j
  const last = model.layers.length - 1;
  for (let k = 1; k <= last; k++) {
    const { h, slope } = activate(act, z);
    // dh/dx_j = act'(z) * dz/dx_j, [d, n, width]
    tangent = tf.mul(tangent, tf.expandDims(slope, 0));
    const W = params[2 * k] as tf.Tensor2D;
    const { inputs, outputs } = model.layers[k];
    z = tf.add(plainMatMul(h, W), params[2 * k + 1]);
    // dz'/dx_j = dh/dx_j W, all d directions in one product
    const flat = tf.reshape(tangent, [d * n, inputs]);
    tangent = tf.reshape(plainMatMul(flat, W), [d, n, outputs]);
  }
  // div u = sum_j du_j/dx_j: entry j of the j-th tangent.
  const eye = tf.reshape(tf.eye(d), [d, 1, d]);
  const div = tf.sum(tf.mul(tangent, eye), [0, 2]) as tf.Tensor1D;
  return { u: z as tf.Tensor2D, div };
}

/** The augmented state's velocity [u, div u] as two tensors. */
type Augmented = { x: tf.Tensor2D; l: tf.Tensor1D };

/**
 * The mean negative log-likelihood of the points `x1` under the flow of `model` with parameters
 * `params`, by a fixed-step solve of the augmented ODE from t = 1 down to t = 0. Differentiable
 * with respect to `params`. With `divergence: false` the divergence term is left out (a wrong loss,
 * kept for the tests' negative control).
 */
export function negativeLogLikelihoodOf(
  model: VelocityModel,
  params: tf.Tensor[],
  x1: tf.Tensor2D,
  solver: Required<MlSolverOptions>,
  divergence = true,
): tf.Scalar {
  const d = model.config.dim;
  const h = -1 / solver.steps;
  const F = (s: Augmented, t: number): Augmented => {
    const { u, div } = velocityAndDivergenceOf(model, params, s.x, t);
    return { x: u, l: div };
  };
  const move = (s: Augmented, k: Augmented, dt: number): Augmented => ({
    x: tf.add(s.x, tf.mul(k.x, dt)) as tf.Tensor2D,
    l: tf.add(s.l, tf.mul(k.l, dt)) as tf.Tensor1D,
  });
  let state: Augmented = { x: x1, l: tf.zeros([x1.shape[0]]) as tf.Tensor1D };
  for (let k = 0; k < solver.steps; k++) {
    const t = 1 + k * h;
    if (solver.method === "euler") state = move(state, F(state, t), h);
    else if (solver.method === "midpoint")
      state = move(state, F(move(state, F(state, t), h / 2), t + h / 2), h);
    else {
      const k1 = F(state, t);
      const k2 = F(move(state, k1, h / 2), t + h / 2);
      const k3 = F(move(state, k2, h / 2), t + h / 2);
      const k4 = F(move(state, k3, h), t + h);
      const slope: Augmented = {
        x: tf.div(
          tf.add(tf.add(k1.x, tf.mul(k2.x, 2)), tf.add(tf.mul(k3.x, 2), k4.x)),
          6,
        ) as tf.Tensor2D,
        l: tf.div(
          tf.add(tf.add(k1.l, tf.mul(k2.l, 2)), tf.add(tf.mul(k3.l, 2), k4.l)),
          6,
        ) as tf.Tensor1D,
      };
      state = move(state, slope, h);
    }
  }
  // log p_1(x1) = log N(x0; 0, I) + l_0, with l_0 = -int_0^1 div u dt.
  const logp0 = tf.sub(
    tf.mul(tf.sum(tf.square(state.x), 1), -0.5),
    (d / 2) * Math.log(2 * Math.PI),
  );
  const logp = divergence ? tf.add(logp0, state.l) : logp0;
  return tf.neg(tf.mean(logp)) as tf.Scalar;
}

function solverOptions(solver: MlSolverOptions | undefined): Required<MlSolverOptions> {
  const method = solver?.method ?? "rk4";
  const steps = solver?.steps ?? 8;
  if (!(ML_SOLVERS as readonly string[]).includes(method)) {
    throw new Error(
      `solver.method must be one of ${ML_SOLVERS.join(", ")} (fixed steps, differentiated ` +
        `through); got ${JSON.stringify(method)}`,
    );
  }
  if (!Number.isInteger(steps) || steps < 1)
    throw new Error(`solver.steps must be a positive integer; got ${steps}`);
  return { method, steps };
}

/** What `maximumLikelihoodGradient` returns. */
export interface LikelihoodGradient {
  /** Mean -log p_1 of the points under the discretised flow. */
  loss: number;
  /** Its gradient with respect to `model.theta` (same layout). */
  grad: Float32Array;
  /** Field evaluations of the solve. */
  nfe: number;
}

/**
 * The maximum-likelihood loss of `model` on the points `x1` (`[n, d]`) and its exact gradient with
 * respect to every parameter, by back-propagation through the solver's steps (module comment).
 * Leak-free; `x1` is not disposed.
 * @example
 * const { loss, grad, nfe } = fm.maximumLikelihoodGradient(model, batch, { method: "rk4", steps: 8
 * });  // nfe 32
 */
export function maximumLikelihoodGradient(
  model: VelocityModel,
  x1: tf.Tensor2D,
  solver?: MlSolverOptions,
): LikelihoodGradient {
  if (!(model instanceof VelocityModel))
    throw new Error("maximumLikelihoodGradient: model must be a VelocityModel");
  flatPoints(x1, "x1", model.config.dim); // shape and finiteness, with a clear message
  const options = solverOptions(solver);
  return likelihoodGradient(model, x1, options, true);
}

/** `maximumLikelihoodGradient` without checks, the divergence term optional (for the tests). */
export function likelihoodGradient(
  model: VelocityModel,
  x1: tf.Tensor2D,
  solver: Required<MlSolverOptions>,
  divergence: boolean,
): LikelihoodGradient {
  const grad = new Float32Array(model.numParameters);
  let loss = NaN;
  tf.tidy(() => {
    const params = parameterTensors(model);
    const { value, grads } = tf.valueAndGrads((...p: tf.Tensor[]) =>
      negativeLogLikelihoodOf(model, p, x1, solver, divergence),
    )(params);
    loss = value.dataSync()[0];
    model.layers.forEach(({ inputs, outputs, offset }, i) => {
      grad.set(grads[2 * i].dataSync(), offset);
      grad.set(grads[2 * i + 1].dataSync(), offset + inputs * outputs);
    });
  });
  return { loss, grad, nfe: STAGES[solver.method] * solver.steps };
}

/**
 * Trains `model` in place by maximum likelihood through the ODE solver (module comment) with Adam.
 * Seeded through `fm.seed` (the batches). A loss that is not finite stops training with an error
 * that names the step; the model keeps the last parameters whose loss was finite.
 * @example
 * fm.seed(0);
 * const cnf = fm.createVelocityModel();
 * const run = await fm.trainMaximumLikelihood(cnf, { data: fm.twoMoons(2000), steps: 200 });
 * run.secondsPerStep; run.nfePerStep;   // 32 field evaluations per step (RK4, 8 steps)
 * fm.logLikelihood(cnf.field, heldOut).logp;   // held-out log-likelihood, adaptive solver
 */
export async function trainMaximumLikelihood(
  model: VelocityModel,
  options: MaximumLikelihoodOptions,
): Promise<MaximumLikelihoodResult> {
  const fn = "trainMaximumLikelihood";
  if (!(model instanceof VelocityModel))
    throw new Error(`${fn}: model must be a VelocityModel (fm.createVelocityModel)`);
  if (options === null || typeof options !== "object" || options.data === undefined)
    throw new Error(`${fn}: give the data ({ data })`);
  const d = model.config.dim;
  const data = flatPoints(options.data, "data", d);
  const settings = optimiserSettings(options, 300, `${fn}: `);
  const { batchSize } = settings;
  const solver = solverOptions(options.solver);
  const batch = new Float32Array(batchSize * d);
  const nfePerStep = STAGES[solver.method] * solver.steps;
  return optimise({
    model,
    settings,
    who: fn,
    progress: options.progress,
    title: "maximum-likelihood training",
    lossAndGradient: () => {
      for (let i = 0; i < batchSize; i++) {
        const row = randint(data.n);
        for (let j = 0; j < d; j++) batch[i * d + j] = data.values[row * d + j];
      }
      const x1 = tf.tensor2d(batch, [batchSize, d]);
      try {
        return likelihoodGradient(model, x1, solver, true);
      } finally {
        x1.dispose();
      }
    },
    checkGradient: true,
    hint:
      `Try a smaller learning rate (${settings.learningRate}), clipNorm, or more solver ` +
      `steps.`,
    onStep: (step, loss, seconds) => {
      options.onStep?.(step, loss, seconds);
    },
    summary: (losses, learningRates, seconds) => ({
      losses,
      learningRates,
      steps: losses.length,
      seconds,
      secondsPerStep: losses.length ? seconds / losses.length : NaN,
      nfePerStep,
      finalLoss: finalLoss(losses),
    }),
  });
}
