#!/usr/bin/env node
// The autograder (`npm run grade`): grades a student's submission, or a whole class, against the
// grading folder `npm run assignments` wrote. Run it as root: student code runs in a jail as an
// unprivileged user.
//
//   npm run grade -- alice/ --grading hw/grading [--json a.json]   a student (folder or notebook)
//   npm run grade -- --class hand-ins/ --grading hw/grading --out reports/   a folder of students
//   npm run grade -- notebooks/00-welcome.ipynb     no --grading: the course notebook's own checks
//   options: --timeout <s> per notebook, --cell-timeout <s> per student cell (default: the
//            manifest's, 600 / 180); --no-jail (not root: student code runs as you; see README)
//
// The grading folder decides what is graded: which notebooks (found in a submission by their file
// name; one missing or renamed scores zero and is reported missing), which exercises, points and
// hidden checks. Each notebook runs the TA's cells with the student's answer cells in place of the
// solutions, in a jail (scripts/grading/sandbox.py); the values each exercise asks for are printed
// as data, and the hidden checks run in a clean kernel that ran only the TA's reference notebook
// (scripts/grading/session.py). Reports are written after every process of the student is gone,
// only where the student cannot write. Exit code 0 when grading ran (whatever the scores), 2 when
// it could not.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, relative, resolve } from "node:path";
import { createHash } from "node:crypto";
import { createInterface } from "node:readline";
import {
  buildAssignment,
  markdownPlaceholder,
  MANIFEST_FORMAT,
  ROOT,
  runAsCli,
} from "./exercises.mjs";
import {
  checkCell,
  cleanSetupCell,
  readAnswers,
  referenceCells,
  referenceKey,
  studentCells,
} from "./grading/plan.mjs";
import { loadReferenceState } from "./grading/reference-state.mjs";
import { copyWithoutLinks, gradeLibrary } from "./library-exercises.mjs";
import { findPython } from "./notebooks.mjs";
import { KERNEL_NAME, kernelSpec, writeKernelSpec } from "./install-kernel.mjs";

const GRADING = join(ROOT, "scripts", "grading");
/** The jail's users: one per grading run that may go on at once on this machine. */
export const SLOTS = Array.from({ length: 8 }, (_, k) => `fm-grader-${k}`);
/** Per-student limits in the jail (memory and disk in MB; processes counts threads). */
export const JAIL_LIMITS = {
  memory_mb: 4096,
  processes: 512,
  disk_mb: 1024,
  file_mb: 256,
  cpu_s: 7200,
};
const MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024;

const isRoot = () => typeof process.getuid === "function" && process.getuid() === 0;

/** A readable error for the command line (exit code 2). */
export class GradingSetupError extends Error {
  constructor(message) {
    super(message);
    this.name = "GradingSetupError";
  }
}

export function privateKernelDir() {
  const tag = createHash("sha1").update(ROOT).digest("hex").slice(0, 10);
  const dir = join(tmpdir(), `flow-matching-kernel-${tag}`);
  writeKernelSpec(join(dir, "kernels"), kernelSpec());
  return join(dir, "kernels");
}

// -------------------------------------------------------------------------------------------------
// The grading folder.

/**
 * The manifests (one per notebook), the library checks (when the assignment blanked functions of
 * src/) and the secret the grader draws test inputs from. Without `dir`: the course notebook
 * `notebook` itself.
 */
export function loadGrading(dir, notebook = null) {
  if (!dir) {
    if (!notebook)
      throw new GradingSetupError("give --grading <folder> (written by npm run assignments)");
    const course = join(ROOT, "notebooks", basename(notebook));
    const source = existsSync(course) ? course : notebook;
    let manifest;
    try {
      manifest = buildAssignment(source).manifest;
    } catch (e) {
      throw new GradingSetupError(`${basename(notebook)}: ${e.message}`);
    }
    if (!manifest.exercises.some((e) => e.checks.length)) {
      throw new GradingSetupError(
        `${basename(notebook)}: no grading manifest ` +
          "(not a course notebook, and it has no exercise-check cells)",
      );
    }
    return {
      dir: null,
      manifests: new Map([[manifest.notebook, manifest]]),
      library: null,
      secret: randomBytes(32).toString("hex"),
      ephemeralSecret: true,
    };
  }
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new GradingSetupError(`--grading ${dir}: no such folder`);
  const manifests = new Map();
  for (const f of readdirSync(dir).sort()) {
    if (!f.endsWith(".json") || f === "library.json") continue;
    let m;
    try {
      m = JSON.parse(readFileSync(join(dir, f), "utf8"));
    } catch (e) {
      throw new GradingSetupError(`${join(dir, f)}: not valid JSON (${e.message})`);
    }
    if (!m || !m.notebook) continue;
    if (m.format !== MANIFEST_FORMAT || !Array.isArray(m.layout)) {
      throw new GradingSetupError(
        `${join(dir, f)} was written by an older version of npm run assignments ` +
          `(format ${m.format}); write the assignment again`,
      );
    }
    manifests.set(m.notebook, m);
  }
  if (!manifests.size) throw new GradingSetupError(`--grading ${dir}: no grading manifest in it`);
  const libPath = join(dir, "library.json");
  const library = existsSync(libPath) ? JSON.parse(readFileSync(libPath, "utf8")) : null;
  const keyPath = join(dir, "secret.key");
  const secret = existsSync(keyPath)
    ? readFileSync(keyPath, "utf8").trim()
    : randomBytes(32).toString("hex");
  // The reference state each clean kernel may start from (npm run assignments made and checked
  // it; see scripts/grading/reference-state.mjs), or why it runs the reference notebook in full.
  const references = new Map();
  for (const m of manifests.values()) references.set(m.notebook, loadReferenceState(dir, m));
  return {
    dir: resolve(dir),
    manifests,
    library,
    secret,
    ephemeralSecret: !existsSync(keyPath),
    references,
  };
}

