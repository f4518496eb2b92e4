/**
 * Sampling and the training gradient on several threads (see src/core/threads.ts for the threads).
 *
 * Both split a batch by rows, and both give the same numbers however many threads run them:
 *
 * - Sampling: every particle is integrated on its own (a fixed-step solver treats each row of the
 *   state alone, and a matrix product's row depends only on that row), so the rows are split among
 *   the threads and the results put back in order. The samples are bit for bit those of one thread
 *   (the tests check it). Adaptive `dopri5` chooses one step size for the whole batch, so it stays
 *   on one thread.
 *
 * - Training: the loss and its gradient are sums over the batch. The batch is cut into a fixed
 *   number of parts (`shards`, 2 by default, whatever the machine); each part's sums are computed
 *   on some thread and added in part order. One thread computing both parts gives the same numbers
 *   as two threads computing one each (the tests check that too), so a run repeats exactly on any
 *   machine. This is data-parallel training in miniature.
 */
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { interruptible } from "../core/interrupt";
import { alongside, awaitHelpers, helpers, send, threadCount } from "../core/threads";
import { solveOde, type OdeSolution, type SolveOdeOptions } from "../solvers/ode";
import {
  gradientSumsOfRows,
  lossFromSums,
  type GradientSums,
  type LossAndGradient,
} from "./backprop";
import type { GradientJob, SolveJob, SolveReply } from "./helper-jobs";
import { VelocityModel } from "./mlp";

/** The module whose jobs the helper threads run. */
export const HELPER_JOBS = join(__dirname, "helper-jobs.ts");

/**
 * Starts the helper threads now and waits until they are ready (otherwise they start in the
 * background on first use, and that first call runs on the main thread alone: same numbers,
 * slower). Resolves to the number of threads sampling and training will use.
 * @example
 * await fm.startThreads();   // 2 on a two-core machine with the wasm backend
 */
export async function startThreads(): Promise<number> {
  return 1 + (await awaitHelpers(threadCount() - 1, HELPER_JOBS));
}

/** Fewest rows worth sending to a helper thread when sampling. */
export const MIN_ROWS_PER_THREAD = 500;

/**
 * Rows [start, end) of part k when n rows are cut into `parts` nearly equal parts (the first ones
 * get the extra rows).
 */
export function partRows(n: number, parts: number, k: number): [number, number] {
  const base = Math.floor(n / parts);
  const extra = n % parts;
  const start = k * base + Math.min(k, extra);
  return [start, start + base + (k < extra ? 1 : 0)];
}

/**
 * The loss and gradient sums of a batch given as plain arrays (network inputs `[n, inputs]` and
 * targets `[n, d]`, row-major), cut into `shards` parts that run on up to `shards` threads and are
 * added in part order (module comment). Returns the same numbers for any number of threads.
 */
export function shardedGradientSums(
  model: VelocityModel,
  input: Float32Array,
  target: Float32Array,
  n: number,
  shards: number,
): GradientSums {
  if (!Number.isInteger(shards) || shards < 1)
    throw new Error(`shards must be a positive integer; got ${shards}`);
  const inputs = model.layers[0].inputs;
  const d = model.config.dim;
  const parts = Math.min(shards, n);
  const partSums = (k: number): GradientSums => {
    const [a, b] = partRows(n, parts, k);
    return gradientSumsOfRows(
      model,
      input.subarray(a * inputs, b * inputs),
      target.subarray(a * d, b * d),
      b - a,
    );
  };
  if (parts === 1) return partSums(0);
  // Part k (k >= 1) goes to helper k - 1 when there is one; the main thread does part 0 and the
  // rest.
  const team = helpers(parts - 1, HELPER_JOBS);
  team.forEach((h, j) => {
    const [a, b] = partRows(n, parts, j + 1);
    const job: GradientJob = {
      config: model.config,
      theta: model.theta,
      input: input.slice(a * inputs, b * inputs),
      target: target.slice(a * d, b * d),
      rows: b - a,
    };
    send(h, "gradient", job, [job.input.buffer as ArrayBuffer, job.target.buffer as ArrayBuffer]);
  });
  const { own, replies } = alongside<GradientSums[], GradientSums>(team, () => {
    const mine = [partSums(0)];
    for (let k = team.length + 1; k < parts; k++) mine.push(partSums(k));
    return mine;
  });
  const results = [own[0], ...replies, ...own.slice(1)];
  // Added in part order, in double precision, then rounded once.
  const sum = new Float64Array(model.numParameters);
  let sumSq = 0;
  for (const r of results) {
    sumSq += r.sumSq;
    for (let i = 0; i < sum.length; i++) sum[i] += r.grad[i];
  }
  return { sumSq, grad: Float32Array.from(sum) };
}

/**
 * The batch loss L = (1/n) sum |u_theta - target|^2 and its gradient (2/n) sum ..., from the sums
 * of `shardedGradientSums` (same arguments).
 */
