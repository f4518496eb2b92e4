// Issue 14, section 5: bad inputs across the library, one row each, every row asserting the message
// (what was wrong, and where). Each row also checks that the failed call left no tensor behind.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { mkdtempSync, mkdirSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import * as fm from "../src/index";

type Case = [area: string, what: string, run: () => unknown, message: RegExp];

const dir = mkdtempSync(join(tmpdir(), "fm-bad-inputs-"));
const file = (name: string, text: string): string => {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
};

// Shared inputs, made once (so that a row's tensor count measures only the library).
let x: tf.Tensor2D; // [4, 2]
let x3: tf.Tensor2D; // [4, 3]
let withNaN: tf.Tensor2D;
let empty: tf.Tensor2D; // [0, 2]
let rank1: tf.Tensor1D;
let rank3: tf.Tensor3D;
let times4: tf.Tensor1D;
let timesBad: tf.Tensor1D;
let model: fm.VelocityModel;
let traj: tf.Tensor3D;
let oneTime: tf.Tensor1D;
let huge: tf.Tensor2D;
const gm = new fm.GaussianMixture({
  means: [
    [-2, 0],
    [2, 0],
  ],
  stds: 0.5,
});
const set = new fm.FiniteSet([
  [-2, 0],
  [2, 0],
]);
const zero: fm.VelocityField = (xx) => tf.zerosLike(xx);
const nanAfterHalf: fm.VelocityField = (xx, t) =>
  tf.mul(tf.onesLike(xx), (t as number) > 0.5 ? NaN : 1);
const wrongShape: fm.VelocityField = (xx) => tf.zeros([xx.shape[0], 5]);

beforeAll(() => {
  fm.seed(0);
  x = tf.tensor2d([
    [0, 0],
    [1, 0],
    [0, 1],
    [1, 1],
  ]);
  x3 = tf.zeros([4, 3]);
  withNaN = tf.tensor2d([
    [0, 0],
    [NaN, 1],
  ]);
  empty = tf.zeros([0, 2]);
  rank1 = tf.zeros([4]);
  rank3 = tf.zeros([2, 4, 2]);
  times4 = tf.tensor1d([0.1, 0.2, 0.3, 0.4]);
  timesBad = tf.tensor1d([0.1, 0.2, 1.5, 0.4]);
  model = fm.createVelocityModel({ width: 8, depth: 1 });
  traj = tf.zeros([3, 4, 2]);
  oneTime = tf.tensor1d([0.1]);
  huge = tf.tensor2d([[3e38, 0]]);
});
afterAll(() => {
  tf.dispose([x, x3, withNaN, empty, rank1, rank3, times4, timesBad, traj, oneTime, huge]);
  model.dispose();
});

const path = () => fm.condOTPath();
const savedModel = () => fm.modelToJson(model);

