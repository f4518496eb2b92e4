/**
 * How Lipschitz is a velocity field in x? (lecture concepts 1 and 5, notebook 05: "why *flow*
 * matching").
 *
 * A field u_t(x) is Lipschitz in x with constant L when |u_t(x) - u_t(y)| <= L |x - y| for all x,
 * y. Then the ODE dx/dt = u_t(x) has exactly one trajectory from each start, and two trajectories
 * that start delta apart stay within e^{L t} delta of each other (Gronwall): the field determines
 * the flow, so learning the velocity learns the flow. Two ways to put a number on L:
 *
 * - `lipschitzUpperBound(model)`: for the MLP of src/model/mlp.ts, x -> x W_0 (the rows of the
 *   input layer that multiply x; the time only shifts the bias) -> activation -> ... -> x W_depth.
 *   A product of maps is Lipschitz with the product of their constants: L <= prod_i ||W_i||_2 *
 *   (activation's largest slope)^depth, for every t at once. Usually loose, but finite: a
 *   guarantee.
 * - `jacobianNorms(field, x, t)`: the spectral norm of the Jacobian du/dx at each of the given
 *   points (central differences). Its maximum over points is a lower bound of L on that region (L
 *   is the supremum of these norms), and it blows up near a point where the field is not Lipschitz,
 *   like sqrt(x) at 0 (src/examples/nonuniqueness.ts).
 */
import * as tf from "@tensorflow/tfjs";
import { assert2D, assertInRange } from "../core/checks";
import type { VelocityField } from "../core/notation";
import { spectralNorm, symmetricEigenvalues, type Matrix } from "../examples/linearFlows";
import { VelocityModel, type Activation } from "../model/mlp";

/**
 * The largest slope of each activation of the model (its Lipschitz constant). ELU (alpha = 1), ReLU
 * and tanh: 1. SiLU, z sigma(z): its slope sigma(z) (1 + z (1 - sigma(z))) peaks at z ~ 2.3994 with
 * 1.0998 (rounded up here; the tests check it on a fine grid).
 */
export const ACTIVATION_SLOPE: Readonly<Record<Activation, number>> = {
  elu: 1,
  relu: 1,
  tanh: 1,
  silu: 1.0999,
};

/** What `lipschitzUpperBound` returns. */
export interface LipschitzBound {
  /**
   * prod of `layerNorms` times `activationSlope`^depth: |u(x, t) - u(y, t)| <= bound |x - y| for
   * every t.
   */
  bound: number;
  /** ||W_i||_2 of each linear layer, input layer first (for the input layer, only its x rows). */
  layerNorms: number[];
  /** The largest slope of the hidden layers' activation (`ACTIVATION_SLOPE`). */
  activationSlope: number;
}

/**
 * An upper bound of the Lipschitz constant in x of a velocity model, valid at every time t: the
 * product of its layers' spectral norms and of its activations' largest slopes (module comment).
 * @example
 * const { bound, layerNorms } = fm.lipschitzUpperBound(model); // e.g. bound ~ 40 for a trained 3 x
 * 64 MLP
 */
export function lipschitzUpperBound(model: VelocityModel): LipschitzBound {
  if (!(model instanceof VelocityModel))
    throw new Error("lipschitzUpperBound: model must be a VelocityModel (fm.createVelocityModel)");
  const d = model.config.dim;
  const layerNorms = model.layers.map(({ inputs, outputs, offset }, i) => {
    const rows = i === 0 ? d : inputs; // the input layer: only the rows that multiply x
    const w: Matrix = [];
    for (let r = 0; r < rows; r++)
      w.push(Array.from(model.theta.subarray(offset + r * outputs, offset + (r + 1) * outputs)));
    // ||W||_2 = ||W^T||_2: take the smaller Gram matrix (the Jacobi eigen-solver costs the cube of
    //   its size).
    return rows <= outputs ? spectralNorm(transpose(w)) : spectralNorm(w);
  });
  const activationSlope = ACTIVATION_SLOPE[model.config.activation];
  const bound = layerNorms.reduce((p, v) => p * v, 1) * activationSlope ** model.config.depth;
  return { bound, layerNorms, activationSlope };
}

