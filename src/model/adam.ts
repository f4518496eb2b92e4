/**
 * Adam (Kingma & Ba, 2015) over a flat parameter array, in plain JavaScript (lecture concept 6,
 * training).
 *
 * For every parameter, with gradient g at step k:
 *
 *     m <- beta1 m + (1 - beta1) g              (running mean of the gradient)
 *     v <- beta2 v + (1 - beta2) g^2            (running mean of its square)
 *     theta <- theta - lr * (m / (1 - beta1^k)) / (sqrt(v / (1 - beta2^k)) + epsilon)
 *
 * (the bias-corrected form PyTorch's `torch.optim.Adam` uses). One loop over a few thousand
 * numbers: much cheaper here than the hundred small tensor operations an optimiser over many
 * tensors issues.
 */

/** Options of `Adam`. */
export interface AdamOptions {
  /** Step size. @default 1e-3 */
  learningRate?: number;
  /** Decay of the running mean of the gradient. @default 0.9 */
  beta1?: number;
  /** Decay of the running mean of its square. @default 0.999 */
  beta2?: number;
  /** Added to the denominator (>= 0). @default 1e-8 */
  epsilon?: number;
}

/** An Adam optimiser for a parameter array of fixed length. */
export class Adam {
  readonly learningRate: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  /** Steps taken. */
  step = 0;
  private readonly m: Float64Array;
  private readonly v: Float64Array;

  constructor(size: number, options: AdamOptions = {}) {
    if (!Number.isInteger(size) || size < 1)
      throw new Error(`Adam: size must be a positive integer; got ${size}`);
    this.learningRate = options.learningRate ?? 1e-3;
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-8;
    if (!(this.learningRate > 0))
      throw new Error(`learningRate must be positive; got ${this.learningRate}`);
    for (const [name, b] of [
      ["beta1", this.beta1],
      ["beta2", this.beta2],
    ] as const) {
      if (!(b >= 0 && b < 1)) throw new Error(`${name} must lie in [0, 1); got ${b}`);
    }
    if (!(this.epsilon >= 0)) throw new Error(`epsilon must be a number >= 0; got ${this.epsilon}`);
    this.m = new Float64Array(size);
    this.v = new Float64Array(size);
  }

  /**
   * One update of `theta` in place from its gradient.
   * @param learningRate this step's rate (for schedules) @default the optimiser's learningRate
   */
  update(theta: Float32Array, grad: ArrayLike<number>, learningRate = this.learningRate): void {
    if (theta.length !== this.m.length || grad.length !== this.m.length) {
      throw new Error(
        `Adam: expected ${this.m.length} parameters and gradients; got ${theta.length} and ` +
          `${grad.length}`,
      );
    }
    this.step++;
    const { beta1, beta2, epsilon, m, v } = this;
    const c1 = 1 - beta1 ** this.step;
    const c2 = 1 - beta2 ** this.step;
    for (let i = 0; i < theta.length; i++) {
      const g = grad[i];
      m[i] = beta1 * m[i] + (1 - beta1) * g;
      v[i] = beta2 * v[i] + (1 - beta2) * g * g;
      theta[i] -= (learningRate * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + epsilon);
    }
  }
}