// -------------------------------------------------------------------------------------------------
// The kernels' driver (scripts/grading/session.py), one per grading run.

export function copyCourse(
  dest,
  { src = join(ROOT, "src"), linkModules = false, helpers = false } = {},
) {
  mkdirSync(join(dest, "scripts"), { recursive: true });
  copyWithoutLinks(src, join(dest, "src"));
  writeFileSync(
    join(dest, "package.json"),
    JSON.stringify({ name: "flow-matching-course", private: true }, null, 2) + "\n",
  );
  if (existsSync(join(ROOT, "tsconfig.json")))
    cpSync(join(ROOT, "tsconfig.json"), join(dest, "tsconfig.json"));
  cpSync(join(ROOT, "scripts", "kernel.js"), join(dest, "scripts", "kernel.js"));
  // The trained models the notebooks load (notebooks 06, 07 and 09: fm.loadShippedModel,
  // fm.loadDigitModels read them next to src/).
  if (existsSync(join(ROOT, "assets")))
    copyWithoutLinks(join(ROOT, "assets"), join(dest, "assets"));
  if (helpers) {
    mkdirSync(join(dest, ".grading"), { recursive: true });
    for (const f of ["inside.cjs", "rpc.cjs", "codec.cjs", "hooks.cjs"])
      cpSync(join(GRADING, f), join(dest, ".grading", f));
  }
  if (linkModules) symlinkSync(join(ROOT, "node_modules"), join(dest, "node_modules"), "dir");
  return dest;
}

/**
 * Compiles the library into this course's compile cache (scripts/kernel.js, section 10) before any
 * student code runs: students' kernels read it (node_modules, read-only in the jail) and never
 * write it, so without this each of them would compile the library itself (about 6 s). A failure
 * costs only that time.
 */
function warmCompileCache(log) {
  const r = spawnSync(process.execPath, [join(ROOT, "scripts", "compile-library.cjs"), ROOT], {
    encoding: "utf8",
    timeout: 300_000,
  });
  if (r.status !== 0) {
    const why = (r.stderr || r.error?.message || `exit ${r.status}`).trim().split("\n")[0];
    log(`(the library was not compiled ahead: ${why}; each kernel compiles it)`);
  }
}

/** The grader's private work folder (root only), its kernels' driver, and the jail's settings. */
export class GradingRun {
  constructor({ jail = true, log = () => {} } = {}) {
    if (jail && !isRoot()) {
      throw new GradingSetupError(
        "grading runs student code in a jail as an unprivileged user, which needs root: " +
          "run it with sudo (or, for your own notebooks only, add --no-jail: their code then " +
          "runs as you, with your rights)",
      );
    }
    this.jail = jail;
    this.log = log;
    this.work = mkdtempSync(join(tmpdir(), "fm-grade-"));
    this.referenceCourse = copyCourse(join(this.work, "reference-course"), { linkModules: true });
    warmCompileCache(log);
    this.studentCourses = new Map();
    this.pending = [];
    this.closed = false;
    const python = findPython();
    const config = {
      slots: SLOTS,
      lock_dir: jail
        ? existsSync("/run")
          ? "/run/fm-grader"
          : join(tmpdir(), "fm-grader-locks")
        : join(this.work, "locks"),
      jail,
      course_for_reference: this.referenceCourse,
      reference_kernel: { name: KERNEL_NAME, dirs: [privateKernelDir()] },
      sandbox: join(GRADING, "sandbox.py"),
      python,
      node: process.execPath,
      node_modules: realpathSync(join(ROOT, "node_modules")),
      limits: JAIL_LIMITS,
      jail_env: Object.fromEntries(
        ["FM_BACKEND", "FM_THREADS"].filter((k) => process.env[k]).map((k) => [k, process.env[k]]),
      ),
      work: this.work,
      keep_references: 9,
    };
    writeFileSync(join(this.work, "session.json"), JSON.stringify(config));
    this.child = spawn(
      python,
      [join(GRADING, "session.py"), "--config", join(this.work, "session.json")],
      { stdio: ["pipe", "pipe", "pipe"] },
    );
    this.stderr = "";
    this.child.stderr.on("data", (d) => {
      this.stderr = (this.stderr + d).slice(-20000);
    });
    this.exited = new Promise((res) => this.child.on("close", (code) => res(code)));
    const lines = createInterface({ input: this.child.stdout });
    lines.on("line", (line) => {
      // One answer per line, each a JSON object; anything else on the channel is kept as a log
      // line.
      let answer = null;
      try {
        answer = JSON.parse(line);
      } catch {
        // not an answer
      }
      if (!answer || typeof answer !== "object" || Array.isArray(answer)) {
        this.stderr = (this.stderr + line + "\n").slice(-20000);
        return;
      }
      this.pending.shift()?.resolve(answer);
    });
    this.exited.then((code) => {
      for (const p of this.pending.splice(0))
        p.reject(
          new Error(
            `the grader's kernel driver stopped (exit ${code}): ` +
              this.stderr.trim().split("\n").slice(-8).join("\n"),
          ),
        );
    });
  }

