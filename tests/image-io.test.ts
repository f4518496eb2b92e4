// Files of the image models (src/images/io.ts): half-precision conversion, round trips of the three
// kinds, a damaged or foreign file refused with the reason, failed saves that leave nothing behind,
// loading that draws nothing from the seeded stream.
import { describe, expect, it } from "vitest";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { seed, uniform } from "../src/core/random";
import { createVelocityModel } from "../src/model/mlp";
import { Classifier } from "../src/images/classifier";
import { ImageCodec } from "../src/images/codec";
import {
  fromFloat16,
  loadImageModel,
  loadImageModelOf,
  saveImageModel,
  toFloat16,
} from "../src/images/io";

const dir = () => mkdtempSync(join(tmpdir(), "fm-image-io-"));

describe("float16", () => {
  it("stores values a half can hold exactly, and rounds others to nearest (ties to even)", () => {
    const exact = Float32Array.from([
      0,
      -0,
      1,
      -2,
      0.5,
      65504,
      -65504,
      2 ** -14,
      2 ** -24,
      3 * 2 ** -24,
      1.5,
      1 + 2 ** -10,
    ]);
    expect(Array.from(fromFloat16(toFloat16(exact)))).toEqual(Array.from(exact));
    // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties go to the even mantissa (1)
    expect(fromFloat16(toFloat16(Float32Array.of(1 + 2 ** -11)))[0]).toBe(1);
    expect(fromFloat16(toFloat16(Float32Array.of(1 + 3 * 2 ** -11)))[0]).toBe(1 + 2 * 2 ** -10);
    // relative error below 2^-11 for normal numbers
    const values = Float32Array.from({ length: 2000 }, (_, i) => Math.sin(i) * 10 ** ((i % 9) - 4));
    const back = fromFloat16(toFloat16(values));
    let worst = 0;
    values.forEach((v, i) => {
      if (Math.abs(v) > 2 ** -14) worst = Math.max(worst, Math.abs(back[i] - v) / Math.abs(v));
    });
    expect(worst).toBeLessThanOrEqual(2 ** -11);
    expect(worst).toBeGreaterThan(0); // negative control: the rounding is real
    expect(toFloat16(Float32Array.of(1e-9))[0]).toBe(0);
  });

  it("refuses what a half cannot hold, naming the parameter", () => {
    expect(() => toFloat16(Float32Array.of(0, 70000))).toThrow(
      "toFloat16: parameter 1 is 70000; half precision holds finite numbers up to 65504",
    );
    expect(() => toFloat16(Float32Array.of(NaN))).toThrow(/parameter 0 is NaN/);
  });
});

