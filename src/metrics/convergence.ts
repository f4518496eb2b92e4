/**
 * Empirical orders of convergence (lecture concept 6, notebook 06: solvers against NFE; also used
 * for any power law y ~ C x^p, such as a Monte-Carlo error falling like n^(-1/2) in notebook 05 or
 * a speed growing like (1 - t)^(-1) in notebook 03).
 *
 * If an error behaves like e(h) = C h^p, then log e = log C + p log h: a straight line in log-log
 * axes whose slope is the order p. From measured pairs (x_i, y_i) the least-squares slope of
 * log y_i against log x_i estimates p:
 *
 *     p = sum_i (a_i - mean a)(b_i - mean b) / sum_i (a_i - mean a)^2,   a_i = log x_i,  b_i = log
 *       y_i.
 *
 * Against the number of steps (or NFE, proportional to it) instead of the step size, the slope is
 * -p. Plain float64 JavaScript; no tensors.
 */

/**
 * The least-squares slope of log y against log x: the exponent p of a power law y ~ C x^p.
 *
 * @param x positive abscissae (step sizes, NFE, sample counts, ...), at least two distinct values
 * @param y positive values (errors, distances, ...), as many as `x`
 * @returns the fitted exponent p
 * @example
 * logLogSlope([1, 2, 4, 8], [1, 0.25, 0.0625, 0.015625]); // returns -2 (error ~ NFE^-2: a
 * second-order method) logLogSlope([100, 400, 1600], [0.1, 0.05, 0.025]); // returns -0.5
 * (Monte-Carlo: ~ n^(-1/2))
 */
export function logLogSlope(x: readonly number[], y: readonly number[]): number {
  const fn = "logLogSlope";
  if (!Array.isArray(x) || !Array.isArray(y))
    throw new Error(`${fn}: x and y must be arrays of numbers; got ${typeof x} and ${typeof y}`);
  if (x.length !== y.length)
    throw new Error(`${fn}: x and y must have the same length; got ${x.length} and ${y.length}`);
  if (x.length < 2) throw new Error(`${fn}: needs at least 2 points; got ${x.length}`);
  for (const [name, values] of [
    ["x", x],
    ["y", y],
  ] as const) {
    values.forEach((v, i) => {
      if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
        throw new Error(
          `${fn}: ${name} must be finite and positive (its logarithm is taken); ${name}[${i}] is ` +
            `${v}`,
        );
      }
    });
  }
  const a = x.map(Math.log);
  const b = y.map(Math.log);
  const ma = a.reduce((s, v) => s + v, 0) / a.length;
  const mb = b.reduce((s, v) => s + v, 0) / b.length;
  let sab = 0;
  let saa = 0;
  for (let i = 0; i < a.length; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
  }
  if (!(saa > 0))
    throw new Error(
      `${fn}: x needs at least two different values; got ${x.length} copies of ${x[0]}`,
    );
  return sab / saa;
}