  /** The course folder a student's kernel runs in (copied into the jail): TA's src/ or theirs. */
  studentCourse(src = null) {
    const key = src ?? "";
    if (!this.studentCourses.has(key)) {
      const dir = join(this.work, `student-course-${this.studentCourses.size}`);
      copyCourse(dir, { src: src ?? join(ROOT, "src"), helpers: true, linkModules: !this.jail });
      this.studentCourses.set(key, dir);
    }
    return this.studentCourses.get(key);
  }

  /** Sends a student's job; resolves to the driver's result once their processes are gone. */
  run(job) {
    return new Promise((res, rej) => {
      this.pending.push({ resolve: res, reject: rej });
      this.child.stdin.write(JSON.stringify(job) + "\n");
    });
  }

  async close() {
    if (this.closed) return;
    this.closed = true;
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 60_000);
    await this.exited;
    clearTimeout(timer);
    rmSync(this.work, { recursive: true, force: true });
  }
}

// -------------------------------------------------------------------------------------------------
// One student.

/** Where a submission keeps a notebook: <folder>/notebooks/<name> or <folder>/<name>, or null. */
function findNotebook(folder, name) {
  // lstat: a link the student planted (to a file of the TA's) is never followed; it counts as
  // missing.
  for (const p of [join(folder, "notebooks", name), join(folder, name)])
    if (existsSync(p) && lstatSync(p).isFile()) return p;
  return null;
}

function readSubmitted(path) {
  const size = statSync(path).size;
  if (size > MAX_NOTEBOOK_BYTES)
    return {
      error: `${basename(path)} is ${Math.round(size / 1e6)} MB: too large to be a notebook`,
    };
  try {
    const nb = JSON.parse(readFileSync(path, "utf8"));
    if (!nb || !Array.isArray(nb.cells))
      return { error: `${basename(path)} is not a notebook (no cells)` };
    return { nb };
  } catch (e) {
    return { error: `${basename(path)} is not valid JSON: ${e.message}` };
  }
}

const TODO = /TODO(?: \(exercise \d+\))?: [^\n]*/;
const TODO_ERROR = /\b(?:[A-Z]\w*)?Error(?: \[[A-Za-z_]+\])?: (TODO(?: \(exercise \d+\))?: [^\n]*)/;

/** The line of an error text that says what went wrong. */
export function errorLine(message) {
  const text = String(message ?? "");
  const todo = TODO_ERROR.exec(text);
  if (todo) return todo[1];
  const m = /\b((?:[A-Z]\w*)?Error)(?: \[[A-Z_]+\])?: ([^\n]*)/.exec(text);
  if (m) return `${m[1]}: ${m[2]}`;
  const compile = /^\d+:\d+ - .*$/m.exec(text);
  if (compile) return `does not compile: ${compile[0]}`;
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  const said = lines.find((l) => !/^at\s|^evalmachine|^\^+$|^node:internal/.test(l));
  return said ?? lines[0] ?? "failed without a message";
}

/** A check's outcome in the clean kernel as a verdict: passed, failed, errored, timeout, not-run */
export function checkVerdict(outcome) {
  if (!outcome) return { status: "not-run", message: "the check did not run" };
  if (outcome.status === "ok") return { status: "passed", message: "" };
  if (outcome.status === "timeout") return { status: "timeout", message: outcome.message };
  if (outcome.status === "not-run") return { status: "not-run", message: outcome.message };
  const line = errorLine(outcome.message);
  if (TODO.test(line)) return { status: "errored", message: `not attempted: ${line}`, todo: true };
  if (/AssertionError/.test(outcome.message))
    return {
      status: "failed",
      message: line.replace(/^AssertionError(?: \[ERR_ASSERTION\])?: /, ""),
    };
  return { status: "errored", message: line.replace(/^GradingError: /, "") };
}

/**
 * Says which clean kernels start from a snapshot of the reference state, and why not the others.
 */
function logReferences(grading, log) {
  if (!log || !grading.references) return;
  const full = [...grading.references].filter(([, r]) => !r.snapshot);
  const from = grading.references.size - full.length;
  if (!full.length) {
    log(`Reference state: all ${from} notebook(s) from their snapshots`);
    return;
  }
  log(
    `Reference state: ${from} notebook(s) from their snapshots; the clean kernel runs the ` +
      `reference notebook in full for ${full.map(([n, r]) => `${n} (${r.why})`).join(", ")}`,
  );
}

