import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { seed } from "../src/core/random";
import { createVelocityModel } from "../src/model/mlp";
import {
  drawCfmBatch,
  flatPoints,
  learningRateFactor,
  networkInput,
  trainFlowMatching,
} from "../src/model/train";
import { sampleFlow } from "../src/model/sample";
import { flowMatchingLosses } from "../src/model/losses";
import { condOTPath, vpPath } from "../src/path/affine";
import { FiniteSet, GaussianMixture } from "../src/targets/gaussian-mixture";
import { divergence } from "../src/field/divergence";
import { memorisation, mmd, slicedWasserstein2 } from "../src/metrics/quality";
import { energyDistance } from "../src/metrics/distance";

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
function dist(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
}
function normOf(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] ** 2;
  return Math.sqrt(s);
}
const gm = () =>
  new GaussianMixture({
    means: [
      [-2, 0],
      [2, 1],
    ],
    stds: 0.3,
  });

describe("trainFlowMatching", () => {
  it("lowers the loss, repeats exactly under the same seed, and leaks no tensor", async () => {
    const data = gm().sample(512);
    const before = tf.memory().numTensors;
    seed(7);
    const a = createVelocityModel({ width: 32, depth: 2 });
    const ra = await trainFlowMatching(a, {
      data,
      steps: 300,
      batchSize: 128,
      learningRate: 3e-3,
      progress: false,
    });
    seed(7);
    const b = createVelocityModel({ width: 32, depth: 2 });
    const rb = await trainFlowMatching(b, {
      data,
      steps: 300,
      batchSize: 128,
      learningRate: 3e-3,
      progress: false,
    });
    a.dispose();
    b.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(maxAbsDiff(a.theta, b.theta)).toBe(0);
    expect(ra.losses).toEqual(rb.losses);
    const first = ra.losses.slice(0, 20).reduce((s, v) => s + v, 0) / 20;
    expect(ra.finalLoss).toBeLessThan(0.8 * first);
    expect(ra.losses).toHaveLength(300);
    expect(ra.stepsPerSecond).toBeGreaterThan(0);
    data.dispose();
  });

  it(
    "learns a field whose samples land on the target (energy distance near the sampling floor, " +
      "far below the noise's)",
    async () => {
      seed(8);
      const target = gm();
      const data = target.sample(1000);
      const held = target.sample(1000);
      const model = createVelocityModel({ width: 32, depth: 2 });
      await trainFlowMatching(model, {
        data,
        steps: 1500,
        batchSize: 256,
        learningRate: 3e-3,
        schedule: "cosine",
        progress: false,
      });
      const s = sampleFlow(model, { n: 1000, method: "midpoint", steps: 20 });
      const learned = energyDistance(s.x, held);
      const noise = energyDistance(s.x0, held);
      const floor = energyDistance(target.sample(1000), held);
      expect(learned).toBeLessThan(noise / 10);
      expect(learned).toBeLessThan(10 * floor + 0.02);
      tf.dispose([s, data, held]);
      model.dispose();
    },
  );

  it(
    "stops on a non-finite loss with an error naming the step, and keeps the last finite " +
      "parameters",
    async () => {
      const data = gm().sample(64);
      seed(9);
      const model = createVelocityModel({ width: 8, depth: 1 });
      // A learning rate that explodes at step 5 makes the parameters overflow.
      const schedule = (step: number) => (step >= 5 ? 1e36 : 1);
      const err = (await trainFlowMatching(model, {
        data,
        steps: 50,
        batchSize: 16,
        schedule,
        progress: false,
      }).catch((e) => e)) as Error;
      expect(err).toBeInstanceOf(Error);
      expect(err.message).toMatch(/training stopped at step \d+ of 50: the loss is (NaN|Infinity)/);
      for (const v of model.theta) expect(Number.isFinite(v)).toBe(true);
      const x = tf.zeros([3, 2]) as tf.Tensor2D;
      const u = model.predict(x, 0.5);
      for (const v of u.dataSync()) expect(Number.isFinite(v)).toBe(true);
      tf.dispose([x, u, data]);
      model.dispose();
    },
  );

  it("rejects bad options, saying which", async () => {
    const m = createVelocityModel({ width: 4, depth: 1 });
    await expect(trainFlowMatching(m, { steps: 5 })).rejects.toThrow(/either data .* or pairs/);
    await expect(trainFlowMatching(m, { data: [[1, 2]], steps: 0 })).rejects.toThrow(
      /steps must be a positive integer; got 0/,
    );
    await expect(trainFlowMatching(m, { data: [[1, 2, 3]] })).rejects.toThrow(/3/);
    await expect(trainFlowMatching(m, { data: [[1, NaN]] })).rejects.toThrow(/finite/);
    await expect(trainFlowMatching(m, { data: [[1, 2]], timeRange: [0.5, 0.2] })).rejects.toThrow(
      /timeRange/,
    );
    await expect(
      trainFlowMatching(m, {
        pairs: {
          x0: [[1, 2]],
          x1: [
            [1, 2],
            [3, 4],
          ],
        },
      }),
    ).rejects.toThrow(/row i with row i/);
    await expect(
      trainFlowMatching(m, { data: [[1, 2]], schedule: "linear" as never }),
    ).rejects.toThrow(/schedule/);
    // The VP path's sigma_t has an infinite slope at t = 1: the message says how to avoid it.
    expect(() =>
      drawCfmBatch(vpPath(), flatPoints([[1, 2]], "data"), 4, undefined, [1, 1]),
    ).toThrow(/infinite slope at t = 1.*timeRange/);
    m.dispose();
  });
});

