#!/usr/bin/env node
// The autograder (`npm run grade -- <submission>`): runs a student's notebook, or a student's folder
// (their notebooks on their own src/), with the hidden checks, and reports per exercise.
//
//   npm run grade -- hw/alice/03-conditional-paths.ipynb --grading build/assignments/grading
//   npm run grade -- hw/bob/ --grading build/assignments/grading --json bob.json
//   npm run grade -- notebooks/00-welcome.ipynb            (no --grading: the course's own notebook's checks,
//                                                           or the notebook's own check cells)
//   options: --timeout <s> per notebook, --cell-timeout <s> per cell (default: the manifest's, 600 / 180)
//
// A notebook submission runs in the course's kernel with this course's library (src/); a folder submission
// runs in a copy of the folder, so its notebooks use the student's src/, and the library checks (--blank
// assignments) run the course's hidden vitest tests on that src/. Each exercise's hidden check cells are
// inserted after the exercise's cells; every cell runs even when others fail (run_notebook.py --keep-going);
// a cell that runs past the cell time limit is interrupted and graded as timed out. A check cell that fails
// an assertion marks its exercise "failed" (with the assertion's message); any other error "errored" (with
// the message; a TODO placeholder that was never replaced says "not attempted"). Exit code 0 when grading
// ran (whatever the score), 2 when it could not.
import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, delimiter, join, relative, resolve } from "node:path";
import { createHash } from "node:crypto";
import { buildAssignment, injectChecks, markdownPlaceholder, notebookText, readNotebook, ROOT, runAsCli, sourceOf } from "./exercises.mjs";
import { runVitest, vitestWorkdir } from "./library-exercises.mjs";
import { findPython } from "./notebooks.mjs";
import { KERNEL_NAME, kernelSpec, writeKernelSpec } from "./install-kernel.mjs";

const RUNNER = join(ROOT, "scripts", "run_notebook.py");

function privateKernelPath() {
  const tag = createHash("sha1").update(ROOT).digest("hex").slice(0, 10);
  const dir = join(tmpdir(), `flow-matching-kernel-${tag}`);
  writeKernelSpec(join(dir, "kernels"), kernelSpec());
  return dir;
}

/**
 * Runs a notebook in the grading mode of the runner (every cell, each one's outcome).
 * @returns {Promise<{ ok: boolean, outcomes: object[], seconds: number, backend: string | null, error?: object, executed: object | null }>}
 */
