import { createHash } from "crypto";
import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { backendInfo, initBackend, type BackendName } from "../src/core/backend";
import { normal, permutation, randn, seed } from "../src/core/random";
import { setThreads } from "../src/core/threads";
import { eightGaussians, twoMoons } from "../src/data/toy2d";
import { exactW2Squared, flowStraightness } from "../src/metrics/path-energy";
import {
  minibatchCoupling,
  pairRows,
  sinkhorn,
  squaredDistanceMatrix,
  couplingOptions,
} from "../src/model/coupling";
import { createVelocityModel } from "../src/model/mlp";
import { drawCfmBatch, flatPoints, trainFlowMatching } from "../src/model/train";
import { condOTPath } from "../src/path/affine";

/** A batch of n noise points and n eight-Gaussians points, as rows. */
function batch(n: number, s: number): { x0: number[][]; x1: number[][] } {
  seed(s);
  const x0 = Array.from({ length: n }, () => [normal(), normal()]);
  const t = eightGaussians(n);
  const x1 = t.arraySync() as number[][];
  t.dispose();
  return { x0, x1 };
}
const meanCost = (x0: number[][], x1: number[][], partner: ArrayLike<number>): number =>
  x0.reduce((s, p, i) => s + (p[0] - x1[partner[i]][0]) ** 2 + (p[1] - x1[partner[i]][1]) ** 2, 0) /
  x0.length;
const isPermutation = (p: number[], n: number): boolean =>
  [...p].sort((a, b) => a - b).every((v, i) => v === i) && p.length === n;

describe("minibatchCoupling: exact optimal transport (Hungarian)", () => {
  it("pairs by a permutation costing the batch's W2^2, below 300 random permutations", () => {
    const { x0, x1 } = batch(128, 1);
    const before = tf.memory().numTensors;
    const exact = minibatchCoupling(x0, x1, "exact");
    expect(tf.memory().numTensors).toBe(before);
    expect(isPermutation(exact.partner, 128)).toBe(true);
    expect(exact.pairCost).toBeCloseTo(exactW2Squared(x0, x1).cost, 12);
    expect(exact.pairCost).toBeCloseTo(meanCost(x0, x1, exact.partner), 12);
    seed(2);
    const random = Array.from({ length: 300 }, () => meanCost(x0, x1, permutation(128)));
    const cheapestRandom = Math.min(...random);
    expect(exact.pairCost).toBeLessThan(cheapestRandom);
    // Numbers for the record: the independent pairing costs ~4x the optimum on this batch.
    const independent = minibatchCoupling(x0, x1, "independent");
    expect(independent.partner).toEqual(x0.map((_, i) => i));
    expect(independent.pairCost / exact.pairCost).toBeGreaterThan(2.5);
    // Negative control: the comparison fails for the independent pairing (a random permutation).
    expect(independent.pairCost < cheapestRandom).toBe(false);
  });

  it("handles one point, duplicated points and far-away data", () => {
    expect(minibatchCoupling([[0, 0]], [[5, 5]], "exact").partner).toEqual([0]);
    const dup = minibatchCoupling(
      [
        [0, 0],
        [0, 0],
        [1, 1],
      ],
      [
        [1, 1],
        [0, 0],
        [0, 0],
      ],
      "exact",
    );
    expect(isPermutation(dup.partner, 3)).toBe(true);
    expect(dup.pairCost).toBe(0);
    // Data 1000 units away: a translation, so the optimum keeps the order of a shifted copy.
    const { x0 } = batch(40, 3);
    const order = permutation(40);
    const far = order.map((i) => [x0[i][0] + 1000, x0[i][1] - 1000]);
    const r = minibatchCoupling(x0, far, "exact");
    r.partner.forEach((j, i) => expect(order[j]).toBe(i));
    expect(r.pairCost).toBeCloseTo(2e6, 3);
  });

  it("refuses bad input, saying what was wrong", () => {
    expect(() =>
      minibatchCoupling(
        [[0, 0]],
        [
          [0, 0],
          [1, 1],
        ],
        "exact",
      ),
    ).toThrow("equally many points; got 1 and 2");
    expect(() => minibatchCoupling([[0, 0]], [[0]], "exact")).toThrow(
      "same dimension; got 2 and 1",
    );
    expect(() => minibatchCoupling([[0, NaN]], [[0, 0]], "exact")).toThrow("finite");
    expect(() => minibatchCoupling([], [], "exact")).toThrow("at least one point");
    expect(() => minibatchCoupling([[0, 0]], [[0, 0]], "hungarian" as never)).toThrow(
      "coupling must be one of independent, exact, sinkhorn",
    );
    expect(() => couplingOptions({ method: "sinkhorn", regularization: 0 })).toThrow(
      "regularization must be a positive number; got 0",
    );
    expect(() => couplingOptions({ method: "sinkhorn", pairing: "max" as never })).toThrow(
      'pairing must be "sample" or "argmax"',
    );
    expect(() => couplingOptions({ method: "sinkhorn", tolerance: -1 })).toThrow(
      "tolerance must be a positive number; got -1",
    );
    expect(() => couplingOptions({ method: "sinkhorn", maxIterations: 0 })).toThrow(
      "maxIterations must be a positive integer; got 0",
    );
  });
});

