// The quoted-number check of issue 16 (scripts/quoted-numbers.mjs): which tokens of a notebook's
// markdown
// are quoted numbers, when an output shows one (within the rounding the prose uses), the not-output
// marker, and what the check reports. The course build runs it on the notebooks of
// scripts/checked-notebooks.mjs (tests/notebooks.test.ts builds them, so a failing notebook fails
// there).
import { describe, expect, it } from "vitest";
import { join } from "path";
import { pathToFileURL } from "url";

const ROOT = join(__dirname, "..");

interface Quoted {
  token: string;
  value: number;
  halfUnit: number;
  approx: boolean;
  percent: boolean;
  ratio: boolean;
  power: boolean;
  signed: boolean;
}
interface Checked extends Quoted {
  cell: number;
  shown: boolean;
  exempt: boolean;
}
type Output = Record<string, unknown>;
type Cell = {
  cell_type: string;
  source: string;
  metadata: Record<string, unknown>;
  outputs?: Output[];
};
interface QuotedNumbers {
  quotedNumbers(markdown: string): Quoted[];
  matches(q: Quoted, v: number): boolean;
  outputNumbers(nb: { cells: Cell[] }): number[];
  checkQuotedNumbers(nb: { cells: Cell[] }): {
    numbers: Checked[];
    problems: { cell: number; message: string }[];
  };
  describeProblems(nb: { cells: Cell[] }, problems: { cell: number; message: string }[]): string[];
}
const qn = async () =>
  (await import(pathToFileURL(join(ROOT, "scripts", "quoted-numbers.mjs")).href)) as QuotedNumbers;
const tokens = async (markdown: string) => (await qn()).quotedNumbers(markdown).map((q) => q.token);

const md = (source: string): Cell => ({ cell_type: "markdown", source, metadata: {} });
const printed = (text: string): Cell => ({
  cell_type: "code",
  source: "console.log(...)",
  metadata: {},
  outputs: [{ output_type: "stream", name: "stdout", text }],
});

describe("which tokens are quoted numbers", () => {
  it("finds decimals, big integers, thousands, exponents, percentages, ratios", async () => {
    expect(await tokens("an error of 0.23, then 1,624 crossings of 50000; 6e-3 at worst")).toEqual([
      "0.23",
      "1,624",
      "50000",
      "6e-3",
    ]);
    expect(await tokens("grows by about 70% and is about 5x faster, 4 times the traffic")).toEqual([
      "70%",
      "5x",
      "4",
    ]);
    expect(await tokens("| t | error |\n|---|---|\n| 0.5 | 0.031 |")).toEqual(["0.5", "0.031"]);
    expect(await tokens("took 13 s and 250 ms")).toEqual(["13", "250"]);
  });

  it("reads formulas: indices out, powers of ten and thin-space thousands in", async () => {
    const found = (await qn()).quotedNumbers(
      "$x_1 = p_{0.5}^{12}$, $h = 10^{-8}$, $6 \\times 10^{-3}$, " +
        "$50\\,000$, $\\tfrac12 \\sigma_{33}$",
    );
    expect(found.map((q) => [q.token, q.value])).toEqual([
      ["10^-8", 1e-8],
      ["6e-3", 6e-3],
      ["50000", 50000],
    ]);
    expect(found[0].power).toBe(true);
    expect(found[1].halfUnit).toBeCloseTo(0.5e-3, 15);
  });

  it("leaves out names, small counts, references, list numbers, dates, versions", async () => {
    const text = [
      "## 3. The flux",
      "1. first item",
      "Use RK4 in float32 on a 2-D grid with x1, p_0 and 1-rectified flows; the 1st and 2nd step.",
      "Notebook 4, section 7, notebooks 3 and 4, issue 16, lecture 2, exercise 3:",
      "t = 0 and t = 1, d = 2.",
      "Lecture 3, minutes 10 to 24.",
      "Measured on 2026-11-29 at 14:05 with Notebook 6.4.12",
      "(Chen et al. 2018) and (CNFs, 2018); Liu 2022.",
      "`steps: 250` and ```\nconst n = 4000;\n``` and [link](https://x.org/run/1234) <!-- 999 -->",
      "**Reading time**: main path about 24 minutes; exercises about 35 minutes.",
    ].join("\n");
    expect(await tokens(text)).toEqual([]);
  });

  it("keeps what the exemptions must not swallow (negative controls)", async () => {
    // a year-like number that is a count, an approximated small integer, a signed value, a range's
    // ends
    expect(
      await tokens("At 2000 steps the loss is about 3 and -0.5 at worst, for 5-40 steps"),
    ).toEqual(["2000", "3", "-0.5", "40"]);
    const [q] = (await qn()).quotedNumbers("from $-0.25$ on");
    expect([q.value, q.signed]).toEqual([-0.25, true]);
  });
});

