// The assignment generator (scripts/assignments.mjs, scripts/exercises.mjs,
// scripts/library-exercises.mjs) and the TODO placeholders (src/notebook/todo.ts), without running
// any notebook (tests/grade.test.ts does that): every course notebook's exercises are found from
// their tags, the student version keeps every other cell, drops the solutions and hidden checks,
// declares what the checks read with the right types (the student notebooks type-check), and the
// library blanking keeps signatures and documentation.
import { describe, expect, it } from "vitest";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "fs";
import { tmpdir } from "os";
import { join, relative } from "path";
import { pathToFileURL } from "url";
import { todo, TodoError } from "../src/notebook/todo";

const ROOT = join(__dirname, "..");
const load = async (name: string) => await import(pathToFileURL(join(ROOT, "scripts", name)).href);

interface Cell {
  cell_type: string;
  id?: string;
  source: string | string[];
  metadata: Record<string, unknown> & { tags?: string[]; exercise?: number };
  outputs?: unknown[];
  execution_count?: number | null;
}
interface Notebook {
  cells: Cell[];
  metadata: Record<string, unknown>;
}
interface Manifest {
  notebook: string;
  libraryAlias: string | null;
  layout: { role: string; id: string | null; source?: string; exercise?: number }[];
  exercises: {
    number: number;
    checks: { source: string }[];
    values: Record<string, { type: string | null }>;
  }[];
}
const text = (c: Cell) => (Array.isArray(c.source) ? c.source.join("") : c.source);
const tags = (c: Cell) => c.metadata.tags ?? [];
const readNb = (p: string) => JSON.parse(readFileSync(p, "utf8")) as Notebook;
const courseNotebooks = () =>
  readdirSync(join(ROOT, "notebooks"))
    .filter((f) => f.endsWith(".ipynb"))
    .sort()
    .map((f) => join(ROOT, "notebooks", f));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) =>
    statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : [join(dir, f)],
  );
}

describe("fm.todo placeholders", () => {
  it("fail on any use with a message naming the placeholder and the exercise", () => {
    const n: number = todo("ex4Order", 4);
    const rows: number[][] = todo("rows", 2);
    const f: (s: number) => number = todo("toFlowTime");
    const message = /TODO \(exercise 4\): ex4Order is still a placeholder/;
    expect(() => n > 1.8).toThrow(message);
    expect(() => `${n}`).toThrow(message);
    expect(() => Math.abs(n)).toThrow(message);
    expect(() => rows.map((r) => r)).toThrow(/TODO \(exercise 2\): rows/);
    expect(() => rows[0]).toThrow(TodoError);
    expect(() => f(1)).toThrow(/^TODO: toFlowTime is still a placeholder/);
    expect(() => todo("")).toThrow(/non-empty name/);
  });

  it("negative control: a real value of the same type is used without error", () => {
    const n: number = 2;
    expect(n > 1.8).toBe(true);
  });
});

