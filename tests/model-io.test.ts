// Issue 14, section 2: model files are checked before anything is allocated, carry a checksum,
// refuse NaN at save, and a failed save leaves nothing behind.
import { afterEach, describe, expect, it, vi } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { seed, uniform } from "../src/core/random";
import { createVelocityModel, VelocityModel } from "../src/model/mlp";
import { loadModel, modelChecksum, modelFromJson, modelToJson, saveModel } from "../src/model/io";
import type { SavedModel } from "../src/model/io";

// A write that fails the way a full disk does: part of the temporary file written, then ENOSPC.
const failure = vi.hoisted(() => ({ code: "" }));
vi.mock("fs", async (importOriginal) => {
  const actual = await importOriginal<typeof import("fs")>();
  return {
    ...actual,
    writeFileSync: (...args: Parameters<typeof actual.writeFileSync>) => {
      if (failure.code && String(args[0]).endsWith(".tmp")) {
        actual.writeFileSync(args[0], "{ half a fi");
        const err = new Error(`${failure.code}: simulated, write`) as NodeJS.ErrnoException;
        err.code = failure.code;
        throw err;
      }
      return actual.writeFileSync(...args);
    },
  };
});

const dir = mkdtempSync(join(tmpdir(), "fm-model-io-"));
const FIXTURE_V1 = join(__dirname, "fixtures", "model-v1.json");
afterEach(() => {
  failure.code = "";
});

const small = (): VelocityModel => {
  seed(7);
  return createVelocityModel({ width: 4, depth: 1 });
};
const write = (name: string, value: unknown): string => {
  const file = join(dir, name);
  writeFileSync(file, typeof value === "string" ? value : JSON.stringify(value));
  return file;
};

