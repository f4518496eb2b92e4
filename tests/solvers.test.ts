import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import {
  ODE_METHODS,
  dopri5Step,
  eulerStep,
  heunStep,
  midpointStep,
  rk4Step,
  solveOde,
} from "../src/solvers/ode";
import type { OdeMethod, OdeSolution } from "../src/solvers/ode";
import type { VelocityField } from "../src/core/notation";
import {
  sqrtResidual,
  sqrtSolution,
  sqrtSolutionParabola,
  sqrtSolutionZero,
  sqrtVelocity,
} from "../src/examples/nonuniqueness";

// ---- Reference problems with known solutions --------------------------------------------------

/** u = 3 t^2, whatever x: x(1) - x(0) = 1. */
const cubic: VelocityField = (x, t) => tf.fill(x.shape, 3 * (t as number) ** 2) as tf.Tensor2D;

/**
 * A rotation with a time-varying speed: u(x, t) = w(t) J x, J the quarter turn, w = 2 + 6 t^2.
 * Its flow rotates by theta(t) = 2 t + 2 t^3 (4 radians at t = 1): exact, non-autonomous, and norm
 * preserving (so local errors add up without amplification).
 */
const spin: VelocityField = (x, t) =>
  tf.tidy(() => {
    const w = 2 + 6 * (t as number) ** 2;
    const [a, b] = tf.split(x, 2, 1);
    return tf.concat([tf.mul(b, -w), tf.mul(a, w)], 1) as tf.Tensor2D;
  });
const theta = (t: number): number => 2 * t + 2 * t ** 3;
/** The exact rotated point of (1, 0) after moving from time s to time t. */
const spinExact = (s: number, t: number): [number, number] => [
  Math.cos(theta(t) - theta(s)),
  Math.sin(theta(t) - theta(s)),
];

function spinError(method: OdeMethod, steps: number): number {
  const x0 = tf.tensor2d([[1, 0]]);
  const sol = solveOde(spin, x0, { method, steps });
  const [a, b] = sol.x.dataSync();
  tf.dispose([x0, sol.x]);
  const [ea, eb] = spinExact(0, 1);
  return Math.hypot(a - ea, b - eb);
}

/** Least-squares slope of log(error) against log(1 / steps): the observed order of convergence. */
function observedOrder(stepsList: number[], errors: number[]): number {
  const xs = stepsList.map((s) => Math.log(1 / s));
  const ys = errors.map((e) => Math.log(e));
  const mx = xs.reduce((a, b) => a + b) / xs.length;
  const my = ys.reduce((a, b) => a + b) / ys.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < xs.length; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return num / den;
}

function disposeSolution(sol: OdeSolution): void {
  tf.dispose([sol.x, ...(sol.trajectory ? [sol.trajectory] : [])]);
}

// ---- Tests ------------------------------------------------------------------------------------

