import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { InterruptedError, requestInterrupt } from "../src/core/interrupt";
import { randn, seed } from "../src/core/random";
import { twoMoons } from "../src/data/toy2d";
import { divergence } from "../src/field/divergence";
import { logLikelihood } from "../src/field/likelihood";
import {
  likelihoodGradient,
  maximumLikelihoodGradient,
  negativeLogLikelihoodOf,
  trainMaximumLikelihood,
  velocityAndDivergenceOf,
} from "../src/model/cnf-ml";
import { createVelocityModel, type VelocityModel } from "../src/model/mlp";

/** The model's parameters as tensors, W then b per layer (the caller disposes). */
function paramsOf(model: VelocityModel): tf.Tensor[] {
  return model.layers.flatMap(({ inputs, outputs, offset }) => [
    tf.tensor2d(model.theta.subarray(offset, offset + inputs * outputs), [inputs, outputs]),
    tf.tensor1d(
      model.theta.subarray(offset + inputs * outputs, offset + inputs * outputs + outputs),
    ),
  ]);
}
const maxAbs = (a: tf.Tensor, b: tf.Tensor): number =>
  tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

describe("velocityAndDivergenceOf (forward-mode exact divergence of the MLP)", () => {
  it("equals the velocity and the autodiff divergence, for each activation and embedding", () => {
    for (const activation of ["elu", "relu", "tanh", "silu"] as const) {
      for (const time of ["raw", "fourier"] as const) {
        seed(1);
        const model = createVelocityModel({ activation, time, width: 24, depth: 3 });
        const x = randn([40, 2]) as tf.Tensor2D;
        const params = paramsOf(model);
        const before = tf.memory().numTensors;
        const { u, div } = tf.tidy(() => velocityAndDivergenceOf(model, params, x, 0.3));
        expect(tf.memory().numTensors).toBe(before + 2);
        const uRef = model.predict(x, 0.3);
        const divRef = divergence(model.field, x, 0.3);
        const scale = tf.tidy(() => tf.max(tf.abs(divRef)).dataSync()[0]);
        expect(maxAbs(u, uRef)).toBeLessThan(1e-6);
        expect(maxAbs(div, divRef)).toBeLessThan(1e-5 * Math.max(scale, 1e-2));
        // Negative control: the same comparison against a slightly different network fails.
        const other = model.clone();
        other.theta[3] += 0.05;
        other.invalidate();
        const divOther = divergence(other.field, x, 0.3);
        expect(maxAbs(div, divOther)).toBeGreaterThan(1e-5 * Math.max(scale, 1e-2));
        tf.dispose([x, u, div, uRef, divRef, divOther, ...params]);
        model.dispose();
        other.dispose();
      }
    }
  });
});

describe("the maximum-likelihood loss and its gradient", () => {
  it("is the negative log-likelihood fm.logLikelihood computes (RK4 x 40 vs dopri5)", () => {
    seed(2);
    const model = createVelocityModel({ width: 32, depth: 2 });
    const x = twoMoons(64);
    const params = paramsOf(model);
    const nll = tf.tidy(
      () => negativeLogLikelihoodOf(model, params, x, { method: "rk4", steps: 40 }).dataSync()[0],
    );
    const ll = logLikelihood(model.field, x, { method: "dopri5", rtol: 1e-6, atol: 1e-6 });
    const reference = -tf.tidy(() => tf.mean(ll.logp).dataSync()[0]);
    expect(Math.abs(nll - reference)).toBeLessThan(1e-4);
    // The divergence term matters: leaving it out moves the value by far more than that.
    const without = tf.tidy(
      () =>
        negativeLogLikelihoodOf(
          model,
          params,
          x,
          { method: "rk4", steps: 40 },
          false,
        ).dataSync()[0],
    );
    expect(Math.abs(without - reference)).toBeGreaterThan(1e-3);
    tf.dispose([x, ll, ...params]);
    model.dispose();
  });

  it("has the gradient finite differences give (the loss without divergence does not)", () => {
    seed(3);
    const model = createVelocityModel({ width: 8, depth: 2, activation: "tanh", time: "fourier" });
    const x = twoMoons(32);
    const solver = { method: "midpoint" as const, steps: 4 };
    const before = tf.memory().numTensors;
    const full = maximumLikelihoodGradient(model, x, solver);
    const partial = likelihoodGradient(model, x, solver, false);
    expect(tf.memory().numTensors).toBe(before);
    expect(full.nfe).toBe(8);
    const lossAt = (theta: Float32Array): number => {
      const m = model.clone();
      m.setTheta(theta);
      const p = paramsOf(m);
      const v = tf.tidy(() => negativeLogLikelihoodOf(m, p, x, solver).dataSync()[0]);
      tf.dispose(p);
      m.dispose();
      return v;
    };
    // Parameters spread over every layer (weights of x and of t, biases, the output layer).
    const picks = [0, 5, 17, 40, 95, 100, 131, 150, 185, 190, 200, model.numParameters - 1];
    let worstFull = 0;
    let worstPartial = 0;
    for (const k of picks) {
      const h = 1e-2;
      const plus = Float32Array.from(model.theta);
      const minus = Float32Array.from(model.theta);
      plus[k] += h;
      minus[k] -= h;
      const fd = (lossAt(plus) - lossAt(minus)) / (plus[k] - minus[k]);
      const scale = Math.max(Math.abs(fd), 0.05);
      worstFull = Math.max(worstFull, Math.abs(full.grad[k] - fd) / scale);
      worstPartial = Math.max(worstPartial, Math.abs(partial.grad[k] - fd) / scale);
    }
    // float32 losses of ~3 differenced over 2h = 0.02: ~1e-5 of noise; truncation O(h^2).
    // Measured: 7e-4 with the divergence, 0.47 without.
    expect(worstFull).toBeLessThan(2e-2);
    expect(worstPartial).toBeGreaterThan(0.2); // negative control
    x.dispose();
    model.dispose();
  });
});