describe("saveImageModel and loadImageModel", () => {
  it(
    "round-trip a velocity model (float32: bit for bit; float16: within 2^-11), with recipe " +
      "and info",
    () => {
      const d = dir();
      seed(1);
      const m = createVelocityModel({ dim: 6, classes: 3, width: 8, depth: 2, time: "fourier" });
      saveImageModel(m, join(d, "a.json"), { recipe: { steps: 10 }, info: { losses: [1, 2] } });
      const a = loadImageModelOf(join(d, "a.json"), "velocity");
      expect(Buffer.from(a.model.theta.buffer).equals(Buffer.from(m.theta.buffer))).toBe(true);
      expect(a.model.config).toEqual(m.config);
      expect(a.recipe).toEqual({ steps: 10 });
      expect(a.info).toEqual({ losses: [1, 2] });
      saveImageModel(m, join(d, "b.json"), { dtype: "float16" });
      const b = loadImageModel(join(d, "b.json"));
      expect(b.dtype).toBe("float16");
      let worst = 0;
      m.theta.forEach(
        (v, i) =>
          (worst = Math.max(
            worst,
            Math.abs(b.model instanceof ImageCodec ? 0 : b.model.theta[i] - v) /
              Math.max(Math.abs(v), 2 ** -14),
          )),
      );
      expect(worst).toBeLessThanOrEqual(2 ** -11);
      // the half file is half the size (near enough: JSON around it)
      const size = (f: string) => readFileSync(join(d, f)).length;
      expect(size("b.json")).toBeLessThan(0.6 * size("a.json"));
    },
  );

  it("round-trip a classifier and a codec", () => {
    const d = dir();
    seed(2);
    const c = new Classifier({ inputs: 5, hidden: [4, 3], classes: 2 });
    saveImageModel(c, join(d, "c.json"));
    const back = loadImageModelOf(join(d, "c.json"), "classifier");
    expect(Array.from(back.model.theta)).toEqual(Array.from(c.theta));
    const codec = new ImageCodec({
      pixels: 3,
      k: 2,
      mean: Float32Array.of(0.1, 0.2, 0.3),
      basis: Float32Array.of(1, 0, 0, 0, 1, 0),
      variances: Float32Array.of(2, 1),
      scale: 1.2,
    });
    saveImageModel(codec, join(d, "k.json"));
    const k = loadImageModelOf(join(d, "k.json"), "codec");
    expect(Array.from(k.model.basis)).toEqual(Array.from(codec.basis));
    expect(Array.from(k.model.variances)).toEqual(Array.from(codec.variances));
    expect(k.model.scale).toBe(1.2);
    expect(() => loadImageModelOf(join(d, "k.json"), "velocity")).toThrow(
      /holds a codec, not a velocity/,
    );
  });

  it("loading draws nothing from the seeded stream", () => {
    const d = dir();
    seed(3);
    saveImageModel(
      createVelocityModel({ dim: 4, classes: 2, width: 5, depth: 1 }),
      join(d, "m.json"),
    );
    seed(9);
    const expected = uniform();
    seed(9);
    loadImageModel(join(d, "m.json"));
    expect(uniform()).toBe(expected);
  });

  it("refuses a damaged, edited or foreign file, saying why", () => {
    const d = dir();
    seed(4);
    const m = createVelocityModel({ dim: 4, classes: 2, width: 5, depth: 1 });
    const file = join(d, "m.json");
    saveImageModel(m, file);
    const original = JSON.parse(readFileSync(file, "utf8"));
    const write = (edit: (j: Record<string, unknown>) => void) => {
      const j = JSON.parse(JSON.stringify(original));
      edit(j);
      writeFileSync(file, JSON.stringify(j));
    };
    // one parameter changed (a valid base64 string of the right length): the checksum catches it
    write((j) => {
      const bytes = Buffer.from(j.theta as string, "base64");
      bytes[5] ^= 1;
      j.theta = bytes.toString("base64");
    });
    expect(() => loadImageModel(file)).toThrow(
      /is damaged: the parameters' SHA-256 is [0-9a-f]{64}, the file says/,
    );
    write((j) => (j.theta = (j.theta as string).slice(0, 40)));
    expect(() => loadImageModel(file)).toThrow(
      /stores 30 bytes of parameters; \d+ float32 numbers need \d+/,
    );
    write((j) => (j.numParameters = 3));
    expect(() => loadImageModel(file)).toThrow(/says 3 parameters; its architecture has \d+/);
    write((j) => (j.version = 2));
    expect(() => loadImageModel(file)).toThrow("has version 2; this library reads version 1");
    write((j) => (j.format = "something-else"));
    expect(() => loadImageModel(file)).toThrow(/is not an image model of this course/);
    write((j) => (j.kind = "unet"));
    expect(() => loadImageModel(file)).toThrow('has an unknown kind "unet"');
    write((j) => (j.dtype = "int8"));
    expect(() => loadImageModel(file)).toThrow("has an unknown dtype int8");
    write((j) => delete j.sha256);
    expect(() => loadImageModel(file)).toThrow("has no parameters or no checksum");
    writeFileSync(file, "{ half a file");
    expect(() => loadImageModel(file)).toThrow(/is not valid JSON/);
    expect(() => loadImageModel(join(d, "none.json"))).toThrow(/no file .*none\.json/);
  });

  it(
    "refuses to save a non-finite parameter, naming its layer and index, and leaves the old " +
      "file intact",
    () => {
      const d = dir();
      seed(5);
      const m = createVelocityModel({ dim: 4, classes: 2, width: 5, depth: 1 });
      const file = join(d, "m.json");
      saveImageModel(m, file);
      const before = readFileSync(file, "utf8");
      const { outputs, offset, inputs } = m.layers[1];
      m.theta[offset + inputs * outputs + 2] = NaN;
      expect(() => saveImageModel(m, file)).toThrow(
        `parameter ${offset + inputs * outputs + 2} ` +
          `(layer 1, b[2]) is NaN; a saved model must be ` +
          `finite`,
      );
      m.theta[offset + inputs * outputs + 2] = 0;
      m.theta[7] = Infinity;
      expect(() => saveImageModel(m, file)).toThrow(`parameter 7 (layer 0, W[1][2]) is Infinity`);
      expect(readFileSync(file, "utf8")).toBe(before);
      expect(() => saveImageModel(m, file, { dtype: "int8" as never })).toThrow(
        /dtype must be "float32" or "float16"/,
      );
      expect(() => saveImageModel({} as never, file)).toThrow(
        /model must be a VelocityModel, a Classifier or an ImageCodec/,
      );
    },
  );

  it("a save that cannot write says so and leaves no temporary file", () => {
    const d = dir();
    seed(6);
    const m = createVelocityModel({ dim: 4, classes: 2, width: 5, depth: 1 });
    const target = join(d, "is-a-folder");
    mkdirSync(target);
    expect(() => saveImageModel(m, target)).toThrow(
      /could not write .*is-a-folder .*nothing was changed/,
    );
    writeFileSync(join(d, "a-file"), "x");
    expect(() => saveImageModel(m, join(d, "a-file", "m.json"))).toThrow(
      /could not write .*nothing was changed/,
    );
    expect(readdirSync(d).sort()).toEqual(["a-file", "is-a-folder"]);
    expect(readdirSync(target)).toEqual([]);
    // a missing folder is created
    saveImageModel(m, join(d, "new", "m.json"));
    expect(existsSync(join(d, "new", "m.json"))).toBe(true);
  });
});
