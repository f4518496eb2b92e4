import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { seed } from "../src/core/random";
import { ACTIVATION_SLOPE, jacobianNorms, lipschitzUpperBound } from "../src/metrics/lipschitz";
import { createVelocityModel, type Activation } from "../src/model/mlp";
import { sqrtVelocity } from "../src/examples/nonuniqueness";
import { solveOde } from "../src/solvers/ode";
import { spectralNorm } from "../src/examples/linearFlows";

/**
 * A one-hidden-layer ReLU model that is linear near the origin:
 *   h = relu(x W_x + t w_t + b) with W_x = diag(3, 1), w_t = (5, -7), b = (10, 10) (active for |x|
 *     < 3),
 *   u = h W_1 with W_1 = [[0, 2], [0.5, 0]]   =>   u = (0.5 x2, 6 x1) + terms in t,
 * so du/dx = [[0, 0.5], [6, 0]] everywhere there, with spectral norm 6 = ||W_x|| ||W_1|| = 3 * 2.
 */
function linearReluModel() {
  const model = createVelocityModel({ dim: 2, width: 2, depth: 1, activation: "relu" });
  // layer 0: W rows x1, x2, t (3 x 2), then b (2); layer 1: W (2 x 2), then b (2)
  model.setTheta([3, 0, 0, 1, 5, -7, 10, 10, 0, 2, 0.5, 0, 0.25, -0.5]);
  return model;
}

describe("lipschitzUpperBound", () => {
  it(
    "is exact for a model that is linear in x, and ignores the time row of the input " + "layer",
    () => {
      const model = linearReluModel();
      const { bound, layerNorms, activationSlope } = lipschitzUpperBound(model);
      expect(activationSlope).toBe(1);
      expect(layerNorms[0]).toBeCloseTo(3, 6);
      expect(layerNorms[1]).toBeCloseTo(2, 6);
      expect(bound).toBeCloseTo(6, 6);
      // Negative control: the norm of the whole input layer, time row included, is larger (5-7
      // row).
      expect(
        spectralNorm([
          [3, 0],
          [0, 1],
          [5, -7],
        ]),
      ).toBeGreaterThan(8);
      seed(1);
      const x = tf.randomUniform([50, 2], -1, 1, "float32", 1) as tf.Tensor2D;
      for (const t of [0, 0.3, 1]) {
        // u is linear here: central differences are exact up to float32 rounding (|u| ~ 40, h =
        // 0.1: ~1e-5)
        const { norms, max } = jacobianNorms(model.field, x, t, { h: 0.1 });
        expect(Math.max(...norms.map((v) => Math.abs(v - 6)))).toBeLessThan(1e-3);
        expect(max).toBeLessThanOrEqual(bound * (1 + 1e-4));
      }
      x.dispose();
      model.dispose();
    },
  );

  it("bounds the Jacobian of random models of every activation at every time", () => {
    for (const activation of ["elu", "relu", "tanh", "silu"] as Activation[]) {
      seed(2);
      const model = createVelocityModel({ width: 32, depth: 3, activation, time: "fourier" });
      const { bound } = lipschitzUpperBound(model);
      const x = tf.mul(tf.randomNormal([200, 2], 0, 1, "float32", 3), 2) as tf.Tensor2D;
      let worst = 0;
      for (const t of [0, 0.5, 0.9]) worst = Math.max(worst, jacobianNorms(model.field, x, t).max);
      x.dispose();
      model.dispose();
      expect(worst).toBeGreaterThan(0);
      expect(worst).toBeLessThanOrEqual(bound);
      // Both the bound and the Jacobian are homogeneous in the output layer: scaling it by 10
      // scales the bound by 10.
      const scaled = model.clone();
      const last = scaled.layers[scaled.layers.length - 1];
      const theta = Float32Array.from(scaled.theta);
      for (let k = last.offset; k < last.offset + last.inputs * last.outputs; k++) theta[k] *= 10;
      scaled.setTheta(theta);
      expect(lipschitzUpperBound(scaled).bound / bound).toBeCloseTo(10, 4);
      scaled.dispose();
    }
  });

  it("uses the largest slope of SiLU, 1.0998 (checked on a fine grid)", () => {
    let peak = 0;
    for (let z = -10; z <= 10; z += 1e-4) {
      const s = 1 / (1 + Math.exp(-z));
      peak = Math.max(peak, s * (1 + z * (1 - s)));
    }
    expect(peak).toBeGreaterThan(1.0997);
    expect(peak).toBeLessThanOrEqual(ACTIVATION_SLOPE.silu);
    expect(ACTIVATION_SLOPE.silu - peak).toBeLessThan(2e-4);
  });

  it("keeps two trajectories within e^(L t) of their initial distance (Gronwall)", () => {
    seed(4);
    const model = createVelocityModel({ width: 32, depth: 2 });
    const { bound } = lipschitzUpperBound(model);
    const a = tf.tensor2d([
      [0.3, -0.2],
      [1, 1],
      [-1.5, 0.5],
    ]);
    const delta = 1e-2;
    const b = tf.add(
      a,
      tf.tensor2d([
        [delta, 0],
        [0, delta],
        [delta / Math.SQRT2, delta / Math.SQRT2],
      ]),
    ) as tf.Tensor2D;
    const ea = solveOde(model.field, a, { method: "rk4", steps: 50 }).x;
    const eb = solveOde(model.field, b, { method: "rk4", steps: 50 }).x;
    const gaps = tf.tidy(() => tf.norm(tf.sub(ea, eb), "euclidean", 1)).arraySync() as number[];
    tf.dispose([a, b, ea, eb]);
    model.dispose();
    for (const g of gaps) expect(g).toBeLessThanOrEqual(Math.exp(bound) * delta);
  });
});

