import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { backendInfo, initBackend } from "../src/core/backend";
import { normal, permutation, randn, seed, uniform } from "../src/core/random";
import { assert2D, timeColumn } from "../src/core/checks";

describe("backend", () => {
  it("picks an installed backend and reports it", async () => {
    const info = await initBackend({ quiet: true });
    expect(["node-gpu", "node", "wasm", "cpu"]).toContain(info.name);
    expect(tf.getBackend()).toBe(info.tfName);
    expect(backendInfo()).toBe(info);
  });
  it("rejects an unknown backend name", async () => {
    // @ts-expect-error: testing a bad name on purpose
    await expect(initBackend({ backend: "tpu" })).rejects.toThrow(/Unknown backend "tpu"/);
  });
});

describe("seeding", () => {
  it("repeats every draw after the same seed", () => {
    seed(42);
    const a = [uniform(), normal(), ...permutation(5)];
    const ta = randn([3]).arraySync();
    seed(42);
    const b = [uniform(), normal(), ...permutation(5)];
    const tb = randn([3]).arraySync();
    expect(b).toEqual(a);
    expect(tb).toEqual(ta);
  });
  it("gives different draws for different seeds (negative control)", () => {
    seed(1);
    const a = uniform();
    seed(2);
    expect(uniform()).not.toBe(a);
  });
});

describe("checks", () => {
  it("quotes the shape it got", () => {
    const x = tf.zeros([3]);
    expect(() => assert2D(x, "x")).toThrow("x must have shape [n, d]; got shape [3]");
    x.dispose();
  });
  it("rejects t outside [0, 1]", () => {
    expect(() => timeColumn(1.2, 4)).toThrow("t must lie in [0, 1]; got 1.2");
    expect(() => timeColumn(NaN, 4)).toThrow("t must be a finite number; got NaN");
  });
});