describe("exercises found from the tags, in every course notebook", () => {
  for (const path of courseNotebooks()) {
    const name = path.split("/").pop()!;
    it(
      `${name}: tags are well formed, the student version drops solutions and checks and keeps ` +
        `everything else`,
      async () => {
        const { findExercises, buildAssignment } = await load("exercises.mjs");
        const nb = readNb(path);
        const found = findExercises(nb);
        expect(found.problems).toEqual([]);
        const solutionCells = nb.cells.filter((c) => tags(c).includes("solution"));
        const checkCells = nb.cells.filter((c) => tags(c).includes("exercise-check"));
        const { student, manifest } = buildAssignment(path);

        // Nothing of a solution or a hidden check is left in the student's copy.
        const studentText = JSON.stringify(student);
        expect(
          student.cells.filter(
            (c: Cell) => tags(c).includes("solution") || tags(c).includes("exercise-check"),
          ),
        ).toEqual([]);
        expect(studentText).not.toContain("Solution to exercise");
        for (const c of [...checkCells, ...solutionCells])
          expect(student.cells.some((s: Cell) => text(s) === text(c))).toBe(false);
        // Every other cell is there, in order, unchanged, without outputs.
        const kept = nb.cells.filter(
          (c) => !tags(c).includes("solution") && !tags(c).includes("exercise-check"),
        );
        const others = student.cells.filter(
          (c: Cell) => !tags(c).includes("answer") && !tags(c).includes("assignment-note"),
        );
        expect(others.map((c: Cell) => [c.cell_type, text(c)])).toEqual(
          kept.map((c) => [c.cell_type, text(c)]),
        );
        for (const c of student.cells as Cell[])
          if (c.cell_type === "code") expect([c.outputs, c.execution_count]).toEqual([[], null]);
        // cell ids stay unique
        expect(new Set(student.cells.map((c: Cell) => c.id)).size).toBe(student.cells.length);

        // One placeholder per solution cell, of the same kind, tagged with its exercise.
        const answers = student.cells.filter((c: Cell) => tags(c).includes("answer"));
        expect(answers.map((c: Cell) => [c.cell_type, c.metadata.exercise])).toEqual(
          solutionCells.map((c) => [c.cell_type, c.metadata.exercise]),
        );
        for (const a of answers as Cell[]) {
          if (a.cell_type === "code")
            expect(text(a)).toMatch(new RegExp(`^// TODO \\(exercise ${a.metadata.exercise}\\): `));
          else expect(text(a)).toContain(`Your answer to exercise ${a.metadata.exercise}`);
        }

        // The manifest carries the hidden checks and the solutions, exercise by exercise.
        expect(manifest.notebook).toBe(name);
        expect(manifest.exercises.map((e: { number: number }) => e.number)).toEqual(
          found.exercises.map((e: { number: number }) => e.number),
        );
        for (const e of manifest.exercises) {
          expect(e.checks.map((c: { source: string }) => c.source)).toEqual(
            checkCells.filter((c) => c.metadata.exercise === e.number).map(text),
          );
          expect(e.solutions.map((s: { source: string }) => s.source)).toEqual(
            solutionCells.filter((c) => c.metadata.exercise === e.number).map(text),
          );
          expect(e.grading).toBe(
            e.checks.length
              ? e.solutions.some((s: { type: string }) => s.type === "markdown")
                ? "auto+written"
                : "auto"
              : "written",
          );
          expect(e.points).toBe(e.checks.length ? 1 : 0);
          // Each name the TODO cell declares is read by the checks or named by the task.
          for (const n of e.names)
            expect(
              e.checks.map((c: { source: string }) => c.source).join("\n") + e.statement,
            ).toMatch(new RegExp(`\\b${n}\\b`));
        }
      },
    );
  }

  it(
    "the student versions type-check as tslab compiles them, and so do the grader's cells for " +
      "both kernels; a wrong declared type does not (negative control)",
    async () => {
      const { buildAssignment, notebookTypeErrors } = await load("exercises.mjs");
      const plan = await load("grading/plan.mjs");
      const built = courseNotebooks().map((p) => ({ key: p, ...buildAssignment(p) }));
      const code = (sources: string[]) => ({
        metadata: {},
        cells: sources.map((source) => ({ cell_type: "code", source, metadata: {} })),
      });
      // The clean kernel: the reference notebook, the checker, every exercise's check cell (student
      // values bound, typed).
      const clean = (m: Manifest) =>
        code([
          ...plan.referenceCells(m),
          plan.cleanSetupCell("/grading/clean.cjs", m.libraryAlias),
          ...m.exercises
            .filter((e) => e.checks.length)
            .map((e) => plan.checkCell(m, e.number, { secret: "s", student: "x" }).source),
        ]);
      // The student's kernel: the TA's cells, the placeholders as answers, the helper and the
      // capture cells.
      const jail = (b: { student: Notebook; manifest: Manifest }) =>
        code(
          plan
            .studentCells(b.manifest, plan.readAnswers(b.student, b.manifest).answers, {
              helperPath: "/course/.grading/inside.cjs",
            })
            .map((c: { source: string }) => c.source),
        );
      const entries = built.flatMap((b) => [
        { key: b.key, nb: b.student },
        { key: `${b.key} (clean kernel)`, nb: clean(b.manifest) },
        { key: `${b.key} (student kernel)`, nb: jail(b) },
      ]);
      const errors = notebookTypeErrors(entries);
      for (const e of entries)
        expect({ notebook: e.key, errors: errors.get(e.key) }).toEqual({
          notebook: e.key,
          errors: [],
        });
      // Control: notebook 00's predictedMid declared with an unrelated type: the check reading it
      // no longer compiles.
      const manifest = JSON.parse(JSON.stringify(built[0].manifest)) as Manifest;
      manifest.exercises[0].values.predictedMid.type = "Map<string, boolean>";
      const bad = notebookTypeErrors([{ key: "bad", nb: clean(manifest) }]).get("bad");
      expect(bad.length).toBeGreaterThan(0);
      // one TypeScript program over 27 notebooks' worth of cells: minutes on a loaded machine
    },
    600_000,
  );

  it(
    "placeholders keep a solution's function signature and typed names (notebook 00's " +
      "exercises)",
    async () => {
      const { buildAssignment } = await load("exercises.mjs");
      const { student } = buildAssignment(join(ROOT, "notebooks", "00-welcome.ipynb"));
      const code = student.cells
        .filter((c: Cell) => tags(c).includes("answer") && c.cell_type === "code")
        .map(text)
        .join("\n");
      expect(code).toContain("function toFlowTime(s: number): number {");
      expect(code).toContain('throw new Error("TODO (exercise 2): implement toFlowTime");');
      expect(code).toContain('const predictedMid: number[] = fm.todo("predictedMid", 1);');
    },
  );
});

