// The project's formatter (scripts/format.mjs, issue 16): prettier with .prettierrc.json over
// src/, tests/, bench/, scripts/ and the code cells of the notebooks, plus a re-wrapper for comment
// paragraphs that prettier leaves over 100 characters. The files listed in
// scripts/checked-notebooks.mjs (FORMATTED_FILES, or all of them once FORMAT_EVERYTHING is on) must
// be formatted and have no line over 100 characters. Negative controls: badly formatted code, a
// badly formatted notebook cell, a cell that cannot be parsed and a long comment are all caught.
import { describe, expect, it } from "vitest";
import { readFileSync } from "fs";
import { join } from "path";
import { pathToFileURL } from "url";

const ROOT = join(__dirname, "..");

interface Result {
  formatted: string;
  problems: string[];
}
interface Formatter {
  formatText(text: string, path: string): Promise<Result>;
  rewrapComments(text: string, width?: number): string;
  splitLiteral(text: string, at: number): [string, string] | undefined;
  allFiles(): string[];
}
const load = async <T>(name: string) =>
  (await import(pathToFileURL(join(ROOT, "scripts", name)).href)) as T;
const formatter = () => load<Formatter>("format.mjs");

/** A notebook in nbformat's layout (indent 1, trailing newline) with these code cells. */
const notebook = (...sources: string[]) =>
  `${JSON.stringify(
    {
      cells: sources.map((s, i) => ({
        cell_type: "code",
        execution_count: null,
        id: `c${i}`,
        metadata: { tags: ["keep"] },
        outputs: [],
        source: s.split("\n").map((l, n, all) => (n < all.length - 1 ? `${l}\n` : l)),
      })),
      metadata: { kernelspec: { name: "x" } },
      nbformat: 4,
      nbformat_minor: 5,
    },
    null,
    1,
  )}\n`;

const cellSources = (text: string) =>
  (JSON.parse(text) as { cells: { source: string[] }[] }).cells.map((c) => c.source.join(""));