describe("drawCfmBatch", () => {
  it(
    "forms x_t = alpha x1 + sigma x0 and the target dAlpha x1 + dSigma x0; pairs keep rows " +
      "together",
    () => {
      seed(10);
      // Coupled pairs with x1 = x0 + c: on the straight path the target x1 - x0 is c for every row.
      const x0 = [
        [0, 0],
        [1, -1],
        [2, 5],
        [-3, 1],
      ];
      const c = [0.5, -2];
      const x1 = x0.map((r) => [r[0] + c[0], r[1] + c[1]]);
      const b = drawCfmBatch(condOTPath(), flatPoints(x1, "x1"), 64, flatPoints(x0, "x0"));
      for (let i = 0; i < b.n; i++) {
        expect(b.target[2 * i]).toBeCloseTo(c[0], 5);
        expect(b.target[2 * i + 1]).toBeCloseTo(c[1], 5);
      }
      // Negative control: break the pairing (shuffle x0's rows) and the targets are no longer
      // constant.
      const shuffled = [x0[2], x0[0], x0[3], x0[1]];
      const s = drawCfmBatch(condOTPath(), flatPoints(x1, "x1"), 64, flatPoints(shuffled, "x0"));
      let spread = 0;
      for (let i = 0; i < s.n; i++) spread = Math.max(spread, Math.abs(s.target[2 * i] - c[0]));
      expect(spread).toBeGreaterThan(0.5);
    },
  );

  it(
    "the training loop's plain-array network input equals model.features (raw and Fourier " +
      "time)",
    () => {
      for (const time of ["raw", "fourier"] as const) {
        seed(11);
        const m = createVelocityModel({ width: 4, depth: 1, time });
        const b = drawCfmBatch(
          condOTPath(),
          flatPoints(
            [
              [1, 2],
              [3, -1],
            ],
            "x1",
          ),
          5,
        );
        const plain = networkInput(m, b);
        const x = tf.tensor2d(b.xt, [5, 2]);
        const t = tf.tensor1d(b.t);
        const f = m.features(x, t);
        expect(f.shape).toEqual([5, m.layers[0].inputs]);
        // Both go through model.timeFeatures: the same numbers exactly.
        expect(maxAbsDiff(plain, f.dataSync())).toBe(0);
        // Negative control: the features of other times differ.
        const t2 = tf.tensor1d(Array.from(b.t, (v) => 1 - v));
        const f2 = m.features(x, t2);
        expect(maxAbsDiff(plain, f2.dataSync())).toBeGreaterThan(1e-3);
        tf.dispose([x, t, f, t2, f2]);
      }
    },
  );

  it("schedules: constant, cosine to zero, warm-up, custom", () => {
    expect(learningRateFactor("constant", 7, 10)).toBe(1);
    expect(learningRateFactor("cosine", 1, 10)).toBeCloseTo(1, 12);
    expect(learningRateFactor("cosine", 6, 10)).toBeCloseTo(0.5, 12);
    expect(learningRateFactor("constant", 2, 10, 4)).toBeCloseTo(0.5, 12);
    expect(learningRateFactor((s, n) => s / n, 3, 10)).toBeCloseTo(0.3, 12);
    expect(() => learningRateFactor(() => NaN, 1, 10)).toThrow(/schedule gave NaN/);
  });
});

