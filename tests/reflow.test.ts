import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { permutation, randn, seed } from "../src/core/random";
import type { VelocityField } from "../src/core/notation";
import { createVelocityModel } from "../src/model/mlp";
import { trainFlowMatching } from "../src/model/train";
import { sampleFlow } from "../src/model/sample";
import { rectifiedFlows, reflow, reflowPairs } from "../src/model/reflow";
import { flowStraightness } from "../src/metrics/path-energy";
import { energyDistance } from "../src/metrics/distance";
import { twoPoints } from "../src/data/toy2d";

/**
 * u = theta J x + b: rotation by theta about the origin combined with a drift (a curved flow with a
 * known map).
 */
const swirl: VelocityField = (x) =>
  tf.tidy(
    () =>
      tf.add(
        tf.matMul(
          x,
          tf.tensor2d([
            [0, 1.2],
            [-1.2, 0],
          ]),
        ),
        tf.tensor2d([[2, 0]]),
      ) as tf.Tensor2D,
  );

/** Mean squared distance between rows of two tensors. */
function meanSqDist(a: tf.Tensor2D, b: tf.Tensor2D): number {
  return tf.tidy(() => tf.mean(tf.sum(tf.square(tf.sub(a, b)), 1)).dataSync()[0]);
}
/** One Euler step from x0 with a model's field: x0 + u(x0, 0). */
function oneStep(field: VelocityField, x0: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.add(x0, field(x0, 0)) as tf.Tensor2D);
}

describe("reflowPairs", () => {
  it(
    "pairs each noise row with the end of its own trajectory, row by row, and leaks " + "nothing",
    () => {
      seed(1);
      const x0 = randn([64, 2]) as tf.Tensor2D;
      const before = tf.memory().numTensors;
      const pairs = reflowPairs(swirl, { x0 });
      expect(tf.memory().numTensors).toBe(before + 2);
      expect(pairs.nfe).toBe(160); // RK4, 40 steps
      const ref = solveEnd(swirl, x0);
      expect(maxAbs(pairs.x1, ref)).toBe(0);
      expect(maxAbs(pairs.x0, x0)).toBe(0);
      // shuffling the noise rows shuffles the ends the same way: row i's end depends on row i only
      const order = permutation(64);
      const shuffled = tf.gather(x0, order) as tf.Tensor2D;
      const again = reflowPairs(swirl, { x0: shuffled });
      const expected = tf.gather(pairs.x1, order) as tf.Tensor2D;
      // the same arithmetic in another batch order
      expect(maxAbs(again.x1, expected)).toBeLessThan(1e-5);
      tf.dispose([pairs.x0, pairs.x1, again.x0, again.x1, shuffled, expected, ref, x0]);
    },
  );

  it("draws its own seeded noise when no x0 is given", () => {
    seed(2);
    const a = reflowPairs(swirl, { n: 10, steps: 4 });
    seed(2);
    const b = reflowPairs(swirl, { n: 10, steps: 4 });
    expect(maxAbs(a.x0, b.x0)).toBe(0);
    expect(a.x0.shape).toEqual([10, 2]);
    tf.dispose([a.x0, a.x1, b.x0, b.x1]);
  });
});