describe("jacobianNorms", () => {
  it("gives the spectral norm of a linear field's matrix (3-D, not symmetric)", () => {
    const A = [
      [1, 2, 0],
      [0, -1, 3],
      [4, 0, 1],
    ];
    const At = tf.tensor2d(A);
    // u = A x
    const field = (x: tf.Tensor2D) => tf.tidy(() => tf.matMul(x, At, false, true) as tf.Tensor2D);
    const x = tf.randomNormal([10, 3], 0, 1, "float32", 5) as tf.Tensor2D;
    const before = tf.memory().numTensors;
    const { norms, max, argmax } = jacobianNorms(field, x, 0.5);
    expect(tf.memory().numTensors).toBe(before);
    const exact = spectralNorm(A);
    // linear: differences are exact up to float32 rounding, |u| ~ 5, h = 1e-2: ~1e-5 relative
    for (const v of norms) expect(Math.abs(v / exact - 1)).toBeLessThan(1e-4);
    expect(max).toBe(norms[argmax]);
    tf.dispose([At, x]);
  });

  it("grows like 1 / (2 sqrt(x)) for sqrt(x) near 0: no Lipschitz constant there", () => {
    const xs = [1e-1, 1e-2, 1e-4];
    const norms = xs.map((v) => {
      const x = tf.tensor2d([[v]]);
      const r = jacobianNorms(sqrtVelocity, x, 0, { h: v / 20 }).norms[0];
      x.dispose();
      return r;
    });
    // central difference of sqrt at step h = x/20: relative error ~ (h/x)^2 * 5/8 ~ 2e-3
    norms.forEach((v, i) => expect(Math.abs(v * 2 * Math.sqrt(xs[i]) - 1)).toBeLessThan(5e-3));
    expect(norms[2] / norms[0]).toBeGreaterThan(30); // sqrt(1000) = 31.6: unbounded as x -> 0
  });

  it("says what is wrong with its inputs", () => {
    const x = tf.zeros([2, 2]) as tf.Tensor2D;
    const id = (y: tf.Tensor2D) => y.clone();
    expect(() => jacobianNorms(id, x, 1.5)).toThrow(/t must lie in \[0, 1\]; got 1.5/);
    expect(() => jacobianNorms(id, x, 0.5, { h: 0 })).toThrow(/h must be a positive number; got 0/);
    expect(() => jacobianNorms((y) => tf.concat([y, y], 1) as tf.Tensor2D, x, 0.5)).toThrow(
      /must return \[2, 2\]/,
    );
    expect(() => lipschitzUpperBound({} as never)).toThrow(/VelocityModel/);
    x.dispose();
  });
});
