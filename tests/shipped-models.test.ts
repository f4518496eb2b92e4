import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { describe, expect, it } from "vitest";
import { backendInfo, initBackend } from "../src/core/backend";
import { setThreads } from "../src/core/threads";
import {
  loadShippedModel,
  MODEL_RECIPES,
  modelRecipe,
  shippedModelFile,
  trainFromRecipe,
} from "../src/model/shipped";

const differing = (a: Float32Array, b: Float32Array): number =>
  a.reduce((k, v, i) => k + (Object.is(v, b[i]) ? 0 : 1), 0);

describe("the shipped models (assets/models/, npm run models)", () => {
  for (const name of Object.keys(MODEL_RECIPES)) {
    it(`${name}: retraining from its recipe reproduces the parameters bit for bit`, async () => {
      const recipe = modelRecipe(name);
      const shipped = loadShippedModel(name);
      // The file says how it was made, and that is the library's recipe.
      expect(shipped.info.recipe).toEqual(recipe);
      const original = backendInfo()!.name;
      await initBackend({ backend: recipe.backend, quiet: true });
      try {
        const { model } = await trainFromRecipe(recipe);
        expect(differing(model.theta, shipped.model.theta)).toBe(0);
        // Negative control: one setting changed (the batch in 1 part instead of 2) changes the
        // numbers from the first steps on, and the same comparison sees it.
        const first = await trainFromRecipe(recipe, { steps: 50 });
        const oneShard = await trainFromRecipe(
          { ...recipe, training: { ...recipe.training, shards: 1 } },
          { steps: 50 },
        );
        expect(oneShard.run.losses).not.toEqual(first.run.losses);
        expect(differing(oneShard.model.theta, first.model.theta)).toBeGreaterThan(0);
        [model, first.model, oneShard.model, shipped.model].forEach((m) => m.dispose());
      } finally {
        await initBackend({ backend: original, quiet: true });
      }
    }, 600_000); // a hang guard: 3000 steps take a few seconds on a quiet machine
  }

  it("say what is wrong: unknown name, missing file, another recipe, another backend", async () => {
    expect(() => modelRecipe("moons")).toThrow(
      `no shipped model "moons"; the course ships ${Object.keys(MODEL_RECIPES).join(", ")}`,
    );
    const dir = mkdtempSync(join(tmpdir(), "fm-models-"));
    expect(() => loadShippedModel("twoMoons-06", dir)).toThrow(
      "is missing; rebuild it with `npm run models`",
    );
    const file = shippedModelFile("twoMoons-06", dir);
    copyFileSync(shippedModelFile("twoMoons-06"), file);
    expect(loadShippedModel("twoMoons-06", dir).model.numParameters).toBe(8706);
    const saved = JSON.parse(readFileSync(file, "utf8"));
    saved.info.recipe.training.steps = 2999;
    writeFileSync(file, JSON.stringify(saved));
    expect(() => loadShippedModel("twoMoons-06", dir)).toThrow(
      "was made from another recipe than the library's",
    );
    const original = backendInfo()!.name;
    setThreads(1);
    try {
      await initBackend({ backend: "cpu", quiet: true });
      await expect(trainFromRecipe(modelRecipe("twoMoons-06"), { steps: 1 })).rejects.toThrow(
        "the recipe of twoMoons-06 is for the wasm backend; the active one is cpu",
      );
    } finally {
      await initBackend({ backend: original, quiet: true });
      setThreads();
    }
  });
});

/** The code cells of every course notebook, joined, by file name. */
function notebookCode(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const file of readdirSync("notebooks").filter((f) => f.endsWith(".ipynb"))) {
    const nb = JSON.parse(readFileSync(join("notebooks", file), "utf8")) as {
      cells: { cell_type: string; source: string[] }[];
    };
    out[file] = nb.cells
      .filter((c) => c.cell_type === "code")
      .map((c) => c.source.join(""))
      .join("\n");
  }
  return out;
}

/** Every "reader uses file, which writer writes" among notebooks' code: a file one notebook saves
 * (saveModel, saveImageModel, writeFileSync, writeFile) under a literal name, another mentions. */
function crossReads(code: Record<string, string>): { found: string[]; written: number } {
  const writes = /(?:save(?:Image)?Model\([^,]+,|writeFile(?:Sync)?\()\s*["'`]([^"'`$]+)["'`]/g;
  const found: string[] = [];
  let written = 0;
  for (const [writer, source] of Object.entries(code)) {
    for (const match of source.matchAll(writes)) {
      written++;
      for (const [reader, other] of Object.entries(code)) {
        if (reader !== writer && other.includes(match[1]))
          found.push(`${reader} uses ${match[1]}, which ${writer} writes`);
      }
    }
  }
  return { found, written };
}

describe("notebooks that depend on each other's runs (issue 13, item 3)", () => {
  it("no notebook reads a file another one writes (later notebooks load shipped models)", () => {
    expect(crossReads(notebookCode()).found).toEqual([]);
  });

  it("the scan finds such a dependency where there is one (negative control)", () => {
    const { found, written } = crossReads({
      "06.ipynb": 'saveModel(model, "models/mine.json");\nwriteFileSync(`losses.csv`, text);',
      "07.ipynb": 'const m = loadModel("models/mine.json");',
      "08.ipynb": 'saveImageModel(m, "digits.json"); readFileSync("losses.csv");',
    });
    expect(written).toBe(3);
    expect(found).toEqual([
      "07.ipynb uses models/mine.json, which 06.ipynb writes",
      "08.ipynb uses losses.csv, which 06.ipynb writes",
    ]);
  });
});