describe("sinkhorn (entropic optimal transport, log-domain stabilised)", () => {
  it("gives a plan with the right marginals (rows exact, columns within the tolerance)", () => {
    const { x0, x1 } = batch(64, 4);
    const C = squaredDistanceMatrix(x0.flat(), x1.flat(), 64, 2);
    for (const eps of [1, 0.1, 0.01]) {
      const p = sinkhorn(C, 64, { regularization: eps, tolerance: 1e-6, maxIterations: 100000 });
      const rows = new Array(64).fill(0);
      const cols = new Array(64).fill(0);
      p.plan.forEach((v, k) => {
        rows[Math.floor(k / 64)] += v;
        cols[k % 64] += v;
      });
      const rowErr = rows.reduce((s, r) => s + Math.abs(r - 1 / 64), 0);
      const colErr = cols.reduce((s, c) => s + Math.abs(c - 1 / 64), 0);
      expect(rowErr).toBeLessThan(1e-12);
      expect(colErr).toBeLessThan(1e-6);
      expect(p.rowError).toBeCloseTo(rowErr, 14);
      expect(p.columnError).toBeCloseTo(colErr, 14);
      // The plan is exp((f_i + g_j - C_ij) / eps), from its own potentials.
      expect(p.plan[5 * 64 + 7]).toBeCloseTo(Math.exp((p.f[5] + p.g[7] - C[5 * 64 + 7]) / eps), 14);
    }
    // Negative control: the unscaled Gibbs kernel exp(-C / eps), normalised to mass 1, has the
    // wrong marginals.
    const K = C.map((c) => Math.exp(-c / 0.1));
    const total = K.reduce((a, b) => a + b, 0);
    let kernelRowErr = 0;
    for (let i = 0; i < 64; i++)
      kernelRowErr += Math.abs(
        K.subarray(i * 64, i * 64 + 64).reduce((a, b) => a + b, 0) / total - 1 / 64,
      );
    expect(kernelRowErr).toBeGreaterThan(0.1);
  });

  it("tends to exact OT as the regulariser falls: cost gap below eps log n, shrinking", () => {
    const { x0, x1 } = batch(64, 5);
    const exact = minibatchCoupling(x0, x1, "exact").pairCost;
    const epsilons = [1, 0.3, 0.1, 0.03, 0.01];
    const gaps = epsilons.map(
      (eps) =>
        minibatchCoupling(x0, x1, {
          method: "sinkhorn",
          regularization: eps,
          tolerance: 1e-6,
          maxIterations: 100000,
        }).planCost - exact,
    );
    // Measured: gaps 0.47, 0.14, 0.044, 0.012, 0.0039 on W2^2 = 1.27.
    gaps.forEach((gap, k) => {
      expect(gap).toBeGreaterThan(0); // an entropic plan is never cheaper than the optimum
      // <C, pi_eps> - W2^2 <= eps (H(pi_eps) - H(pi*)) <= eps log n
      expect(gap).toBeLessThan(epsilons[k] * Math.log(64));
      if (k > 0) expect(gap).toBeLessThan(gaps[k - 1]);
    });
    expect(gaps[gaps.length - 1] / exact).toBeLessThan(0.005);
    // At the smallest eps the row-wise draws are (nearly) the optimal permutation.
    seed(6);
    const sharp = minibatchCoupling(x0, x1, {
      method: "sinkhorn",
      regularization: 0.01,
      tolerance: 1e-6,
      maxIterations: 100000,
    });
    expect(sharp.pairCost / exact - 1).toBeLessThan(0.01);
    // Negative control: the bound eps log n at eps = 0.01 fails for the independent pairing.
    expect(minibatchCoupling(x0, x1, "independent").pairCost - exact < 0.01 * Math.log(64)).toBe(
      false,
    );
  });

  it("stops with an error that says what to change when it cannot converge", () => {
    const { x0, x1 } = batch(32, 7);
    expect(() =>
      minibatchCoupling(x0, x1, { method: "sinkhorn", regularization: 1e-3, maxIterations: 5 }),
    ).toThrow(/no convergence in 5 iterations at regularization .* use a larger regularization/);
    expect(() =>
      sinkhorn(Float64Array.from([0, -1, 1, 0]), 2, {
        regularization: 1,
        tolerance: 1e-6,
        maxIterations: 10,
      }),
    ).toThrow("costs must be finite and >= 0");
  });

  it("stays finite for far-away data and tiny regularisers (the log-domain stabilisation)", () => {
    const { x0, x1 } = batch(32, 8);
    const far = x1.map(([a, b]) => [a + 300, b]);
    const p = minibatchCoupling(x0, far, { method: "sinkhorn", regularization: 0.05 });
    expect(p.plan!.flat().every(Number.isFinite)).toBe(true);
    // f + g - C cancels costs of ~9e4: ~1e-16 * 9e4 / eps per entry
    expect(p.rowError).toBeLessThan(1e-8);
    expect(p.columnError).toBeLessThan(1e-4);
    // Costs here are ~9e4, so a mass error of 1e-4 moves the plan's cost by up to ~9: the gap to
    // the optimum is known to within eps log n plus that.
    const C = squaredDistanceMatrix(x0.flat(), far.flat(), 32, 2);
    const exact = minibatchCoupling(x0, far, "exact").pairCost;
    expect(Math.abs(p.planCost - exact)).toBeLessThan(
      0.05 * Math.log(32) + p.columnError * Math.max(...C),
    );
  });
});