describe("solveOde: exact answers", () => {
  // Each method applied to u = 3 t^2 is a quadrature rule for int_0^1 3 t^2 dt = 1 with a known
  // error: Euler is the left Riemann sum, midpoint the midpoint rule, Heun the trapezoid rule, RK4
  // Simpson's rule (exact for cubics) and dopri5 is exact for polynomials of degree <= 4.
  const N = 10;
  const expected: Record<OdeMethod, number> = {
    euler: ((N - 1) * (2 * N - 1)) / (2 * N * N),
    midpoint: 1 - 1 / (4 * N * N),
    heun: 1 + 1 / (2 * N * N),
    rk4: 1,
    dopri5: 1,
  };
  for (const method of ODE_METHODS) {
    it(
      `${method} integrates u = 3t^2 from 0 to ${expected[method]} (1 up to its quadrature ` +
        `error)`,
      () => {
        const x0 = tf.zeros([3, 2]) as tf.Tensor2D;
        const sol = solveOde(cubic, x0, { method, steps: N });
        // float32: ~10 additions of numbers <= 1, each rounded to 6e-8 relative.
        for (const v of sol.x.dataSync()) expect(v).toBeCloseTo(expected[method], 6);
        expect(sol.x.shape).toEqual([3, 2]);
        tf.dispose([x0, sol.x]);
      },
    );
  }

  it(
    "counts NFE exactly: steps x stages for fixed steps; 2 + 6 per attempted step for " + "dopri5",
    () => {
      let calls = 0;
      const counting: VelocityField = (x, t) => {
        calls++;
        return spin(x, t);
      };
      const x0 = tf.tensor2d([[1, 0]]);
      const stages: Record<string, number> = { euler: 1, midpoint: 2, heun: 2, rk4: 4 };
      for (const method of ["euler", "midpoint", "heun", "rk4"] as OdeMethod[]) {
        calls = 0;
        const sol = solveOde(counting, x0, { method, steps: 7 });
        expect(sol.nfe).toBe(7 * stages[method]);
        expect(calls).toBe(sol.nfe);
        expect(sol.steps).toBe(7);
        expect(sol.mesh.length).toBe(8);
        disposeSolution(sol);
      }
      calls = 0;
      const sol = solveOde(counting, x0, { method: "dopri5", rtol: 1e-5, atol: 1e-5 });
      // 1 for k1 at t0, 1 for the initial step-size guess, 6 per attempted step (FSAL reuses the
      // 7th).
      expect(sol.nfe).toBe(2 + 6 * ((sol.accepted as number) + (sol.rejected as number)));
      expect(calls).toBe(sol.nfe);
      expect(sol.steps).toBe(sol.accepted);
      expect(sol.mesh[0]).toBe(0);
      expect(sol.mesh[sol.mesh.length - 1]).toBe(1);
      disposeSolution(sol);
      calls = 0;
      const given = solveOde(counting, x0, { method: "dopri5", firstStep: 0.05 });
      expect(given.nfe).toBe(1 + 6 * ((given.accepted as number) + (given.rejected as number)));
      expect(calls).toBe(given.nfe);
      disposeSolution(given);
      x0.dispose();
    },
  );

  it(
    "passes a plain number t to the field, never past t1 (u = (x1 - x)/(1 - t) style fields " +
      "check t <= 1)",
    () => {
      const seen: number[] = [];
      const strict: VelocityField = (x, t) => {
        expect(typeof t).toBe("number");
        seen.push(t as number);
        if ((t as number) < 0 || (t as number) > 1) throw new Error(`t out of range: ${t}`);
        return tf.zerosLike(x);
      };
      const x0 = tf.zeros([1, 1]) as tf.Tensor2D;
      for (const method of ODE_METHODS) {
        // Steps that do not divide 1 exactly in binary (h = 0.1) are where t + h can overshoot 1.
        disposeSolution(solveOde(strict, x0, { method, steps: 10 }));
        disposeSolution(solveOde(strict, x0, { method, steps: 10, t0: 1, t1: 0 }));
      }
      expect(Math.max(...seen)).toBe(1);
      expect(Math.min(...seen)).toBe(0);
      x0.dispose();
    },
  );
});

describe("solveOde: orders of convergence", () => {
  // Steps chosen so the errors (1e-1 .. 1e-6) stay well above float32 round-off (~1e-7 here).
  const cases: [OdeMethod, number, number[]][] = [
    ["euler", 1, [16, 32, 64, 128]],
    ["midpoint", 2, [16, 32, 64, 128]],
    ["heun", 2, [16, 32, 64, 128]],
    ["rk4", 4, [8, 16, 32, 64]],
  ];
  for (const [method, order, stepsList] of cases) {
    it(`${method} has error slope ~${order} in log-log`, () => {
      const errors = stepsList.map((s) => spinError(method, s));
      const slope = observedOrder(stepsList, errors);
      // The asymptotic regime is reached to within +-0.2 on these ranges; the neighbours' orders
      // (1, 2, 4) are all further away than that, so a wrong method would fail.
      expect(Math.abs(slope - order)).toBeLessThan(0.2);
    });
  }
});

