#!/usr/bin/env node
// Assignments for teaching assistants (`npm run assignments`): the student version of the course
// and the grading manifests that stay with the TA.
//
//   npm run assignments                                  every notebook in notebooks/
//   npm run assignments -- notebooks/03-conditional-paths.ipynb --out hw3
//   npm run assignments -- --blank eulerStep,AffineProbPath.conditionalVelocity [--checks
//     tests/solvers.test.ts]
//
// Writes <out>/student/ (give this folder to the students: the course without solutions or hidden
// checks, ready for `npm install` and Jupyter) and <out>/grading/ (keep it: one manifest per
// notebook with the solutions and hidden checks, and for --blank the library checks). Default
// <out>: build/assignments. It then runs each notebook's reference in a clean kernel and stores
// the state its hidden checks read (reference-state/<stem>.json, checked against a second,
// partial run), so the grader need not run the reference notebook again; --no-snapshot skips it.
// Grade a submission with `npm run grade -- <notebook or folder> --grading <out>/grading`.
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { basename, join, relative, resolve } from "node:path";
import {
  buildAssignment,
  findExercises,
  inferTypes,
  listNotebooks,
  notebookText,
  readNotebook,
  ROOT,
  runAsCli,
} from "./exercises.mjs";
import { attributeChecks, blankLibrary, typeErrors } from "./library-exercises.mjs";
import { copyCourse, privateKernelDir } from "./grade.mjs";
import { KERNEL_NAME } from "./install-kernel.mjs";
import { snapshotReference } from "./grading/reference-state.mjs";

export const DEFAULT_OUT = join(ROOT, "build", "assignments");
/** What the student folder needs to run the notebooks (`npm install`, `npm start`, Jupyter). */
export const STUDENT_SCRIPTS = [
  "kernel.js",
  "install-kernel.mjs",
  "notebooks.mjs",
  "run_notebook.py",
  "ensure-system.mjs",
];
const MARKER = ".flow-matching-assignment";

function studentPackageJson() {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
  // The same name (the course kernel finds the course root by it) and the same dependencies (so the
  // lock file still matches and `npm ci` works); only the scripts that need files the students do
  // not get go.
  const keep = ["prestart", "start", "typecheck", "postinstall"];
  pkg.scripts = Object.fromEntries(
    Object.entries(pkg.scripts ?? {}).filter(([k]) => keep.includes(k)),
  );
  pkg.description = `${pkg.description ?? "Flow matching course"} (student version)`;
  return JSON.stringify(pkg, null, 2) + "\n";
}

function studentReadme({ notebooks, blanked }) {
  const lines = [
    "# Flow matching: your assignment",
    "",
    "This folder is the course with the exercises left for you: the notebooks in `notebooks/` " +
      "and the library",
    "they use in `src/`.",
    "",
    "## Set up (once)",
    "",
    '    npm install        # also registers the Jupyter kernel "Flow matching (TypeScript)"',
    "",
    "Then open `notebooks/` in Jupyter Lab or Notebook (`jupyter lab notebooks/`) or in VS Code, " +
      "and choose the",
    'kernel "Flow matching (TypeScript)". The kernel runs in this folder, so `import * as fm ' +
      'from "./src/index"`',
    "loads *your* copy of the library. After you change `src/`, restart the kernel.",
    "`npm start` runs every notebook top to bottom, strictly (a failing cell or anything on " +
      "stderr stops it),",
    "and writes the results to `build/`.",
    "",
    "## What to do",
    "",
    "- In each notebook, the cells marked `// TODO (exercise N)` are yours: replace the " +
      "placeholders with your",
    "  solution. Keep the names (and function signatures) the TODO cell declares: hidden checks " +
      "read them.",
    "  A placeholder you have not replaced yet fails with a `TODO (exercise N)` error when " +
      "something uses it.",
    "- Cells that say **Your answer to exercise N** want a written answer (Markdown, LaTeX " +
      "between `$...$`).",
    "- Do not rename or delete the TODO cells; add cells right after them if you like. Only " +
      "these cells are",
    "  graded: the grader runs the course's own version of every other cell. Keep the notebooks' " +
      "file names.",
  ];
  if (blanked.length) {
    lines.push(
      "- Library exercises: these functions of `src/` are yours to implement (each now throws",
      "  `TODO: implement <name>`; the signature and the documentation comment above it say what " +
        "it must do):",
      ...blanked.map((b) => `  - \`${b.name}\` in \`${b.file}\``),
      "  The notebooks use your implementation. `npm run typecheck` checks that the library " +
        "still compiles.",
    );
  }
  lines.push(
    "",
    "## Hand in",
    "",
    blanked.length
      ? "This folder without `node_modules/` and `build/` (your `src/` and your `notebooks/`)."
      : "Your notebooks (`notebooks/*.ipynb`), saved.",
    "",
    "Notebooks in this assignment:",
    ...notebooks.map((n) => `- \`notebooks/${n}\``),
    "",
  );
  return lines.join("\n");
}