describe("how a plan becomes pairs", () => {
  it("row-wise sampling keeps the data marginal on average; argmax piles onto a few points", () => {
    const { x0, x1 } = batch(64, 9);
    const options = couplingOptions({ method: "sinkhorn", regularization: 3 });
    const uses = new Array(64).fill(0);
    seed(10);
    const draws = 400;
    let plan: Float64Array | undefined;
    for (let r = 0; r < draws; r++) {
      const out = pairRows(x0.flat(), x1.flat(), 64, 2, options);
      plan = out.plan!.plan;
      out.partner.forEach((j) => uses[j]++);
    }
    // Expected uses of data point j per batch: n sum_i pi_ij (about 1 each).
    const expected = Array.from(
      { length: 64 },
      (_, j) =>
        64 * Array.from({ length: 64 }, (_, i) => plan![i * 64 + j]).reduce((a, b) => a + b, 0),
    );
    const meanUse = uses.map((u) => u / draws);
    const worst = Math.max(...meanUse.map((m, j) => Math.abs(m - expected[j])));
    expect(worst).toBeLessThan(0.25); // binomial spread of 400 draws: sd ~0.05 per point
    expect(meanUse.reduce((a, b) => a + b, 0)).toBeCloseTo(64, 10);
    const argmax = pairRows(x0.flat(), x1.flat(), 64, 2, { ...options, pairing: "argmax" }).partner;
    const argmaxUses = new Array(64).fill(0);
    argmax.forEach((j) => argmaxUses[j]++);
    // Measured: 30 of 64 data points are never the argmax, some are taken 5 times or more.
    expect(argmaxUses.filter((u) => u === 0).length).toBeGreaterThan(20);
    expect(Math.max(...argmaxUses.map((u, j) => Math.abs(u - expected[j])))).toBeGreaterThan(3);
  });

  it("repeats exactly under the same seed", () => {
    const { x0, x1 } = batch(48, 11);
    const options = { method: "sinkhorn" as const, regularization: 0.1 };
    seed(12);
    const a = minibatchCoupling(x0, x1, options);
    seed(12);
    const b = minibatchCoupling(x0, x1, options);
    expect(a.partner).toEqual(b.partner);
    expect(a.planCost).toBe(b.planCost);
  });
});

/** sha256 (16 hex digits) of an array's float32 or float64 bytes. */
function fingerprint(a: ArrayLike<number>, kind: "f32" | "f64"): string {
  const arr = kind === "f32" ? Float32Array.from(a) : Float64Array.from(a);
  return createHash("sha256").update(Buffer.from(arr.buffer)).digest("hex").slice(0, 16);
}

/** A short training run on two moons: fingerprints of its parameters, its losses and one batch. */
async function goldenRun(
  coupling?: "independent" | "exact",
): Promise<{ theta: string; losses: string; batch: string }> {
  seed(3);
  const data = twoMoons(300);
  const rows = data.arraySync() as number[][];
  data.dispose();
  seed(4);
  const model = createVelocityModel({ width: 16, depth: 2 });
  const options = {
    data: rows,
    steps: 60,
    batchSize: 64,
    learningRate: 3e-3,
    schedule: "cosine" as const,
    progress: false,
  };
  const run = await trainFlowMatching(model, coupling ? { ...options, coupling } : options);
  model.dispose();
  seed(5);
  const b = drawCfmBatch(condOTPath(), flatPoints(rows, "data"), 32);
  return {
    theta: fingerprint(model.theta, "f32"),
    losses: fingerprint(run.losses, "f64"),
    batch: fingerprint([...b.xt, ...b.t, ...b.target], "f32"),
  };
}