describe("model files (issue 14)", () => {
  it(
    "a version 1 file (no checksum) still loads, bit for bit, and says it was not " + "verified",
    () => {
      const { model, info, checksum } = loadModel(FIXTURE_V1);
      expect(checksum).toBe("none (version 1 file)");
      expect(info.seed).toBe(0);
      // The fixture is seed(0)'s width-4 depth-1 model, saved by the version 1 code.
      seed(0);
      const fresh = createVelocityModel({ width: 4, depth: 1 });
      expect(Array.from(model.theta)).toEqual(Array.from(fresh.theta));
      // Saving it again writes version 2 with a verified checksum.
      const file = join(dir, "upgraded.json");
      saveModel(model, file, info);
      const again = loadModel(file);
      expect(again.checksum).toBe("sha256 verified");
      expect(JSON.parse(readFileSync(file, "utf8")).version).toBe(2);
      [model, fresh, again.model].forEach((m) => m.dispose());
    },
  );

  it(
    "declared sizes are checked against the data first: dim 1e9 in a small file fails at " + "once",
    () => {
      const saved = modelToJson(small());
      const huge = { ...saved, config: { ...saved.config, dim: 1e9, width: 1, depth: 1 } };
      const file = write("huge.json", huge);
      const heapBefore = process.memoryUsage().heapUsed;
      const start = performance.now();
      expect(() => loadModel(file)).toThrow(
        new RegExp(
          String.raw`theta holds 26 numbers; the architecture \(dim ` +
            String.raw`1000000000, width 1, depth 1\) needs 3000000002`,
        ),
      );
      expect(performance.now() - start).toBeLessThan(5000); // a hang guard: it used to take 16 s
      expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 2 ** 20);
      // numParameters that disagrees with the architecture, and a theta that is not base64.
      expect(() => modelFromJson({ ...saved, numParameters: 27 })).toThrow(
        /numParameters is 27; the architecture has 26/,
      );
      expect(() =>
        modelFromJson({ ...saved, theta: `${saved.theta.slice(0, 10)}!${saved.theta.slice(11)}` }),
      ).toThrow(/theta is not base64 \(character 10 is "!"\)/);
      expect(() => modelFromJson({ ...saved, config: { ...saved.config, depth: 0 } })).toThrow(
        /architecture \(config\) is invalid: depth must be/,
      );
    },
  );

  it(
    "one changed base64 character, or a changed architecture, is reported as damage " + "(SHA-256)",
    () => {
      const model = small();
      const file = join(dir, "good.json");
      saveModel(model, file, { note: "x" });
      const saved = JSON.parse(readFileSync(file, "utf8")) as SavedModel;
      expect(saved.checksum).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(saved.checksum).toBe(modelChecksum(saved));
      // Negative control: the untouched file loads and is verified.
      expect(loadModel(file).checksum).toBe("sha256 verified");
      const i = 20;
      const flipped = saved.theta[i] === "A" ? "B" : "A";
      const damaged = {
        ...saved,
        theta: saved.theta.slice(0, i) + flipped + saved.theta.slice(i + 1),
      };
      expect(() => loadModel(write("flip.json", damaged))).toThrow(
        /is damaged: its checksum does not match/,
      );
      const relu = { ...saved, config: { ...saved.config, activation: "relu" } };
      expect(() => loadModel(write("relu.json", relu))).toThrow(/is damaged/);
      const { checksum: _dropped, ...noChecksum } = saved;
      void _dropped;
      expect(() => loadModel(write("nosum.json", noChecksum))).toThrow(
        /version 2 file must carry a checksum/,
      );
      // Key order and the free-form notes are not part of the checksum.
      const reordered = {
        info: { other: 1 },
        theta: saved.theta,
        checksum: saved.checksum,
        numParameters: 26,
        version: 2,
        format: saved.format,
        config: saved.config,
      };
      expect(loadModel(write("reordered.json", reordered)).checksum).toBe("sha256 verified");
      model.dispose();
    },
  );

  it("the version must be a known positive integer", () => {
    const saved = modelToJson(small());
    for (const version of [-7, 0, 1.5, 3, "2", null, undefined]) {
      expect(() => modelFromJson({ ...saved, version }), String(version)).toThrow(
        new RegExp(
          (
            `format version ${JSON.stringify(version) ?? "undefined"}; ` +
            `this library reads versions 1 and 2`
          ).replace(/[.[\]]/g, "\\$&"),
        ),
      );
    }
  });

  it(
    "NaN or Infinity is refused at save, naming the parameter by layer and index; nothing is " +
      "written",
    () => {
      const model = small();
      const file = join(dir, "nan.json");
      saveModel(model, file);
      const before = readFileSync(file, "utf8");
      const bad = new VelocityModel(model.config, model.theta);
      bad.theta[3] = NaN; // layer 0 has 3 inputs (x, y, t) and 4 outputs: W[0][3]
      expect(() => saveModel(bad, file)).toThrow(/parameter 3 \(layer 0, W\[0\]\[3\]\) is NaN/);
      bad.theta[3] = 0;
      bad.theta[25] = -Infinity; // the last of 26: the output layer's b[1]
      expect(() => saveModel(bad, file)).toThrow(/parameter 25 \(layer 1, b\[1\]\) is -Infinity/);
      expect(readFileSync(file, "utf8")).toBe(before);
      expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
      // A version 1 file holding NaN (written before this check) is refused at load.
      const v1 = JSON.parse(readFileSync(FIXTURE_V1, "utf8"));
      const bytes = Buffer.from(v1.theta, "base64");
      bytes.writeFloatLE(NaN, 4 * 5);
      expect(() =>
        loadModel(write("v1nan.json", { ...v1, theta: bytes.toString("base64") })),
      ).toThrow(/parameter 5 is NaN/);
      [model, bad].forEach((m) => m.dispose());
    },
  );

  it(
    "a full disk (ENOSPC, simulated) leaves no tmp file and the previous file intact, and says " +
      "so",
    () => {
      const model = small();
      const file = join(dir, "full", "model.json");
      saveModel(model, file, { version: "old" });
      const before = readFileSync(file, "utf8");
      failure.code = "ENOSPC";
      expect(() => saveModel(model, file, { version: "new" })).toThrow(
        new RegExp(
          String.raw`saveModel: could not write .*model\.json: no space left on the device` +
            String.raw` \(the disk is full\) \(ENOSPC\); any previous file there is unchanged`,
        ),
      );
      expect(readFileSync(file, "utf8")).toBe(before);
      expect(readdirSync(join(dir, "full"))).toEqual(["model.json"]);
      failure.code = "EACCES";
      expect(() => saveModel(model, join(dir, "full", "other.json"))).toThrow(
        /permission denied \(EACCES\)/,
      );
      expect(readdirSync(join(dir, "full"))).toEqual(["model.json"]);
      model.dispose();
    },
  );

  it(
    "a directory's path (EISDIR) or a file in the way (ENOTDIR) is named, and nothing is left " +
      "beside it",
    () => {
      const model = small();
      const folder = join(dir, "afolder");
      mkdirSync(folder, { recursive: true });
      expect(() => saveModel(model, folder)).toThrow(
        new RegExp(
          String.raw`saveModel: .*afolder is a directory; give a ` +
            String.raw`file name inside it, e.g\. .*afolder/model\.json`,
        ),
      );
      expect(readdirSync(dir).filter((f) => f.startsWith("afolder"))).toEqual(["afolder"]);
      const plain = write("plain.txt", "x");
      expect(() => saveModel(model, join(plain, "model.json"))).toThrow(
        /a part of the path .*plain\.txt\/model\.json is a file, not a folder \(E(NOTDIR|EXIST)\)/,
      );
      expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
      expect(() => loadModel(folder)).toThrow(
        /loadModel: .*afolder is a directory, not a model file/,
      );
      expect(() => loadModel("")).toThrow(/loadModel: give a file name/);
      model.dispose();
    },
  );

  it("loading draws nothing from the seeded stream (building a model does: the control)", () => {
    seed(0);
    const plain = uniform();
    seed(0);
    const loaded = loadModel(FIXTURE_V1).model;
    expect(uniform()).toBe(plain);
    seed(0);
    const built = createVelocityModel({ width: 4, depth: 1 });
    expect(uniform()).not.toBe(plain);
    [loaded, built].forEach((m) => m.dispose());
    expect(tf.memory().numTensors).toBeGreaterThanOrEqual(0);
  });
});