function prepareDir(dir, mode = 0o755) {
  if (existsSync(dir)) {
    if (!existsSync(join(dir, MARKER)))
      throw new Error(
        `${dir} exists and was not written by this tool: choose another --out or remove it`,
      );
    rmSync(dir, { recursive: true, force: true });
  }
  mkdirSync(dir, { recursive: true, mode });
  chmodSync(dir, mode);
  writeFileSync(join(dir, MARKER), "written by scripts/assignments.mjs\n");
}

/**
 * Writes the student folder and the grading folder (see the header).
 * @param {{ notebooks?: string[], out?: string, blank?: string[], checks?: string[], points?:
 *   number,
 *   timeout?: number, cellTimeout?: number, snapshot?: boolean (the reference state, see
 *   snapshotAll; the command line makes it unless --no-snapshot), log?: (s: string) => void }}
 *   [options]
 * @returns {Promise<{ studentDir: string, gradingDir: string, manifests: object[], library: object
 *   | null, warnings: string[] }>}
 */
export async function writeAssignments(options = {}) {
  const { out = DEFAULT_OUT, blank = [], log = (s) => console.log(s) } = options;
  const notebooks = (options.notebooks?.length ? options.notebooks : listNotebooks()).map((p) =>
    resolve(p),
  );
  const inside = (dir, parent) =>
    !relative(parent, dir).startsWith("..") && !/^[\\/]/.test(relative(parent, dir));
  if (inside(resolve(out), join(ROOT, "src")) || resolve(out) === ROOT)
    throw new Error(`--out ${out}: not inside the course's src/ nor the course root itself`);
  const studentDir = join(out, "student");
  const gradingDir = join(out, "grading");

  // Everything that can fail before anything is written.
  const parsed = notebooks.map((path) => {
    if (!existsSync(path)) throw new Error(`${path}: no such notebook`);
    const nb = readNotebook(path);
    const { exercises } = findExercises(nb);
    return {
      path,
      nb,
      cells: exercises.flatMap((e) =>
        e.solutions.filter((s) => s.type === "code").map((s) => s.index),
      ),
    };
  });
  const types = inferTypes(parsed.map((p) => ({ key: p.path, nb: p.nb, cells: p.cells })));
  const built = parsed.map((p) => ({
    path: p.path,
    ...buildAssignment(p.path, {
      types: types.get(p.path),
      points: options.points,
      timeout: options.timeout,
      cellTimeout: options.cellTimeout,
    }),
  }));

  let library = null;
  if (blank.length) {
    log(`Library exercises: ${blank.join(", ")}`);
    library = await attributeChecks(blank, { tests: options.checks, log });
  }

  prepareDir(studentDir);
  // The grading folder holds the solutions and hidden checks: readable by its owner only.
  // secret.key is what the grader draws each student's test inputs from (the same inputs when a
  // student is graded again).
  prepareDir(gradingDir, 0o700);
  writeFileSync(join(gradingDir, "secret.key"), randomBytes(32).toString("hex") + "\n", {
    mode: 0o600,
  });
  for (const f of ["package-lock.json", "tsconfig.json"])
    if (existsSync(join(ROOT, f))) cpSync(join(ROOT, f), join(studentDir, f));
  writeFileSync(join(studentDir, "package.json"), studentPackageJson());
  mkdirSync(join(studentDir, "scripts"), { recursive: true });
  for (const f of STUDENT_SCRIPTS) cpSync(join(ROOT, "scripts", f), join(studentDir, "scripts", f));

  let blanked = [];
  if (blank.length) {
    blanked = blankLibrary(blank, join(studentDir, "src"));
    const before = new Set(typeErrors(join(ROOT, "src")));
    const after = typeErrors(join(studentDir, "src")).filter((e) => !before.has(e));
    if (after.length)
      throw new Error(`the blanked library does not compile:\n  ${after.join("\n  ")}`);
  } else {
    cpSync(join(ROOT, "src"), join(studentDir, "src"), { recursive: true });
  }
  // The trained models notebooks 06, 07 and 09 load (read next to src/).
  if (existsSync(join(ROOT, "assets")))
    cpSync(join(ROOT, "assets"), join(studentDir, "assets"), { recursive: true });

  mkdirSync(join(studentDir, "notebooks"), { recursive: true });
  const warnings = [];
  const manifests = [];
  for (const b of built) {
    writeFileSync(join(studentDir, "notebooks", basename(b.path)), notebookText(b.student));
    writeFileSync(
      join(gradingDir, basename(b.path, ".ipynb") + ".json"),
      JSON.stringify(b.manifest, null, 2) + "\n",
    );
    manifests.push(b.manifest);
    warnings.push(...b.warnings);
  }
  if (library) {
    for (const f of library.closure) {
      mkdirSync(join(gradingDir, "library-tests", f, ".."), { recursive: true });
      cpSync(join(ROOT, f), join(gradingDir, "library-tests", f));
    }
    const manifest = {
      format: "flow-matching-library-assignment/1",
      functions: library.functions.map((f) => ({
        ...blanked.find((b) => b.name === f.name),
        points: options.points ?? 1,
        tests: f.tests,
      })),
      testFiles: library.files,
      testSupport: library.closure,
      timeLimit: options.timeout ?? 600,
    };
    writeFileSync(join(gradingDir, "library.json"), JSON.stringify(manifest, null, 2) + "\n");
    library = manifest;
  }
  writeFileSync(
    join(studentDir, "README.md"),
    studentReadme({ notebooks: built.map((b) => basename(b.path)), blanked }),
  );

  log(
    `Student version: ${relative(process.cwd(), studentDir) || "."}   (give this folder to the ` +
      `students)`,
  );
  log(
    `Grading:         ${relative(process.cwd(), gradingDir) || "."}   (keep it: solutions and ` +
      `hidden checks)`,
  );
  for (const m of manifests) {
    const auto = m.exercises.filter((e) => e.grading !== "written");
    const written = m.exercises.filter((e) => e.grading !== "auto");
    log(
      `  ${m.notebook}: ${auto.length} auto-graded exercise(s) ` +
        `(${auto.map((e) => e.number).join(", ") || "-"}), ${written.length} written ` +
        `(${written.map((e) => e.number).join(", ") || "-"})`,
    );
  }
  if (library)
    for (const f of library.functions)
      log(
        `  src: ${f.name} (${f.file}) blanked; ${f.tests.length} hidden test(s) in ` +
          `${[...new Set(f.tests.map((t) => t.file))].join(", ")}`,
      );
  if (options.snapshot) snapshotAll(gradingDir, manifests, log);
  if (warnings.length) {
    log("");
    log("Warnings (for the notebook authors):");
    for (const w of warnings) log(`  - ${w}`);
  }
  return { studentDir, gradingDir, manifests, library, warnings };
}

