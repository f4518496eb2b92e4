// The autograder (scripts/grade.mjs) on notebook 00 (the cheapest) and a library assignment: the
// generated student version scores zero ("not attempted"), a wrong solution loses exactly its
// exercise, an exercise whose own cell throws does not stop the others, a notebook handed in under
// another's name is graded against the manifest of that name (never by what it says about itself),
// the grader refuses to run student code without root unless told --no-jail, and a student's
// library functions are graded by the TA's tests in a clean process. Every course notebook's checks
// and their negative controls: tests/grade-controls.test.ts; classes and the hostile suite:
// tests/grade-class.test.ts. Runs as root (the jail).
import { describe, expect, it } from "vitest";
import { spawnSync } from "child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { pathToFileURL } from "url";
import { concurrencyLimit } from "./helpers";

const ROOT = join(__dirname, "..");
const load = async (name: string) => await import(pathToFileURL(join(ROOT, "scripts", name)).href);
const WELCOME = join(ROOT, "notebooks", "00-welcome.ipynb");
const TRAJECTORY = join(ROOT, "notebooks", "01-trajectory-and-flow.ipynb");

interface Exercise {
  number: number;
  status: string;
  message: string;
  score: number;
  points: number;
  cellError?: string;
}
interface NotebookResult {
  notebook: string;
  missing: boolean;
  exercises: Exercise[];
  written: { number: number; answered: boolean }[];
  otherErrors: { cell: number; message: string }[];
  score: number;
  maxScore: number;
  seconds: number;
}
interface Result {
  notebooks: NotebookResult[];
  library: {
    functions: { name: string; status: string; message: string; score: number }[];
    score: number;
    maxScore: number;
  } | null;
  score: number;
  maxScore: number;
}

// Grading runs two at a time: each starts two kernels, and the machine has two cores.
const slot = concurrencyLimit(2);
const grade = (submission: string, options: Record<string, unknown> = {}) =>
  slot(async () => (await load("grade.mjs")).grade(submission, options) as Promise<Result>);

/** Notebook 00 with one solution cell's source replaced, in `dir`. */
function variant(dir: string, exercise: number, source: string): string {
  const nb = JSON.parse(readFileSync(WELCOME, "utf8"));
  const cell = nb.cells.find(
    (c: { metadata: { tags?: string[]; exercise?: number }; cell_type: string }) =>
      c.cell_type === "code" &&
      c.metadata.tags?.includes("solution") &&
      c.metadata.exercise === exercise,
  );
  cell.source = source;
  const path = join(dir, "00-welcome.ipynb");
  writeFileSync(path, JSON.stringify(nb));
  return path;
}

const statuses = (r: NotebookResult) =>
  Object.fromEntries(r.exercises.map((e) => [e.number, e.status]));