describe("trainFlowMatching with a coupling", () => {
  it(
    "keeps default (independent) training bit-identical to the code before " + "couplings",
    async () => {
      // Fingerprints recorded with the code before this change (commit 7a9f850), per backend. The
      // batch is backend-free.
      const BEFORE: Partial<Record<BackendName, { theta: string; losses: string }>> = {
        wasm: { theta: "afb613165c2f8dfd", losses: "22975a9807ea67e2" },
        cpu: { theta: "4356f92bec146ec3", losses: "d7caf95b4388c0ee" },
      };
      const BATCH = "172b55f491596b58";
      const original = backendInfo()!.name;
      setThreads(1); // helpers keep the backend they started with: one thread while switching
      try {
        for (const backend of ["wasm", "cpu"] as const) {
          await initBackend({ backend, quiet: true });
          const plain = await goldenRun();
          const named = await goldenRun("independent");
          expect({ theta: plain.theta, losses: plain.losses }).toEqual(BEFORE[backend]);
          expect(named).toEqual(plain);
          expect(plain.batch).toBe(BATCH);
          // Negative control: minibatch OT changes the numbers, and the same comparison sees it.
          const ot = await goldenRun("exact");
          expect(ot.theta).not.toBe(BEFORE[backend]!.theta);
        }
      } finally {
        await initBackend({ backend: original, quiet: true });
        setThreads();
      }
    },
  );

  it(
    "exact OT: repeats exactly, lowers the loss, straightens the flow, leaks " + "nothing",
    async () => {
      seed(20);
      const data = eightGaussians(2000);
      const train = async (coupling: "independent" | "exact") => {
        seed(21);
        const model = createVelocityModel({ width: 32, depth: 2 });
        const run = await trainFlowMatching(model, {
          data,
          steps: 600,
          batchSize: 128,
          learningRate: 3e-3,
          progress: false,
          coupling,
        });
        return { model, run };
      };
      const before = tf.memory().numTensors;
      const a = await train("exact");
      const b = await train("exact");
      const indep = await train("independent");
      [a, b, indep].forEach((r) => r.model.dispose());
      expect(tf.memory().numTensors).toBe(before);
      expect(Array.from(a.model.theta)).toEqual(Array.from(b.model.theta));
      expect(a.run.losses).toEqual(b.run.losses);
      expect(a.run.couplingSeconds).toBeGreaterThan(0);
      expect(indep.run.couplingSeconds).toBe(0);
      // The regression targets of OT pairs barely cross: the loss floor is far lower (measured ~0.5
      // vs ~9).
      expect(a.run.finalLoss).toBeLessThan(indep.run.finalLoss / 4);
      seed(22);
      const x0 = randn([300, 2]) as tf.Tensor2D;
      const sOt = flowStraightness(a.model.field, x0).straightness;
      const sIndep = flowStraightness(indep.model.field, x0).straightness;
      x0.dispose();
      expect(sOt).toBeLessThan(sIndep / 3);
      [a, b, indep].forEach((r) => r.model.dispose());
      data.dispose();
    },
  );

  it("Sinkhorn: trains and repeats exactly; a coupling on given pairs is refused", async () => {
    seed(30);
    const data = twoMoons(500);
    const run = async () => {
      seed(31);
      const model = createVelocityModel({ width: 16, depth: 1 });
      const r = await trainFlowMatching(model, {
        data,
        steps: 30,
        batchSize: 64,
        progress: false,
        coupling: { method: "sinkhorn", regularization: 0.1 },
      });
      model.dispose();
      return { theta: Array.from(model.theta), losses: r.losses };
    };
    expect(await run()).toEqual(await run());
    const m = createVelocityModel({ width: 4, depth: 1 });
    await expect(
      trainFlowMatching(m, { pairs: { x0: [[0, 0]], x1: [[1, 1]] }, coupling: "exact", steps: 2 }),
    ).rejects.toThrow("pairs are already coupled; the exact coupling needs data");
    await expect(
      trainFlowMatching(m, { data: [[0, 0]], coupling: "optimal" as never, steps: 2 }),
    ).rejects.toThrow("coupling must be one of");
    m.dispose();
    data.dispose();
  });
});