/**
 * The reference state of each notebook with hidden checks (scripts/grading/reference-state.mjs):
 * two clean kernels per notebook, one after the other. A notebook whose partial run does not give
 * the full run's values gets no snapshot (the grader then runs its reference in full).
 */
function snapshotAll(gradingDir, manifests, log) {
  const work = mkdtempSync(join(tmpdir(), "fm-assignments-"));
  try {
    const course = copyCourse(join(work, "course"), { linkModules: true });
    const kernel = { name: KERNEL_NAME, dirs: [privateKernelDir()] };
    log("Reference state (the clean kernel's start, for the grader):");
    for (const m of manifests) {
      if (!m.exercises.some((e) => (e.checks ?? []).length)) continue;
      let r;
      try {
        r = snapshotReference(gradingDir, m, { course, kernel });
      } catch (e) {
        r = { ok: false, why: e.message };
      }
      log(
        r.ok
          ? `  ${m.notebook}: ${r.full.toFixed(1)} s in full, ${r.reduced.toFixed(1)} s from the ` +
              `snapshot (${r.plan.keep.length} cell(s) run, ${r.plan.restore.length} value(s) ` +
              `restored, ${r.plan.observed.length} checked equal)`
          : `  ${m.notebook}: no snapshot, the grader will run it in full (${r.why})`,
      );
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function parseArgs(argv) {
  const args = { notebooks: [], blank: [], checks: [], out: DEFAULT_OUT, snapshot: true };
  const list = (v) =>
    String(v ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--out") args.out = resolve(argv[++i]);
    else if (a === "--blank") args.blank.push(...list(argv[++i]));
    else if (a === "--checks") args.checks.push(...list(argv[++i]));
    else if (a === "--points") args.points = Number(argv[++i]);
    else if (a === "--no-snapshot") args.snapshot = false;
    else if (a === "--timeout") args.timeout = Number(argv[++i]);
    else if (a === "--cell-timeout") args.cellTimeout = Number(argv[++i]);
    else if (a === "-h" || a === "--help") args.help = true;
    else if (a.startsWith("-")) throw new Error(`unknown option ${a} (try --help)`);
    else args.notebooks.push(resolve(a));
  }
  for (const k of ["points", "timeout", "cellTimeout"])
    if (args[k] !== undefined && !(args[k] > 0)) throw new Error(`--${k} needs a positive number`);
  return args;
}

runAsCli(
  import.meta.url,
  { name: "assignments", helpEnd: 16, errorCode: 1 },
  parseArgs,
  writeAssignments,
);