describe("solveOde: backward integration", () => {
  it("runs 1 -> 0 and matches the exact inverse flow", () => {
    const [a1, b1] = spinExact(0, 1);
    const x1 = tf.tensor2d([[a1, b1]]);
    const sol = solveOde(spin, x1, { method: "rk4", steps: 200, t0: 1, t1: 0 });
    const [a, b] = sol.x.dataSync();
    // RK4 error at h = 1/200 on this problem is ~1e-8, float32 round-off ~1e-6 over 200 steps.
    expect(Math.hypot(a - 1, b - 0)).toBeLessThan(5e-6);
    expect(sol.mesh[0]).toBe(1);
    expect(sol.mesh[200]).toBe(0);
    tf.dispose([x1, sol.x]);
  });

  for (const method of ODE_METHODS) {
    it(`${method}: forward then backward returns to the start`, () => {
      const x0 = tf.tensor2d([
        [0.3, -1.2],
        [2, 0.5],
      ]);
      const fwd = solveOde(spin, x0, { method, steps: 400, rtol: 1e-6, atol: 1e-6 });
      const back = solveOde(spin, fwd.x, {
        method,
        steps: 400,
        t0: 1,
        t1: 0,
        rtol: 1e-6,
        atol: 1e-6,
      });
      const err = tf.tidy(() => tf.max(tf.abs(tf.sub(back.x, x0))).dataSync()[0]);
      // Euler's round trip is off by twice its global error, O(h); the others are O(h^2) or better.
      expect(err).toBeLessThan(method === "euler" ? 0.2 : 1e-3);
      // a first-order method does not round-trip exactly
      if (method === "euler") expect(err).toBeGreaterThan(1e-3);
      tf.dispose([x0, fwd.x, back.x]);
    });
  }
});

describe("solveOde: dopri5", () => {
  it("meets its tolerance, and the error shrinks with it", () => {
    const errors: number[] = [];
    for (const tol of [1e-3, 1e-4, 1e-5]) {
      const x0 = tf.tensor2d([[1, 0]]);
      const sol = solveOde(spin, x0, { method: "dopri5", rtol: tol, atol: tol });
      const [a, b] = sol.x.dataSync();
      const [ea, eb] = spinExact(0, 1);
      const err = Math.hypot(a - ea, b - eb);
      errors.push(err);
      // Each accepted step's local error is below ~tol (in the scaled norm, |x| = 1 here); a
      // rotation neither amplifies nor damps earlier errors, so the global error is at most their
      // sum.
      expect(err).toBeLessThan((sol.accepted as number) * tol);
      tf.dispose([x0, sol.x]);
    }
    expect(errors[2]).toBeLessThan(errors[0] / 10);
  });

  it("needs fewer NFE than RK4 for the same error", () => {
    const x0 = tf.tensor2d([[1, 0]]);
    const sol = solveOde(spin, x0, { method: "dopri5", rtol: 1e-5, atol: 1e-5 });
    const [a, b] = sol.x.dataSync();
    const [ea, eb] = spinExact(0, 1);
    const target = Math.hypot(a - ea, b - eb);
    // Smallest RK4 step count reaching that error (errors fall monotonically with steps here).
    let steps = 4;
    while (spinError("rk4", steps) > target) steps += 2;
    expect(sol.nfe).toBeLessThan(4 * steps);
    tf.dispose([x0, sol.x]);
  });

  it("gives up after maxSteps with a clear error, leaking nothing", () => {
    const x0 = tf.tensor2d([[1, 0]]);
    const before = tf.memory().numTensors;
    expect(() =>
      solveOde(spin, x0, { method: "dopri5", rtol: 1e-9, atol: 1e-9, maxSteps: 5 }),
    ).toThrow(/reached maxSteps = 5 at t = .* before t1 = 1; loosen rtol\/atol/);
    expect(tf.memory().numTensors).toBe(before);
    x0.dispose();
  });

  it("dopri5Step's error estimate scales like h^5 (the embedded 4th-order solution)", () => {
    const x = tf.tensor2d([[1, 0]]);
    const errs = [0.2, 0.1, 0.05].map((h) => {
      const r = dopri5Step(spin, x, 0.3, h);
      const e = tf.tidy(() => tf.norm(r.error).dataSync()[0]);
      tf.dispose(r);
      return e;
    });
    // Local error estimate ~ C h^5: halving h divides it by ~32 (asymptotically).
    expect(Math.log2(errs[1] / errs[2])).toBeGreaterThan(4.5);
    expect(Math.log2(errs[1] / errs[2])).toBeLessThan(5.5);
    x.dispose();
  });
});