/** The job for one student's notebooks, and what the report needs to read the driver's answer. */
function planStudent(run, grading, student, files, { timeout, cellTimeout, src }) {
  const notebooks = [];
  const context = [];
  for (const manifest of grading.manifests.values()) {
    const path = files.get(manifest.notebook) ?? null;
    const read = path ? readSubmitted(path) : null;
    const limits = {
      notebook: timeout ?? manifest.timeLimit?.notebook ?? 600,
      cell: cellTimeout ?? manifest.timeLimit?.cell ?? 180,
      check: 120,
    };
    const { answers, ignored } = read?.nb
      ? readAnswers(read.nb, manifest)
      : { answers: new Map(), ignored: null };
    // The student kernel's cells stay with the context: a report names the one that stopped it.
    const entry = { manifest, path, error: read?.error ?? null, answers, ignored, cells: [] };
    context.push(entry);
    if (!read?.nb) continue;
    const course = run.studentCourse(src);
    entry.cells = studentCells(manifest, answers, {
      helperPath: run.jail ? "/course/.grading/inside.cjs" : join(course, ".grading", "inside.cjs"),
    });
    const snapshot = grading.references?.get(manifest.notebook)?.snapshot;
    const cells = snapshot ? snapshot.cells : referenceCells(manifest);
    const clean = cleanSetupCell(join(GRADING, "clean.cjs"), manifest.libraryAlias);
    notebooks.push({
      name: manifest.notebook,
      course,
      limits,
      reference: { key: referenceKey(cells, clean), cells, clean, limits },
      cells: entry.cells,
      checks: manifest.exercises
        .filter((e) => e.checks.length)
        .map((e) => checkCell(manifest, e.number, { secret: grading.secret, student })),
    });
  }
  return { job: { student, notebooks }, context };
}

/**
 * When exercise `n`'s values never reached its checks because a cell at or before its capture
 * stopped the student's kernel (a time limit, a kernel that died), that cell in words; else null.
 * `outcomes` are the driver's, `cells` the plan's (studentCells). A course cell is named by its
 * first line: the student's copy and the TA's number their cells differently.
 */
export function stoppedBefore(n, outcomes, cells) {
  const capture = outcomes.find((o) => o.role === "capture" && o.exercise === n);
  if (!capture || capture.status === "ok" || capture.status === "stderr") return null;
  const cause = outcomes.find(
    (o) => o.index <= capture.index && (o.status === "timeout" || o.status === "dead"),
  );
  if (!cause) return null;
  const source = cells?.[cause.index]?.source ?? "";
  const first =
    source
      .split("\n")
      .find((l) => l.trim())
      ?.trim() ?? "";
  const line = first.length > 60 ? `${first.slice(0, 57)}...` : first;
  const which =
    cause.role === "ta"
      ? `the course's cell that begins \`${line}\``
      : cause.role === "setup"
        ? "the grader's setup cell"
        : cause.role === "capture"
          ? `reading the values of exercise ${cause.exercise}`
          : `your ${cause.role === "added" ? "added " : ""}cell for exercise ${cause.exercise}` +
            (cause.cell ? ` (cell ${cause.cell})` : "");
  const what =
    cause.status === "dead"
      ? `the kernel stopped during ${which}${cause.message ? ` (${errorLine(cause.message)})` : ""}`
      : `${which} ${cause.message || "timed out"}`;
  // Before the first cell of the student's (their answers, or reading their values) nothing of
  // theirs had run in that kernel: the stop is the grader's problem, and said to be.
  const theirs = new Set(["answer", "added", "capture"]);
  const beforeTheirs = !outcomes.some((o) => o.index < cause.index && theirs.has(o.role));
  if ((cause.role === "ta" || cause.role === "setup") && beforeTheirs)
    return {
      status: "errored",
      message:
        `not graded: ${what}, before any of your code had run (a problem of the grader, not ` +
        "of your notebook: it can be graded again)",
      grader: true,
    };
  return {
    status: cause.status === "timeout" ? "timeout" : "errored",
    message: `not graded: ${what}; the cells after it did not run`,
  };
}

