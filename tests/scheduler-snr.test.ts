// Signal-to-noise ratio of a scheduler and its inverse (used to compare schedules at equal noise
// level in the unification notebook): snr(t) = alpha_t / sigma_t, timeAtSnr(snr(t)) = t.
import { describe, expect, it } from "vitest";
import {
  condOTScheduler,
  customScheduler,
  veScheduler,
  vpScheduler,
  type Scheduler,
} from "../src/path/scheduler";

const presets: Scheduler[] = [
  condOTScheduler(),
  condOTScheduler({ sigmaMin: 0.1 }),
  vpScheduler(),
  vpScheduler({ schedule: "linear", betaMin: 0, betaMax: 5 }),
  vpScheduler({ schedule: "cosine" }),
  veScheduler(),
];
const label = (s: Scheduler): string => `${s.name} ${JSON.stringify(s.params)}`;
const times = Array.from({ length: 41 }, (_, i) => i / 40).concat([1e-6, 0.999, 0.9999]);

/** Largest |timeAtSnr(snr(t)) - t| over the test times (float64 throughout). */
function roundTripError(s: Scheduler): number {
  let worst = 0;
  for (const t of times) {
    const r = s.snr(t);
    worst = Math.max(worst, Math.abs(s.timeAtSnr(r) - t));
  }
  return worst;
}

describe("scheduler snr and its inverse", () => {
  it("snr is alpha / sigma, non-decreasing in t, Infinity where sigma = 0", () => {
    for (const s of presets) {
      let previous = -1;
      for (const t of times.slice().sort((a, b) => a - b)) {
        const v = s.at(t);
        const r = s.snr(t);
        if (v.sigma === 0) expect(r, label(s)).toBe(Infinity);
        else expect(r, label(s)).toBeCloseTo(v.alpha / v.sigma, 12);
        expect(r, `${label(s)} at t = ${t}`).toBeGreaterThanOrEqual(previous);
        previous = r;
      }
    }
    expect(condOTScheduler().snr(0.25)).toBeCloseTo(1 / 3, 15);
    expect(condOTScheduler({ sigmaMin: 0.1 }).snr(1)).toBeCloseTo(10, 12);
  });

  it(
    "timeAtSnr inverts snr for every preset (closed forms; float64, |error| < 1e-9 including t " +
      "near 0 and 1)",
    () => {
      // The inverses are closed forms evaluated in float64; the worst conditioning is the cosine
      // schedule near t = 1 (asin near its end point, derivative ~ 80), so 1e-9 leaves a wide
      // margin.
      for (const s of presets) expect(roundTripError(s), label(s)).toBeLessThan(1e-9);
    },
  );

  it(
    "a custom scheduler without an inverse falls back to bisection and agrees with the closed " +
      "form",
    () => {
      const vp = vpScheduler();
      const bisected = customScheduler({ name: "vp-by-bisection", at: (t) => vp.at(t) });
      expect(roundTripError(bisected)).toBeLessThan(1e-9);
      for (const r of [0.01, 0.5, 1, 7, 300]) {
        expect(bisected.timeAtSnr(r)).toBeCloseTo(vp.timeAtSnr(r), 10);
      }
    },
  );

  it("negative control: a wrong inverse (betaMin and betaMax swapped) fails the round trip", () => {
    const vp = vpScheduler(); // betaMin 0.1, betaMax 20
    const wrong = customScheduler({
      name: "vp-wrong-inverse",
      at: (t) => vp.at(t),
      // Solve betaMax s + (betaMin - betaMax) s^2 / 2 = B: the integral of the reversed beta.
      timeAtSnr: (r) => {
        const B = Math.log1p(1 / (r * r));
        const a = 0.5 * (0.1 - 20);
        const s = (-20 + Math.sqrt(400 + 4 * a * B)) / (2 * a);
        return 1 - s;
      },
    });
    expect(roundTripError(vp)).toBeLessThan(1e-9);
    expect(roundTripError(wrong)).toBeGreaterThan(1e-2); // measured: about 0.41
  });

  it(
    "equal snr means equal alpha / sigma across schedules (what the unification notebook " +
      "compares)",
    () => {
      const ot = condOTScheduler();
      const vp = vpScheduler({ schedule: "cosine" });
      for (const t of [0.1, 0.5, 0.9]) {
        const tVp = vp.timeAtSnr(ot.snr(t));
        const a = ot.at(t);
        const b = vp.at(tVp);
        expect(b.alpha / b.sigma).toBeCloseTo(a.alpha / a.sigma, 9);
      }
    },
  );

  it("out-of-range snr values are clear errors", () => {
    expect(() => vpScheduler().timeAtSnr(0)).toThrow(
      /snr must lie in \[snr\(0\), snr\(1\)\] = \[0\.006/,
    );
    expect(() => condOTScheduler({ sigmaMin: 0.1 }).timeAtSnr(11)).toThrow(
      /snr must lie in .*got 11/,
    );
    expect(() => veScheduler().timeAtSnr(-1)).toThrow(/timeAtSnr needs a number >= 0; got -1/);
    expect(() => condOTScheduler().timeAtSnr(Number.NaN)).toThrow(
      /timeAtSnr needs a number >= 0; got NaN/,
    );
    expect(() => condOTScheduler().snr(1.5)).toThrow(/t must lie in \[0, 1\]; got 1.5/);
    expect(condOTScheduler().timeAtSnr(Infinity)).toBe(1);
    expect(condOTScheduler().timeAtSnr(0)).toBe(0);
  });
});
