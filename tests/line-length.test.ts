// Lines of at most 100 characters (issue 16) in the code cells of the notebooks and in the src/
// files
// listed in scripts/checked-notebooks.mjs (an opt-in list for now: the lead configures a formatter
// for
// the whole tree and turns the check on for everything at the end). Characters are counted as
// Unicode
// code points, so "ψ" is one.
import { describe, expect, it } from "vitest";
import { existsSync, readFileSync } from "fs";
import { join } from "path";
import { pathToFileURL } from "url";

const ROOT = join(__dirname, "..");
const MAX_LINE = 100;

type Cell = { cell_type: string; source: string | string[] };

/** The lines of `text` longer than MAX_LINE: "where: length". */
function longLines(text: string, where: (line: number) => string): string[] {
  return text
    .split("\n")
    .map((l, i) => ({ n: [...l].length, at: where(i + 1) }))
    .filter((l) => l.n > MAX_LINE)
    .map((l) => `${l.at}: ${l.n} characters`);
}

/** Long lines of a notebook's code cells: "code cell 3, line 2: 131 characters". */
function notebookLongLines(cells: Cell[]): string[] {
  let k = 0;
  return cells.flatMap((c) => {
    if (c.cell_type !== "code") return [];
    k++;
    const text = Array.isArray(c.source) ? c.source.join("") : c.source;
    return longLines(text, (i) => `code cell ${k}, line ${i}`);
  });
}

const lists = async () =>
  (await import(pathToFileURL(join(ROOT, "scripts", "checked-notebooks.mjs")).href)) as {
    CHECKED_NOTEBOOKS: string[];
    CHECKED_SOURCES: string[];
  };

describe("lines of at most 100 characters", () => {
  it("catch a long line and count code points, not UTF-16 units (negative control)", () => {
    const ok = "ψ".repeat(100);
    const long = `const x = "${"a".repeat(88)}";`;
    expect(longLines(`${ok}\n${"😀".repeat(100)}`, (i) => `line ${i}`)).toEqual([]);
    expect(
      notebookLongLines([
        { cell_type: "markdown", source: long },
        { cell_type: "code", source: `1\n${long}` },
      ]),
    ).toEqual(["code cell 1, line 2: 101 characters"]);
  });

  it("in the code cells of the checked notebooks", async () => {
    for (const name of (await lists()).CHECKED_NOTEBOOKS) {
      const nb = JSON.parse(readFileSync(join(ROOT, "notebooks", name), "utf8")) as {
        cells: Cell[];
      };
      expect({ notebook: name, long: notebookLongLines(nb.cells) }).toEqual({
        notebook: name,
        long: [],
      });
    }
  });

  it("in the checked files of src/", async () => {
    for (const file of (await lists()).CHECKED_SOURCES) {
      const path = join(ROOT, file);
      expect({ file, exists: existsSync(path) }).toEqual({ file, exists: true });
      const long = longLines(readFileSync(path, "utf8"), (i) => `line ${i}`);
      expect({ file, long }).toEqual({ file, long: [] });
    }
  });
});