export function shardedLossAndGradient(
  model: VelocityModel,
  input: Float32Array,
  target: Float32Array,
  n: number,
  shards: number,
): LossAndGradient {
  return lossFromSums(shardedGradientSums(model, input, target, n, shards), n);
}

/**
 * Integrates a model's field from `x0` with a fixed-step solver, the rows split among the threads
 * (module comment), or returns null when one thread is all there is or worth using (few rows, an
 * adaptive solver, a native backend). Same result as `solveOde(model.field, x0, options)`, bit for
 * bit. `x0` is not disposed. An interrupt stops every thread's share at its next step (an
 * `InterruptedError`).
 */
export function parallelSolve(
  model: VelocityModel,
  x0: tf.Tensor2D,
  options: SolveOdeOptions,
): OdeSolution | null {
  return interruptible(() => splitSolve(model, x0, options));
}

function splitSolve(
  model: VelocityModel,
  x0: tf.Tensor2D,
  options: SolveOdeOptions,
): OdeSolution | null {
  if ((options.method ?? "euler") === "dopri5") return null;
  const shared = shareRows<SolveJob, SolveReply>(model, x0, {
    minRows: MIN_ROWS_PER_THREAD,
    jobs: HELPER_JOBS,
    job: "solve",
    share: () => ({ options }),
    solve: (head) => solveOde(model.field, head, options),
  });
  if (!shared) return null;
  const { own, replies, total, x } = shared;
  const n = x0.shape[0];
  const d = model.config.dim;
  // The trajectory is [times, n, d], rows in the middle axis.
  let trajectory: tf.Tensor3D | undefined;
  if (own.trajectory) {
    const T = own.trajectory.shape[0];
    const ownTraj = own.trajectory.dataSync();
    const traj = new Float32Array(T * n * d);
    const pieces = [
      { data: ownTraj, k: 0 },
      ...replies.map((r, j) => ({ data: r.trajectory!, k: j + 1 })),
    ];
    for (const { data, k } of pieces) {
      const [a, b] = partRows(n, total, k);
      const rows = (b - a) * d;
      for (let s = 0; s < T; s++)
        traj.set(data.subarray(s * rows, (s + 1) * rows), s * n * d + a * d);
    }
    trajectory = tf.tensor3d(traj, [T, n, d]);
    own.trajectory.dispose();
  }
  return { ...own, x: tf.tensor2d(x, [n, d]), ...(trajectory ? { trajectory } : {}) };
}

/** What a share of `shareRows` is sent: rows `x0` of the batch, with the model. */
interface RowsJob {
  config: VelocityModel["config"];
  theta: Float32Array;
  x0: Float32Array;
  rows: number;
}

/**
 * Integrates the rows of `x0` (`[n, d]`) on all the threads, one part each (`partRows`): part 0 on
 * this thread by `solve`, part k >= 1 on helper k - 1 as a job of kind `job` (handlers in module
 * `jobs`), sent its rows, the model and the fields `share(a, b)` gives for its rows [a, b). The
 * rows at t1 are put back in order in `x` (`[n, d]`, row-major); `own` is this thread's solution
 * without its `x` (disposed), `replies` the helpers' answers in part order, `total` the number of
 * parts. Returns null (nothing sent) when there are fewer than 2 threads or `minRows` rows a part.
 */
export function shareRows<Job extends RowsJob, Reply extends { x: Float32Array }>(
  model: VelocityModel,
  x0: tf.Tensor2D,
  how: {
    minRows: number;
    jobs: string;
    job: string;
    share: (a: number, b: number) => Omit<Job, keyof RowsJob>;
    solve: (head: tf.Tensor2D, a: number, b: number) => OdeSolution;
  },
): { own: Omit<OdeSolution, "x">; replies: Reply[]; total: number; x: Float32Array } | null {
  const n = x0.shape[0];
  const parts = Math.min(threadCount(), Math.floor(n / how.minRows));
  if (parts < 2) return null;
  const team = helpers(parts - 1, how.jobs);
  if (team.length === 0) return null;
  const total = team.length + 1;
  const d = model.config.dim;
  const all = x0.dataSync() as Float32Array;
  team.forEach((h, j) => {
    const [a, b] = partRows(n, total, j + 1);
    const job: RowsJob = {
      ...how.share(a, b),
      config: model.config,
      theta: model.theta,
      x0: all.slice(a * d, b * d),
      rows: b - a,
    };
    send(h, how.job, job, [job.x0.buffer as ArrayBuffer]);
  });
  const [a0, b0] = partRows(n, total, 0);
  const { own, replies } = alongside<OdeSolution, Reply>(team, () => {
    const head = tf.slice(x0, [a0, 0], [b0 - a0, d]) as tf.Tensor2D;
    try {
      return how.solve(head, a0, b0);
    } finally {
      head.dispose();
    }
  });
  const x = new Float32Array(n * d);
  const { x: ownX, ...rest } = own;
  x.set(ownX.dataSync(), 0);
  ownX.dispose();
  replies.forEach((r, j) => x.set(r.x, partRows(n, total, j + 1)[0] * d));
  return { own: rest, replies, total, x };
}
