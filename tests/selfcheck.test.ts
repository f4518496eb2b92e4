import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { selfChecks } from "../src/notebook/selfcheck";
import { maxAbsDiff, median, rowsOf, valuesOf } from "../src/core/arrays";

describe("selfChecks", () => {
  it("records claims that hold and controls that are rejected, and reports them", () => {
    const checks = selfChecks();
    const { check, mustFail } = checks; // bound: usable destructured, as notebooks do
    check("one plus one is two", 1 + 1 === 2, "2");
    mustFail("one plus one is three", 1 + 1 === 3, "2 != 3");
    expect(checks.claims()).toBe(1);
    expect(checks.controls()).toBe(1);
    expect(checks.entries.map((e) => e.kind)).toEqual(["claim", "negative control"]);
    expect(checks.report()).toContain("1 claims checked, 1 negative controls rejected");
  });
  it(
    "throws on a false claim and on a control that passes, naming it (the checks can " + "fail)",
    () => {
      const { check, mustFail, entries } = selfChecks();
      expect(() => check("the residual is small", false, "residual 0.8")).toThrow(
        "the residual is small: residual 0.8",
      );
      expect(() => mustFail("a wrong field generates p_t", true, "residual 1e-6")).toThrow(
        'negative control "a wrong field generates p_t" should have failed its test: residual 1e-6',
      );
      expect(entries).toEqual([]);
    },
  );
});

describe("array helpers", () => {
  it("read a tensor and free it", () => {
    const before = tf.memory().numTensors;
    expect(
      rowsOf(
        tf.tensor2d([
          [1, 2],
          [3, 4],
        ]),
      ),
    ).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(valuesOf(tf.tensor1d([5, 6]))).toEqual([5, 6]);
    expect(tf.memory().numTensors).toBe(before);
  });
  it("maxAbsDiff and median give exact answers and reject mismatched input", () => {
    expect(
      maxAbsDiff(
        [
          [1, 2],
          [3, 4],
        ],
        [
          [1, 2.5],
          [2, 4],
        ],
      ),
    ).toBe(1);
    expect(maxAbsDiff([[1]], [[1]])).toBe(0);
    expect(() => maxAbsDiff([[1]], [[1], [2]])).toThrow("equally many rows");
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow("empty");
  });
});