describe("trainMaximumLikelihood", () => {
  it("raises held-out likelihood, repeats exactly, records its cost, leaks nothing", async () => {
    seed(4);
    const data = twoMoons(1000);
    const held = twoMoons(300);
    const options = {
      data,
      steps: 40,
      batchSize: 128,
      learningRate: 5e-3,
      solver: { method: "midpoint" as const, steps: 4 },
      progress: false,
    };
    const heldNll = (m: VelocityModel): number => {
      const r = logLikelihood(m.field, held, { method: "rk4", steps: 20 });
      const v = -tf.tidy(() => tf.mean(r.logp).dataSync()[0]);
      tf.dispose(r);
      return v;
    };
    seed(5);
    const a = createVelocityModel({ width: 32, depth: 2 });
    const start = heldNll(a);
    a.dispose(); // frees the layer tensors predict built (training rebuilds its own and frees them)
    const before = tf.memory().numTensors;
    seed(6);
    const runA = await trainMaximumLikelihood(a, options);
    expect(tf.memory().numTensors).toBe(before);
    seed(5);
    const b = createVelocityModel({ width: 32, depth: 2 });
    seed(6);
    const runB = await trainMaximumLikelihood(b, options);
    expect(Array.from(a.theta)).toEqual(Array.from(b.theta));
    expect(runA.losses).toEqual(runB.losses);
    expect(runA.nfePerStep).toBe(8);
    expect(runA.secondsPerStep).toBeGreaterThan(0);
    expect(runA.losses).toHaveLength(40);
    const end = heldNll(a);
    expect(end).toBeLessThan(start - 0.2); // measured: 3.70 -> 3.20 nats
    a.dispose();
    b.dispose();
    tf.dispose([data, held]);
  });

  it("an interrupt stops it after a step, with that step's parameters bit for bit", async () => {
    const data = twoMoons(64);
    /** Trains a fresh seeded model for `steps` steps, interrupted during step `stopAfter`. */
    const run = async (steps: number, stopAfter?: number) => {
      seed(9);
      const model = createVelocityModel({ width: 8, depth: 1 });
      model.dispose();
      const before = tf.memory().numTensors;
      const error = await trainMaximumLikelihood(model, {
        data,
        steps,
        batchSize: 16,
        solver: { method: "euler", steps: 2 },
        progress: false,
        onStep: (step) => {
          if (step === stopAfter) requestInterrupt();
        },
      }).then(
        () => null,
        (e: unknown) => e,
      );
      const leaked = tf.memory().numTensors - before;
      const theta = Array.from(model.theta);
      model.dispose();
      return { error, leaked, theta };
    };
    const stopped = await run(1000, 3);
    expect(stopped.error).toBeInstanceOf(InterruptedError);
    const err = stopped.error as InterruptedError<{ steps: number; losses: number[] }>;
    expect(err.message).toMatch(/trainMaximumLikelihood stopped after step 3 of 1000/);
    expect(err.partial?.steps).toBe(3);
    expect(err.partial?.losses).toHaveLength(3);
    expect(stopped.leaked).toBe(0);
    expect(stopped.theta).toEqual((await run(3)).theta);
    // Negative control: one more step gives other parameters.
    expect(stopped.theta).not.toEqual((await run(4)).theta);
    data.dispose();
  });

  it(
    "stops on a non-finite loss naming the step, parameters finite; refuses bad " + "options",
    async () => {
      seed(7);
      const data = twoMoons(64);
      const m = createVelocityModel({ width: 8, depth: 1 });
      const schedule = (step: number) => (step >= 3 ? 1e30 : 1);
      const err = (await trainMaximumLikelihood(m, {
        data,
        steps: 10,
        batchSize: 16,
        schedule,
        solver: { method: "euler", steps: 2 },
        progress: false,
      }).catch((e) => e)) as Error;
      expect(err.message).toMatch(/trainMaximumLikelihood stopped at step \d of 10: the loss is/);
      expect(m.theta.every(Number.isFinite)).toBe(true);
      await expect(
        trainMaximumLikelihood(m, { data, solver: { method: "dopri5" as never } }),
      ).rejects.toThrow("solver.method must be one of euler, midpoint, rk4");
      await expect(trainMaximumLikelihood(m, { data, solver: { steps: 0 } })).rejects.toThrow(
        "solver.steps must be a positive integer; got 0",
      );
      await expect(trainMaximumLikelihood(m, { data: [[1, 2, 3]] })).rejects.toThrow(
        "data must have 2 columns",
      );
      await expect(trainMaximumLikelihood(m, { data, steps: 1.5 })).rejects.toThrow(
        "steps must be a positive integer; got 1.5",
      );
      await expect(trainMaximumLikelihood(m, {} as never)).rejects.toThrow("give the data");
      // The optimiser options are checked as trainFlowMatching checks them (training-loop.ts): a
      // clipNorm must be finite there too.
      await expect(trainMaximumLikelihood(m, { data, clipNorm: Infinity })).rejects.toThrow(
        "trainMaximumLikelihood: clipNorm must be a positive number; got Infinity",
      );
      expect(() => maximumLikelihoodGradient(m, tf.tensor2d([[NaN, 0]]))).toThrow("finite");
      m.dispose();
      data.dispose();
    },
  );
});
