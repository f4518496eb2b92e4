// The autograder (scripts/grade.mjs on the runner's --keep-going mode) on real notebooks in the course
// kernel: every course notebook's solution version gets full marks (one run per notebook, found in
// notebooks/), and on the cheapest notebook (00): the generated student version scores zero, a wrong
// solution loses exactly its exercise, a hanging one is interrupted and graded as timed out while the next
// exercise is still graded; a student folder with a blanked library function fails that function's hidden
// tests and the notebook exercise that uses it, and passes the function the student wrote.
import { describe, expect, it } from "vitest";
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { pathToFileURL } from "url";
import { concurrencyLimit } from "./helpers";

const ROOT = join(__dirname, "..");
const load = async (name: string) => await import(pathToFileURL(join(ROOT, "scripts", name)).href);
const WELCOME = join(ROOT, "notebooks", "00-welcome.ipynb");

interface Exercise {
  number: number;
  status: string;
  message: string;
  score: number;
  points: number;
}
interface NotebookResult {
  notebook: string;
  exercises: Exercise[];
  written: { number: number; answered: boolean }[];
  otherErrors: { cell: number; message: string }[];
  score: number;
  maxScore: number;
  seconds: number;
}
interface Result {
  notebooks: NotebookResult[];
  library: { functions: { name: string; status: string; message: string; score: number }[]; score: number; maxScore: number } | null;
  score: number;
  maxScore: number;
}

// Kernels run two at a time: the machine has two cores.
const slot = concurrencyLimit(2);
const grade = (submission: string, options: Record<string, unknown> = {}) =>
  slot(async () => (await load("grade.mjs")).grade(submission, options) as Promise<Result>);

/** Notebook 00 with one solution cell's source replaced. */
function variant(dir: string, exercise: number, source: string): string {
  const nb = JSON.parse(readFileSync(WELCOME, "utf8"));
  const cell = nb.cells.find((c: { metadata: { tags?: string[]; exercise?: number }; cell_type: string }) => c.cell_type === "code" && c.metadata.tags?.includes("solution") && c.metadata.exercise === exercise);
  cell.source = source;
  const path = join(dir, "00-welcome.ipynb");
  writeFileSync(path, JSON.stringify(nb));
  return path;
}

const statuses = (r: NotebookResult) => Object.fromEntries(r.exercises.map((e) => [e.number, e.status]));

describe.concurrent("grading the course's own notebooks: full marks", () => {
  const notebooks = readdirSync(join(ROOT, "notebooks")).filter((f) => f.endsWith(".ipynb")).sort();
  for (const name of notebooks) {
    it(`${name}: every auto-graded exercise passes`, async ({ expect }) => {
      const r = await grade(join(ROOT, "notebooks", name));
      const [nb] = r.notebooks;
      expect(nb.exercises.length).toBeGreaterThan(0);
      expect(nb.exercises.filter((e) => e.status !== "passed")).toEqual([]);
      expect(nb.otherErrors).toEqual([]);
      expect([r.score, r.maxScore]).toEqual([nb.exercises.length, nb.exercises.length]);
      expect(nb.written.every((w) => w.answered)).toBe(true); // the worked answers count as answered
    }, 600_000);
  }
});