export async function runAllCells(notebookPath, { cwd = ROOT, timeout = 600, cellTimeout = 180 } = {}) {
  const python = findPython();
  const work = mkdtempSync(join(tmpdir(), "fm-grade-run-"));
  try {
    const resultPath = join(work, "result.json");
    const executedPath = join(work, "executed.ipynb");
    const env = { ...process.env, JUPYTER_PATH: [privateKernelPath(), process.env.JUPYTER_PATH].filter(Boolean).join(delimiter) };
    const args = [RUNNER, "--keep-going", "--notebook", notebookPath, "--executed", executedPath, "--result", resultPath, "--kernel", KERNEL_NAME,
      "--cwd", cwd, "--timeout", String(timeout), "--cell-timeout", String(cellTimeout)];
    const stderr = await new Promise((resolvePromise, reject) => {
      const child = spawn(python, args, { env, stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      child.stderr.on("data", (d) => (err += d));
      const guard = setTimeout(() => child.kill("SIGKILL"), (timeout + 180) * 1000); // the runner keeps time itself
      child.on("error", reject);
      child.on("close", () => {
        clearTimeout(guard);
        resolvePromise(err);
      });
    });
    let result;
    try {
      result = JSON.parse(readFileSync(resultPath, "utf8"));
    } catch {
      throw new Error(`the runner stopped without a result:\n${stderr.trim().split("\n").slice(-10).join("\n")}`);
    }
    result.executed = existsSync(executedPath) ? readNotebook(executedPath) : null;
    return result;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const TODO = /TODO(?: \(exercise \d+\))?: [^\n]*/;
const TODO_ERROR = /\b(?:[A-Z]\w*)?Error(?: \[[A-Z_]+\])?: (TODO(?: \(exercise \d+\))?: [^\n]*)/;

/** The line of an error text that says what went wrong. */
export function errorLine(message) {
  const text = String(message ?? "");
  const todo = TODO_ERROR.exec(text);
  if (todo) return todo[1];
  const m = /\b((?:[A-Z]\w*)?Error)(?: \[[A-Z_]+\])?: ([^\n]*)/.exec(text);
  if (m) return `${m[1]}: ${m[2]}`;
  const compile = /^\d+:\d+ - .*$/m.exec(text);
  if (compile) return `does not compile: ${compile[0]}`;
  // Otherwise the first line that is not a stack frame, a source echo or its caret.
  const lines = text.split("\n").map((l) => l.trim()).filter(Boolean);
  const said = lines.find((l) => !/^at\s|^evalmachine|^\^+$|^node:internal/.test(l));
  return said ?? lines[0] ?? "failed without a message";
}

/** One check cell's outcome as a verdict: passed | failed | errored | timeout | not-run. */
export function checkVerdict(outcome) {
  if (!outcome) return { status: "not-run", message: "the check did not run" };
  if (outcome.status === "ok") return { status: "passed", message: "" };
  if (outcome.status === "timeout") return { status: "timeout", message: outcome.message };
  if (outcome.status === "not-run") return { status: "not-run", message: outcome.message };
  const line = errorLine(outcome.message);
  if (TODO.test(line)) return { status: "errored", message: `not attempted: ${line}`, todo: true };
  if (/AssertionError/.test(outcome.message)) return { status: "failed", message: line.replace(/^AssertionError: /, "") };
  return { status: "errored", message: line };
}

/**
 * Grades one notebook: the submission with the manifest's hidden checks inserted, run cell by cell.
 * @returns {Promise<object>} the notebook's part of the result (see the README)
 */
export async function gradeNotebook(submissionPath, manifest, { cwd = ROOT, timeout, cellTimeout } = {}) {
  const submission = readNotebook(submissionPath);
  const { nb, placed } = injectChecks(submission, manifest);
  const work = mkdtempSync(join(tmpdir(), "fm-grade-"));
  const injectedPath = join(work, basename(submissionPath));
  writeFileSync(injectedPath, notebookText(nb));
  const limits = { timeout: timeout ?? manifest.timeLimit?.notebook ?? 600, cellTimeout: cellTimeout ?? manifest.timeLimit?.cell ?? 180 };
  let run;
  try {
    run = await runAllCells(injectedPath, { cwd, ...limits });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const byIndex = new Map((run.outcomes ?? []).map((o) => [o.index, o]));
  const exercises = [];
  const written = [];
  for (const ex of manifest.exercises) {
    const own = nb.cells.map((c, i) => (c.metadata?.exercise === ex.number && !c.metadata?.grading ? i : -1)).filter((i) => i >= 0);
    if (ex.grading !== "auto") {
      const answers = own.filter((i) => nb.cells[i].cell_type === "markdown").map((i) => sourceOf(nb.cells[i]).trim());
      const text = answers.join("\n\n");
      const blank = !text || text === markdownPlaceholder({ number: ex.number, title: ex.title }).trim();
      written.push({ number: ex.number, title: ex.title, answered: !blank, answer: blank ? "" : text });
    }
    if (!ex.checks.length) continue;
    const p = placed.find((q) => q.exercise === ex.number);
    const checks = (p?.indices ?? []).map((i) => checkVerdict(run.error ? null : byIndex.get(i)));
    const ownTimeout = own.map((i) => byIndex.get(i)).find((o) => o?.status === "timeout");
    let verdict = checks.find((c) => c.status !== "passed") ?? { status: "passed", message: "" };
    if (run.error) verdict = { status: "errored", message: `the notebook could not run: ${errorLine(run.error.message)}` };
    else if (ownTimeout) verdict = { status: "timeout", message: `your cell ${ownTimeout.cell} ${ownTimeout.message}` };
    const ownError = own.map((i) => byIndex.get(i)).find((o) => o && o.status !== "ok" && o.status !== "timeout");
    exercises.push({
      number: ex.number,
      title: ex.title,
      grading: ex.grading,
      points: ex.points,
      score: verdict.status === "passed" ? ex.points : 0,
      status: verdict.status,
      message: verdict.message,
      ...(ownError && verdict.status !== "passed" ? { cellError: `your cell ${ownError.cell}: ${errorLine(ownError.message)}` } : {}),
      checks,
    });
  }
  const gradingCells = new Set(placed.flatMap((p) => p.indices));
  const otherErrors = (run.outcomes ?? [])
    .filter((o) => o.status !== "ok" && !gradingCells.has(o.index) && o.status !== "not-run")
    .map((o) => ({ cell: o.cell, firstLine: o.firstLine, status: o.status, message: errorLine(o.message) }));
  return {
    notebook: manifest.notebook,
    submission: submissionPath,
    seconds: run.seconds ?? null,
    backend: run.backend ?? null,
    ...(run.error ? { error: run.error.message } : {}),
    exercises,
    written,
    otherErrors,
    score: exercises.reduce((s, e) => s + e.score, 0),
    maxScore: exercises.reduce((s, e) => s + e.points, 0),
  };
}

/**
 * Grades the library exercises: the hidden vitest tests of each blanked function, on `workDir`'s src/.
 * @param {string} workDir - a folder holding the student's src/ (tests and config are added to it)
 */
export async function gradeLibrary(workDir, libraryManifest, gradingDir, { timeout } = {}) {
  const testsRoot = join(gradingDir, "library-tests");
  vitestWorkdir({ src: join(workDir, "src"), tests: libraryManifest.testSupport, testsRoot, dir: workDir });
  const t0 = Date.now();
  const r = await runVitest(workDir, libraryManifest.testFiles, { timeout: timeout ?? libraryManifest.timeLimit ?? 600 });
  const results = new Map(r.tests.map((t) => [`${t.file}\u0000${t.name}`, t]));
  const functions = libraryManifest.functions.map((f) => {
    let status = "passed";
    let message = "";
    const failing = [];
    if (r.error) {
      status = r.timeout ? "timeout" : "errored";
      message = r.error;
    } else {
      const others = libraryManifest.functions.map((g) => g.name).filter((g) => g !== f.name);
      const blockedBy = (message) => others.find((g) => message.includes(`TODO: implement ${g}`));
      const blocked = [];
      for (const t of f.tests) {
        const got = results.get(`${t.file}\u0000${t.name}`);
        if (got && got.status !== "passed" && blockedBy(got.message)) blocked.push({ ...t, by: blockedBy(got.message) });
        else if (!got || got.status !== "passed") failing.push({ ...t, message: got ? got.message : "did not run" });
      }
      // A test that also calls another blanked function still a TODO says nothing about this one.
      if (!failing.length && blocked.length === f.tests.length) {
        status = "errored";
        message = `cannot be checked yet: all of its ${f.tests.length} hidden test(s) also call ${[...new Set(blocked.map((b) => b.by))].join(", ")}, still a TODO`;
      } else if (!failing.length && blocked.length) {
        message = `${blocked.length} of its hidden tests also call ${[...new Set(blocked.map((b) => b.by))].join(", ")} (still a TODO) and were not counted`;
      }
      if (failing.length) {
        const todo = failing.find((x) => TODO.test(x.message));
        status = todo && failing.every((x) => TODO.test(x.message)) ? "errored" : "failed";
        message = `${failing.length} of ${f.tests.length} hidden test(s) fail; first: "${failing[0].name}": ${todo && status === "errored" ? `not attempted: ${TODO.exec(todo.message)[0]}` : failing[0].message}`;
      }
    }
    return { name: f.name, file: f.file, points: f.points, score: status === "passed" ? f.points : 0, status, message, tests: f.tests.length, failing };
  });
  return {
    seconds: (Date.now() - t0) / 1000,
    functions,
    score: functions.reduce((s, f) => s + f.score, 0),
    maxScore: functions.reduce((s, f) => s + f.points, 0),
  };
}

function loadManifests(gradingDir) {
  const manifests = new Map();
  if (!gradingDir) return manifests;
  for (const f of readdirSync(gradingDir)) {
    if (!f.endsWith(".json") || f === "library.json") continue;
    const m = JSON.parse(readFileSync(join(gradingDir, f), "utf8"));
    if (m.notebook) manifests.set(m.notebook, m);
  }
  return manifests;
}

/** The manifest for a submitted notebook: by the source its metadata names, else by its file name. */
function manifestFor(path, manifests, gradingDir) {
  const nb = readNotebook(path);
  const source = nb.metadata?.assignment?.source ?? basename(path);
  if (gradingDir) return manifests.get(source) ?? null;
  const course = join(ROOT, "notebooks", source);
  if (existsSync(course)) return buildAssignment(course).manifest;
  // A notebook with its own solution and check cells (a TA's draft) grades against itself.
  return nb.cells.some((c) => (c.metadata?.tags ?? []).includes("exercise-check")) ? buildAssignment(path).manifest : null;
}

function copySubmission(folder, dest) {
  cpSync(folder, dest, {
    recursive: true,
    filter: (src) => !/(^|[\\/])(node_modules|build|\.git)$/.test(relative(folder, src)) || relative(folder, src) === "",
  });
}

/**
 * Grades a submission (a notebook or a folder; see the header).
 * @param {string} submission
 * @param {{ grading?: string, timeout?: number, cellTimeout?: number, log?: (s: string) => void }} [options]
 */
export async function grade(submission, options = {}) {
  const { grading, log = () => {} } = options;
  const path = resolve(submission);
  if (!existsSync(path)) throw new Error(`${submission}: no such file or folder`);
  const gradingDir = grading ? resolve(grading) : null;
  if (gradingDir && !existsSync(gradingDir)) throw new Error(`--grading ${grading}: no such folder`);
  const manifests = loadManifests(gradingDir);
  const limits = { timeout: options.timeout, cellTimeout: options.cellTimeout };
  const result = { submission: path, grading: gradingDir, notebooks: [], library: null, skipped: [], notes: [] };
  const t0 = Date.now();
  if (statSync(path).isFile()) {
    const manifest = manifestFor(path, manifests, gradingDir);
    if (!manifest) throw new Error(`${submission}: no grading manifest for this notebook${gradingDir ? ` in ${gradingDir}` : " (and no course notebook of that name)"}`);
    log(`Grading ${basename(path)} against ${manifest.notebook} (library: the course's src/) ...`);
    result.notebooks.push(await gradeNotebook(path, manifest, { cwd: ROOT, ...limits }));
  } else {
    const work = mkdtempSync(join(tmpdir(), "fm-submission-"));
    try {
      copySubmission(path, work);
      // The course kernel finds the course root by this package name: make sure it is the copy's.
      writeFileSync(join(work, "package.json"), JSON.stringify({ name: "flow-matching-course", private: true }, null, 2) + "\n");
      if (!existsSync(join(work, "src", "index.ts"))) {
        cpSync(join(ROOT, "src"), join(work, "src"), { recursive: true });
        result.notes.push("the submission has no src/: its notebooks ran on the course's library");
      }
      if (!existsSync(join(work, "node_modules"))) symlinkSync(join(ROOT, "node_modules"), join(work, "node_modules"), "dir");
      const dir = existsSync(join(work, "notebooks")) ? join(work, "notebooks") : work;
      const notebooks = readdirSync(dir).filter((f) => f.endsWith(".ipynb")).sort();
      for (const f of notebooks) {
        const manifest = manifestFor(join(dir, f), manifests, gradingDir);
        if (!manifest) {
          result.skipped.push(f);
          continue;
        }
        log(`Grading ${f} (library: the submission's src/) ...`);
        const r = await gradeNotebook(join(dir, f), manifest, { cwd: work, ...limits });
        r.submission = join(path, relative(work, join(dir, f)));
        result.notebooks.push(r);
      }
      const libPath = gradingDir && join(gradingDir, "library.json");
      if (libPath && existsSync(libPath)) {
        log("Running the library checks on the submission's src/ ...");
        result.library = await gradeLibrary(work, JSON.parse(readFileSync(libPath, "utf8")), gradingDir, { timeout: options.timeout });
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
  const parts = [...result.notebooks, ...(result.library ? [result.library] : [])];
  result.score = parts.reduce((s, p) => s + p.score, 0);
  result.maxScore = parts.reduce((s, p) => s + p.maxScore, 0);
  result.seconds = (Date.now() - t0) / 1000;
  return result;
}

const LABEL = { passed: "passed", failed: "FAILED", errored: "ERRORED", timeout: "TIMED OUT", "not-run": "NOT RUN" };

/** The report a TA or student reads. */
export function formatReport(result) {
  const lines = [];
  const pct = (s, m) => (m ? ` (${Math.round((100 * s) / m)}%)` : "");
  for (const n of result.notebooks) {
    lines.push(`${n.notebook}   ${n.score}/${n.maxScore}${pct(n.score, n.maxScore)}   (${n.seconds ? n.seconds.toFixed(1) + " s" : "did not run"}${n.backend ? `, ${n.backend}` : ""})`);
    if (n.error) lines.push(`  the notebook could not run: ${n.error.split("\n")[0]}`);
    for (const e of n.exercises) {
      const head = `  Exercise ${e.number}${e.title ? ` (${e.title})` : ""}: ${LABEL[e.status]}  ${e.score}/${e.points}`;
      lines.push(head);
      if (e.message) lines.push(`      ${e.message}`);
      if (e.cellError) lines.push(`      ${e.cellError}`);
    }
    for (const w of n.written) {
      lines.push(`  Exercise ${w.number}${w.title ? ` (${w.title})` : ""}: written answer, marked by hand: ${w.answered ? `${w.answer.length} characters` : "NOT ANSWERED"}`);
    }
    if (n.otherErrors.length) {
      lines.push(`  Other cells that failed (not graded, but check them): ${n.otherErrors.length}`);
      for (const o of n.otherErrors.slice(0, 5)) lines.push(`      cell ${o.cell} (${JSON.stringify(o.firstLine)}): ${o.status === "timeout" ? "timed out" : o.message}`);
    }
  }
  if (result.library) {
    const l = result.library;
    lines.push(`library (src/)   ${l.score}/${l.maxScore}${pct(l.score, l.maxScore)}   (${l.seconds.toFixed(1)} s)`);
    for (const f of l.functions) {
      lines.push(`  ${f.name}: ${LABEL[f.status]}  ${f.score}/${f.points}   (${f.tests} hidden test(s))`);
      if (f.message) lines.push(`      ${f.message}`);
    }
  }
  for (const s of result.skipped) lines.push(`(skipped ${s}: no grading manifest for it)`);
  for (const s of result.notes) lines.push(`(note: ${s})`);
  lines.push(`Score: ${result.score}/${result.maxScore}${pct(result.score, result.maxScore)}`);
  return lines.join("\n");
}

function parseArgs(argv) {
  const args = { submissions: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--grading") args.grading = argv[++i];
    else if (a === "--json") args.json = resolve(argv[++i]);
    else if (a === "--timeout") args.timeout = Number(argv[++i]);
    else if (a === "--cell-timeout") args.cellTimeout = Number(argv[++i]);
    else if (a === "-h" || a === "--help") args.help = true;
    else if (a.startsWith("-")) throw new Error(`unknown option ${a} (try --help)`);
    else args.submissions.push(a);
  }
  for (const k of ["timeout", "cellTimeout"]) if (args[k] !== undefined && !(args[k] > 0)) throw new Error(`--${k === "timeout" ? "timeout" : "cell-timeout"} needs a positive number of seconds`);
  if (!args.help && args.submissions.length !== 1) throw new Error("give one submission: a notebook (.ipynb) or a folder (try --help)");
  return args;
}

runAsCli(import.meta.url, { name: "grade", helpEnd: 9, errorCode: 2 }, parseArgs, async (args) => {
  const result = await grade(args.submissions[0], { ...args, log: (s) => console.error(s) });
  console.log(formatReport(result));
  if (args.json) {
    mkdirSync(resolve(args.json, ".."), { recursive: true });
    writeFileSync(args.json, JSON.stringify(result, null, 2) + "\n");
  }
});