const CASES: Case[] = [
  // ---- paths, schedulers, conversions, DDPM, forward SDEs
  ["paths", "t above 1", () => path().sample(x, x, 1.2), /t must lie in \[0, 1\]; got 1\.2/],
  ["paths", "t negative", () => path().sample(x, x, -0.1), /t must lie in \[0, 1\]; got -0\.1/],
  ["paths", "t NaN", () => path().sample(x, x, NaN), /t must be a finite number; got NaN/],
  [
    "paths",
    "t a tensor with an entry out of range",
    () => path().sample(x, x, timesBad),
    /t must lie in \[0, 1\]; entry 2 is 1\.5/,
  ],
  [
    "paths",
    "t with one time per row missing",
    () => path().sample(x, x, oneTime),
    /one time per row: shape \[4\]; got \[1\]/,
  ],
  [
    "paths",
    "t a string",
    () => path().sample(x, x, "0.5" as unknown as number),
    /t must be a number or a tf\.Tensor of shape \[n\]; got string/,
  ],
  [
    "paths",
    "x0 and x1 of different shapes",
    () => path().sample(x, x3, 0.5),
    /x0 and x1 must have the same shape; got \[4, 2\] and \[4, 3\]/,
  ],
  [
    "paths",
    "AffineProbPath without a scheduler",
    () => new fm.AffineProbPath(undefined as unknown as fm.Scheduler),
    /AffineProbPath needs a Scheduler/,
  ],
  [
    "paths",
    "conditional velocity at t = 1",
    () => path().conditionalVelocity(x, x, 1),
    /conditionalVelocity: sigma_t = 0 at t = 1 on the condOT path.*divides by zero/,
  ],
  [
    "paths",
    "convertPrediction with an unknown kind",
    () => fm.convertPrediction(x, x, 0.5, path(), "velocity", "noise" as never),
    /must be one of .*got "noise"/,
  ],
  [
    "paths",
    "conversion on something that is not a path",
    () => fm.velocityToEpsilon(x, x, 0.5, {} as fm.AffineProbPath),
    /path must be an AffineProbPath/,
  ],
  [
    "paths",
    "score conversion where sigma = 0",
    () => fm.velocityToScore(x, x, 1, path()),
    /singular at t = 1/,
  ],
  [
    "paths",
    "ddpmSchedule with one step",
    () => fm.ddpmSchedule({ steps: 1 }),
    /steps \(K\) must be an integer >= 2; got 1/,
  ],
  [
    "paths",
    "ddpmSchedule with an unknown schedule",
    () => fm.ddpmSchedule({ schedule: "quadratic" as never }),
    /schedule must be "linear" or "cosine"; got "quadratic"/,
  ],
  [
    "paths",
    "ddpmSchedule with an unknown option",
    () => fm.ddpmSchedule({ stpes: 10 } as never),
    /unknown option "stpes"/,
  ],
  [
    "paths",
    "ddpmIndexToTime past K",
    () => fm.ddpmIndexToTime(11, 10),
    /k must be an integer in \[0, 10\]; got 11/,
  ],
  [
    "paths",
    "timeToDdpmIndex off the grid",
    () => fm.timeToDdpmIndex(0.55, 10),
    /is not a step time/,
  ],
  [
    "paths",
    "ddpmTimeGrid stride not dividing K",
    () => fm.ddpmTimeGrid(10, 3),
    /stride must be a positive integer dividing K = 10; got 3/,
  ],
  [
    "paths",
    "vpScheduler with an unknown schedule",
    () => fm.vpScheduler({ schedule: "exp" as never }),
    /schedule must be "linear" or "cosine"; got "exp"/,
  ],
  [
    "paths",
    "customScheduler without at",
    () => fm.customScheduler({ name: "mine" } as never),
    /at must be a function/,
  ],
  [
    "paths",
    "forwardSde on a non-path",
    () => fm.forwardSde({} as fm.AffineProbPath),
    /forwardSde: path must be an AffineProbPath/,
  ],
  ["paths", "vpSde at s out of range", () => fm.vpSde().at(2), /s must lie in \[0, 1\]; got 2/],

  // ---- targets
  [
    "targets",
    "GaussianMixture without options",
    () => new fm.GaussianMixture(undefined as never),
    /expected options \{ means, stds, weights\? \}/,
  ],
  [
    "targets",
    "GaussianMixture with no means",
    () => new fm.GaussianMixture({ means: [], stds: 1 }),
    /means must have at least one row; got none/,
  ],
  [
    "targets",
    "GaussianMixture with ragged means",
    () => new fm.GaussianMixture({ means: [[0, 0], [1]], stds: 1 }),
    /row 1 has 1/,
  ],
  [
    "targets",
    "GaussianMixture with a NaN mean",
    () => new fm.GaussianMixture({ means: [[0, NaN]], stds: 1 }),
    /means must be finite; entry \[0, 1\] is NaN/,
  ],
  [
    "targets",
    "GaussianMixture with a zero std",
    () => new fm.GaussianMixture({ means: [[0, 0]], stds: 0 }),
    /stds must be finite and > 0 \(use FiniteSet for zero width\); entry 0 is 0/,
  ],
  [
    "targets",
    "GaussianMixture with stds of the wrong length",
    () => new fm.GaussianMixture({ means: [[0, 0]], stds: [1, 2] }),
    /one per component \(1\); got 2/,
  ],
  [
    "targets",
    "weights not summing to 1",
    () => new fm.FiniteSet([[0], [1]], [0.5, 0.6]),
    /weights must sum to 1; they sum to 1\.1/,
  ],
  [
    "targets",
    "a negative weight",
    () => new fm.FiniteSet([[0], [1]], [1.5, -0.5]),
    /weights must be finite and > 0; entry 1 is -0\.5/,
  ],
  [
    "targets",
    "FiniteSet of no points",
    () => new fm.FiniteSet([]),
    /points must have at least one row; got none/,
  ],
  [
    "targets",
    "an empty batch",
    () => gm.velocity(empty, 0.5),
    /GaussianMixture\.velocity: x is an empty batch \(shape \[0, 2\]\)/,
  ],
  [
    "targets",
    "x of the wrong dimension",
    () => gm.logDensity(x3, 0.5),
    /x must have shape \[n, 2\] \(the target has dimension 2\); got shape \[4, 3\]/,
  ],
  [
    "targets",
    "x with NaN",
    () => set.posterior(withNaN, 0.5),
    /FiniteSet\.posterior: x must be finite; entry 2 .* is NaN/,
  ],
  [
    "targets",
    "x of rank 1",
    () => gm.score(rank1 as never, 0.5),
    /x must have shape \[n, 2\].*got shape \[4\]/,
  ],
  [
    "targets",
    "a finite set at t = 1",
    () => set.velocity(x, 1),
    /at t = 1 the condOT path has sigma_t = 0.*Dirac deltas/,
  ],
  [
    "targets",
    "per-row times out of range",
    () => gm.posteriorMean(x, timesBad),
    /t must lie in \[0, 1\]; entry 2 is 1\.5/,
  ],
  [
    "targets",
    "a path that is not a path",
    () => gm.velocity(x, 0.5, {} as fm.AffineProbPath),
    /path must be an AffineProbPath/,
  ],
  [
    "targets",
    "VP velocity at t = 1",
    () => gm.velocity(x, 1, fm.vpPath()),
    /dSigma_t = -Infinity at t = 1/,
  ],
  [
    "targets",
    "sample(0)",
    () => gm.sample(0),
    /GaussianMixture\.sample: n must be a positive integer; got 0/,
  ],
  [
    "targets",
    "sample(2^30): too large, refused at once",
    () => set.sample(2 ** 30),
    /FiniteSet\.sample: n = 1073741824 samples of dimension 2 would hold 2,147,483,648 numbers/,
  ],
  [
    "targets",
    "a result beyond float32",
    () => new fm.FiniteSet([[-3e38, 0]]).velocity(huge, 0.5),
    /beyond float32's range/,
  ],

  // ---- data sets and random numbers
  [
    "data",
    "twoMoons(0)",
    () => fm.twoMoons(0),
    /twoMoons: n must be a positive integer \(the number of points\); got 0/,
  ],
  [
    "data",
    "twoMoons(2^31): too large, refused at once",
    () => fm.twoMoons(2 ** 31),
    /twoMoons: 2147483648 points of 2 coordinates would hold 4,294,967,296 numbers \(16\.0 GiB/,
  ],
  [
    "data",
    "checkerboard(1.5)",
    () => fm.checkerboard(1.5),
    /n must be a positive integer .*got 1\.5/,
  ],
  [
    "data",
    "negative noise",
    () => fm.spirals(10, { noise: -1 }),
    /noise must be a finite number >= 0; got -1/,
  ],
  [
    "data",
    "zero scale",
    () => fm.eightGaussians(10, { scale: 0 }),
    /scale must be a finite number > 0; got 0/,
  ],
  [
    "data",
    "an unknown data set",
    () => fm.toyDataset("moons" as never, 10),
    /Unknown toy data set "moons"; choose one of twoMoons, /,
  ],
  [
    "random",
    "seed 2^32 (would equal seed 0)",
    () => fm.seed(2 ** 32),
    /seed must lie in \[0, 2\^32 - 1\] \(a 32-bit seed\); got 4294967296/,
  ],
  ["random", "seed -1", () => fm.seed(-1), /seed must lie in \[0, 2\^32 - 1\].*got -1/],
  ["random", "seed 0.5", () => fm.seed(0.5), /seed must be an integer; got 0\.5/],
  ["random", "seed as a string", () => fm.seed("1" as never), /seed must be an integer; got 1/],
  ["random", "randint(0)", () => fm.randint(0), /randint needs a positive integer; got 0/],
  [
    "random",
    "randn of a huge shape",
    () => fm.randn([1e5, 1e5]),
    /randn: shape \[100000, 100000\] would hold 10,000,000,000 numbers/,
  ],
  [
    "random",
    "randn of a negative shape",
    () => fm.randn([-1, 2]),
    /randn: shape must be an array of non-negative integers; got \[-1,2\]/,
  ],
  [
    "random",
    "rand with lo >= hi",
    () => fm.rand([2], 1, 0),
    /rand: needs finite lo < hi; got lo = 1, hi = 0/,
  ],
  [
    "random",
    "permutation(-1)",
    () => fm.permutation(-1),
    /permutation: n must be an integer >= 0; got -1/,
  ],

  // ---- solvers
  [
    "solvers",
    "steps 0",
    () => fm.solveOde(zero, x, { steps: 0 }),
    /solveOde: steps must be a positive integer; got 0/,
  ],
  [
    "solvers",
    "steps 1e9 (would take 1 GB, then hours)",
    () => fm.solveOde(zero, x, { steps: 1e9 }),
    /solveOde: steps = 1000000000 is more than 1,000,000, the most a solver takes here/,
  ],
  [
    "solvers",
    "steps 2.5",
    () => fm.solveOde(zero, x, { steps: 2.5 }),
    /steps must be a positive integer; got 2\.5/,
  ],
  [
    "solvers",
    "dopri5 maxSteps 1e8",
    () => fm.solveOde(zero, x, { method: "dopri5", maxSteps: 1e8 }),
    /maxSteps = 100000000 is more than 1,000,000/,
  ],
  [
    "solvers",
    "an unknown method",
    () => fm.solveOde(zero, x, { method: "rk45" as never }),
    /Unknown ODE method "rk45"; choose one of euler, midpoint, heun, rk4, dopri5/,
  ],
  [
    "solvers",
    "a field that is not a function",
    () => fm.solveOde(42 as never, x),
    /solveOde: field must be a function/,
  ],
  [
    "solvers",
    "x0 with NaN",
    () => fm.solveOde(zero, withNaN),
    /solveOde: x0 must be finite; entry 2/,
  ],
  [
    "solvers",
    "x0 of rank 3",
    () => fm.solveOde(zero, rank3 as never),
    /solveOde: x0 must have shape \[n, d\]; got shape \[2, 4, 2\]/,
  ],
  [
    "solvers",
    "saveAt outside [t0, t1]",
    () => fm.solveOde(zero, x, { saveAt: [0, 2] }),
    /saveAt\[1\] must lie between t0 = 0 and t1 = 1; got 2/,
  ],
  [
    "solvers",
    "saveAt out of order",
    () => fm.solveOde(zero, x, { saveAt: [0.5, 0.2] }),
    /saveAt must follow the direction of integration \(non-decreasing\); got 0\.5 then 0\.2/,
  ],
  [
    "solvers",
    "a trajectory too large to hold",
    () => fm.solveOde(zero, x, { saveAt: new Array(5e7) }),
    /the trajectory \(50000000 saved times of \[4, 2\]\) would hold/,
  ],
  [
    "solvers",
    "rtol and atol both 0",
    () => fm.solveOde(zero, x, { method: "dopri5", rtol: 0, atol: 0 }),
    /rtol and atol cannot both be 0/,
  ],
  [
    "solvers",
    "negative rtol",
    () => fm.solveOde(zero, x, { method: "dopri5", rtol: -1 }),
    /rtol must be a finite number >= 0; got -1/,
  ],
  [
    "solvers",
    "a field returning the wrong shape",
    () => fm.solveOde(wrongShape, x, { steps: 2 }),
    /must return a tensor shaped like x, \[4, 2\]; got shape \[4, 5\]/,
  ],
  [
    "solvers",
    "dopri5 on a field that returns NaN from t = 0.5",
    () => fm.solveOde(nanAfterHalf, x, { method: "dopri5" }),
    new RegExp(
      String.raw`the velocity field returned NaN at t = 0\.5\d* \(a ` +
        String.raw`stage of the step from t = 0\.4\d+\).*cannot fix that`,
    ),
  ],
  [
    "solvers",
    "dopri5 on a field that is NaN at the start",
    () => fm.solveOde((xx) => tf.mul(xx, NaN), x, { method: "dopri5" }),
    /returned NaN at t = 0, at the starting points/,
  ],
  [
    "solvers",
    "rk4 on a field that returns NaN from t = 0.5 (fixed steps)",
    () => fm.solveOde(nanAfterHalf, x, { method: "rk4", steps: 10 }),
    /solveOde \(rk4\): the state became NaN in step 6 of 10, from t = 0\.5 to t = 0\.6/,
  ],
  [
    "solvers",
    "euler on a field that overflows (fixed steps)",
    () => fm.solveOde((xx) => tf.mul(xx, 1e30), x, { method: "euler", steps: 4 }),
    /solveOde \(euler\): the state became Infinity in step 2 of 4, from t = 0\.25 to t = 0\.5/,
  ],
  [
    "solvers",
    "sampleSde with steps 1e7",
    () => fm.sampleSde(zero, path(), x, { steps: 1e7 }),
    /sampleSde: steps = 10000000 is more than 1,000,000/,
  ],
  [
    "solvers",
    "sampleDdim with an unknown option",
    () => fm.sampleDdim(zero, fm.vpPath(), x, { step: 3 } as never),
    /sampleDdim: unknown option "step"/,
  ],
  [
    "solvers",
    "sampleDdim with eta 2",
    () => fm.sampleDdim(zero, fm.vpPath(), x, { eta: 2 }),
    /eta must lie in \[0, 1\]; got 2/,
  ],
  [
    "solvers",
    "simulateForwardSde with steps 0",
    () => fm.simulateForwardSde(fm.vpSde(), x, { steps: 0 }),
    /simulateForwardSde: steps must be a positive integer; got 0/,
  ],
  [
    "solvers",
    "eulerStep with h NaN",
    () => fm.eulerStep(zero, x, 0, NaN),
    /h must be a finite number; got NaN/,
  ],

  // ---- the model
  [
    "model",
    "width 0",
    () => fm.createVelocityModel({ width: 0 }),
    /width must be an integer >= 1; got 0/,
  ],
  [
    "model",
    "an unknown activation",
    () => fm.createVelocityModel({ activation: "gelu" as never }),
    /activation must be one of .*got "gelu"/,
  ],
  [
    "model",
    "an unknown time embedding",
    () => fm.createVelocityModel({ time: "sin" as never }),
    /time must be "raw", "fourier"/,
  ],
  [
    "model",
    "predict with x of the wrong dimension",
    () => model.predict(x3, 0.5),
    /x must have 2 columns \(shape \[n, 2\]\); got shape \[4, 3\]/,
  ],
  ["model", "predict at t = 2", () => model.predict(x, 2), /t must lie in \[0, 1\]; got 2/],

  // ---- training
  [
    "training",
    "an empty data tensor",
    () => fm.trainFlowMatching(model, { data: empty, steps: 1, progress: false }),
    /trainFlowMatching: data is empty \(no rows\); give at least one point/,
  ],
  [
    "training",
    "an empty data array",
    () => fm.trainFlowMatching(model, { data: [], steps: 1, progress: false }),
    /data must be a \[n, d\] tensor or a non-empty array of rows/,
  ],
  [
    "training",
    "data and pairs both",
    () => fm.trainFlowMatching(model, { data: x, pairs: { x0: x, x1: x }, progress: false }),
    /give either data .* or pairs .*, or batches .*: exactly one; got data and pairs/,
  ],
  [
    "training",
    "neither data nor pairs",
    () => fm.trainFlowMatching(model, { progress: false } as never),
    /exactly one; got none/,
  ],
  [
    "training",
    "data of the wrong dimension",
    () => fm.trainFlowMatching(model, { data: x3, steps: 1, progress: false }),
    /data must have 2 columns/,
  ],
  [
    "training",
    "data with NaN",
    () => fm.trainFlowMatching(model, { data: withNaN, steps: 1, progress: false }),
    /data must be finite; entry 2 is NaN/,
  ],
  [
    "training",
    "pairs of different lengths",
    () => fm.trainFlowMatching(model, { pairs: { x0: x, x1: [[0, 0]] }, progress: false }),
    /pairs\.x0 has 4 rows but pairs\.x1 has 1/,
  ],
  [
    "training",
    "steps 0",
    () => fm.trainFlowMatching(model, { data: x, steps: 0, progress: false }),
    /steps must be a positive integer; got 0/,
  ],
  [
    "training",
    "steps 1e9",
    () => fm.trainFlowMatching(model, { data: x, steps: 1e9, progress: false }),
    /trainFlowMatching: steps = 1000000000 is more than 10,000,000/,
  ],
  [
    "training",
    "batch size 1e9",
    () => fm.trainFlowMatching(model, { data: x, steps: 1, batchSize: 1e9, progress: false }),
    /a batch of 1000000000 network inputs would hold/,
  ],
  [
    "training",
    "a negative learning rate",
    () => fm.trainFlowMatching(model, { data: x, learningRate: -1, progress: false }),
    /learningRate must be a positive number; got -1/,
  ],
  [
    "training",
    "a time range past 1",
    () => fm.trainFlowMatching(model, { data: x, timeRange: [0, 2], progress: false }),
    /timeRange must satisfy 0 <= tMin < tMax <= 1; got \[0, 2\]/,
  ],
  [
    "training",
    "a negative warm-up",
    () => fm.trainFlowMatching(model, { data: x, warmup: -1, progress: false }),
    /warmup must be a non-negative integer; got -1/,
  ],
  [
    "training",
    "not a model",
    () => fm.trainFlowMatching({} as never, { data: x }),
    /model must be a VelocityModel/,
  ],

  // ---- sampling
  ["sampling", "n 0", () => fm.sampleFlow(model, { n: 0 }), /n must be a positive integer; got 0/],
  [
    "sampling",
    "n 2^31",
    () => fm.sampleFlow(model, { n: 2 ** 31 }),
    /sampleFlow: n = 2147483648 samples would hold/,
  ],
  [
    "sampling",
    "a function as an option (same with or without helpers)",
    () => fm.sampleFlow(model, { n: 10, steps: 2, onStep: () => 0 } as never),
    /sampleFlow: unknown option "onStep"/,
  ],
  [
    "sampling",
    "a function in a known option",
    () => fm.sampleFlow(model, { n: 10, method: (() => "rk4") as never }),
    /sampleFlow: option method must be a number or a name; got a function/,
  ],
  [
    "sampling",
    "t0 given",
    () => fm.sampleFlow(model, { n: 10, t0: 0.5 } as never),
    /t0 is not an option: sampling always runs from t = 0 \(noise\) to t = 1 \(data\)/,
  ],
  [
    "sampling",
    "steps 1e8",
    () => fm.sampleFlow(model, { n: 10, steps: 1e8 }),
    /sampleFlow: steps = 100000000 is more than 1,000,000/,
  ],
  [
    "sampling",
    "x0 of the wrong dimension",
    () => fm.sampleFlow(model, { x0: x3 }),
    /x0 must have 2 columns/,
  ],
  [
    "sampling",
    "a plain field without x0",
    () => fm.sampleFlow(zero, { n: 10 }),
    /with a plain velocity field, pass the starting noise as x0/,
  ],
  [
    "sampling",
    "options that are not an object",
    () => fm.sampleFlow(model, 5 as never),
    /options must be an object/,
  ],

  // ---- metrics
  [
    "metrics",
    "mmd on identical repeated points",
    () =>
      fm.mmd(
        [
          [1, 1],
          [1, 1],
        ],
        [
          [1, 1],
          [1, 1],
        ],
      ),
    /mmd: the median heuristic found no kernel width.*pass bandwidths/,
  ],
  [
    "metrics",
    "mmd with a zero bandwidth",
    () => fm.mmd(x, x, { bandwidths: [0] }),
    /bandwidths must be a non-empty array of positive numbers; got \[0\]/,
  ],
  [
    "metrics",
    "mmd with bandwidths not an array",
    () => fm.mmd(x, x, { bandwidths: 1 as never }),
    /bandwidths must be a non-empty array of positive numbers; got 1/,
  ],
  [
    "metrics",
    "mmd on one point",
    () => fm.mmd([[0, 0]], x),
    /mmd: a needs at least 2 points; got 1/,
  ],
  [
    "metrics",
    "energyDistance across dimensions",
    () => fm.energyDistance(x, x3),
    /energyDistance: b must have 2 columns/,
  ],
  [
    "metrics",
    "energyDistance with NaN",
    () => fm.energyDistance(withNaN, x),
    /energyDistance: a must be finite; entry 2/,
  ],
  [
    "metrics",
    "energyDistance of an empty set",
    () => fm.energyDistance(empty, x),
    /needs at least 1 samples in each set; got 0 and 4/,
  ],
  [
    "metrics",
    "slicedWasserstein2 with 0 projections",
    () => fm.slicedWasserstein2(x, x, { projections: 0 }),
    /projections must be a positive integer; got 0/,
  ],
  [
    "metrics",
    "memorisation with held-out = train",
    () => fm.memorisation(x, x, x),
    /held-out points coincide with training points/,
  ],
  [
    "metrics",
    "nearestPoints of no points",
    () => fm.nearestPoints([], x),
    /x must hold at least one point; got none/,
  ],
  [
    "metrics",
    "sampleMoments of ragged rows",
    () => fm.sampleMoments([[0, 0], [1]]),
    /sampleMoments: x: every row must have 2 entries; row 1 has 1/,
  ],
  [
    "metrics",
    "trajectoryStraightness with mismatched times",
    () => fm.trajectoryStraightness(traj, [0, 1]),
    /times must have one entry per saved state \(3\); got 2/,
  ],
  [
    "metrics",
    "logLogSlope of unequal lengths",
    () => fm.logLogSlope([1, 2], [1]),
    /logLogSlope: x and y must have the same length; got 2 and 1/,
  ],
  [
    "metrics",
    "exactW2Squared of different sizes",
    () => fm.exactW2Squared(x, [[0, 0]]),
    /exactW2Squared: needs equally many points on both sides; got 4 and 1/,
  ],

  // ---- reflow
  [
    "reflow",
    "reflowPairs n 0",
    () => fm.reflowPairs(model, { n: 0 }),
    /reflowPairs: n must be a positive integer; got 0/,
  ],
  [
    "reflow",
    "reflowPairs of a non-model",
    () => fm.reflowPairs(42 as never),
    /reflowPairs: give a VelocityModel or a velocity field/,
  ],
  [
    "reflow",
    "reflowPairs too many",
    () => fm.reflowPairs(model, { n: 2 ** 30 }),
    /reflowPairs: n = 1073741824 pairs of dimension 2 would hold/,
  ],
  [
    "reflow",
    "reflowPairs dim 0",
    () => fm.reflowPairs(zero, { dim: 0 }),
    /reflowPairs: dim must be a positive integer; got 0/,
  ],
  [
    "reflow",
    "reflow of a non-model",
    () => fm.reflow(zero as never),
    /reflow: model must be a VelocityModel/,
  ],
  [
    "reflow",
    "rectifiedFlows with 0 rounds",
    () => fm.rectifiedFlows(model, { rounds: 0 }),
    /rectifiedFlows: rounds must be a positive integer; got 0/,
  ],

  // ---- model files
  [
    "files",
    "a missing file",
    () => fm.loadModel(join(dir, "nope.json")),
    /loadModel: no file .*nope\.json/,
  ],
  [
    "files",
    "a directory",
    () => fm.loadModel(dir),
    /loadModel: .* is a directory, not a model file/,
  ],
  ["files", "not JSON", () => fm.loadModel(file("bad.json", "{ no")), /is not valid JSON/],
  [
    "files",
    "a foreign JSON file",
    () => fm.loadModel(file("foreign.json", '{"format":"keras"}')),
    /not a velocity model saved by this course/,
  ],
  [
    "files",
    "version -7",
    () => fm.modelFromJson({ ...savedModel(), version: -7 }),
    /format version -7; this library reads versions 1 and 2/,
  ],
  [
    "files",
    "version 3",
    () => fm.modelFromJson({ ...savedModel(), version: 3 }),
    /format version 3; .*a newer file needs a newer course library/,
  ],
  [
    "files",
    "one base64 character changed",
    () => {
      const s = savedModel();
      return fm.modelFromJson({
        ...s,
        theta: (s.theta[5] === "A" ? "B" : "A").padStart(6, s.theta.slice(0, 5)) + s.theta.slice(6),
      });
    },
    /is damaged: its checksum does not match/,
  ],
  [
    "files",
    "a declared dim of 1e9",
    () => fm.modelFromJson({ ...savedModel(), config: { ...savedModel().config, dim: 1e9 } }),
    /theta holds \d+ numbers; the architecture \(dim 1000000000/,
  ],
  [
    "files",
    "a config that is not valid",
    () => fm.modelFromJson({ ...savedModel(), config: { width: -3 } }),
    /architecture \(config\) is invalid: width/,
  ],
  [
    "files",
    "theta missing",
    () => fm.modelFromJson({ ...savedModel(), theta: undefined }),
    /has no parameters \(theta\)/,
  ],
  [
    "files",
    "save NaN",
    () => {
      const bad = new fm.VelocityModel(model.config, model.theta);
      bad.theta[0] = NaN;
      return fm.saveModel(bad, join(dir, "nan.json"));
    },
    /parameter 0 \(layer 0, W\[0\]\[0\]\) is NaN/,
  ],
  [
    "files",
    "save onto a directory",
    () => fm.saveModel(model, dir),
    /saveModel: .* is a directory; give a file name inside it/,
  ],
  [
    "files",
    "save under a file",
    () => fm.saveModel(model, join(file("plain.txt", "x"), "m.json")),
    /a part of the path .* is a file, not a folder/,
  ],
  ["files", "save without a name", () => fm.saveModel(model, ""), /saveModel: give a file name/],
  [
    "files",
    "save a non-model",
    () => fm.saveModel({} as never, join(dir, "m.json")),
    /saveModel: model must be a VelocityModel/,
  ],
];

describe("bad inputs get messages that name the problem (issue 14)", () => {
  it(`the table has at least 100 distinct rows across every area (${CASES.length} now)`, () => {
    const names = new Set(CASES.map(([area, what]) => `${area}: ${what}`));
    expect(names.size).toBe(CASES.length);
    expect(CASES.length).toBeGreaterThanOrEqual(100);
    const byArea: Record<string, number> = {};
    for (const [area] of CASES) byArea[area] = (byArea[area] ?? 0) + 1;
    const areas = [
      "paths",
      "targets",
      "solvers",
      "model",
      "training",
      "sampling",
      "metrics",
      "reflow",
      "files",
    ];
    for (const a of areas) expect(byArea[a], a).toBeGreaterThan(0);
    console.log(`bad-input table: ${CASES.length} rows; by area ${JSON.stringify(byArea)}`);
  });

  it(
    "sampleFlow refuses a function option the same way before and after the helper threads " +
      "start",
    async () => {
      const call = () => fm.sampleFlow(model, { n: 1200, steps: 2, onStep: () => 0 } as never);
      const message = /sampleFlow: unknown option "onStep"/;
      fm.setThreads(2);
      try {
        expect(call).toThrow(message); // helpers not started yet: the main thread would do the work
        await fm.startThreads();
        expect(fm.runningHelpers()).toBe(1);
        expect(call).toThrow(message); // helpers ready: the options would be sent to them
        // Control: the same call without the function runs (on both threads).
        tf.dispose(fm.sampleFlow(model, { n: 1200, steps: 2 }));
      } finally {
        fm.setThreads();
        fm.stopThreads();
      }
    },
  );

  it.each(CASES.map((c) => [`${c[0]}: ${c[1]}`, c] as const))(
    "%s",
    async (_name, [, , run, message]) => {
      mkdirSync(dir, { recursive: true });
      const before = tf.memory().numTensors;
      let error: unknown;
      try {
        await run();
      } catch (err) {
        error = err;
      }
      expect(error, "no error was thrown").toBeInstanceOf(Error);
      expect((error as Error).message).toMatch(message);
      // A failed call leaves no tensor behind.
      expect(tf.memory().numTensors - before).toBe(0);
    },
  );
});