/** The report of one notebook, from the driver's answer. */
function notebookReport(ctx, driven, sessionError) {
  const { manifest, path, answers, ignored } = ctx;
  const exercises = [];
  const written = [];
  const notes = [];
  const otherErrors = [];
  const missing = !path;
  const unreadable = ctx.error;
  if (ignored?.changed)
    notes.push(
      `${ignored.changed} of the course's own cells were changed in this notebook: ` +
        "the grader ran the course's version of them",
    );
  if (ignored?.code)
    notes.push(
      `${ignored.code} code cell(s) outside the exercises' answers were not run ` +
        "(only the TODO cells and the cells right after them count)",
    );
  const outcomes = driven?.outcomes ?? [];
  const checks = new Map((driven?.checks ?? []).map((c) => [c.exercise, c]));
  const refError = driven?.reference?.error ?? null;
  for (const ex of manifest.exercises) {
    if (ex.grading !== "auto") {
      const text = (answers.get(ex.number)?.written ?? []).map((s) => s.trim()).join("\n\n");
      const blank =
        !text || text === markdownPlaceholder({ number: ex.number, title: ex.title }).trim();
      written.push({
        number: ex.number,
        title: ex.title,
        answered: !blank,
        answer: blank ? "" : text,
      });
    }
    if (!ex.checks.length) continue;
    let verdict;
    let cellError;
    const own = outcomes.filter(
      (o) => o.exercise === ex.number && (o.role === "answer" || o.role === "added"),
    );
    const ownTimeout = own.find((o) => o.status === "timeout");
    const ownError = own.find((o) => o.status === "error" || o.status === "stderr");
    if (missing)
      verdict = { status: "missing", message: `${manifest.notebook} is not in the submission` };
    else if (unreadable) verdict = { status: "errored", message: unreadable };
    else if (sessionError)
      verdict = { status: "errored", message: `grading failed: ${sessionError}` };
    else if (driven?.error) verdict = { status: "errored", message: driven.error };
    else if (refError)
      verdict = {
        status: "errored",
        message: `the grader could not run the reference notebook (for the TA): ${refError}`,
        grader: true,
      };
    else if (ownTimeout)
      verdict = {
        status: "timeout",
        message: `your cell ${ownTimeout.cell ?? ""} ${ownTimeout.message}`.replace("  ", " "),
      };
    else {
      verdict = checkVerdict(checks.get(ex.number));
      // Values that never arrived because an earlier cell stopped the kernel: say which cell.
      if (verdict.status !== "passed")
        verdict = stoppedBefore(ex.number, outcomes, ctx.cells) ?? verdict;
    }
    if (ownError && verdict.status !== "passed") {
      const cell = own.indexOf(ownError);
      const which = own.length > 1 ? ` (${cell + 1} of ${own.length})` : "";
      const added = ownError.role === "added" ? "added " : "";
      const line = errorLine(ownError.message);
      cellError = `your ${added}cell for exercise ${ex.number}${which}: ${line}`;
    }
    exercises.push({
      number: ex.number,
      title: ex.title,
      grading: ex.grading,
      points: ex.points,
      score: verdict.status === "passed" ? ex.points : 0,
      status: verdict.status,
      message: verdict.message,
      ...(cellError ? { cellError } : {}),
      ...(verdict.grader ? { graderError: true } : {}),
    });
  }
  for (const o of outcomes) {
    if (o.status === "ok" || o.status === "not-run" || o.role === "answer" || o.role === "added")
      continue;
    otherErrors.push({
      cell: o.index + 1,
      role: o.role,
      status: o.status,
      message: errorLine(o.message),
    });
  }
  return {
    notebook: manifest.notebook,
    submission: path,
    missing,
    seconds: driven?.seconds ?? null,
    backend: driven?.backend ?? null,
    exercises,
    written,
    otherErrors,
    notes,
    score: exercises.reduce((s, e) => s + e.score, 0),
    maxScore: exercises.reduce((s, e) => s + e.points, 0),
  };
}

/**
 * Grades one student: `submission` is a folder (their notebooks, in notebooks/ or at its top; their
 * src/ for library exercises) or one notebook.
 * @param {GradingRun} run
 */
export async function gradeStudent(
  run,
  grading,
  submission,
  { student, timeout, cellTimeout } = {},
) {
  const path = resolve(submission);
  if (!existsSync(path)) throw new GradingSetupError(`${submission}: no such file or folder`);
  const isFile = statSync(path).isFile();
  const files = new Map();
  let manifests = grading.manifests;
  if (isFile) {
    const name = basename(path);
    if (!manifests.has(name)) {
      throw new GradingSetupError(
        `${name}: no notebook of that name in the assignment (it has ` +
          `${[...manifests.keys()].join(", ")}); a notebook is graded by its file name`,
      );
    }
    files.set(name, path);
    manifests = new Map([[name, manifests.get(name)]]);
  } else {
    for (const name of manifests.keys()) {
      const found = findNotebook(path, name);
      if (found) files.set(name, found);
    }
  }
  const src =
    !isFile &&
    grading.library &&
    existsSync(join(path, "src", "index.ts")) &&
    !lstatSync(join(path, "src")).isSymbolicLink()
      ? join(path, "src")
      : null;
  const id = student ?? basename(path);
  const t0 = Date.now();
  const { job, context } = planStudent(run, { ...grading, manifests }, id, files, {
    timeout,
    cellTimeout,
    src,
  });
  let driven = { notebooks: [] };
  let sessionError = null;
  if (job.notebooks.length) {
    driven = await run.run(job);
    sessionError = driven.error ?? null;
  }
  const byName = new Map(driven.notebooks.map((n) => [n.name, n]));
  const result = {
    student: id,
    submission: path,
    grading: grading.dir,
    notebooks: context.map((ctx) =>
      notebookReport(ctx, byName.get(ctx.manifest.notebook), sessionError),
    ),
    library: null,
    notes: [],
  };
  if (grading.ephemeralSecret && grading.dir)
    result.notes.push(
      "the grading folder has no secret.key: test inputs were drawn from a new secret " +
        "(a regrade may draw others)",
    );
  if (grading.library && !isFile) {
    result.library = await gradeLibrary(run, grading, path, { timeout, student: id });
    if (!src)
      result.notes.push(
        "the submission has no src/: its notebooks ran on the course's library, " +
          "and every library exercise is missing",
      );
  }
  const parts = [...result.notebooks, ...(result.library ? [result.library] : [])];
  result.score = parts.reduce((s, p) => s + p.score, 0);
  result.maxScore = parts.reduce((s, p) => s + p.maxScore, 0);
  result.seconds = (Date.now() - t0) / 1000;
  result.sandbox = { jail: run.jail, leftover: driven.leftover ?? 0 };
  return result;
}

