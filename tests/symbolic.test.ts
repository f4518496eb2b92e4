import { describe, expect, it } from "vitest";
import { symbolicContinuityResidual1D } from "../src/field/symbolic";

// The lecture's conditional path p_t(x | x1) = N(x; t x1, (1 - t)^2) in 1-D and its field.
const LOG_GAUSS = "-(x - t*x1)^2 / (2*(1-t)^2) - log(1-t) - log(2*pi)/2";
const U_GAUSS = "(x1 - x) / (1 - t)";

/**
 * Seeded points (t, x, x1) away from t = 1, from a small LCG so the test does not depend on other
 * randomness.
 */
function points(n: number): { t: number; x: number; x1: number }[] {
  let s = 12345;
  const next = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  return Array.from({ length: n }, () => ({
    t: 0.9 * next(),
    x: 6 * next() - 3,
    x1: 4 * next() - 2,
  }));
}

/**
 * Evaluates a mathjs expression string at a point (float64), with mathjs loaded the same way the
 * module does.
 */
// eslint-disable-next-line @typescript-eslint/no-var-requires
const math = require("mathjs") as typeof import("mathjs");
const at = (expr: string, scope: Record<string, number>): number =>
  Number(math.evaluate(expr, { ...scope }));

describe("symbolicContinuityResidual1D", () => {
  it(
    "proves that the lecture's conditional field generates N(t x1, (1 - t)^2): the residual is " +
      "exactly 0",
    () => {
      const r = symbolicContinuityResidual1D({
        logDensity: LOG_GAUSS,
        velocity: U_GAUSS,
        x: "x",
        t: "t",
      });
      expect(r.isZero).toBe(true);
      expect(r.numerator).toBe("0");
      expect(r.simplified).toBe("0");
      expect(r.denominator).toBe("(1 - t) ^ 3");
      expect(r.steps.map((s) => s.label)).toEqual([
        "d/dt log p",
        "d/dx log p",
        "d/dx u",
        "residual / p = d/dt log p + d/dx u + u d/dx log p",
        "common denominator D",
        "numerator N = D * residual / p, expanded",
        "residual / p, simplified",
      ]);
      expect(r.steps.every((s) => s.expression.length > 0 && s.tex.length > 0)).toBe(true);
      // LaTeX as a reader writes it: x1 -> x_{1}, t in italics (mathjs alone prints t upright, as
      // the unit "tonne")
      expect(r.steps[1].tex).toBe("\\frac{ t\\cdot x_{1}- x}{{\\left(1- t\\right)}^{2}}");
    },
  );

  it("returns derivatives that agree with the closed forms at random points", () => {
    const r = symbolicContinuityResidual1D({ logDensity: LOG_GAUSS, velocity: U_GAUSS });
    for (const p of points(20)) {
      const s = 1 - p.t;
      const m = p.x - p.t * p.x1;
      // d/dt log p = m x1 / s^2 + m^2 / s^3 + 1 / s ... with d/dt s = -1: -(d/dt)(m^2 / (2 s^2)) -
      // d/dt log s
      const dt = (m * p.x1) / s ** 2 - m ** 2 / s ** 3 + 1 / s;
      expect(at(r.dLogPdt, p)).toBeCloseTo(dt, 9);
      expect(at(r.dLogPdx, p)).toBeCloseTo(-m / s ** 2, 9);
      expect(at(r.dUdx, p)).toBeCloseTo(-1 / s, 12);
    }
  });

  it(
    "negative control: twice the field leaves a non-zero polynomial, equal to the residual it " +
      "should be",
    () => {
      const r = symbolicContinuityResidual1D({
        logDensity: LOG_GAUSS,
        velocity: "2*(x1 - x) / (1 - t)",
      });
      expect(r.isZero).toBe(false);
      expect(r.numerator).not.toBe("0");
      expect(r.simplified).toBe(`(${r.numerator}) / (${r.denominator})`);
      for (const p of points(20)) {
        const s = 1 - p.t;
        // With u = 2 u*, residual / p = (terms of u*, which sum to 0) + d_x u* + u* d_x log p
        const expected = -1 / s - ((p.x1 - p.x) * (p.x - p.t * p.x1)) / s ** 3;
        const scale = Math.max(1, Math.abs(expected));
        expect(Math.abs(at(r.simplified, p) - expected) / scale).toBeLessThan(1e-12);
        // the numerator over the denominator is the unsimplified sum, evaluated directly
        expect(Math.abs(at(r.simplified, p) - at(r.residualOverP, p)) / scale).toBeLessThan(1e-12);
      }
    },
  );

  it("negative controls: a constant shift and a time-independent field are caught too", () => {
    expect(
      symbolicContinuityResidual1D({ logDensity: LOG_GAUSS, velocity: `${U_GAUSS} + 1` }).isZero,
    ).toBe(false);
    expect(symbolicContinuityResidual1D({ logDensity: LOG_GAUSS, velocity: "x1 - x" }).isZero).toBe(
      false,
    );
    // the right field against the wrong path (variance t^2 instead of (1 - t)^2)
    expect(
      symbolicContinuityResidual1D({
        logDensity: "-(x - t*x1)^2 / (2*t^2) - log(t)",
        velocity: U_GAUSS,
      }).isZero,
    ).toBe(false);
  });

  it(
    "agrees with the unsimplified sum at random points, for the right field as for the wrong " +
      "one",
    () => {
      for (const velocity of [U_GAUSS, "x1 - x", `${U_GAUSS} + t`]) {
        const r = symbolicContinuityResidual1D({ logDensity: LOG_GAUSS, velocity });
        for (const p of points(10)) {
          const direct = at(r.residualOverP, p);
          const viaN = at(r.numerator, p) / at(r.denominator, p);
          expect(Math.abs(viaN - direct)).toBeLessThan(1e-9 * Math.max(1, Math.abs(direct)));
        }
      }
    },
  );

  it(
    "proves other pairs: the sigma_min path, a straight linear flow, a spreading Cauchy, the VP " +
      "path",
    () => {
      // sigma_t = 1 - (1 - s) t with s = sigma_min kept symbolic; u = (x1 - (1 - s) x) / (1 - (1 -
      // s) t)
      const sigmaMin = symbolicContinuityResidual1D({
        logDensity: "-(x - t*x1)^2 / (2*(1-(1-s)*t)^2) - log(1-(1-s)*t) - log(2*pi)/2",
        velocity: "(x1 - (1-s)*x) / (1 - (1-s)*t)",
      });
      expect(sigmaMin.isZero).toBe(true);
      // 1-D straight flow x_t = (1 + t (a - 1)) x0 + t b of N(0, 1): u = (a - 1) (x - t b) / (1 + t
      // (a - 1)) + b
      const linear = symbolicContinuityResidual1D({
        logDensity: "-(x - t*b)^2 / (2*(1 + t*(a-1))^2) - log(1 + t*(a-1))",
        velocity: "(a-1)*(x - t*b) / (1 + t*(a-1)) + b",
      });
      expect(linear.isZero).toBe(true);
      // Cauchy spreading by x_t = (1 + t) x0: p_t(x) = 1 / (pi s (1 + (x/s)^2)), s = 1 + t, u = x /
      // (1 + t)
      const cauchy = symbolicContinuityResidual1D({
        logDensity: "-log(pi) - log(1+t) - log(1 + (x/(1+t))^2)",
        velocity: "x / (1 + t)",
      });
      expect(cauchy.isZero).toBe(true);
      expect(
        symbolicContinuityResidual1D({
          logDensity: "-log(pi) - log(1+t) - log(1 + (x/(1+t))^2)",
          velocity: "x",
        }).isZero,
      ).toBe(false);
      // VP path alpha = sin(pi t / 2), sigma = cos(pi t / 2): cos and sin are independent symbols,
      // and the identity still holds without cos^2 + sin^2 = 1
      const vp = symbolicContinuityResidual1D({
        logDensity: "-(x - sin(pi*t/2)*x1)^2 / (2*cos(pi*t/2)^2) - log(cos(pi*t/2))",
        velocity: "-(pi/2)*sin(pi*t/2)/cos(pi*t/2) * (x - sin(pi*t/2)*x1) + (pi/2)*cos(pi*t/2)*x1",
      });
      expect(vp.isZero).toBe(true);
      expect(vp.denominator).toContain("cos(pi * t / 2)");
    },
  );

  it("accepts other variable names and decimal constants", () => {
    const r = symbolicContinuityResidual1D({
      logDensity: "-0.5*(y - s*m)^2 / (1-s)^2 - log(1-s)",
      velocity: "(m - y) / (1 - s)",
      x: "y",
      t: "s",
    });
    expect(r.isZero).toBe(true);
    expect(
      symbolicContinuityResidual1D({
        logDensity: "-0.5*(y - s*m)^2 / (1-s)^2 - log(1-s)",
        velocity: "m - y",
        x: "y",
        t: "s",
      }).isZero,
    ).toBe(false);
  });

  it("gives the same verdicts when called again and again (no state kept between calls)", () => {
    // (It used to assert a speed, "under a second per call", which a loaded machine can miss;
    // this test's time-out is the hang guard.)
    const verdicts = [];
    for (let i = 0; i < 6; i++) {
      const velocity = i % 2 ? U_GAUSS : "2*x";
      verdicts.push(symbolicContinuityResidual1D({ logDensity: LOG_GAUSS, velocity }).isZero);
    }
    expect(verdicts).toEqual([false, true, false, true, false, true]);
  });

  it("says what it got when the input is wrong", () => {
    const call = (input: unknown) => () =>
      symbolicContinuityResidual1D(input as Parameters<typeof symbolicContinuityResidual1D>[0]);
    expect(call(null)).toThrow("pass one record");
    expect(call({ logDensity: "", velocity: U_GAUSS })).toThrow(
      'logDensity must be a non-empty expression string; got ""',
    );
    expect(call({ logDensity: LOG_GAUSS, velocity: 3 })).toThrow(
      "velocity must be a non-empty expression string; got 3",
    );
    expect(call({ logDensity: LOG_GAUSS, velocity: U_GAUSS, x: "1x" })).toThrow(
      'x must be a variable name like "x"; got "1x"',
    );
    expect(call({ logDensity: LOG_GAUSS, velocity: U_GAUSS, x: "t" })).toThrow(
      'x and t must be different names; got "t" for both',
    );
    expect(call({ logDensity: "-(x - t", velocity: U_GAUSS })).toThrow(
      'could not parse logDensity "-(x - t"',
    );
    expect(call({ logDensity: "-t^2", velocity: U_GAUSS })).toThrow(
      'logDensity must depend on the space variable "x"; got "-t^2"',
    );
    expect(call({ logDensity: "-x^2 / 2", velocity: "x == 1" })).toThrow(
      'could not differentiate velocity "x == 1" in x',
    );
  });
});
