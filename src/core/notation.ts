/**
 * The course's notation, stated once.
 *
 * - Time runs from t = 0 to t = 1. **p_0 is the easy distribution (standard Gaussian noise);
 *   p_1 is the data.** This is the reverse of the DDPM and score-SDE lectures, where t = 0 was
 *   clean data; the unification notebook translates between the two conventions.
 * - Points are batch-first tensors of shape `[n, d]`: `x0 ~ p_0`, `x1 ~ p_1 = p_data`, `xt` on the
 *   path.
 * - A time is one number for the whole batch or a `[n]` tensor, one per row.
 * - A velocity field is always called `(x, t)` and returns a tensor shaped like `x`.
 * - Names follow the lecture: `alpha`, `sigma` (path coefficients), `u` (velocity), `psi` (flow),
 *   `p` (density), `score` (grad log p).
 */
import * as tf from "@tensorflow/tfjs";
import type { Time } from "./checks";

export type { Time } from "./checks";

/**
 * A time-dependent velocity field u_t(x): `(x [n, d], t) -> [n, d]`. The caller disposes the
 * result.
 */
export type VelocityField = (x: tf.Tensor2D, t: Time) => tf.Tensor2D;

/** A time-dependent scalar field such as log p_t(x): `(x [n, d], t) -> [n]`. */
export type ScalarField = (x: tf.Tensor2D, t: Time) => tf.Tensor1D;