function solveEnd(field: VelocityField, x0: tf.Tensor2D): tf.Tensor2D {
  const r = sampleFlow(field, { x0, method: "rk4", steps: 40 });
  r.x0.dispose();
  return r.x;
}
function maxAbs(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

describe("training on coupled pairs", () => {
  it(
    "learns the coupling (one Euler step lands on the paired end); breaking the pairing on " +
      "purpose destroys it",
    async () => {
      seed(3);
      const pairs = reflowPairs(swirl, { n: 2000 });
      // same marginals, pairing broken
      const broken = tf.gather(pairs.x1, permutation(2000)) as tf.Tensor2D;
      const train = async (x1: tf.Tensor2D) => {
        seed(4);
        const m = createVelocityModel({ width: 32, depth: 2 });
        await trainFlowMatching(m, {
          pairs: { x0: pairs.x0, x1 },
          steps: 1500,
          batchSize: 128,
          learningRate: 3e-3,
          schedule: "cosine",
          progress: false,
        });
        return m;
      };
      const coupled = await train(pairs.x1);
      const shuffled = await train(broken);
      seed(5);
      const x0 = randn([500, 2]) as tf.Tensor2D;
      const target = solveEnd(swirl, x0);
      const spread = meanSqDist(
        target,
        tf.tidy(() => tf.mean(target, 0, true).tile([500, 1]) as tf.Tensor2D),
      );
      const hitCoupled = oneStep(coupled.field, x0);
      const hitShuffled = oneStep(shuffled.field, x0);
      const errCoupled = meanSqDist(hitCoupled, target);
      const errShuffled = meanSqDist(hitShuffled, target);
      // The swirl's map is affine: the straight lines of its pairs never meet and a small net fits
      // them (measured: 0.07 of a spread of 2.0, straightness 0.017; margins of 2-3x).
      expect(errCoupled).toBeLessThan(0.1 * spread);
      // Pairing broken, same marginals: the field at t = 0 points to the mean of x1, so one step
      // collapses the noise and lands nowhere near each point's partner (measured: 2.3, more than
      // the spread itself).
      expect(errShuffled).toBeGreaterThan(0.8 * spread);
      expect(flowStraightness(coupled.field, x0).straightness).toBeLessThan(0.05);
      expect(flowStraightness(shuffled.field, x0).straightness).toBeGreaterThan(0.3);
      tf.dispose([pairs.x0, pairs.x1, broken, x0, target, hitCoupled, hitShuffled]);
      coupled.dispose();
      shuffled.dispose();
    },
  );
});

describe("reflow on a tiny case: noise to two points", () => {
  it(
    "straightens the 1-rectified flow, improves one-step sampling, leaves the input model " +
      "alone, repeats under the seed, leaks nothing",
    async () => {
      seed(6);
      const data = twoPoints(1000);
      const held = twoPoints(400);
      const rf1 = createVelocityModel({ width: 32, depth: 2 });
      await trainFlowMatching(rf1, {
        data,
        steps: 1500,
        batchSize: 256,
        learningRate: 3e-3,
        schedule: "cosine",
        progress: false,
      });
      const theta1 = Float32Array.from(rf1.theta);
      rf1.dispose();
      const before = tf.memory().numTensors;
      const options = {
        n: 2000,
        steps: 600,
        batchSize: 256,
        learningRate: 1e-3,
        schedule: "cosine" as const,
        progress: false,
      };
      seed(7);
      const round = await reflow(rf1, options);
      seed(7);
      const twin = await reflow(rf1, options);
      expect(Array.from(round.model.theta)).toEqual(Array.from(twin.model.theta));
      expect(Array.from(rf1.theta)).toEqual(Array.from(theta1)); // the input model is unchanged
      expect(round.init).toBe("warm");
      expect(round.pairs.x0.shape).toEqual([2000, 2]);
      expect(round.seconds.total).toBeCloseTo(round.seconds.pairs + round.seconds.training, 10);
      tf.dispose([round.pairs.x0, round.pairs.x1, twin.pairs.x0, twin.pairs.x1]);
      round.model.dispose();
      twin.model.dispose();
      rf1.dispose(); // its layer tensors were rebuilt to make the pairs
      expect(tf.memory().numTensors).toBe(before);

      seed(8);
      const x0 = randn([400, 2]) as tf.Tensor2D;
      const s1 = flowStraightness(rf1.field, x0).straightness;
      const s2 = flowStraightness(round.model.field, x0).straightness;
      expect(s1).toBeGreaterThan(0.3); // noise splits to two points: the 1-RF curves
      expect(s2).toBeLessThan(s1 / 4);
      const e1 = oneStep(rf1.field, x0);
      const e2 = oneStep(round.model.field, x0);
      const q1 = energyDistance(e1, held);
      const q2 = energyDistance(e2, held);
      expect(q2).toBeLessThan(q1 / 3);
      // the reflow loss levels off far below the 1-RF's: the new pairs' lines (nearly) never cross
      expect(round.training.finalLoss).toBeLessThan(0.2);
      tf.dispose([e1, e2, x0, data, held]);
      rf1.dispose();
      round.model.dispose();
    },
  );

  it(
    "k-rectified flows: rounds in sequence, pairs disposed unless kept; a warm start copies the " +
      "model, a fresh one does not",
    async () => {
      seed(9);
      const data = twoPoints(500);
      const rf1 = createVelocityModel({ width: 16, depth: 2 });
      await trainFlowMatching(rf1, {
        data,
        steps: 400,
        batchSize: 128,
        learningRate: 3e-3,
        progress: false,
      });
      data.dispose();
      const before = tf.memory().numTensors;
      const rounds = await rectifiedFlows(rf1, {
        rounds: 2,
        n: 500,
        steps: 100,
        batchSize: 128,
        progress: false,
      });
      expect(rounds).toHaveLength(2);
      expect(rounds[0].model).not.toBe(rounds[1].model);
      expect(rounds.every((r) => r.pairs.x0.isDisposed && r.pairs.x1.isDisposed)).toBe(true);
      rounds.forEach((r) => r.model.dispose());
      rf1.dispose();
      expect(tf.memory().numTensors).toBe(before);

      // One step at a negligible rate: the trained model is (to float32) where it started.
      const still = { n: 500, steps: 1, batchSize: 64, learningRate: 1e-12, progress: false };
      seed(10);
      const warm = await reflow(rf1, still);
      seed(10);
      const fresh = await reflow(rf1, { ...still, init: "fresh" as const });
      expect(fresh.init).toBe("fresh");
      const gap = (a: Float32Array) =>
        Math.max(...Array.from(a, (v, i) => Math.abs(v - rf1.theta[i])));
      expect(gap(warm.model.theta)).toBeLessThan(1e-9);
      expect(gap(fresh.model.theta)).toBeGreaterThan(0.01);
      expect(fresh.model.describe()).toBe(rf1.describe()); // same architecture
      for (const r of [warm, fresh]) {
        tf.dispose([r.pairs.x0, r.pairs.x1]);
        r.model.dispose();
      }
      rf1.dispose();
      await expect(rectifiedFlows(rf1, { rounds: 0 })).rejects.toThrow(
        "rounds must be a positive integer; got 0",
      );
      await expect(reflow(rf1, { init: "cold" as "warm" })).rejects.toThrow(
        'init must be "warm" or "fresh"',
      );
    },
  );
});