describe("broken exercise tags are refused, with what is wrong", () => {
  const nb = (cells: Partial<Cell>[]): Notebook => ({
    metadata: {},
    cells: cells.map((c) => ({ metadata: {}, source: "", cell_type: "code", ...c }) as Cell),
  });
  it(
    "missing or bad numbers, a wrong first line, a check before its solution, two " + "headings",
    async () => {
      const { findExercises } = await load("exercises.mjs");
      const good = nb([
        { cell_type: "markdown", source: "### Exercise 1: fine" },
        {
          source: "// Solution to exercise 1\nconst a = 1;",
          metadata: { tags: ["solution"], exercise: 1 },
        },
        {
          source: "if (a !== 1) throw new Error();",
          metadata: { tags: ["exercise-check"], exercise: 1 },
        },
      ]);
      expect(findExercises(good).problems).toEqual([]);
      const broken = nb([
        { cell_type: "markdown", source: "### Exercise 1: one" },
        { source: "assert.ok(x);", metadata: { tags: ["exercise-check"], exercise: 1 } },
        {
          source: "// Solution to exercise 2\nconst x = 1;",
          metadata: { tags: ["solution"], exercise: 1 },
        },
        { source: "// Solution\nconst y = 1;", metadata: { tags: ["solution"] } },
        { cell_type: "markdown", source: "### Exercise 1: again" },
      ]);
      const { problems } = findExercises(broken);
      expect(problems).toEqual([
        "cell 2: the check of exercise 1 comes before any code solution of it",
        'cell 3: a solution of exercise 1 must start with "// Solution to exercise 1"; it starts ' +
          'with "// Solution to exercise 2"',
        'cell 4: tagged "solution" but its metadata "exercise" is undefined (a positive integer ' +
          "is needed)",
        "cell 5: a second heading for exercise 1",
        "exercise 1: tagged cells come before its heading (cell 5)",
      ]);
    },
  );

  it("buildAssignment throws an ExerciseTagError naming the notebook", async () => {
    const { buildAssignment } = await load("exercises.mjs");
    const dir = mkdtempSync(join(tmpdir(), "fm-tags-"));
    try {
      const nbPath = join(dir, "99-broken.ipynb");
      const bad = readNb(join(ROOT, "notebooks", "00-welcome.ipynb"));
      const sol = bad.cells.find((c) => tags(c).includes("solution") && c.cell_type === "code")!;
      delete sol.metadata.exercise;
      writeFileSync(nbPath, JSON.stringify(bad));
      expect(() => buildAssignment(nbPath)).toThrow(
        /99-broken\.ipynb: broken exercise tags:[\s\S]*metadata "exercise" is undefined/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("names and where the hidden checks go", () => {
  it("declared, referenced and asked-for names", async () => {
    const { declaredNames, referencedNames, backtickNames } = await load("exercises.mjs");
    const declared = declaredNames(
      "const a = 1, { b, c: [d] } = o; let e; function f() {} class G {} type H = number; import " +
        "* as I from 'x';",
    );
    expect(declared.map((d: { name: string; kind: string }) => `${d.kind} ${d.name}`)).toEqual([
      "const a",
      "const b",
      "const d",
      "let e",
      "function f",
      "class G",
      "type H",
      "import I",
    ]);
    expect([...referencedNames("x.y + z({ k: w }); q.r.s(t)")].sort()).toEqual([
      "q",
      "t",
      "w",
      "x",
      "z",
    ]);
    expect(
      [...backtickNames("store it in `ex1Gap` and call `toFlowTime(s)`, not `0.5`")].sort(),
    ).toEqual(["ex1Gap", "toFlowTime"]);
  });

  it(
    "a submission's answers are read by tag or cell id; cells added right after an answer go " +
      "with it; the TA's cells, checks and stray cells never count",
    async () => {
      const { buildAssignment } = await load("exercises.mjs");
      const { readAnswers, studentCells } = await load("grading/plan.mjs");
      const { student, manifest } = buildAssignment(join(ROOT, "notebooks", "00-welcome.ipynb"));
      const cells = (student as Notebook).cells.map((c) => ({ ...c, source: text(c) }));
      const i1 = cells.findIndex((c) => c.metadata.exercise === 1 && c.cell_type === "code");
      const i2 = cells.findIndex((c) => c.metadata.exercise === 2 && c.cell_type === "code");
      const ta = cells.findIndex(
        (c, i) => i < i1 && c.cell_type === "code" && !tags(c).includes("answer"),
      );
      cells[i1] = { ...cells[i1], source: "const predictedMid = [1, 2];" };
      cells[ta] = { ...cells[ta], source: "// the student changed a TA cell" };
      cells.splice(i1 + 1, 0, {
        cell_type: "code",
        id: "mine",
        metadata: {},
        source: "const measuredMid = [1, 2];",
      });
      cells.splice(i1 + 2, 0, {
        cell_type: "code",
        id: "fake",
        metadata: { tags: ["exercise-check"], exercise: 1 },
        source: "// a fake check",
      });
      // Exercise 2's answer found by its id alone (the student dropped the tags); a stray cell at
      // the top is ignored.
      const j2 = i2 + 2;
      cells[j2] = {
        ...cells[j2],
        metadata: {},
        source: "function toFlowTime(s: number): number { return 1 - s; }",
      };
      cells.unshift({ cell_type: "code", id: "stray", metadata: {}, source: "const stray = 1;" });
      const { answers, ignored } = readAnswers({ cells }, manifest);
      expect(
        answers.get(1).code.map((c: { source: string; added: boolean }) => [c.source, c.added]),
      ).toEqual([
        ["const predictedMid = [1, 2];", false],
        ["const measuredMid = [1, 2];", true],
      ]);
      expect(answers.get(2).code.map((c: { source: string }) => c.source)).toEqual([
        "function toFlowTime(s: number): number { return 1 - s; }",
      ]);
      expect(ignored).toEqual({ code: 1, changed: 1 });
      // The student kernel runs the TA's own version of every other cell, the answers where the
      // solutions were.
      const run = studentCells(manifest, answers, { helperPath: "/h.cjs" });
      const sources = run.map((c: { source: string }) => c.source);
      expect(sources).not.toContain("// the student changed a TA cell");
      expect(sources).not.toContain("// a fake check");
      expect(sources).not.toContain("const stray = 1;");
      expect(sources.join("\n")).not.toContain("Solution to exercise");
      expect(
        run
          .map((c: { role: string; exercise?: number }) => `${c.role}${c.exercise ?? ""}`)
          .filter((r: string) => r !== "ta"),
      ).toEqual([
        ...["setup", "answer1", "added1", "capture1", "answer2", "capture2"],
        ...["answer3", "capture3", "answer4", "capture4", "answer5", "capture5"],
      ]);
      expect(sources[run.findIndex((c: { role: string }) => c.role === "capture")]).toBe(
        '(globalThis as any).__fmGrading?.capture(1, ["predictedMid","measuredMid"]);',
      );
    },
  );

  it(
    "a check cell binds the names it reads as the types they are declared with, and compares " +
      "the exercise's functions on secret inputs",
    async () => {
      const { buildAssignment } = await load("exercises.mjs");
      const { checkCell, secretSeed } = await load("grading/plan.mjs");
      const { manifest } = buildAssignment(join(ROOT, "notebooks", "00-welcome.ipynb"));
      expect(manifest.exercises[1].values.toFlowTime).toMatchObject({
        kind: "function",
        type: "(s: number) => number",
        d: { t: "function", params: [{ name: "s", d: { t: "number" } }], returns: { t: "number" } },
      });
      const one = checkCell(manifest, 1, { secret: "k", student: "alice" });
      expect(one.binds).toEqual({ predictedMid: 1, measuredMid: 1 });
      expect(one.source).toContain(
        'const predictedMid: number[] = fmGradingCheck.get("predictedMid");',
      );
      const two = checkCell(manifest, 2, { secret: "k", student: "alice" });
      expect(two.source).toContain(
        `fmGradingCheck.differential(["toFlowTime"], ` +
          `"${secretSeed("k", "alice", "00-welcome.ipynb", 2)}");`,
      );
      // The secret seed differs per student and per secret.
      expect(secretSeed("k", "alice", "n", 2)).not.toBe(secretSeed("k", "bob", "n", 2));
      expect(secretSeed("k", "alice", "n", 2)).not.toBe(secretSeed("other", "alice", "n", 2));
    },
  );

  it(
    "both kernels stop at the last exercise: the appendix after it is not run when grading; a " +
      "notebook without exercises runs whole",
    async () => {
      const { buildAssignment } = await load("exercises.mjs");
      const { gradedLayout, readAnswers, referenceCells, studentCells } =
        await load("grading/plan.mjs");
      const { student, manifest } = buildAssignment(join(ROOT, "notebooks", "06-training.ipynb"));
      const layout = manifest.layout as { role: string; exercise?: number; source?: string }[];
      const exerciseAt = layout.map((e, k) => (Number.isInteger(e.exercise) ? k : -1));
      const lastExercise = Math.max(...exerciseAt);
      const after = layout.slice(lastExercise + 1).filter((e) => e.role === "code");
      // 06 has an appendix of code cells after its exercises (the threads, the memorisation
      // measurement, the ledger of self-checks): the notebook's own run includes them.
      expect(after.length).toBeGreaterThanOrEqual(5);
      expect(after.map((e) => e.source).join("\n")).toContain("checks.report()");
      const graded = gradedLayout(manifest);
      expect(graded).toEqual(layout.slice(0, lastExercise + 1));
      const run = studentCells(manifest, readAnswers(student, manifest).answers, {
        helperPath: "/h.cjs",
      });
      const clean = referenceCells(manifest) as string[];
      for (const e of after) {
        expect(run.map((c: { source: string }) => c.source)).not.toContain(e.source);
        expect(clean).not.toContain(e.source);
      }
      // The last thing the student's kernel runs is the last exercise's capture; every TA code
      // cell before the exercises is still run by both kernels.
      expect(run[run.length - 1]).toMatchObject({ role: "capture", exercise: 6 });
      const before = layout.filter((e, i) => e.role === "code" && i < lastExercise);
      for (const e of before) {
        expect(run.map((c: { source: string }) => c.source)).toContain(e.source);
        expect(clean).toContain(e.source);
      }
      // Control: without exercises nothing is cut.
      const plain = { ...manifest, layout: layout.filter((e) => e.role === "code") };
      expect(gradedLayout(plain)).toEqual(plain.layout);
      expect(referenceCells(plain)).toEqual(plain.layout.map((e: { source?: string }) => e.source));
    },
  );
});

describe("the student folder and the grading folder (npm run assignments)", () => {
  it(
    "writes a runnable student folder without solutions or hidden checks, and one manifest per " +
      "notebook",
    async () => {
      const { writeAssignments } = await load("assignments.mjs");
      const out = mkdtempSync(join(tmpdir(), "fm-assign-"));
      try {
        const notebooks = courseNotebooks();
        const r = await writeAssignments({ out, log: () => {} });
        const student = join(out, "student");
        const pkg = JSON.parse(readFileSync(join(student, "package.json"), "utf8"));
        // the course kernel finds the root by this name
        expect(pkg.name).toBe("flow-matching-course");
        expect(pkg.dependencies).toEqual(
          JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).dependencies,
        ); // the lock file still fits
        expect(Object.keys(pkg.scripts).sort()).toEqual([
          "postinstall",
          "prestart",
          "start",
          "typecheck",
        ]);
        for (const f of [
          "scripts/kernel.js",
          "scripts/install-kernel.mjs",
          "scripts/notebooks.mjs",
          "scripts/run_notebook.py",
          "src/index.ts",
          "README.md",
          "package-lock.json",
        ]) {
          expect(existsSync(join(student, f))).toBe(true);
        }
        expect(existsSync(join(student, "tests"))).toBe(false);
        expect(readdirSync(join(student, "notebooks")).sort()).toEqual(
          notebooks.map((p) => p.split("/").pop()),
        );
        // No solution and no hidden check anywhere in the folder.
        const everything = files(student)
          .filter((f) => !f.endsWith("package-lock.json"))
          .map((f) => readFileSync(f, "utf8"))
          .join("\n");
        expect(everything).not.toContain("// Solution to exercise");
        for (const m of r.manifests)
          for (const e of m.exercises)
            for (const c of e.checks) expect(everything.includes(c.source)).toBe(false);
        expect(
          readdirSync(join(out, "grading"))
            .filter((f) => f.endsWith(".json"))
            .sort(),
        ).toEqual(
          notebooks.map((p) =>
            p
              .split("/")
              .pop()!
              .replace(/\.ipynb$/, ".json"),
          ),
        );
        // The grading folder is its owner's alone; secret.key seeds the grader's test inputs.
        expect(statSync(join(out, "grading")).mode & 0o777).toBe(0o700);
        expect(statSync(join(out, "grading", "secret.key")).mode & 0o777).toBe(0o600);
        expect(readFileSync(join(out, "grading", "secret.key"), "utf8")).toMatch(
          /^[0-9a-f]{64}\n$/,
        );
        for (const m of r.manifests)
          expect(m.layout.filter((e: { role: string }) => e.role === "check").length).toBe(
            m.exercises.reduce((k: number, e: { checks: unknown[] }) => k + e.checks.length, 0),
          );
        // Written again into the same place: replaced. A folder it did not write: refused.
        await writeAssignments({ out, notebooks: [notebooks[0]], log: () => {} });
        expect(readdirSync(join(student, "notebooks"))).toEqual([notebooks[0].split("/").pop()]);
        const foreign = join(out, "foreign");
        mkdirSync(join(foreign, "student"), { recursive: true });
        writeFileSync(join(foreign, "student", "keep.txt"), "someone's work\n");
        await expect(
          writeAssignments({ out: foreign, notebooks: [notebooks[0]], log: () => {} }),
        ).rejects.toThrow(/was not written by this tool/);
        expect(readFileSync(join(foreign, "student", "keep.txt"), "utf8")).toBe("someone's work\n");
        await expect(writeAssignments({ out: join(ROOT, "src"), log: () => {} })).rejects.toThrow(
          /inside the course's src\//,
        );
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    },
  );
});

describe("library exercises: blanking functions of src/", () => {
  it(
    "replaces the bodies with a TODO error, keeps signatures and TSDoc, and the library still " +
      "compiles",
    async () => {
      const { blankLibrary, typeErrors } = await load("library-exercises.mjs");
      const dir = mkdtempSync(join(tmpdir(), "fm-blank-"));
      try {
        const blanked = blankLibrary(
          ["eulerStep", "AffineProbPath.conditionalVelocity"],
          join(dir, "src"),
        );
        expect(blanked.map((b: { name: string; file: string }) => [b.name, b.file])).toEqual([
          ["eulerStep", "src/solvers/ode.ts"],
          ["AffineProbPath.conditionalVelocity", "src/path/affine.ts"],
        ]);
        const original = readFileSync(join(ROOT, "src", "solvers", "ode.ts"), "utf8");
        const student = readFileSync(join(dir, "src", "solvers", "ode.ts"), "utf8");
        const head =
          "export function eulerStep(field: VelocityField, x: tf.Tensor2D, t: number, h: " +
          "number): tf.Tensor2D {";
        // imports, other functions, the TSDoc
        const before = original.slice(0, original.indexOf(head) + head.length);
        expect(student.startsWith(before)).toBe(true);
        expect(student.slice(before.length)).toMatch(
          /^\n {2}throw new Error\("TODO: implement eulerStep"\);\n\}\n/,
        );
        expect(student).not.toContain('checkStepArgs("eulerStep"');
        expect(student).toContain('checkStepArgs("midpointStep"'); // the neighbours are untouched
        expect(readFileSync(join(dir, "src", "path", "affine.ts"), "utf8")).toContain(
          'throw new Error("TODO: implement AffineProbPath.conditionalVelocity");',
        );
        // the TA keeps the reference body
        expect(blanked[0].reference).toContain("eulerCore(field, x, t, h)");
        const fresh = (errors: string[]) =>
          errors.filter((e) => !new Set(typeErrors(join(ROOT, "src"))).has(e));
        expect(fresh(typeErrors(join(dir, "src")))).toEqual([]);
        // Control: the same check sees a body that breaks the signature's promise.
        writeFileSync(
          join(dir, "src", "solvers", "ode.ts"),
          student.replace('throw new Error("TODO: implement eulerStep");', 'return "x";'),
        );
        expect(fresh(typeErrors(join(dir, "src"))).join("\n")).toMatch(
          /solvers\/ode\.ts:\d+ Type 'string' is not assignable/,
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  it("says which names are unknown or ambiguous", async () => {
    const { resolveFunctions } = await load("library-exercises.mjs");
    expect(() => resolveFunctions(["eulerStepp"])).toThrow(
      /no function of that name in src\/; did you mean .*\beulerStep\b/,
    );
    expect(() => resolveFunctions(["sample"])).toThrow(
      /ambiguous, it names .*AffineProbPath\.sample/,
    );
    expect(
      resolveFunctions(["AffineProbPath.sample"]).map((f: { file: string }) =>
        relative(ROOT, f.file),
      ),
    ).toEqual(["src/path/affine.ts"]);
  });
});