describe("sampleFlow", () => {
  it("integrates a known field exactly and counts evaluations, for every solver", () => {
    const c = tf.tensor2d([[1, -2]]);
    const field = (x: tf.Tensor2D) => tf.add(tf.mul(x, 0), c) as tf.Tensor2D; // u = c: x1 = x0 + c
    const x0 = tf.tensor2d([
      [0, 0],
      [3, 4],
    ]);
    const before = tf.memory().numTensors;
    for (const [method, nfe] of [
      ["euler", 10],
      ["midpoint", 20],
      ["heun", 20],
      ["rk4", 40],
    ] as const) {
      const s = sampleFlow(field, { x0, method, steps: 10 });
      expect(s.nfe).toBe(nfe);
      expect(maxAbsDiff(s.x.dataSync(), [1, -2, 4, 2])).toBeLessThan(1e-5);
      tf.dispose(s);
    }
    const d = sampleFlow(field, { x0, method: "dopri5", saveAt: [0, 0.5, 1] });
    expect(d.trajectory!.shape).toEqual([3, 2, 2]);
    expect(maxAbsDiff(d.x.dataSync(), [1, -2, 4, 2])).toBeLessThan(1e-5);
    tf.dispose(d);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([c, x0]);
  });

  it("draws n noise points for a model (seeded) and rejects a plain field without x0", () => {
    const m = createVelocityModel({ width: 8, depth: 1 });
    seed(3);
    const a = sampleFlow(m, { n: 5, steps: 4 });
    seed(3);
    const b = sampleFlow(m, { n: 5, steps: 4 });
    expect(a.x.shape).toEqual([5, 2]);
    expect(maxAbsDiff(a.x.dataSync(), b.x.dataSync())).toBe(0);
    tf.dispose([a, b]);
    expect(() => sampleFlow((x) => x, { n: 5 })).toThrow(/pass the starting noise as x0/);
    expect(() => sampleFlow(m, { n: 0 })).toThrow(/n must be a positive integer/);
    m.dispose();
  });

  it(
    "a model's field is differentiable in x (for divergences and likelihoods), fused ELU or " +
      "not",
    () => {
      const m = createVelocityModel({ width: 8, depth: 2 });
      const x = tf.randomNormal([4, 2], 0, 1, "float32", 5) as tf.Tensor2D;
      const before = tf.memory().numTensors;
      const div = divergence(m.field, x, 0.4);
      // Central differences of the field, coordinate by coordinate.
      const h = 1e-2;
      const fd = new Array(4).fill(0);
      for (let j = 0; j < 2; j++) {
        const e = tf.oneHot(tf.tensor1d([j], "int32"), 2).mul(h) as tf.Tensor2D;
        const up = m.predict(tf.add(x, e) as tf.Tensor2D, 0.4).arraySync() as number[][];
        const dn = m.predict(tf.sub(x, e) as tf.Tensor2D, 0.4).arraySync() as number[][];
        for (let i = 0; i < 4; i++) fd[i] += (up[i][j] - dn[i][j]) / (2 * h);
      }
      const got = div.dataSync();
      for (let i = 0; i < 4; i++) expect(Math.abs(got[i] - fd[i])).toBeLessThan(2e-3);
      div.dispose();
      void before;
      x.dispose();
      m.dispose();
    },
  );
});

describe("flowMatchingLosses (notebook 05)", () => {
  it("the CFM and FM gradients agree as the sample grows; an x1 target does not", () => {
    const target = new FiniteSet([
      [-1.5, 0],
      [1, 1],
      [0.5, -1.5],
    ]);
    seed(20);
    const model = createVelocityModel({ width: 16, depth: 2 });
    // (the model's layer tensors are freed by model.dispose() below)
    const before = tf.memory().numTensors;
    const gap = (n: number, kind: "velocity" | "x1") => {
      const { cfm, fm } = flowMatchingLosses(model, target, { n, conditionalTarget: kind });
      return dist(cfm.grad, fm.grad) / normOf(fm.grad);
    };
    seed(21);
    const small = gap(256, "velocity");
    seed(21);
    const large = gap(16384, "velocity");
    seed(21);
    const wrong = gap(16384, "x1");
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
    // Monte-Carlo error falls like 1/sqrt(n): 64x more samples, ~8x smaller (allow 3x).
    expect(large).toBeLessThan(small / 3);
    expect(large).toBeLessThan(0.1);
    expect(wrong).toBeGreaterThan(5 * large);
    model.dispose();
  });

  it("L_CFM - L_FM does not depend on the parameters (two models, same draws)", () => {
    const target = new FiniteSet([
      [-1.5, 0],
      [1, 1],
      [0.5, -1.5],
    ]);
    seed(30);
    const a = createVelocityModel({ width: 16, depth: 2 });
    const b = createVelocityModel({ width: 16, depth: 2 });
    b.setTheta(b.theta.map((v) => 3 * v)); // a clearly different field
    const gapOf = (m: typeof a, kind: "velocity" | "x1") => {
      seed(31);
      const { cfm, fm } = flowMatchingLosses(m, target, { n: 65536, conditionalTarget: kind });
      return { gap: cfm.loss - fm.loss, fm: fm.loss };
    };
    const ga = gapOf(a, "velocity");
    const gb = gapOf(b, "velocity");
    // The models' L_FM differ by ~19, their gaps by ~0.01 (measured). On the same draws the gaps
    // differ only by the mean of 2 (u_a - u_b) . (u_t(x_t) - target), whose expectation is 0: a
    // Monte-Carlo error of order 2 |u_a - u_b| |u_t - target| / sqrt(n), well under 1% of the L_FM
    // difference here.
    expect(Math.abs(ga.fm - gb.fm)).toBeGreaterThan(5);
    expect(Math.abs(ga.gap - gb.gap)).toBeLessThan(0.01 * Math.abs(ga.fm - gb.fm));
    // Negative control: with the wrong target the gap moves with theta.
    const wa = gapOf(a, "x1");
    const wb = gapOf(b, "x1");
    expect(Math.abs(wa.gap - wb.gap)).toBeGreaterThan(10 * Math.abs(ga.gap - gb.gap));
    a.dispose();
    b.dispose();
  });
});