describe("the formatter", () => {
  it("rewrites badly formatted code, leaves formatted code alone (negative control)", async () => {
    const { formatText } = await formatter();
    const bad = "const a = {b:1,'c':[1,2,3]}\nfunction f(x){return x*2}\n";
    const good = "const a = { b: 1, c: [1, 2, 3] };\nfunction f(x) {\n  return x * 2;\n}\n";
    expect((await formatText(bad, "src/bad.ts")).formatted).toBe(good);
    expect(await formatText(good, "src/good.ts")).toEqual({ formatted: good, problems: [] });
    // trailing commas where the call breaks over lines, double quotes, 100 columns
    const call = `f(${Array.from({ length: 12 }, (_, i) => `"argument${i}"`).join(", ")});\n`;
    const out = (await formatText(call, "a.mjs")).formatted;
    expect(out.split("\n").length).toBeGreaterThan(3);
    expect(out).toContain('  "argument11",\n);');
  });

  it("formats notebook code cells (top-level await) and keeps the JSON otherwise", async () => {
    const { formatText } = await formatter();
    const good = notebook("await fm.initBackend();\nfm.seed(0);", "const x = { a: 1 };\nx;");
    expect(await formatText(good, "n.ipynb")).toEqual({ formatted: good, problems: [] });
    const bad = notebook("await fm.initBackend()\nfm.seed( 0 )", "const x = {a:1}\nx");
    const r = await formatText(bad, "n.ipynb");
    expect(r.problems).toEqual([]);
    expect(r.formatted).toBe(good);
    // Only code sources change: ids, tags, metadata and key order stay.
    expect(JSON.parse(r.formatted)).toEqual({
      ...JSON.parse(bad),
      cells: JSON.parse(good).cells,
    });
  });

  it("reports cells it cannot parse and lines it cannot shorten, never in silence", async () => {
    const { formatText } = await formatter();
    const broken = notebook("const ok = 1;", "const = ;");
    const r = await formatText(broken, "n.ipynb");
    expect(r.formatted).toBe(broken);
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toMatch(/^n\.ipynb: code cell 2, prettier cannot parse it: /);
    const long = `const s = "${"a".repeat(100)}";\n`;
    // prettier moves the string to its own line (2 + 102 + 1 characters) and can do no more
    expect((await formatText(long, "x.ts")).problems).toEqual(["x.ts: line 2: 105 characters"]);
    const cell = await formatText(notebook("1;", long.trimEnd()), "n.ipynb");
    expect(cell.problems).toEqual(["n.ipynb: code cell 2, line 2: 105 characters"]);
    expect((await formatText("let = ;", "x.ts")).problems[0]).toMatch(/cannot parse/);
  });

  it("re-fills a long comment paragraph, never splitting a word or a URL", async () => {
    const { rewrapComments } = await formatter();
    const words = (n: number) => Array.from({ length: n }, (_, i) => `word${i}`).join(" ");
    const url = `https://example.org/${"x".repeat(120)}`;
    const text = [
      `  // ${words(30)}`,
      `  // ${words(3)}`,
      "  //",
      "  //   const code = example(); // a code line in a comment keeps its place and its length",
      `  // see ${url} here`,
      `  // - ${words(25)}`,
      `  //   ${words(2)}`,
      `  /** ${words(20)} */`,
      `  const y = 1; // ${words(20)}`,
    ].join("\n");
    const out = rewrapComments(text).split("\n");
    const joined = out.join("\n");
    // The first paragraph: one paragraph of at most 100 characters a line, no word lost or cut.
    const first = out.slice(0, out.indexOf("  //"));
    expect(first).toHaveLength(3);
    expect(first.every((l) => l.startsWith("  // word") && l.length <= 100)).toBe(true);
    expect(
      first
        .join(" ")
        .replace(/\s*\/\/ /g, " ")
        .trim(),
    ).toBe(`${words(30)} ${words(3)}`);
    expect(joined).toContain(`  //   const code = example(); // a code line in a comment`);
    expect(out).toContain(`  // ${url}`);
    expect(out).toContain("  // see");
    // A list item keeps its bullet and hangs its continuation lines under its text.
    const item = out.findIndex((l) => l.startsWith("  // - word0"));
    expect(out[item + 1]).toMatch(/^ {2}\/\/ {3}word\d+ /);
    // A one-line doc comment becomes a block; a comment after code is left (and reported).
    expect(joined).toMatch(/\n {2}\/\*\*\n {3}\* word0 .*\n {3}\* .*word19\n {3}\*\//);
    expect(out[out.length - 1]).toBe(`  const y = 1; // ${words(20)}`);
    // Formatted text is a fixed point.
    expect(rewrapComments(joined)).toBe(joined);
  });

  it("moves a comment that ends a long code line above it, never one inside a string", async () => {
    const { formatText } = await formatter();
    const words = "word ".repeat(18).trim(); // the comment fits on a line of its own
    const text = `const u = \`\${s} // not a comment\`; someFunction(1, 2); // ${words}\n`;
    const r = await formatText(text, "x.ts");
    const moved = `const u = \`\${s} // not a comment\`;\n// ${words}\nsomeFunction(1, 2);\n`;
    expect(r.formatted).toBe(moved);
    expect(r.problems).toEqual([]);
    // a directive stays where it is, and the long line is reported
    const directive = `someFunction(1, 2); // @ts-ignore ${words}\n`;
    const d = await formatText(directive, "x.ts");
    expect(d.formatted).toBe(directive);
    expect(d.problems).toEqual([`x.ts: line 1: ${directive.length - 1} characters`]);
  });

  it("splits a long string or template literal at a space, keeping its value", async () => {
    const { formatText } = await formatter();
    const words = "word ".repeat(30);
    // each case: source, and the value the program computes (evaluated before and after)
    const cases = [
      `const v = "${words}end";`,
      `const v = 'it\\'s a "quoted" ${words}\\u0041 \\x41 \\ z';`,
      `const v = \`\${[1, 2].join(" + ")} ${words}\${" x y ".repeat(2)} and \\\` done\`;`,
      `const v = 7 + "${words}" + 8;`,
      `const v = \`\${"${"x".repeat(60)}"}\${"${"y".repeat(60)}"}\`;`, // split between } and \${
      `const v = ["${words}"].map((s) => s + "${words}");`,
    ];
    for (const src of cases) {
      const r = await formatText(`${src}\n`, "x.ts");
      expect({ src, problems: r.problems }).toEqual({ src, problems: [] });
      expect(r.formatted.split("\n").length).toBeGreaterThan(2);
      const value = (code: string) => new Function(`${code}; return v;`)() as unknown;
      expect(value(r.formatted)).toEqual(value(src));
      expect((await formatText(r.formatted, "x.ts")).formatted).toBe(r.formatted);
    }
    // a test title too
    const title = `it("${words}", () => {});\n`;
    const t = await formatText(title, "x.test.ts");
    expect(t.problems).toEqual([]);
    expect(t.formatted).toMatch(/^it\(\n {2}"word .* " \+\n {4}"word /);
  });

  it("leaves a literal whose split would change the program, and reports the line", async () => {
    const { formatText } = await formatter();
    const long = `"${"word ".repeat(30)}"`;
    for (const src of [
      `type T = ${long};`, // a type: "a" + "b" is no type
      `const n = ${long}.length;`, // "a" + "b".length is another value
      `const t = String.raw\`${"word ".repeat(30)}\`;`, // a tagged template
      `const o = { ${long}: 1 };`, // a property name
      `const d = 2 * ${long};`, // an operand of another operator
    ]) {
      const r = await formatText(`${src}\n`, "x.ts");
      expect({ src, long: r.problems.length }).toEqual({ src, long: 1 });
      expect(r.formatted).toContain(long.slice(1, -1));
    }
    // a literal with no space in it cannot be split either
    const r = await formatText(`const s = "${"x".repeat(120)}";\n`, "x.ts");
    expect(r.problems).toEqual(["x.ts: line 2: 125 characters"]);
  });

  it(
    "moves the end of a long piece into the next piece of its concatenation when it " + "fits",
    async () => {
      const { formatText } = await formatter();
      const a = "aaaa ".repeat(18);
      const src = [
        `const v = \`\${[1].join("")}. ${a}keeps the \` +\n  \`rest \${2} of it.\`;`,
        `const v = "${a}aaaa a$" + "{b} short";`, // plain strings: "a${b}" is text
        `const v = \`${a}aaaa a$\` + \`{b} short\`;`, // joined it would be a \${b}: refused
      ];
      const out = [];
      for (const s of src) {
        const r = await formatText(`${s}\n`, "x.ts");
        expect(r.problems).toEqual([]);
        const value = (code: string) => new Function("b", `${code}; return v;`)("B") as string;
        expect(value(r.formatted)).toBe(value(s));
        out.push(r.formatted);
      }
      expect(out[0]).toMatch(
        /^const v =\n {2}`.* ` \+\n {2}`.*keeps the rest \$\{2\} of it\.`;\n$/,
      );
      expect(out[1]).toMatch(/ " \+\n {2}"aaaa a\$\{b\} short";\n$/);
      expect(out[2]).toMatch(/ ` \+\n {2}`aaaa a\$` \+\n {2}`\{b\} short`;\n$/);
    },
  );

  it("refuses a split inside an escape or a ${...}, or at either end", async () => {
    const { splitLiteral } = await formatter();
    expect(splitLiteral('"ab cd"', 4)).toEqual(['"ab "', '"cd"']);
    expect(splitLiteral("`a ${f(x, y)} b`", 3)).toEqual(["`a `", "`${f(x, y)} b`"]);
    expect(splitLiteral("`a ${f(x, y)} b`", 14)).toEqual(["`a ${f(x, y)} `", "`b`"]);
    // negative controls: each of these would change the value or not parse
    expect(splitLiteral("`a ${f(x, y)} b`", 10)).toBeUndefined(); // inside ${...}
    expect(splitLiteral('"a\\u0041 b"', 4)).toBeUndefined(); // inside \u0041
    expect(splitLiteral('"a\\x41 b"', 4)).toBeUndefined(); // inside \x41
    expect(splitLiteral('"a\\" b"', 3)).toBeUndefined(); // between \ and "
    expect(splitLiteral('"a\\\\ b"', 3)).toBeUndefined(); // \\ split: value changes
    expect(splitLiteral('"ab"', 1)).toBeUndefined(); // at the start
    expect(splitLiteral('"ab"', 3)).toBeUndefined(); // at the end
    expect(splitLiteral("x + y", 2)).toBeUndefined(); // not a literal
  });

  it("does not re-wrap a comment whose lines all fit (no orphan words)", async () => {
    const { rewrapComments } = await formatter();
    const fine = "// a short line\n// another short line\n";
    expect(rewrapComments(fine)).toBe(fine);
  });
});

describe("formatted files (scripts/checked-notebooks.mjs)", () => {
  it("every listed file is formatted and has no line over 100 characters", async () => {
    const { formatText, allFiles } = await formatter();
    const lists = await load<{ FORMAT_EVERYTHING: boolean | "code"; FORMATTED_FILES: string[] }>(
      "checked-notebooks.mjs",
    );
    const all = allFiles();
    const code = all.filter((f) => !f.endsWith(".ipynb"));
    const notebooks = lists.FORMATTED_FILES.filter((f) => f.endsWith(".ipynb"));
    const files =
      lists.FORMAT_EVERYTHING === true
        ? all
        : lists.FORMAT_EVERYTHING === "code"
          ? [...code, ...notebooks]
          : lists.FORMATTED_FILES;
    expect(files.length).toBeGreaterThan(0);
    const covered = new Set(allFiles());
    for (const file of files) {
      expect({ file, inScope: covered.has(file) }).toEqual({ file, inScope: true });
      const text = readFileSync(join(ROOT, file), "utf8");
      const r = await formatText(text, file);
      expect({ file, problems: r.problems, formatted: r.formatted === text }).toEqual({
        file,
        problems: [],
        formatted: true,
      });
    }
  });
});
