// The reading-time measure of issue 16 (scripts/reading-time.mjs): what a word and a code line are,
// how
// a notebook is cut into main path, exercises and appendix, the rounding of the stated time, and
// the
// check on the notebooks of scripts/checked-notebooks.mjs (each rewritten notebook states its time
// and
// reads in at most 30 minutes). Every course notebook is measured; only the listed ones must pass.
import { describe, expect, it } from "vitest";
import { readdirSync } from "fs";
import { join } from "path";
import { pathToFileURL } from "url";

const ROOT = join(__dirname, "..");
const NOTEBOOKS = join(ROOT, "notebooks");

interface Part {
  words: number;
  lines: number;
  minutes: number;
}
interface Times {
  main: Part;
  exercises: Part;
  appendix: Part;
  stated: { main: number | null; exercises: number | null };
}
type Nb = { cells: { cell_type: string; source: string; metadata: Record<string, unknown> }[] };
interface ReadingTime {
  countWords(markdown: string): number;
  countCodeLines(code: string): number;
  readingTime(nb: Nb | string): Times;
  readingTimeProblems(nb: Nb | string): string[];
  roundMinutes(m: number): number;
  fixStatedTime(nb: Nb): Nb;
  MAX_MAIN_MINUTES: number;
}
const load = async <T>(name: string) =>
  (await import(pathToFileURL(join(ROOT, "scripts", name)).href)) as T;
const rt = () => load<ReadingTime>("reading-time.mjs");
const checkedList = async () =>
  (await load<{ CHECKED_NOTEBOOKS: string[] }>("checked-notebooks.mjs")).CHECKED_NOTEBOOKS;

const md = (source: string) => ({ cell_type: "markdown", source, metadata: {} });
const code = (source: string) => ({ cell_type: "code", source, metadata: {} });
const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i}`).join(" ");

describe("what counts", () => {
  it("a word holds a letter or digit; markup, URLs, comments, LaTeX commands do not", async () => {
    const { countWords } = await rt();
    expect(countWords("The flow moves mass.")).toBe(4);
    // "##" is not a word, "2." is
    expect(countWords("## 2. Divergence: more *out* than in")).toBe(6);
    expect(countWords("$x_t = t x_1$")).toBe(3); // $x_t, t, x_1$ ("=" is no word)
    // {, d}{, dt}; \psi_t -> _t$
    expect(countWords("$\\frac{\\mathrm d}{\\mathrm dt} \\psi_t$")).toBe(3);
    expect(countWords("| field | divergence |\n|---|---|\n| source | 0.5 |")).toBe(4);
    expect(
      countWords(
        "see [the docs](https://example.org/a/b/c) and https://x.org/y <!-- hidden words -->",
      ),
    ).toBe(4);
    expect(countWords("`fm.solveOde(u, x0)` runs <b>it</b>")).toBe(4);
    expect(countWords("")).toBe(0);
  });

  it("a code line is any line that is not blank", async () => {
    const { countCodeLines } = await rt();
    expect(countCodeLines("const a = 1;\n\n  // a comment\n}\n   \n")).toBe(3);
    expect(countCodeLines("")).toBe(0);
  });
});

describe("a notebook's parts and its stated time", () => {
  const notebook = (stated: string): Nb => ({
    cells: [
      md(`# Title\n\n**Reading time**: ${stated}`), // 3 words + the statement's
      code("a\nb\n\nc"), // 3 lines
      md(words(200)),
      md("## Exercises\n" + words(99)), // 100 words
      code("x\ny"),
      md("## Appendix\n" + words(399)), // 400 words, not counted
      code("z\n".repeat(50)),
    ],
  });

  it("cuts at ## Exercises and ## Appendix and counts each part", async () => {
    const t = (await rt()).readingTime(notebook("main path about 1 minutes"));
    expect(t.main).toEqual({ words: 3 + 5 + 200, lines: 3, minutes: 208 / 200 + 0.3 });
    expect(t.exercises).toEqual({ words: 100, lines: 2, minutes: 0.5 + 0.2 });
    expect(t.appendix.words).toBe(400);
    expect(t.appendix.lines).toBe(50);
    expect(t.stated).toEqual({ main: 1, exercises: null });
  });

  it("rounds to the nearest whole minute, halves up", async () => {
    const { roundMinutes } = await rt();
    expect([2.49, 2.5, 2.51, 0.2].map(roundMinutes)).toEqual([2, 3, 3, 0]);
  });

  it("accepts the right statement, names a wrong or missing one (negative controls)", async () => {
    const { readingTimeProblems } = await rt();
    // main path: 208 words and 3 lines = 1.34 minutes -> "1"; exercises 0.7 -> "1"
    expect(
      readingTimeProblems(notebook("main path about 1 minutes; exercises about 1 minutes")),
    ).toEqual([]);
    expect(readingTimeProblems(notebook("main path about 2 minutes")).join()).toMatch(
      /states a main path of 2 minutes; it is 1\.34 \(208 words, 3 code lines\), i\.e\. 1$/,
    );
    expect(
      readingTimeProblems(notebook("main path about 1 minutes; exercises about 3 minutes")).join(),
    ).toMatch(/exercises of 3/);
    expect(readingTimeProblems(notebook("soon")).join()).toMatch(/states no reading time/);
  });

  it("fails a main path over 30 minutes, and --fix writes the computed time", async () => {
    const { readingTimeProblems, fixStatedTime, readingTime, MAX_MAIN_MINUTES } = await rt();
    expect(MAX_MAIN_MINUTES).toBe(30);
    const long: Nb = {
      cells: [md("# T\n**Reading time**: main path about 1 minutes"), md(words(6200))],
    };
    const problems = readingTimeProblems(long);
    expect(problems.some((p) => /31\.\d minutes, over the 30-minute target/.test(p))).toBe(true);
    const fixed = fixStatedTime(long);
    expect(readingTime(fixed).stated.main).toBe(31);
    expect(readingTimeProblems(fixed)).toEqual([
      problems.find((p) => /over the 30-minute/.test(p)),
    ]);
  });
});

describe("the course's notebooks", () => {
  const all = readdirSync(NOTEBOOKS)
    .filter((f) => f.endsWith(".ipynb"))
    .sort();

  it("are all measured (the list of checked notebooks names only real notebooks)", async () => {
    const { readingTime } = await rt();
    for (const name of all) {
      const t = readingTime(join(NOTEBOOKS, name));
      expect(t.main.words + t.main.lines).toBeGreaterThan(0);
    }
    for (const name of await checkedList()) expect(all).toContain(name);
  });

  it("that are checked state their reading time and read in at most 30 minutes", async () => {
    const { readingTimeProblems } = await rt();
    for (const name of await checkedList()) {
      expect({ notebook: name, problems: readingTimeProblems(join(NOTEBOOKS, name)) }).toEqual({
        notebook: name,
        problems: [],
      });
    }
  });
});
