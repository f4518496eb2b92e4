/**
 * The course library: everything a notebook needs, behind one import.
 *
 *     import * as fm from "./src/index";
 *
 * (Notebooks run with the course root as their working directory; see README.)
 * Folders follow the lecture: path/ (schedulers, probability paths, conversions), targets/ (data
 * distributions with exact answers), data/ (toy sets), solvers/ (ODE/SDE), field/ (divergence,
 * continuity equation, likelihood), figures/ and notebook/ (display).
 */
export * as tf from "@tensorflow/tfjs";
export * from "./core/notation";
export * from "./core/checks";
export * from "./core/backend";
export * from "./core/random";

// --- Schedulers, affine probability paths, prediction conversions, targets with exact answers
//   (issue 2, part A)
export * from "./path/scheduler";
export * from "./path/affine";
export * from "./path/conversions";
export * from "./targets/gaussian-mixture";

// --- Toy data, ODE solvers, divergence, likelihood, continuity, examples, metrics (issue 2, part
//   B)
export * from "./data/toy2d";
export * from "./solvers/ode";
export * from "./field/divergence";
export * from "./field/likelihood";
export * from "./field/continuity";
export * from "./examples/nonuniqueness";
export * from "./metrics/distance";

// --- figures (pure plotly builders) and the notebook display (issue 3) ---
export {
  PALETTE,
  COORD_TITLES,
  DEFAULT_CONFIG,
  toXY,
  isFigure,
  type Figure,
  type Trace,
  type Layout,
  type Frame,
  type Points,
  type XY,
  type BaseOptions,
} from "./figures/figure";
export * from "./figures/points";
export * from "./figures/density";
export * from "./figures/quiver";
export * from "./figures/trajectories";
export * from "./figures/path";
export * from "./figures/curves";
export * from "./figures/subplots";
export * from "./notebook/display";
export * from "./notebook/progress";

// --- Notebook 01 (trajectory and flow): closed-form linear flows, line plots and warped grids ---
export * from "./examples/linearFlows";
export * from "./figures/lines";
export * from "./metrics/energyFloor";

// --- Notebook 03 (conditional paths): Gaussian moment test, trajectory straightness ---
export * from "./metrics/moments";
export * from "./metrics/straightness";

// --- Notebook 04 (marginal path and field): crossings of trajectories, nearest training points, 1-
export * from "./metrics/crossings";
export * from "./metrics/nearest";
export * from "./figures/timelines";

// --- Notebook 02 (continuity equation): the 1-D continuity residual derived symbolically (mathjs)
export * from "./field/symbolic";

// --- notebook helpers: self-check ledger, tensor-to-array reads (shared by every notebook) ---
export * from "./notebook/selfcheck";
export * from "./core/arrays";

// --- Assignments (issue 8): placeholders of the student notebooks (scripts/assignments.mjs) ---
export * from "./notebook/todo";

// --- The neural velocity model, training, sampling, sample quality (issue 5; notebooks 05-06) ---
export * from "./model/mlp";
export * from "./model/backprop";
export * from "./model/adam";
export * from "./model/train";
export * from "./model/losses";
export * from "./model/sample";
export * from "./model/io";
export * from "./model/parallel";
export * from "./core/threads";
export * from "./metrics/quality";

// --- Unification (issue 7): DDPM, SDEs, stochastic samplers, DDIM
export * from "./path/ddpm";
export * from "./path/sde";
export * from "./solvers/sde";
export * from "./solvers/ddim";

// --- Notebook 05 (flow matching loss, why "flow" matching): Lipschitz bound of a model, Jacobian n
export * from "./metrics/lipschitz";

// --- Notebook 07 (reflow, issue 6): reflow pairs and k-rectified flows, straightness / path energy
export * from "./model/reflow";
export * from "./metrics/path-energy";

// --- Notebook 06 (training and sampling): empirical order of convergence (log-log slope) ---
export * from "./metrics/convergence";

// --- Notebooks 01 and 02 rewritten (issue 16): their figure builders, and the energy distance in u
export * from "./figures/flows";
export * from "./figures/continuity";
export * from "./metrics/twoSample";

// --- Notebooks 03 and 04 (issue 16): the conditional and the marginal path
export * from "./figures/conditional";
export * from "./figures/marginal";

// --- Issue 18 (the lecture's two arguments): minibatch OT couplings, maximum-likelihood CNF
// --- training; issue 13 item 3: the trained models the course ships (assets/models/) ---
export * from "./model/coupling";
export * from "./model/cnf-ml";
export * from "./model/shipped";

// --- Interrupts (issue 13): Kernel > Interrupt stops the library's loops (core/interrupt.ts) ---
export { InterruptedError, requestInterrupt } from "./core/interrupt";

// --- Notebook 09 (images and guidance, issue 19): MNIST digits, the class-conditional network,
// classifier-free guidance, the digit classifier, the Frechet distance, image figures ---
export * from "./images/mnist";
export * from "./images/conditional";
export * from "./images/train";
export * from "./figures/png";
export * from "./notebook/live-images";
export * from "./images/classifier";
export * from "./metrics/frechet";
export * from "./targets/guidance";
export * from "./figures/images";
export * from "./images/io";
export * from "./images/sample";
export * from "./images/codec";
export * from "./images/recipes";
export * from "./images/evaluate";
export * from "./figures/guidance";

// --- Notebook 08 rewritten (issue 16): the schedules and sampler-quality figures
export * from "./figures/unification";
// --- Notebooks 05 and 06 (issue 16): the CFM loss and training figures (issue 18's comparison)
export * from "./figures/training";