describe("when an output shows a quoted number", () => {
  const one = async (markdown: string) => (await qn()).quotedNumbers(markdown)[0];

  it("within half a unit of the last digit written", async () => {
    const { matches } = await qn();
    const q = await one("the error is 0.23 here");
    expect([0.2304, 0.225, 0.2349, 0.23].map((v) => matches(q, v))).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect([0.2351, 0.2249, 0.24, 2.3].map((v) => matches(q, v))).toEqual([
      false,
      false,
      false,
      false,
    ]);
    const integer = await one("crossed 1624 times");
    expect([matches(integer, 1623.6), matches(integer, 1625)]).toEqual([true, false]);
    const sci = await one("off by $6 \\times 10^{-3}$");
    expect([6.4e-3, 5.5e-3, 6.6e-3, 6e-4].map((v) => matches(sci, v))).toEqual([
      true,
      true,
      false,
      false,
    ]);
  });

  it("with 'about' or '~' within 5 %, a bare power of ten within a factor sqrt(10)", async () => {
    const { matches } = await qn();
    expect(matches(await one("about 5x faster"), 4.96)).toBe(true);
    expect(matches(await one("about 70% more"), 72)).toBe(true);
    // a fraction printed for a percentage
    expect(matches(await one("about 70% more"), 0.72)).toBe(true);
    expect(matches(await one("70% more"), 72)).toBe(false); // no "about": half a unit only
    expect(matches(await one("about 70% more"), 75)).toBe(false);
    const order = await one("a residual $\\sim 10^{-5}$");
    expect([1.1e-5, 3e-5, 3.2e-6, 4e-5, 2e-6].map((v) => matches(order, v))).toEqual([
      true,
      true,
      true,
      false,
      false,
    ]);
    expect(matches(await one("a residual of $10^{-5}$"), 3e-5)).toBe(false);
  });

  it("ignores the output's sign unless the prose writes one", async () => {
    const { matches } = await qn();
    expect(matches(await one("an error of 0.03"), -0.0317)).toBe(true);
    expect(matches(await one("an error of -0.03"), 0.0317)).toBe(false);
    expect(matches(await one("an error of -0.03"), -0.0317)).toBe(true);
  });
});

describe("the check on a notebook", () => {
  const figure = (title: string, y: number[]): Cell => ({
    cell_type: "code",
    source: "fm.show(fig)",
    metadata: {},
    outputs: [
      {
        output_type: "display_data",
        data: {
          "application/vnd.plotly.v1+json": {
            data: [{ x: [1, 2], y, name: "Euler, 16 steps", marker: { color: "rgb(31,119,180)" } }],
            layout: { title: { text: title }, xaxis: { title: { text: "h = 1/N" } } },
          },
          "text/plain": "figure",
        },
      },
    ],
  });

  it("passes numbers that outputs show: text, figure titles, names and axis titles", async () => {
    const nb = {
      cells: [
        md("The error is 0.23, the run took 1624 steps; with 16 steps and at t = 0.75 we see it."),
        printed("error 0.2304 after 1624 steps\n"),
        figure("The path at t = 0.75", [0.5, 0.9]),
      ],
    };
    const { problems, numbers } = (await qn()).checkQuotedNumbers(nb);
    expect(problems).toEqual([]);
    expect(numbers.map((q) => [q.token, q.shown])).toEqual([
      ["0.23", true],
      ["1624", true],
      ["16", true],
      ["0.75", true],
    ]);
  });

  it("fails a number no output shows, naming the cell; figure data do not count", async () => {
    const mod = await qn();
    const nb = {
      cells: [
        printed("error 0.2304\n"),
        md("## Results\nThe error is 0.23; the point 0.9 and 119 are plotted."),
        figure("t = 0.75", [0.5, 0.9]),
      ],
    };
    const { problems } = mod.checkQuotedNumbers(nb);
    expect(problems.map((p) => (p as { token?: string }).token)).toEqual(["0.9", "119"]);
    const lines = mod.describeProblems(nb, problems);
    expect(lines[0]).toMatch(
      /^markdown cell 2 \("## Results"\): "0\.9" is quoted but no output shows it/,
    );
    // the trace's colour is not text a reader sees
    expect(mod.outputNumbers(nb)).not.toContain(119);
  });

  it("exempts what a not-output marker lists in its cell; reports bad markers", async () => {
    const { checkQuotedNumbers } = await qn();
    const marked = md(
      "A learning rate of 0.003 and 800 particles.\n<!-- not-output: 0.003, 800 (set in code) -->",
    );
    const ok = checkQuotedNumbers({ cells: [marked] });
    expect(ok.problems).toEqual([]);
    expect(ok.numbers.every((q) => q.exempt)).toBe(true);
    // the marker does not reach another cell
    const other = checkQuotedNumbers({ cells: [marked, md("Again 800 particles.")] });
    expect(other.problems.map((p) => p.cell)).toEqual([1]);
    const stale = checkQuotedNumbers({
      cells: [md("Only 800 here. <!-- not-output: 800, 0.5 (set in code) -->")],
    });
    expect(stale.problems.map((p) => p.message).join()).toMatch(
      /lists 0\.5, which this cell does not quote/,
    );
    const bare = checkQuotedNumbers({ cells: [md("Only 800 here. <!-- not-output: 800 -->")] });
    expect(bare.problems.map((p) => p.message).join()).toMatch(/gives no reason in brackets/);
    // A power of ten in a formula is computed as 10 ** -5, not the double 1e-5: still the same.
    const power = checkQuotedNumbers({
      cells: [md("A step of $10^{-5}$.\n<!-- not-output: 1e-5 (set in code) -->")],
    });
    expect(power.problems).toEqual([]);
    // Negative control: a different power is not exempt.
    const otherPower = checkQuotedNumbers({
      cells: [md("A step of $10^{-5}$.\n<!-- not-output: 1e-4 (set in code) -->")],
    });
    expect(otherPower.problems.length).toBe(2);
  });
});