/**
 * Grades a submission (see the header). Options: grading (folder), timeout, cellTimeout, jail
 * (default true), log.
 */
export async function grade(submission, options = {}) {
  const path = resolve(submission);
  if (!existsSync(path)) throw new GradingSetupError(`${submission}: no such file or folder`);
  const grading = loadGrading(
    options.grading ? resolve(options.grading) : null,
    statSync(path).isFile() ? path : null,
  );
  const run = new GradingRun({ jail: options.jail !== false, log: options.log });
  try {
    (options.log ?? (() => {}))(`Grading ${basename(path)} ...`);
    logReferences(grading, options.log);
    return await gradeStudent(run, grading, path, options);
  } finally {
    await run.close();
  }
}

/**
 * Grades a notebook and, in the same kernels, variants of its answers (the negative controls of the
 * tests): each variant is { exercise, label, values } (the exercise's names as plain JSON data) or
 * { exercise, label, code } (TypeScript that defines every name the exercise declares, run at the
 * end of the notebook in a block of its own). Resolves to { report (the notebook as submitted),
 * variants: [{ ...variant, status, message }] }.
 */
export async function gradeVariants(run, grading, notebookPath, variants) {
  const name = basename(notebookPath);
  const manifest = grading.manifests.get(name);
  if (!manifest) throw new GradingSetupError(`${name}: no manifest for it`);
  const read = readSubmitted(notebookPath);
  if (!read.nb) throw new GradingSetupError(read.error);
  const { job, context } = planStudent(
    run,
    { ...grading, manifests: new Map([[name, manifest]]) },
    "variants",
    new Map([[name, notebookPath]]),
    {},
  );
  const nb = job.notebooks[0];
  variants.forEach((v, k) => {
    const ex = manifest.exercises.find((e) => e.number === v.exercise);
    if (!ex || !ex.checks.length)
      throw new GradingSetupError(
        `${name}: variant ${JSON.stringify(v.label)} is for exercise ${v.exercise}, ` +
          "which has no hidden check",
      );
    const id = `variant-${k}`;
    const names = Object.keys(ex.values ?? {});
    if (v.code !== undefined) {
      const named = names.map((n) => `${n}: ${n}`).join(", ");
      const capture =
        `(globalThis as any).__fmGrading?.captureFrom(${JSON.stringify(id)}, { ` + `${named} });`;
      const source = `{\n${v.code}\n${capture}\n}`;
      nb.cells.push({ role: "capture", exercise: v.exercise, key: id, source });
    }
    nb.checks.push({
      ...checkCell(manifest, v.exercise, { secret: grading.secret, student: "variants" }),
      variant: id,
      ...(v.values !== undefined ? { values: v.values } : {}),
    });
  });
  const driven = await run.run(job);
  if (driven.error) throw new Error(`grading failed: ${driven.error}`);
  const result = driven.notebooks[0];
  const main = { ...result, checks: result.checks.filter((c) => c.variant == null) };
  const report = notebookReport(context[0], main, null);
  const byVariant = new Map(
    result.checks.filter((c) => c.variant != null).map((c) => [c.variant, c]),
  );
  const own = (k) =>
    result.outcomes.find((o) => o.role === "capture" && nb.cells[o.index]?.key === `variant-${k}`);
  return {
    report,
    reference: result.reference,
    // Every cell the student's kernel ran (course cells, answers, captures): status and seconds.
    outcomes: result.outcomes,
    variants: variants.map((v, k) => {
      const cell = own(k);
      const verdict = checkVerdict(byVariant.get(`variant-${k}`));
      return {
        ...v,
        status: verdict.status,
        message: verdict.message,
        ...(cell && cell.status !== "ok" ? { cellError: errorLine(cell.message) } : {}),
      };
    }),
  };
}

// -------------------------------------------------------------------------------------------------
// A class.

const inside = (dir, parent) => {
  const r = relative(parent, dir);
  return r === "" || (!r.startsWith("..") && !/^[\\/]/.test(r));
};

/** A file name for a student's id (folder name): letters, digits, dot, dash, underscore. */
export function safeName(id) {
  return (
    String(id)
      .replace(/[^A-Za-z0-9._-]/g, "_")
      .replace(/^\.+/, "_")
      .slice(0, 120) || "_"
  );
}

