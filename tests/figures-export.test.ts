// npm run figures: collecting the outputs marked for export and drawing them in headless Chromium,
// byte-identical on re-run, with stale files of the notebook removed. The notebooks here are
// built from the same display bundles `show` sends, so no kernel is needed.
import { afterAll, describe, expect, it } from "vitest";
import { execFileSync } from "child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { figureBundle } from "../src/notebook/display";
import { plotPoints } from "../src/figures/points";
import { plotLoss } from "../src/figures/curves";
import { plotPath } from "../src/figures/path";
import { Figure } from "../src/figures/figure";

const ROOT = join(__dirname, "..");
const tempDirs: string[] = [];
afterAll(() => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "fm-figures-"));
  tempDirs.push(d);
  return d;
}

/** An executed notebook whose cells show the given figures (name = export mark, or none). */
function notebook(figures: { figure: Figure; name?: string }[]): unknown {
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {},
    cells: figures.map(({ figure, name }) => {
      const b = figureBundle(figure, name ? { export: name } : {});
      return {
        cell_type: "code",
        source: "",
        metadata: {},
        execution_count: 1,
        outputs: [{ output_type: "display_data", data: b.data, metadata: b.metadata }],
      };
    }),
  };
}

function runExport(executed: string, out: string): string {
  return execFileSync(
    "node",
    [join(ROOT, "scripts/figures.mjs"), "--executed", executed, "--stem", "demo", "--out", out],
    {
      encoding: "utf8",
      timeout: 300_000, // a hang guard for a loaded machine
    },
  );
}

const points = plotPoints(
  Array.from({ length: 50 }, (_, i) => [Math.cos(i), Math.sin(2 * i)]),
  { title: "points" },
);
const loss = plotLoss(Array.from({ length: 100 }, (_, i) => 1 / (i + 1)));
const path = plotPath(
  [0, 0.5, 1].map((t) => ({
    t,
    particles: [
      [t, 0],
      [0, t],
      [1, 1],
    ],
  })),
);

describe("npm run figures", () => {
  it(
    "renders each marked figure to SVG and PNG, byte-identical on re-run, and removes stale " +
      "files",
    () => {
      const dir = tempDir();
      const executed = join(dir, "demo.ipynb");
      writeFileSync(
        executed,
        JSON.stringify(
          notebook([
            { figure: points, name: "points" },
            { figure: loss },
            { figure: path, name: "path" },
          ]),
        ),
      );
      const a = join(dir, "a");
      const b = join(dir, "b");
      const log = runExport(executed, a);
      expect(log).toContain("demo: 2 figure(s) [points, path]; 4 file(s) written");
      runExport(executed, b);
      const files = readdirSync(a).sort();
      expect(files).toEqual([
        "demo--path.png",
        "demo--path.svg",
        "demo--points.png",
        "demo--points.svg",
      ]);
      for (const f of files)
        expect(readFileSync(join(a, f)).equals(readFileSync(join(b, f)))).toBe(true);

      const svg = readFileSync(join(a, "demo--points.svg"), "utf8");
      expect(svg.startsWith("<svg")).toBe(true);
      expect(svg).toContain('width="520" height="480"'); // the figure's own size
      const png = readFileSync(join(a, "demo--points.png"));
      expect(png.subarray(1, 4).toString()).toBe("PNG");
      expect(png.readUInt32BE(16)).toBe(2 * 520); // drawn at scale 2
      expect(png.readUInt32BE(20)).toBe(2 * 480);

      // Re-running leaves identical files untouched; dropping an export removes its files, and only
      // the files of this notebook's stem.
      expect(runExport(executed, a)).toContain("0 file(s) written, 4 unchanged, 0 removed");
      writeFileSync(join(a, "other--keep.svg"), "<svg/>");
      writeFileSync(executed, JSON.stringify(notebook([{ figure: points, name: "points" }])));
      expect(runExport(executed, a)).toContain("2 removed (demo--path.png, demo--path.svg)");
      expect(readdirSync(a).sort()).toEqual([
        "demo--points.png",
        "demo--points.svg",
        "other--keep.svg",
      ]);
    },
  );

  it("fails, naming the cells, when a notebook uses one export name twice", () => {
    const dir = tempDir();
    const executed = join(dir, "demo.ipynb");
    writeFileSync(
      executed,
      JSON.stringify(
        notebook([
          { figure: points, name: "same" },
          { figure: loss, name: "same" },
        ]),
      ),
    );
    expect(() => runExport(executed, join(dir, "out"))).toThrow(
      /the export name "same" is used twice \(cells 1 and 2\)/,
    );
    expect(existsSync(join(dir, "out", "demo--same.svg"))).toBe(false);
  });

  it(
    "gives different files for different figures (negative control for the byte " + "comparison)",
    () => {
      const dir = tempDir();
      const executed = join(dir, "demo.ipynb");
      writeFileSync(executed, JSON.stringify(notebook([{ figure: points, name: "x" }])));
      runExport(executed, join(dir, "a"));
      const moved = plotPoints(
        Array.from({ length: 50 }, (_, i) => [Math.cos(i), Math.sin(2 * i) + 0.01]),
        { title: "points" },
      );
      writeFileSync(executed, JSON.stringify(notebook([{ figure: moved, name: "x" }])));
      runExport(executed, join(dir, "b"));
      expect(
        readFileSync(join(dir, "a", "demo--x.svg")).equals(
          readFileSync(join(dir, "b", "demo--x.svg")),
        ),
      ).toBe(false);
    },
  );
});