describe("solveOde: saveAt", () => {
  it("fixed steps land on the save times (grid nodes and extra nodes) and record them", () => {
    const x0 = tf.tensor2d([
      [1, 0],
      [0, 1],
    ]);
    const saveAt = [0, 0.3, 0.5, 1];
    const sol = solveOde(spin, x0, { method: "rk4", steps: 40, saveAt });
    // 0.3 and 0.5 are nodes of the 40-step grid: no extra steps.
    expect(sol.steps).toBe(40);
    expect(sol.nfe).toBe(160);
    expect(sol.times).toEqual(saveAt);
    expect(sol.trajectory!.shape).toEqual([4, 2, 2]);
    const traj = sol.trajectory!.arraySync();
    saveAt.forEach((s, k) => {
      const [ea, eb] = spinExact(0, s);
      // RK4 with h = 1/40 on this problem: error ~1.3e-5 at t = 1 (5.2e-4 at 16 steps, times
      // (16/40)^4).
      expect(Math.hypot(traj[k][0][0] - ea, traj[k][0][1] - eb)).toBeLessThan(3e-5);
    });
    expect(traj[3]).toEqual(sol.x.arraySync());
    disposeSolution(sol);

    // 0.25 and 0.77 are not nodes: the mesh gains them, one extra step each, and NFE counts them.
    const odd = solveOde(spin, x0, { method: "euler", steps: 10, saveAt: [0.25, 0.77] });
    expect(odd.steps).toBe(12);
    expect(odd.nfe).toBe(12);
    expect(odd.mesh).toContain(0.25);
    expect(odd.mesh).toContain(0.77);
    const viaMesh = solveOde(spin, x0, { method: "euler", steps: 10 });
    expect(viaMesh.times).toEqual([1]);
    expect(viaMesh.trajectory).toBeUndefined();
    disposeSolution(odd);
    disposeSolution(viaMesh);
    x0.dispose();
  });

  it("repeated save times give repeated entries", () => {
    const x0 = tf.tensor2d([[1, 0]]);
    const sol = solveOde(spin, x0, { method: "heun", steps: 4, saveAt: [0.5, 0.5] });
    const traj = sol.trajectory!.arraySync();
    expect(traj[0]).toEqual(traj[1]);
    disposeSolution(sol);
    x0.dispose();
  });

  it(
    "dopri5 fills save times from its dense output, free of extra NFE and about as accurate as " +
      "its steps",
    () => {
      const x0 = tf.tensor2d([[1, 0]]);
      const saveAt = Array.from({ length: 21 }, (_, i) => i / 20);
      const plain = solveOde(spin, x0, { method: "dopri5", rtol: 1e-6, atol: 1e-6 });
      const sol = solveOde(spin, x0, { method: "dopri5", rtol: 1e-6, atol: 1e-6, saveAt });
      expect(sol.nfe).toBe(plain.nfe);
      expect(sol.mesh).toEqual(plain.mesh);
      const [ea, eb] = spinExact(0, 1);
      const [pa, pb] = plain.x.dataSync();
      const endError = Math.hypot(pa - ea, pb - eb);
      const traj = sol.trajectory!.arraySync();
      let worst = 0;
      saveAt.forEach((s, k) => {
        const [a, b] = spinExact(0, s);
        worst = Math.max(worst, Math.hypot(traj[k][0][0] - a, traj[k][0][1] - b));
      });
      // The 4th-order interpolant is one order below the steps: allow it ~10x the end-point error.
      expect(worst).toBeLessThan(10 * Math.max(endError, 1e-6));
      // Negative control: linear interpolation between mesh points would be far worse here.
      const linear = (() => {
        const s = 0.5;
        const i = plain.mesh.findIndex((m) => m > s) - 1;
        const [a0, b0] = spinExact(0, plain.mesh[i]);
        const [a1, b1] = spinExact(0, plain.mesh[i + 1]);
        const w = (s - plain.mesh[i]) / (plain.mesh[i + 1] - plain.mesh[i]);
        const [a, b] = spinExact(0, s);
        return Math.hypot(a0 + w * (a1 - a0) - a, b0 + w * (b1 - b0) - b);
      })();
      expect(linear).toBeGreaterThan(100 * worst);
      disposeSolution(plain);
      disposeSolution(sol);
      x0.dispose();
    },
  );

  it("saves backward in time too", () => {
    const [a1, b1] = spinExact(0, 1);
    const x1 = tf.tensor2d([[a1, b1]]);
    for (const method of ["rk4", "dopri5"] as OdeMethod[]) {
      const sol = solveOde(spin, x1, {
        method,
        steps: 100,
        t0: 1,
        t1: 0,
        saveAt: [1, 0.6, 0.2, 0],
        rtol: 1e-6,
        atol: 1e-6,
      });
      const traj = sol.trajectory!.arraySync();
      [1, 0.6, 0.2, 0].forEach((s, k) => {
        const [a, b] = spinExact(0, s);
        expect(Math.hypot(traj[k][0][0] - a, traj[k][0][1] - b)).toBeLessThan(1e-4);
      });
      disposeSolution(sol);
    }
    x1.dispose();
  });
});

