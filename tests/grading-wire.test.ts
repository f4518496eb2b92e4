// The autograder's wire format and the clean checker's validation (scripts/grading/codec.cjs,
// clean.cjs), without kernels: what a student's kernel sends is rebuilt as data only (never run),
// within limits, and checked against the type the exercise declares; the inputs a function is
// compared on come from the grader's secret seed.
import { describe, expect, it } from "vitest";
import { createRequire } from "module";
import { join } from "path";
import * as tf from "@tensorflow/tfjs";

const require = createRequire(__filename);
const GRADING = join(__dirname, "..", "scripts", "grading");
const codec = require(join(GRADING, "codec.cjs"));
const clean = require(join(GRADING, "clean.cjs"));

const plain = { ref: () => ({ id: 0, kind: "function", name: "" }) };
const roundTrip = (v: unknown) =>
  codec.decode(JSON.parse(JSON.stringify(codec.encode(v, plain))), {});

describe("the wire format", () => {
  it("carries numbers, strings, arrays, plain objects, non-finite numbers, undefined", () => {
    const value = { a: [1, 2.5, -3], b: "text", c: true, d: null, e: { f: [[0, 1]] } };
    expect(roundTrip(value)).toEqual(value);
    const odd = roundTrip([NaN, Infinity, -Infinity, undefined]);
    expect(Number.isNaN(odd[0])).toBe(true);
    expect(odd.slice(1)).toEqual([Infinity, -Infinity, undefined]);
    expect(roundTrip(new Float32Array([1.5, -2]))).toEqual(new Float32Array([1.5, -2]));
  });

  it("never makes a key a prototype, never runs anything, refuses the unknown", () => {
    const polluted = codec.decode(
      {
        $: "obj",
        e: [
          ["__proto__", { $: "obj", e: [["polluted", true]] }],
          ["constructor", 1],
        ],
      },
      {},
    );
    expect(Object.getPrototypeOf(polluted)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.keys(polluted)).toEqual(["__proto__", "constructor"]);
    expect(() => codec.decode({ $: "code", source: "process.exit(1)" }, {})).toThrow(/unknown tag/);
    expect(() => codec.decode({ $: "ref", id: 0, kind: "function" }, {})).toThrow(/only data/);
    expect(() =>
      codec.decode({ $: "tensor", dtype: "float32", shape: [2], b64: "AAAA" }, {}),
    ).toThrow(/where none can be read/);
    // not JSON-representable anyway: Infinity outside its tag
    expect(() => codec.decode(1e400, {})).toThrow();
    expect(() => codec.decode({ $: "num", v: "1" }, {})).toThrow(/unknown number/);
  });

  it("has limits: depth, sizes, and a tensor's data must fit its shape", () => {
    let deep: unknown = 0;
    for (let i = 0; i < 40; i++) deep = [deep];
    expect(() => codec.decode(deep, {})).toThrow(/deeper than/);
    expect(() => codec.encode(deep, plain)).toThrow(/deeper than/);
    const tensorHooks = { tensor: (spec: { data: Float32Array }) => spec.data };
    expect(() =>
      codec.decode(
        {
          $: "tensor",
          dtype: "float32",
          shape: [3],
          b64: Buffer.from(new Float32Array([1, 2]).buffer).toString("base64"),
        },
        tensorHooks,
      ),
    ).toThrow(/holds 2 numbers; its shape needs 3/);
    expect(() =>
      codec.decode({ $: "tensor", dtype: "string", shape: [1], b64: "" }, tensorHooks),
    ).toThrow(/dtype/);
    expect(() =>
      codec.decode({ $: "tensor", dtype: "float32", shape: [1e9, 1e9], b64: "" }, tensorHooks),
    ).toThrow(/size limit|malformed/);
    // disposed tensors carry no data, but are rebuilt with their shape: they count too
    const ghost = { $: "tensor", dtype: "float32", shape: [4000, 1000], disposed: true };
    const ghosts = Array.from({ length: 6 }, () => ghost);
    expect(() => codec.decode(ghosts, tensorHooks)).toThrow(/more than 20000000 numbers/);
    expect(() => codec.decode(ghosts.slice(0, 4), tensorHooks)).not.toThrow();
  });
});

describe("tensors and models on the wire", () => {
  it("a tensor comes back with its numbers; a disposed one comes back disposed, same shape", () => {
    const { libraryHooks } = require(join(GRADING, "hooks.cjs"));
    const hooks = libraryHooks({}, { tf, VelocityModel: class {} });
    const wire = (v: unknown) =>
      JSON.parse(JSON.stringify(codec.encode(v, { tensor: hooks.tensor.encode })));
    const t = tf.tensor2d([
      [1, 2],
      [3, 4],
    ]);
    const back = codec.decode(wire(t), { tensor: hooks.tensor.decode });
    expect([back.shape, Array.from(back.dataSync())]).toEqual([
      [2, 2],
      [1, 2, 3, 4],
    ]);
    t.dispose();
    back.dispose();
    const gone = tf.zeros([4000, 2]);
    gone.dispose();
    const disposed = codec.decode(wire(gone), { tensor: hooks.tensor.decode });
    expect([disposed.shape, disposed.isDisposed]).toEqual([[4000, 2], true]);
  });
});

describe("the clean checker's type check", () => {
  it("says what is wrong with a value, and accepts what fits (negative controls alongside)", () => {
    clean.setup({ tf, VelocityModel: class {} });
    const numbers = { t: "array", of: { t: "number" } };
    expect(clean.misfit([1, 2], numbers, "x")).toBeNull();
    expect(clean.misfit("12", numbers, "x")).toBe("x should be an array; got a string");
    expect(clean.misfit([1, "2"], numbers, "x")).toBe("x[1] should be a number; got a string");
    const pair = { t: "tuple", of: [{ t: "number" }, { t: "number" }] };
    expect(clean.misfit([1, 2, 3], pair, "p")).toBe("p should have 2 entries; got 3");
    const maybe = { t: "union", of: [{ t: "number" }, { t: "null" }], text: "number | null" };
    expect(clean.misfit(null, maybe, "n")).toBeNull();
    expect(clean.misfit("x", maybe, "n")).toBe("n should be number | null; got a string");
    const t = tf.zeros([2, 3]);
    expect(clean.misfit(t, { t: "tensor", rank: 2 }, "u")).toBeNull();
    expect(clean.misfit(t, { t: "tensor", rank: 1 }, "u")).toBe(
      "u should be a tensor of rank 1; got shape [2,3]",
    );
    t.dispose();
    expect(
      clean.misfit(() => 1, { t: "function", params: [], returns: { t: "number" } }, "f"),
    ).toBeNull();
    expect(clean.misfit(1, { t: "function", params: [], returns: { t: "number" } }, "f")).toBe(
      "f should be a function; got a number",
    );
  });

  it("draws the same inputs from the same secret seed, other inputs from another", () => {
    const draw = (seed: string) => {
      const r = clean.rng(seed);
      return [r(), r(), r()];
    };
    expect(draw("secret:alice")).toEqual(draw("secret:alice"));
    expect(draw("secret:alice")).not.toEqual(draw("secret:bob"));
    for (const v of draw("x")) expect(v >= 0 && v < 1).toBe(true);
  });
});