describe.concurrent("grading notebook 00", () => {
  it("the student version scores zero: each exercise 'not attempted', nothing written", async ({
    expect,
  }) => {
    const { writeAssignments } = await load("assignments.mjs");
    const out = mkdtempSync(join(tmpdir(), "fm-grade-student-"));
    try {
      await writeAssignments({ out, notebooks: [WELCOME], log: () => {} });
      const r = await grade(join(out, "student", "notebooks", "00-welcome.ipynb"), {
        grading: join(out, "grading"),
      });
      const [nb] = r.notebooks;
      expect(nb.exercises.map((e) => [e.number, e.status, e.score])).toEqual([
        [1, "errored", 0],
        [2, "errored", 0],
        [3, "errored", 0],
        [4, "errored", 0],
        [5, "errored", 0],
      ]);
      for (const e of nb.exercises.slice(2)) {
        expect(e.message).toMatch(new RegExp(`^not attempted: TODO \\(exercise ${e.number}\\)`));
      }
      expect(nb.exercises[0].message).toMatch(
        /^not attempted: TODO \(exercise 1\): predictedMid is still a placeholder/,
      );
      expect(nb.exercises[1].message).toBe(
        "not attempted: TODO (exercise 2): implement toFlowTime",
      );
      expect(nb.written.map((w) => [w.number, w.answered])).toEqual([
        [3, false],
        [4, false],
        [5, false],
      ]);
      expect(nb.otherErrors).toEqual([]); // the rest of the student version runs cleanly
      expect([r.score, r.maxScore]).toEqual([0, 5]);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 900_000);

  it("a wrong solution loses exactly its exercise; a throwing cell stops nothing else", async ({
    expect,
  }) => {
    const dir = mkdtempSync(join(tmpdir(), "fm-grade-wrong-"));
    try {
      // The clocks confused: returns s instead of 1 - s (still rejects s outside [0, 1]).
      const wrong = variant(
        dir,
        2,
        [
          "// Solution to exercise 2",
          "function toFlowTime(s: number): number {",
          "  if (!(s >= 0 && s <= 1)) throw new Error(`s must lie in [0, 1]; got ${s}`);",
          "  return s;",
          "}",
        ].join("\n"),
      );
      const r = await grade(wrong);
      const [nb] = r.notebooks;
      expect(statuses(nb)).toEqual({
        1: "passed",
        2: "failed",
        3: "passed",
        4: "passed",
        5: "passed",
      });
      expect(nb.exercises[1].message).toMatch(/t = 1 - s/); // the check's own message
      expect([r.score, r.maxScore]).toEqual([4, 5]);
      const broken = variant(dir, 1, '// Solution to exercise 1\nthrow new Error("I give up");');
      const t = await grade(broken);
      expect(statuses(t.notebooks[0])).toEqual({
        1: "errored",
        2: "passed",
        3: "passed",
        4: "passed",
        5: "passed",
      });
      expect(t.notebooks[0].exercises[0]).toMatchObject({
        cellError: expect.stringMatching(/Error: I give up/),
      });
      expect(t.notebooks[0].exercises[0].message).toMatch(/predictedMid/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 900_000);

  it("the manifest decides: 00 handed in as 01 too scores 00's points only", async ({ expect }) => {
    const { writeAssignments } = await load("assignments.mjs");
    const out = mkdtempSync(join(tmpdir(), "fm-grade-other-"));
    try {
      await writeAssignments({ out, notebooks: [WELCOME, TRAJECTORY], log: () => {} });
      const folder = join(out, "eve", "notebooks");
      mkdirSync(folder, { recursive: true });
      cpSync(WELCOME, join(folder, "00-welcome.ipynb"));
      // its metadata says nothing of 01
      cpSync(WELCOME, join(folder, "01-trajectory-and-flow.ipynb"));
      const r = await grade(join(out, "eve"), { grading: join(out, "grading") });
      const byName = Object.fromEntries(r.notebooks.map((n) => [n.notebook, n]));
      expect([byName["00-welcome.ipynb"].score, byName["00-welcome.ipynb"].maxScore]).toEqual([
        5, 5,
      ]);
      expect(byName["01-trajectory-and-flow.ipynb"].score).toBe(0);
      expect(
        byName["01-trajectory-and-flow.ipynb"].exercises.every((e) => e.status !== "passed"),
      ).toBe(true);
      expect([r.score, r.maxScore]).toEqual([
        5,
        5 + byName["01-trajectory-and-flow.ipynb"].maxScore,
      ]);
      // A notebook of the assignment that is not handed in scores zero and says so.
      rmSync(join(folder, "01-trajectory-and-flow.ipynb"));
      const { gradeStudent, GradingRun, loadGrading } = await load("grade.mjs");
      const run = new GradingRun({});
      try {
        const missing = (await gradeStudent(
          run,
          loadGrading(join(out, "grading")),
          join(out, "eve"),
          {},
        )) as Result;
        const n01 = missing.notebooks.find((n) => n.notebook === "01-trajectory-and-flow.ipynb")!;
        expect(n01.missing).toBe(true);
        expect(n01.exercises.every((e) => e.status === "missing" && e.score === 0)).toBe(true);
      } finally {
        await run.close();
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 1_200_000);
});

describe("the driver's answer channel", () => {
  it("is not the kernels' stdout: writing there (a forged answer too) is harmless", async () => {
    // The clean kernel runs this notebook's cells; one writes to the kernel process's stdout
    // after the cell has finished.
    const r = await grade(join(ROOT, "tests", "fixtures", "grading-noisy-kernel.ipynb"));
    expect(r.notebooks[0].exercises.map((e) => e.status)).toEqual(["passed"]);
    expect([r.score, r.maxScore]).toEqual([1, 1]);
  }, 900_000);
});

describe("without root", () => {
  it("the grader refuses to run student code unless told --no-jail, and says why (exit 2)", () => {
    const r = spawnSync(
      "setpriv",
      [
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
        process.execPath,
        join(ROOT, "scripts", "grade.mjs"),
        WELCOME,
      ],
      {
        encoding: "utf8",
        env: { ...process.env, HOME: "/tmp" },
      },
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/grade: grading runs student code in a jail .* needs root: .*no-jail/);
  });
});

describe("library exercises: a student folder graded on its own src/", () => {
  it("a blanked function fails its tests and its exercise; a written one passes", async () => {
    const { writeAssignments } = await load("assignments.mjs");
    const fixture = join(ROOT, "tests", "fixtures", "assignment-library.ipynb");
    const out = mkdtempSync(join(tmpdir(), "fm-grade-library-"));
    try {
      const gen = await writeAssignments({
        out,
        notebooks: [fixture],
        blank: ["eulerStep", "AffineProbPath.conditionalVelocity"],
        checks: ["tests/solvers.test.ts", "tests/path.test.ts"],
        log: () => {},
      });
      const lib = gen.library;
      expect(lib.functions.map((f: { name: string }) => f.name)).toEqual([
        "eulerStep",
        "AffineProbPath.conditionalVelocity",
      ]);
      for (const f of lib.functions) expect(f.tests.length).toBeGreaterThan(0);
      // The student wrote conditionalVelocity (here: the course's file put back), left eulerStep,
      // and solved the notebook.
      const student = join(out, "student");
      expect(readFileSync(join(student, "src", "path", "affine.ts"), "utf8")).toContain(
        "TODO: implement AffineProbPath.conditionalVelocity",
      );
      cpSync(join(ROOT, "src", "path", "affine.ts"), join(student, "src", "path", "affine.ts"));
      // the notebook with its solution in place
      cpSync(fixture, join(student, "notebooks", "assignment-library.ipynb"));
      const r = await grade(student, { grading: join(out, "grading") });
      const byName = Object.fromEntries(r.library!.functions.map((f) => [f.name, f]));
      expect(byName["AffineProbPath.conditionalVelocity"].status).toBe("passed");
      expect(byName.eulerStep.status).toBe("errored");
      expect(byName.eulerStep.message).toMatch(/not attempted: TODO: implement eulerStep/);
      expect([r.library!.score, r.library!.maxScore]).toEqual([1, 2]);
      // The notebook ran on the student's src/: its exercise meets the TODO.
      const [nb] = r.notebooks;
      expect(nb.exercises.map((e) => e.status)).toEqual(["errored"]);
      expect(nb.exercises[0]).toMatchObject({
        cellError: expect.stringContaining("TODO: implement eulerStep"),
      });
      expect([r.score, r.maxScore]).toEqual([1, 3]);
      // A wrong conditionalVelocity (the sign flipped, through a helper method of the student's own
      // class): it fails its tests; nothing the student's code does reaches them.
      const affine = readFileSync(join(ROOT, "src", "path", "affine.ts"), "utf8");
      const head = "  conditionalVelocity(x: tf.Tensor2D, x1: tf.Tensor2D, t: Time): tf.Tensor2D {";
      expect(affine).toContain(head);
      const flipped = affine.replace(
        head,
        `${head}\n    return tf.neg(this.myVelocity(x, x1, t));\n  }\n\n` +
          "  myVelocity(x: tf.Tensor2D, x1: tf.Tensor2D, t: Time): tf.Tensor2D {",
      );
      writeFileSync(join(student, "src", "path", "affine.ts"), flipped);
      const w = await grade(student, { grading: join(out, "grading") });
      const velocity = w.library!.functions.find(
        (f) => f.name === "AffineProbPath.conditionalVelocity",
      )!;
      expect([velocity.status, velocity.message]).toEqual([
        "failed",
        expect.stringMatching(/hidden test/),
      ]);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 1_800_000);
});

describe("the report", () => {
  it("a TodoError under any Node prefix reads 'not attempted: TODO ...'", async () => {
    const { checkVerdict } = await load("grade.mjs");
    const said = "TODO (exercise 1): w1Post0 is still a placeholder; define it in the TODO cell";
    // Node prints an Error whose name was set after construction as "Error [TodoError]: ..."
    for (const prefix of ["TodoError: ", "Error [TodoError]: ", "Error: "]) {
      const verdict = checkVerdict({ status: "error", message: `${prefix}${said}\n    at f` });
      expect(verdict).toEqual({ status: "errored", message: `not attempted: ${said}`, todo: true });
    }
  });

  it("prints a per-exercise report", async () => {
    const { formatReport } = await load("grade.mjs");
    const result = {
      student: "alice",
      notebooks: [
        {
          notebook: "00-welcome.ipynb",
          seconds: 7.5,
          backend: "wasm",
          score: 1,
          maxScore: 2,
          otherErrors: [],
          missing: false,
          notes: [],
          exercises: [
            { number: 1, title: "a", status: "passed", message: "", score: 1, points: 1 },
            { number: 2, title: "b", status: "failed", message: "0 !== 1", score: 0, points: 1 },
          ],
          written: [{ number: 3, title: "c", answered: false, answer: "" }],
        },
        {
          notebook: "01-x.ipynb",
          seconds: null,
          backend: null,
          score: 0,
          maxScore: 1,
          otherErrors: [],
          missing: true,
          notes: [],
          written: [],
          exercises: [
            {
              number: 1,
              title: "d",
              status: "missing",
              message: "01-x.ipynb is not in the submission",
              score: 0,
              points: 1,
            },
          ],
        },
      ],
      library: null,
      notes: [],
      score: 1,
      maxScore: 3,
    };
    expect(formatReport(result).split("\n")).toEqual([
      "Student: alice",
      "00-welcome.ipynb   1/2 (50%)   (7.5 s, wasm)",
      "  Exercise 1 (a): passed  1/1",
      "  Exercise 2 (b): FAILED  0/1",
      "      0 !== 1",
      "  Exercise 3 (c): written answer, marked by hand: NOT ANSWERED",
      "01-x.ipynb   0/1 (0%)   (not handed in)",
      "  Exercise 1 (d): MISSING  0/1",
      "      01-x.ipynb is not in the submission",
      "Score: 1/3 (33%)",
    ]);
  });

  it("gradebook cells are quoted, and a student's id cannot be a spreadsheet formula", async () => {
    const { csvField, safeName } = await load("grade.mjs");
    expect(csvField("alice")).toBe("alice");
    expect(csvField('a,"b"')).toBe('"a,""b"""');
    expect(csvField("=HYPERLINK(1)")).toBe('"\'=HYPERLINK(1)"');
    expect(csvField("-1+1")).toBe('"\'-1+1"');
    // "/" becomes "_" and leading dots one "_": the name stays inside the reports' folder.
    expect(safeName("../../etc/passwd")).toBe("__.._etc_passwd");
    expect(safeName("..")).toBe("_");
  });
});
