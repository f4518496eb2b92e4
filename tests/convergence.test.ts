import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { logLogSlope } from "../src/metrics/convergence";
import { solveOde, type OdeMethod } from "../src/solvers/ode";

describe("logLogSlope", () => {
  it("returns the exponent of an exact power law, for any constant and any spacing", () => {
    const x = [0.5, 1, 3, 7.5, 20];
    for (const p of [-4, -2, -0.5, 0, 1, 2.5]) {
      for (const C of [1e-6, 1, 300]) {
        // float64 logs of numbers of size <= 1e8: rounding ~1e-15 per value
        expect(
          logLogSlope(
            x,
            x.map((v) => C * v ** p),
          ),
        ).toBeCloseTo(p, 12);
      }
    }
  });

  it(
    "is the least-squares fit: noise of zero mean in log y moves the slope by its regression on " +
      "log x only",
    () => {
      // log y = 2 log x + e with e orthogonal to (log x - mean): the slope stays exactly 2.
      const x = [1, Math.E, Math.E ** 2];
      const e = [0.3, -0.6, 0.3]; // sums to 0 and is orthogonal to (-1, 0, 1)
      expect(
        logLogSlope(
          x,
          x.map((v, i) => v ** 2 * Math.exp(e[i])),
        ),
      ).toBeCloseTo(2, 12);
      // a tilt of the noise along log x is what the fit picks up: e = 0.1 (log x - 1) adds 0.1 to
      // the slope
      expect(
        logLogSlope(
          x,
          x.map((v) => v ** 2 * Math.exp(0.1 * (Math.log(v) - 1))),
        ),
      ).toBeCloseTo(2.1, 12);
    },
  );

  it(
    "measures the orders of the library's solvers: Euler 1, midpoint and Heun 2, RK4 4 (dx/dt = " +
      "-2 t x, x_1 = x_0 e^-1)",
    () => {
      // A smooth scalar ODE with a known solution; step counts past the irregular first steps, with
      // errors (>= 3e-7 for RK4 at 16 steps) well above float32 rounding of the end value (~1e-7
      // relative to 0.55).
      const field = (x: tf.Tensor2D, t: number | tf.Tensor) =>
        tf.tidy(() => tf.mul(x, tf.mul(-2, t as number)) as tf.Tensor2D);
      const x0 = tf.tensor2d([[1.5]]);
      const exact = 1.5 * Math.exp(-1);
      const expected: Record<string, number> = { euler: 1, midpoint: 2, heun: 2, rk4: 4 };
      const stepsFor: Record<string, number[]> = {
        euler: [8, 16, 32, 64],
        midpoint: [8, 16, 32, 64],
        heun: [8, 16, 32, 64],
        rk4: [4, 8, 16],
      };
      for (const method of Object.keys(expected) as OdeMethod[]) {
        const steps = stepsFor[method];
        const errors = steps.map((N) => {
          const sol = solveOde(field, x0, { method, steps: N });
          const err = Math.abs(sol.x.dataSync()[0] - exact);
          tf.dispose(sol);
          return err;
        });
        // against the number of steps the slope is minus the order
        expect(Math.abs(logLogSlope(steps, errors) + expected[method])).toBeLessThan(0.2);
      }
      x0.dispose();
    },
  );

  it(
    "negative control: errors that do not shrink (a wrong solver stuck at a fixed error) have " +
      "slope ~0, not an order",
    () => {
      const steps = [4, 8, 16, 32];
      const stuck = [0.31, 0.3, 0.305, 0.3];
      expect(Math.abs(logLogSlope(steps, stuck))).toBeLessThan(0.05);
      expect(Math.abs(logLogSlope(steps, stuck) + 1)).toBeGreaterThan(0.9);
    },
  );

  it("says what is wrong with its input", () => {
    expect(() => logLogSlope([1, 2], [1])).toThrow(/same length; got 2 and 1/);
    expect(() => logLogSlope([1], [1])).toThrow(/at least 2 points; got 1/);
    expect(() => logLogSlope([1, 2], [1, 0])).toThrow(
      /y must be finite and positive .*y\[1\] is 0/,
    );
    expect(() => logLogSlope([1, -2], [1, 1])).toThrow(
      /x must be finite and positive .*x\[1\] is -2/,
    );
    expect(() => logLogSlope([1, 2], [1, NaN])).toThrow(/y\[1\] is NaN/);
    expect(() => logLogSlope([3, 3, 3], [1, 2, 3])).toThrow(
      /at least two different values; got 3 copies of 3/,
    );
  });
});