describe("sample-quality metrics", () => {
  const base = () => gm().sample(400);
  it("are zero for identical sets, and positive and ordered for growing shifts", () => {
    seed(40);
    const a = base();
    const shifts = [0.25, 0.5, 1, 2].map((s) => tf.add(a, tf.tensor2d([[s, 0]])) as tf.Tensor2D);
    expect(slicedWasserstein2(a, a)).toBe(0);
    expect(mmd(a, a, { unbiased: false }).mmd2).toBeCloseTo(0, 12);
    const sw = shifts.map((b) => slicedWasserstein2(a, b));
    const md = shifts.map((b) => mmd(a, b).mmd2);
    for (let i = 0; i < 3; i++) {
      expect(sw[i + 1]).toBeGreaterThan(sw[i]);
      expect(md[i + 1]).toBeGreaterThan(md[i]);
    }
    expect(md[0]).toBeGreaterThan(0);
    // A translation by s: each projection's W2 is |s cos(angle)|, so SW2 ~ s / sqrt(2) in 2-D.
    expect(sw[3]).toBeGreaterThan(2 / Math.SQRT2 - 0.25);
    expect(sw[3]).toBeLessThan(2 / Math.SQRT2 + 0.25);
    tf.dispose([a, ...shifts]);
  });

  it("two samples of one distribution score near zero, far below a shifted one", () => {
    seed(41);
    const a = tf.randomNormal([400, 2], 0, 1, "float32", 1) as tf.Tensor2D;
    const b = tf.randomNormal([400, 2], 0, 1, "float32", 2) as tf.Tensor2D;
    const c = tf.add(
      tf.randomNormal([400, 2], 0, 1, "float32", 3),
      tf.tensor2d([[0.5, 0]]),
    ) as tf.Tensor2D;
    expect(slicedWasserstein2(a, b)).toBeLessThan(slicedWasserstein2(a, c) / 2);
    expect(Math.abs(mmd(a, b).mmd2)).toBeLessThan(mmd(a, c).mmd2 / 5);
    tf.dispose([a, b, c]);
  });

  it("memorisation: copies of the training set score 0, fresh samples ~1", () => {
    seed(42);
    const train = base();
    const held = base();
    const fresh = base();
    const copies = memorisation(train, train, held);
    expect(copies.sampleMedian).toBe(0);
    expect(copies.ratio).toBe(0);
    expect(copies.copyFraction).toBe(1);
    const novel = memorisation(fresh, train, held);
    expect(novel.ratio).toBeGreaterThan(0.7);
    expect(novel.ratio).toBeLessThan(1.4);
    expect(novel.copyFraction).toBeLessThan(0.1);
    expect(() => memorisation(train, train, train)).toThrow(/held-out/);
    tf.dispose([train, held, fresh]);
  });

  it("check their inputs", () => {
    expect(() =>
      slicedWasserstein2(
        [[1, 2]],
        [
          [1, 2],
          [3, 4],
        ],
      ),
    ).toThrow(/at least 2 points/);
    expect(() =>
      slicedWasserstein2(
        [
          [1, 2],
          [0, 0],
        ],
        [
          [1, 2, 3],
          [3, 4, 5],
        ],
      ),
    ).toThrow(/coordinates/);
    expect(() =>
      mmd(
        [
          [1, 2],
          [0, 0],
        ],
        [
          [1, 2],
          [3, 4],
        ],
        { bandwidths: [0] },
      ),
    ).toThrow(/bandwidths/);
    expect(() =>
      slicedWasserstein2(
        [
          [1, 2],
          [0, 0],
        ],
        [
          [1, 2],
          [3, 4],
        ],
        { projections: 0 },
      ),
    ).toThrow(/projections/);
  });
});