function transpose(a: Matrix): Matrix {
  return a[0].map((_, j) => a.map((row) => row[j]));
}

/** Options of `jacobianNorms`. */
export interface JacobianNormOptions {
  /** Step of the central differences (u(x + h e_j) - u(x - h e_j)) / 2h. @default 1e-2 */
  h?: number;
}

/** What `jacobianNorms` returns. */
export interface JacobianNorms {
  /** ||du/dx||_2 at each point, in the order of the rows of x. */
  norms: number[];
  /**
   * The largest of them: a lower bound of the field's Lipschitz constant on these points' region.
   */
  max: number;
  /** The row of x where the largest norm was found. */
  argmax: number;
}

/**
 * The spectral norm of the Jacobian du_t/dx at each row of x, by central differences (2d field
 * evaluations of all rows at once). With float32 fields, keep h well above the rounding noise:
 * the error is about h^2 |u'''| / 6 + 1e-7 |u| / h.
 * @param field a velocity field (a model's `field`, a target's `field()`, `fm.sqrtVelocity`, ...)
 * @param x points `[n, d]`
 * @param t the time, in [0, 1]
 * @example
 * fm.jacobianNorms(fm.sqrtVelocity, fm.tf.tensor2d([[0.01], [1]]), 0).norms; // returns ~[5, 0.5]:
 * 1 / (2 sqrt(x))
 */
export function jacobianNorms(
  field: VelocityField,
  x: tf.Tensor2D,
  t: number,
  options: JacobianNormOptions = {},
): JacobianNorms {
  assert2D(x, "x");
  assertInRange(t, "t", 0, 1);
  const h = options.h ?? 1e-2;
  if (!(h > 0) || !Number.isFinite(h)) throw new Error(`h must be a positive number; got ${h}`);
  const [n, d] = x.shape;
  // columns[j][i] = du/dx_j at row i, a d-vector
  const columns: Float32Array[] = [];
  for (let j = 0; j < d; j++) {
    const diff = tf.tidy(() => {
      const step = tf.tensor2d(
        Array.from({ length: d }, (_, k) => (k === j ? h : 0)),
        [1, d],
      );
      const plus = field(tf.add(x, step) as tf.Tensor2D, t);
      const minus = field(tf.sub(x, step) as tf.Tensor2D, t);
      if (plus.shape[0] !== n || plus.shape[1] !== d) {
        throw new Error(
          `the field must return [${n}, ${d}] for x of shape [${n}, ${d}]; got [${plus.shape}]`,
        );
      }
      return tf.div(tf.sub(plus, minus), 2 * h);
    });
    columns.push(diff.dataSync() as Float32Array);
    diff.dispose();
  }
  const norms: number[] = [];
  for (let i = 0; i < n; i++) {
    // J[a][b] = du_a/dx_b; ||J||_2^2 is the largest eigenvalue of J^T J (d x d).
    const J: Matrix = Array.from({ length: d }, (_, a) =>
      Array.from({ length: d }, (_, b) => columns[b][i * d + a]),
    );
    if (d === 1) norms.push(Math.abs(J[0][0]));
    else {
      const gram = Array.from({ length: d }, (_, p) =>
        Array.from({ length: d }, (_, q) => J.reduce((s, row) => s + row[p] * row[q], 0)),
      );
      norms.push(Math.sqrt(Math.max(0, symmetricEigenvalues(gram)[0])));
    }
  }
  let argmax = 0;
  norms.forEach((v, i) => {
    if (!Number.isFinite(v))
      throw new Error(`the Jacobian at row ${i} is not finite (${v}): is the field finite near x?`);
    if (v > norms[argmax]) argmax = i;
  });
  return { norms, max: n > 0 ? norms[argmax] : 0, argmax };
}