/** One CSV field: quoted, and a leading = + - @ made inert for spreadsheets. */
export function csvField(value) {
  let s = String(value ?? "");
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\n\r']/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function writeAtomic(path, text) {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, path);
}

/** The gradebook's columns: one per auto-graded exercise (and library function). */
function gradebookColumns(grading) {
  const cols = [];
  for (const m of grading.manifests.values())
    for (const e of m.exercises)
      if (e.checks.length)
        cols.push({
          key: `${m.notebook}#${e.number}`,
          label: `${m.notebook.replace(/\.ipynb$/, "")} ex${e.number} (${e.points})`,
        });
  for (const f of grading.library?.functions ?? [])
    cols.push({ key: `src#${f.name}`, label: `src ${f.name} (${f.points})` });
  return cols;
}

function statusesOf(result) {
  const out = {};
  for (const n of result.notebooks)
    for (const e of n.exercises)
      out[`${n.notebook}#${e.number}`] = { status: e.status, score: e.score, points: e.points };
  for (const f of result.library?.functions ?? [])
    out[`src#${f.name}`] = { status: f.status, score: f.score, points: f.points };
  return out;
}

/**
 * Grades every student folder in `folder` (one subfolder per student, named by the student's id)
 * and writes to `out`: feedback/<student>.txt and .json (each written once that student's processes
 * are gone), gradebook.csv and gradebook.json. Prints one line per student as it goes.
 */
export async function gradeClass(folder, options = {}) {
  const { out, log = (s) => console.log(s) } = options;
  const classDir = resolve(folder);
  if (!existsSync(classDir) || !statSync(classDir).isDirectory())
    throw new GradingSetupError(`--class ${folder}: no such folder`);
  if (!out)
    throw new GradingSetupError("give --out <folder> for the gradebook and the feedback files");
  const outDir = resolve(out);
  const grading = loadGrading(options.grading ? resolve(options.grading) : null);
  for (const [what, dir] of [
    ["the class folder", classDir],
    ["the grading folder", grading.dir],
  ]) {
    if (dir && (inside(outDir, dir) || inside(dir, outDir)))
      throw new GradingSetupError(`--out ${out} must lie outside ${what} (${dir})`);
  }
  const students = readdirSync(classDir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith("."))
    .map((e) => e.name)
    .sort();
  if (!students.length) throw new GradingSetupError(`--class ${folder}: no student folders in it`);
  mkdirSync(join(outDir, "feedback"), { recursive: true, mode: 0o700 });
  const columns = gradebookColumns(grading);
  const rows = [];
  const run = new GradingRun({ jail: options.jail !== false });
  const width = Math.max(...students.map((s) => s.length), 7);
  log(`Grading ${students.length} student(s) in ${classDir} against ${grading.dir} ...`);
  logReferences(grading, log);
  try {
    for (const student of students) {
      let result;
      try {
        result = await gradeStudent(run, grading, join(classDir, student), { ...options, student });
      } catch (e) {
        result = {
          student,
          error: e.message,
          notebooks: [],
          library: null,
          score: 0,
          maxScore: null,
          notes: [],
        };
      }
      // The student's processes are gone (the driver answered after killing them): write the
      // feedback.
      writeAtomic(
        join(outDir, "feedback", `${safeName(student)}.txt`),
        formatReport(result) + "\n",
      );
      writeAtomic(
        join(outDir, "feedback", `${safeName(student)}.json`),
        JSON.stringify(result, null, 2) + "\n",
      );
      const statuses = statusesOf(result);
      rows.push({
        student,
        score: result.score,
        maxScore: result.maxScore,
        seconds: result.seconds ?? null,
        error: result.error ?? null,
        exercises: statuses,
      });
      const summary = result.error
        ? `could not be graded: ${result.error}`
        : [
            ...result.notebooks.map(
              (n) =>
                `${n.notebook.slice(0, 2)} ${n.missing ? "missing" : `${n.score}/${n.maxScore}`}`,
            ),
            ...(result.library ? [`src ${result.library.score}/${result.library.maxScore}`] : []),
          ].join("  ");
      log(
        `${student.padEnd(width)}  ${String(result.score).padStart(3)}/${result.maxScore ?? "?"}` +
          `   ${summary}   (${Math.round(result.seconds ?? 0)} s)`,
      );
    }
  } finally {
    await run.close();
  }
  const header = ["student", "score", "max", ...columns.map((c) => c.label)];
  const csv = [
    header,
    ...rows.map((r) => [
      r.student,
      r.score,
      r.maxScore ?? "",
      ...columns.map((c) => (r.error ? "errored" : (r.exercises[c.key]?.status ?? "missing"))),
    ]),
  ]
    .map((row) => row.map(csvField).join(","))
    .join("\n");
  writeAtomic(join(outDir, "gradebook.csv"), csv + "\n");
  writeAtomic(
    join(outDir, "gradebook.json"),
    JSON.stringify({ grading: grading.dir, class: classDir, columns, students: rows }, null, 2) +
      "\n",
  );
  log(
    `Gradebook: ${join(outDir, "gradebook.csv")} (and .json); ` +
      `feedback per student in ${join(outDir, "feedback")}`,
  );
  return { rows, columns, out: outDir };
}

