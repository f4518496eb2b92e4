// The kernel's compile cache (scripts/kernel.js, section 10). tslab type-checks and compiles every
// file a cell imports at each kernel start (the course library: about 6 s of every notebook's first
// cell); the kernel keeps what tslab emitted and uses it again while nothing it depends on has
// changed. These tests show that what a cell runs is byte for byte what tslab alone makes, that any
// edit is compiled again (the stale entry is still there: the control), that errors are never
// hidden, and that a damaged or unwritable cache costs only time.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "child_process";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { kernelFolder, ROOT, session } from "./kernel-session";

let base = "";
beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), "fm-compile-cache-"));
});
afterAll(() => {
  if (base) rmSync(base, { recursive: true, force: true });
});

interface Compiled {
  cells: {
    diagnostics: string[];
    imported: { path: string; data: string }[];
    output: string | null;
  }[];
  stats: { hits: number; misses: number; stored: number } | null;
}

/** Compiles `cells` in `root` as the kernel does, with the cache in `cache` (or "off"). */
function compile(root: string, cache: string, cells: string[]): Compiled {
  const cellsFile = join(base, `cells-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(cellsFile, JSON.stringify(cells));
  const r = spawnSync(
    process.execPath,
    [join(ROOT, "tests", "fixtures", "compile_cache.cjs"), root, cache, cellsFile],
    { encoding: "utf8", timeout: 300_000, maxBuffer: 64 * 1024 * 1024 },
  );
  if (r.status !== 0) throw new Error(`compile_cache.cjs failed (${r.status}):\n${r.stderr}`);
  return JSON.parse(r.stdout) as Compiled;
}

/** Every file the cache holds (path -> text). */
function cached(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else files.set(join(d, e.name), readFileSync(join(d, e.name), "utf8"));
    }
  };
  walk(dir);
  return files;
}

/**
 * A small course copy at `<base>/<name>`: the course's package.json and kernel, a three-file
 * library whose `value()` returns `value`, and the course's packages linked in.
 */
function makeCopy(name: string, value: string): string {
  const root = join(base, name);
  for (const dir of ["src", "scripts", "notebooks"])
    mkdirSync(join(root, dir), { recursive: true });
  copyFileSync(join(ROOT, "package.json"), join(root, "package.json"));
  copyFileSync(join(ROOT, "scripts", "kernel.js"), join(root, "scripts", "kernel.js"));
  writeFileSync(
    join(root, "src", "index.ts"),
    'export * from "./a";\nexport { value } from "./b";\n',
  );
  writeFileSync(
    join(root, "src", "a.ts"),
    'import { value } from "./b";\nexport const twice = () => 2 * value();\n',
  );
  setValue(root, value);
  symlinkSync(join(ROOT, "node_modules"), join(root, "node_modules"), "dir");
  return root;
}
const setValue = (root: string, value: string) =>
  writeFileSync(
    join(root, "src", "b.ts"),
    `export function value(): number {\n  return ${value};\n}\n`,
  );

const CELL = 'import { value, twice } from "./src/index";\nconst shown = [value(), twice()];';

describe("the library compiled once (the kernel's compile cache)", () => {
  it("runs byte for byte what tslab compiles, for the whole course library", () => {
    const dir = join(base, "course-cache");
    const cells = [
      'import * as fm from "./src/index";\nconst seed = fm.seed;',
      "const later = seed;",
    ];
    const first = compile(ROOT, dir, cells); // empty cache: tslab compiles, the kernel stores
    const second = compile(ROOT, dir, cells); // everything from the cache
    const plain = compile(ROOT, "off", cells); // tslab's own converter
    const files = first.cells[0].imported.length;
    expect(files).toBeGreaterThan(50); // the library's files, each compiled
    expect(first.stats).toEqual({ hits: 0, misses: files, stored: files });
    expect(second.stats).toEqual({ hits: files, misses: 0, stored: 0 });
    expect(plain.stats).toBeNull();
    for (const run of [first, second, plain]) {
      expect(run.cells.map((c) => c.diagnostics)).toEqual([[], []]);
    }
    expect(second.cells).toEqual(plain.cells);
    expect(first.cells).toEqual(plain.cells);
    expect(cached(dir).size).toBe(files);
  }, 300_000);

  it("compiles an edited library file again, while the cache still holds the old one", () => {
    const root = makeCopy("edited", "1");
    const dir = join(base, "edited-cache");
    const run = () => compile(root, dir, [CELL, "console.log(shown);"]);
    const before = run();
    expect(before.stats).toEqual({ hits: 0, misses: 3, stored: 3 });
    expect(run().stats).toEqual({ hits: 3, misses: 0, stored: 0 });
    setValue(root, "7");
    const after = run();
    // Every file is compiled again (the key covers them all), b.ts now returning 7 ...
    expect(after.stats).toEqual({ hits: 0, misses: 3, stored: 3 });
    const b = (c: Compiled) => c.cells[0].imported.find((f) => f.path === "src/b.js")!.data;
    expect(b(after)).toContain("return 7;");
    expect(after.cells).toEqual(compile(root, "off", [CELL, "console.log(shown);"]).cells);
    // ... while the entry made before the edit, returning 1, is still stored: had the key missed
    // the edit, the cell would have run it (the control).
    const stale = [...cached(dir).values()].filter((t) => t.includes("return 1;"));
    expect(stale.length).toBe(1);
  }, 300_000);

  it("stores nothing for a library with a type error, which every kernel reports", () => {
    const root = makeCopy("broken", '"seven"');
    const dir = join(base, "broken-cache");
    for (let k = 0; k < 2; k++) {
      const r = compile(root, dir, [CELL]);
      expect(r.cells[0].diagnostics.join("\n")).toMatch(
        /b\.ts: Type 'string' is not assignable to type 'number'/,
      );
      expect(r.cells[0].imported).toEqual([]);
      expect(r.stats).toEqual({ hits: 0, misses: 0, stored: 0 });
    }
    expect(() => readdirSync(dir)).toThrow(/ENOENT/);
  }, 300_000);

  it("compiles as tslab does when the cache is damaged or cannot be written", () => {
    const root = makeCopy("damaged", "3");
    const dir = join(base, "damaged-cache");
    const plain = compile(root, "off", [CELL]).cells;
    compile(root, dir, [CELL]);
    const files = cached(dir);
    expect(files.size).toBe(3);
    for (const [file, text] of files) writeFileSync(file, text.slice(0, text.length / 2));
    const damaged = compile(root, dir, [CELL]);
    expect(damaged.stats).toEqual({ hits: 0, misses: 3, stored: 3 }); // and repaired
    expect(damaged.cells).toEqual(plain);
    // A cache folder below a plain file can never be made: nothing is stored, all still runs.
    writeFileSync(join(base, "a-file"), "");
    const unwritable = compile(root, join(base, "a-file", "cache"), [CELL]);
    expect(unwritable.stats).toEqual({ hits: 0, misses: 3, stored: 0 });
    expect(unwritable.cells).toEqual(plain);
  }, 300_000);

  it("serves a running kernel's first cell, and says so in the kernel's log", () => {
    const root = makeCopy("kernel", "5");
    const kernels = kernelFolder();
    try {
      kernels.addSpec("fm-cached", {
        argv: [
          process.execPath,
          join(root, "scripts", "kernel.js"),
          "--config-path",
          "{connection_file}",
        ],
        display_name: "course kernel, cache in a test folder",
        language: "typescript",
        env: { FM_COMPILE_CACHE: join(base, "kernel-cache") },
      });
      const steps = [{ code: `${CELL}\nconsole.log(shown);` }];
      const runs = [0, 1].map(() =>
        session(kernels.dir, "fm-cached", steps, join(root, "notebooks"), 240_000),
      );
      for (const r of runs) {
        expect(r.cells[0]).toMatchObject({ status: "ok", stdout: "[ 5, 10 ]\n", stderr: "" });
      }
      expect(runs[0].log).toContain(
        "library compiled: 0 files from the cache, 3 by tslab (3 stored)",
      );
      expect(runs[1].log).toContain(
        "library compiled: 3 files from the cache, 0 by tslab (0 stored)",
      );
    } finally {
      kernels.dispose();
    }
  }, 600_000);
});