describe.concurrent("grading variants of notebook 00", () => {
  it("the generated student version scores zero: each exercise 'not attempted', the written one unanswered", async ({ expect }) => {
    const { writeAssignments } = await load("assignments.mjs");
    const out = mkdtempSync(join(tmpdir(), "fm-grade-student-"));
    try {
      await writeAssignments({ out, notebooks: [WELCOME], log: () => {} });
      const r = await grade(join(out, "student", "notebooks", "00-welcome.ipynb"), { grading: join(out, "grading") });
      const [nb] = r.notebooks;
      expect(nb.exercises.map((e) => [e.number, e.status, e.score])).toEqual([[1, "errored", 0], [2, "errored", 0]]);
      expect(nb.exercises[0].message).toMatch(/^not attempted: TODO \(exercise 1\): predictedMid is still a placeholder/);
      expect(nb.exercises[1].message).toBe("not attempted: TODO (exercise 2): implement toFlowTime");
      expect(nb.written).toEqual([{ number: 3, title: expect.any(String), answered: false, answer: "" }]);
      expect(nb.otherErrors).toEqual([]); // the rest of the student version runs cleanly
      expect([r.score, r.maxScore]).toEqual([0, 2]);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 300_000);

  it("a wrong solution loses exactly its exercise, with the check's own message", async ({ expect }) => {
    const dir = mkdtempSync(join(tmpdir(), "fm-grade-wrong-"));
    try {
      // The clocks confused: returns s instead of 1 - s (still rejects s outside [0, 1]).
      const wrong = variant(dir, 2, "// Solution to exercise 2\nfunction toFlowTime(s: number): number {\n  if (!(s >= 0 && s <= 1)) throw new Error(`s must lie in [0, 1]; got ${s}`);\n  return s;\n}");
      const r = await grade(wrong);
      const [nb] = r.notebooks;
      expect(statuses(nb)).toEqual({ 1: "passed", 2: "failed" });
      expect(nb.exercises[1].message).toMatch(/Expected values to be strictly equal:[\s\S]*|0 !== 1/);
      expect([r.score, r.maxScore]).toEqual([1, 2]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);

  it("a hanging solution is interrupted at the cell time limit and graded as timed out; the next exercise is still graded", async ({ expect }) => {
    const dir = mkdtempSync(join(tmpdir(), "fm-grade-hang-"));
    try {
      const hang = variant(dir, 1, "// Solution to exercise 1\nwhile (true) {}");
      // The cell limit must exceed what an honest cell needs on a loaded machine: the setup cell
      // compiles the whole library (5-10 s when two notebooks share the machine; 6 s timed it out
      // in CI, and 30 s did with a CPU burner on a busy 2-core machine, where it took about 40 s).
      const r = await grade(hang, { cellTimeout: 120 });
      const [nb] = r.notebooks;
      expect(statuses(nb), JSON.stringify(nb.exercises.map((e) => e.message))).toEqual({ 1: "timeout", 2: "passed" });
      const limitMessage = /stopped after \d+(\.\d)? s: the cell time limit is 120 s/;
      expect(nb.exercises[0].message).toMatch(limitMessage);
      // Not stopped before its limit. (Which limit applied is in the message above; how soon after
      // it the cell ended is a wall time, not asserted.)
      const stoppedAfter = Number(/stopped after ([\d.]+) s/.exec(nb.exercises[0].message)?.[1]);
      expect(stoppedAfter).toBeGreaterThanOrEqual(120);
      expect([r.score, r.maxScore]).toEqual([1, 2]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 900_000);

  it("an exercise whose own cell throws does not stop the others", async ({ expect }) => {
    const dir = mkdtempSync(join(tmpdir(), "fm-grade-throw-"));
    try {
      const broken = variant(dir, 1, '// Solution to exercise 1\nthrow new Error("I give up");');
      const r = await grade(broken);
      const [nb] = r.notebooks;
      expect(statuses(nb)).toEqual({ 1: "errored", 2: "passed" });
      expect(nb.exercises[0]).toMatchObject({ cellError: expect.stringMatching(/Error: I give up/) });
      expect(nb.exercises[0].message).toMatch(/ReferenceError: predictedMid is not defined|predictedMid/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});

describe("library exercises: a student folder graded on its own src/", () => {
  it("the blanked function fails its hidden tests and the notebook exercise that uses it; the one the student wrote passes", async () => {
    const { writeAssignments } = await load("assignments.mjs");
    const fixture = join(ROOT, "tests", "fixtures", "assignment-library.ipynb");
    const out = mkdtempSync(join(tmpdir(), "fm-grade-library-"));
    try {
      const gen = await writeAssignments({
        out, notebooks: [fixture], blank: ["eulerStep", "AffineProbPath.conditionalVelocity"], checks: ["tests/solvers.test.ts", "tests/path.test.ts"], log: () => {},
      });
      const lib = gen.library;
      expect(lib.functions.map((f: { name: string }) => f.name)).toEqual(["eulerStep", "AffineProbPath.conditionalVelocity"]);
      for (const f of lib.functions) expect(f.tests.length).toBeGreaterThan(0);
      // The student wrote conditionalVelocity (here: the course's file put back), left eulerStep, and solved the notebook.
      const student = join(out, "student");
      expect(readFileSync(join(student, "src", "path", "affine.ts"), "utf8")).toContain("TODO: implement AffineProbPath.conditionalVelocity");
      cpSync(join(ROOT, "src", "path", "affine.ts"), join(student, "src", "path", "affine.ts"));
      cpSync(fixture, join(student, "notebooks", "assignment-library.ipynb")); // with the solution in place
      const r = await grade(student, { grading: join(out, "grading") });
      const byName = Object.fromEntries(r.library!.functions.map((f) => [f.name, f]));
      expect(byName["AffineProbPath.conditionalVelocity"].status).toBe("passed");
      expect(byName.eulerStep.status).toBe("errored");
      expect(byName.eulerStep.message).toMatch(/not attempted: TODO: implement eulerStep/);
      expect([r.library!.score, r.library!.maxScore]).toEqual([1, 2]);
      // The notebook ran on the student's src/: its exercise meets the TODO.
      const [nb] = r.notebooks;
      expect(nb.exercises.map((e) => e.status)).toEqual(["errored"]);
      expect(nb.exercises[0]).toMatchObject({ cellError: expect.stringContaining("TODO: implement eulerStep") });
      expect([r.score, r.maxScore]).toEqual([1, 3]);
      // Control: the same notebook on the course's library passes.
      const control = await grade(fixture);
      expect(statuses(control.notebooks[0])).toEqual({ 1: "passed" });
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 600_000);
});

describe("the report and the JSON result", () => {
  it("npm run grade prints a per-exercise report and writes the JSON", async () => {
    const { formatReport } = await load("grade.mjs");
    const result = {
      notebooks: [
        {
          notebook: "00-welcome.ipynb", seconds: 7.5, backend: "wasm", score: 1, maxScore: 2, otherErrors: [],
          exercises: [
            { number: 1, title: "a", status: "passed", message: "", score: 1, points: 1 },
            { number: 2, title: "b", status: "failed", message: "0 !== 1", score: 0, points: 1 },
          ],
          written: [{ number: 3, title: "c", answered: false, answer: "" }],
        },
      ],
      library: null, skipped: [], notes: [], score: 1, maxScore: 2,
    };
    const report = formatReport(result);
    expect(report.split("\n")).toEqual([
      "00-welcome.ipynb   1/2 (50%)   (7.5 s, wasm)",
      "  Exercise 1 (a): passed  1/1",
      "  Exercise 2 (b): FAILED  0/1",
      "      0 !== 1",
      "  Exercise 3 (c): written answer, marked by hand: NOT ANSWERED",
      "Score: 1/2 (50%)",
    ]);
  });
});