// -------------------------------------------------------------------------------------------------
// The report.

const LABEL = {
  passed: "passed",
  failed: "FAILED",
  errored: "ERRORED",
  timeout: "TIMED OUT",
  "not-run": "NOT RUN",
  missing: "MISSING",
};

/** The report a TA or student reads. */
export function formatReport(result) {
  const lines = [];
  const pct = (s, m) => (m ? ` (${Math.round((100 * s) / m)}%)` : "");
  if (result.student) lines.push(`Student: ${result.student}`);
  if (result.error) lines.push(`could not be graded: ${result.error}`);
  for (const n of result.notebooks) {
    const how = n.missing
      ? "not handed in"
      : n.seconds
        ? `${n.seconds.toFixed(1)} s${n.backend ? `, ${n.backend}` : ""}`
        : "did not run";
    lines.push(`${n.notebook}   ${n.score}/${n.maxScore}${pct(n.score, n.maxScore)}   (${how})`);
    for (const e of n.exercises) {
      lines.push(
        `  Exercise ${e.number}${e.title ? ` (${e.title})` : ""}: ` +
          `${LABEL[e.status] ?? e.status}  ${e.score}/${e.points}`,
      );
      if (e.message) lines.push(`      ${e.message}`);
      if (e.cellError) lines.push(`      ${e.cellError}`);
    }
    for (const w of n.written) {
      lines.push(
        `  Exercise ${w.number}${w.title ? ` (${w.title})` : ""}: ` +
          "written answer, marked by hand: " +
          (w.answered ? `${w.answer.length} characters` : "NOT ANSWERED"),
      );
    }
    if (n.otherErrors.length) {
      lines.push(`  Other cells that failed (not graded, but check them): ${n.otherErrors.length}`);
      for (const o of n.otherErrors.slice(0, 5))
        lines.push(
          `      cell ${o.cell} (${o.role}): ${o.status === "timeout" ? "timed out" : o.message}`,
        );
    }
    for (const s of n.notes ?? []) lines.push(`  (note: ${s})`);
  }
  if (result.library) {
    const l = result.library;
    lines.push(
      `library (src/)   ${l.score}/${l.maxScore}${pct(l.score, l.maxScore)}   ` +
        `(${(l.seconds ?? 0).toFixed(1)} s)`,
    );
    for (const f of l.functions) {
      lines.push(
        `  ${f.name}: ${LABEL[f.status] ?? f.status}  ${f.score}/${f.points}   ` +
          `(${f.tests} hidden test(s))`,
      );
      if (f.message) lines.push(`      ${f.message}`);
    }
  }
  for (const s of result.notes ?? []) lines.push(`(note: ${s})`);
  lines.push(
    `Score: ${result.score}/${result.maxScore ?? "?"}${pct(result.score, result.maxScore)}`,
  );
  return lines.join("\n");
}

function parseArgs(argv) {
  const args = { submissions: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--grading") args.grading = argv[++i];
    else if (a === "--json") args.json = resolve(argv[++i]);
    else if (a === "--class") args.class = argv[++i];
    else if (a === "--out") args.out = argv[++i];
    else if (a === "--timeout") args.timeout = Number(argv[++i]);
    else if (a === "--cell-timeout") args.cellTimeout = Number(argv[++i]);
    else if (a === "--no-jail") args.jail = false;
    else if (a === "-h" || a === "--help") args.help = true;
    else if (a.startsWith("-")) throw new Error(`unknown option ${a} (try --help)`);
    else args.submissions.push(a);
  }
  for (const k of ["timeout", "cellTimeout"])
    if (args[k] !== undefined && !(args[k] > 0))
      throw new Error(
        `--${k === "timeout" ? "timeout" : "cell-timeout"} needs a positive number of seconds`,
      );
  if (!args.help && !args.class && args.submissions.length !== 1)
    throw new Error(
      "give one submission (a notebook or a student's folder), or --class <folder> (try --help)",
    );
  if (!args.help && args.class && args.submissions.length)
    throw new Error("--class grades a folder of student folders: give no other submission");
  return args;
}

runAsCli(import.meta.url, { name: "grade", helpEnd: 19, errorCode: 2 }, parseArgs, async (args) => {
  if (args.class) {
    await gradeClass(args.class, { ...args });
    return;
  }
  const path = resolve(args.submissions[0]);
  const folder = existsSync(path) && statSync(path).isDirectory() ? path : resolve(path, "..");
  for (const dir of [folder, args.grading && resolve(args.grading)].filter(Boolean)) {
    if (args.json && inside(args.json, dir)) throw new Error(`--json must lie outside ${dir}`);
  }
  const result = await grade(args.submissions[0], { ...args, log: (s) => console.error(s) });
  console.log(formatReport(result));
  if (args.json) {
    mkdirSync(resolve(args.json, ".."), { recursive: true });
    writeAtomic(args.json, JSON.stringify(result, null, 2) + "\n");
  }
});