describe("solveOde: bad input", () => {
  const x0 = (): tf.Tensor2D => tf.tensor2d([[1, 0]]);
  it("names the methods when given an unknown one", () => {
    const x = x0();
    // @ts-expect-error: a wrong name on purpose
    expect(() => solveOde(spin, x, { method: "rk45" })).toThrow(
      'Unknown ODE method "rk45"; choose one of euler, midpoint, heun, rk4, dopri5',
    );
    x.dispose();
  });
  it("rejects bad steps, times, tolerances and save times, saying what it got", () => {
    const x = x0();
    expect(() => solveOde(spin, x, { steps: 0 })).toThrow(
      "solveOde: steps must be a positive integer; got 0",
    );
    expect(() => solveOde(spin, x, { steps: 2.5 })).toThrow("got 2.5");
    expect(() => solveOde(spin, x, { t1: NaN })).toThrow(
      "solveOde: t1 must be a finite number; got NaN",
    );
    expect(() => solveOde(spin, x, { method: "dopri5", rtol: -1 })).toThrow(
      "rtol must be a finite number >= 0; got -1",
    );
    expect(() => solveOde(spin, x, { saveAt: [0.5, 1.2] })).toThrow(
      "saveAt[1] must lie between t0 = 0 and t1 = 1; got 1.2",
    );
    expect(() => solveOde(spin, x, { saveAt: [0.5, 0.2] })).toThrow(
      "saveAt must follow the direction of integration (non-decreasing); got 0.5 then 0.2",
    );
    expect(() => solveOde(spin, x, { t0: 1, t1: 0, saveAt: [0.2, 0.5] })).toThrow(
      "(non-increasing); got 0.2 then 0.5",
    );
    x.dispose();
  });
  it("rejects x0 that is not [n, d] or not finite, and a field of the wrong shape", () => {
    const flat = tf.zeros([3]);
    expect(() => solveOde(spin, flat as unknown as tf.Tensor2D)).toThrow(
      "solveOde: x0 must have shape [n, d]; got shape [3]",
    );
    const bad = tf.tensor2d([[1, NaN]]);
    expect(() => solveOde(spin, bad)).toThrow("solveOde: x0 must be finite; entry 1");
    const x = x0();
    const before = tf.memory().numTensors;
    const wrong: VelocityField = (xx) => tf.zeros([xx.shape[0], 3]) as tf.Tensor2D;
    for (const method of ODE_METHODS) {
      expect(() => solveOde(wrong, x, { method })).toThrow(
        "The velocity field must return a tensor shaped like x, [1, 2]; got shape [1, 3]",
      );
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([flat, bad, x]);
  });
});

describe("solveOde: memory", () => {
  it("leaves tf.memory().numTensors unchanged, for every method, with and without saveAt", () => {
    const x0 = tf.tensor2d([
      [1, 0],
      [0.5, 0.5],
    ]);
    for (const method of ODE_METHODS) {
      for (const saveAt of [undefined, [0, 0.33, 1]]) {
        const before = tf.memory().numTensors;
        const sol = solveOde(spin, x0, { method, steps: 20, saveAt });
        disposeSolution(sol);
        expect(tf.memory().numTensors).toBe(before);
      }
    }
    for (const step of [eulerStep, midpointStep, heunStep, rk4Step]) {
      const before = tf.memory().numTensors;
      step(spin, x0, 0.2, 0.1).dispose();
      expect(tf.memory().numTensors).toBe(before);
    }
    const before = tf.memory().numTensors;
    tf.dispose(dopri5Step(spin, x0, 0.2, 0.1));
    expect(tf.memory().numTensors).toBe(before);
    x0.dispose();
  });

  it("holds a constant number of tensors through a 1000-step solve", () => {
    const x0 = tf.tensor2d([[1, 0]]);
    const counts: number[] = [];
    const watching: VelocityField = (x, t) => {
      counts.push(tf.memory().numTensors);
      return spin(x, t);
    };
    const before = tf.memory().numTensors;
    const sol = solveOde(watching, x0, { method: "euler", steps: 1000 });
    expect(counts.length).toBe(1000);
    // From the second step on (the first one has no state of its own yet, only the caller's x0),
    // every call sees the same number of live tensors: nothing accumulates from step to step.
    const later = counts.slice(1);
    expect(Math.max(...later) - Math.min(...later)).toBe(0);
    expect(later[0] - counts[0]).toBe(1);
    disposeSolution(sol);
    expect(tf.memory().numTensors).toBe(before);
    x0.dispose();
  });

  it(
    "does not free the caller's tensors, even when the field returns its input or a kept " +
      "tensor",
    () => {
      const x0 = tf.tensor2d([[1, 2]]);
      const kept = tf.tensor2d([[0.5, 0.5]]);
      for (const method of ODE_METHODS) {
        disposeSolution(solveOde((x) => x, x0, { method, steps: 3 }));
        disposeSolution(solveOde(() => kept, x0, { method, steps: 3 }));
      }
      expect(x0.isDisposed).toBe(false);
      expect(kept.isDisposed).toBe(false);
      // u = x from x0 = (1, 2): x(1) = e x0; u = const (0.5, 0.5): x(1) = x0 + 0.5.
      const sol = solveOde(() => kept, x0, { method: "rk4", steps: 3 });
      const [p, q] = sol.x.dataSync();
      expect(p).toBeCloseTo(1.5, 6);
      expect(q).toBeCloseTo(2.5, 6);
      disposeSolution(sol);
      tf.dispose([x0, kept]);
    },
  );

  it("cleans up when the field throws part-way", () => {
    const x0 = tf.tensor2d([[1, 0]]);
    const before = tf.memory().numTensors;
    for (const method of ODE_METHODS) {
      const failing: VelocityField = (x, t) => {
        if ((t as number) > 0.5) throw new Error("boom");
        return spin(x, t);
      };
      expect(() => solveOde(failing, x0, { method, steps: 10, saveAt: [0, 0.2, 1] })).toThrow(
        "boom",
      );
      expect(tf.memory().numTensors).toBe(before);
    }
    x0.dispose();
  });
});

describe("single steps", () => {
  it("eulerStep is x + h u(x, t); rk4Step equals a one-step RK4 solve", () => {
    const x = tf.tensor2d([[1, 0]]);
    const e = eulerStep(spin, x, 0.5, 0.1);
    // w(0.5) = 3.5: u = (0, 3.5), so x + 0.1 u = (1, 0.35).
    expect(Array.from(e.dataSync()).map((v) => +v.toFixed(6))).toEqual([1, 0.35]);
    const r = rk4Step(spin, x, 0.5, 0.1);
    const s = solveOde(spin, x, { method: "rk4", steps: 1, t0: 0.5, t1: 0.6 });
    expect(Array.from(r.dataSync())).toEqual(Array.from(s.x.dataSync()));
    const m = midpointStep(spin, x, 0.5, 0.1);
    const sm = solveOde(spin, x, { method: "midpoint", steps: 1, t0: 0.5, t1: 0.6 });
    expect(Array.from(m.dataSync())).toEqual(Array.from(sm.x.dataSync()));
    const h = heunStep(spin, x, 0.5, 0.1);
    const sh = solveOde(spin, x, { method: "heun", steps: 1, t0: 0.5, t1: 0.6 });
    expect(Array.from(h.dataSync())).toEqual(Array.from(sh.x.dataSync()));
    tf.dispose([x, e, r, s.x, m, sm.x, h, sh.x]);
  });
  it(
    "Euler in one step follows the initial velocity in a straight line (overshoots a curved " +
      "path)",
    () => {
      const x = tf.tensor2d([[1, 0]]);
      const e = eulerStep(spin, x, 0, 1);
      // u(x0, 0) = (0, 2): one step lands at (1, 2), far from the true end point (cos 4, sin 4).
      expect(Array.from(e.dataSync())).toEqual([1, 2]);
      tf.dispose([x, e]);
    },
  );
});

describe("the non-uniqueness example dx/dt = sqrt(x), x0 = 0", () => {
  it(
    "x = 0, x = t^2/4 and the delayed curves all solve it; other curves do not (negative " +
      "control)",
    () => {
      const times = [0, 0.1, 0.4, 0.7, 1];
      const parabola = sqrtResidual(sqrtSolutionParabola, times, { derivative: (t) => t / 2 });
      const zero = sqrtResidual(sqrtSolutionZero, times, { derivative: () => 0 });
      for (const r of [...parabola, ...zero]) expect(Math.abs(r)).toBeLessThan(1e-15);
      // The finite-difference residual, away from the kink at t = delay: O(h^2) ~ 1e-10.
      const delayed = sqrtResidual(sqrtSolution(0, { delay: 0.3 }), [0.1, 0.5, 0.9]);
      for (const r of delayed) expect(Math.abs(r)).toBeLessThan(1e-8);
      const fromTiny = sqrtResidual(sqrtSolution(1e-6), [0, 0.5, 1]);
      for (const r of fromTiny) expect(Math.abs(r)).toBeLessThan(1e-8);
      const wrong = sqrtResidual((t) => (t * t) / 2, [0.5, 1]);
      expect(wrong[0]).toBeCloseTo(0.5 - Math.sqrt(0.125), 8);
      expect(wrong[1]).toBeCloseTo(1 - Math.sqrt(0.5), 8);
    },
  );

  it(
    "a numerical solver from x0 = 0 stays at 0; from a tiny x0 it follows the t^2/4 " + "branch",
    () => {
      const x0 = tf.tensor2d([[0], [1e-8]]);
      for (const method of ODE_METHODS) {
        const sol = solveOde(sqrtVelocity, x0, { method, steps: 200 });
        const [a, b] = sol.x.dataSync();
        expect(a).toBe(0);
        // Exact from 1e-8: (1e-4 + 1/2)^2 = 0.25010001, a distance 0.25 from the other branch, x =
        // 0. The fixed-step methods lag by 4e-4 (RK4) to 1e-2 (Euler) at h = 1/200: u = sqrt(x) is
        // steep near 0, so even RK4 drops to order ~1.5 there; all land within 0.02 of this branch.
        // dopri5 shrinks its first steps and meets its tolerance (1e-5).
        expect(Math.abs(b - sqrtSolution(1e-8)(1))).toBeLessThan(method === "dopri5" ? 1e-5 : 0.02);
        disposeSolution(sol);
      }
      x0.dispose();
    },
  );

  it("rejects starts outside the domain and delays from x0 > 0", () => {
    expect(() => sqrtSolution(-1)).toThrow("sqrtSolution: x0 must be a finite number >= 0; got -1");
    expect(() => sqrtSolution(1, { delay: 0.5 })).toThrow("the solution is unique");
    expect(() => sqrtResidual((t) => -t, [0.5])).toThrow("the candidate must stay >= 0");
  });
});
